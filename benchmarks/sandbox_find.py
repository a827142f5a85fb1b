"""Benchmark: a typical filtered ``find`` on Version with 1 000 and with 100 000 rows.

The find is the one handlers make: a link filter plus a status, sorted, 50 rows
(``project is P`` and ``sg_status_list is rev``, newest first), through the
unmodified ``shotgun_api3`` client over HTTP.  Each site holds 1 000 Versions
per project (a status in four, one Shot per 10 Versions), so the query matches
250 rows at both sizes: only the table grows.  Rows are inserted directly
through the store in one transaction.  Prints one JSON line; the target is a
rate at 100 000 rows at least half the rate at 1 000.

    python benchmarks/sandbox_find.py [--small 1000] [--large 100000] [--finds 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from typing import Any

from shotgun_api3 import shotgun

from evframe.sandbox import Sandbox
from evframe.sandbox.store import Store

SCRIPT, KEY = "bench", "bench-key"
PER_PROJECT = 1000
STATUSES = ["rev", "apr", "vwd", "rej"]
FIELDS = ["code", "sg_status_list", "entity", "project", "user", "created_at"]
ORDER = [{"field_name": "created_at", "direction": "desc"}]


def seed(store: Store, versions: int) -> list[int]:
    """``versions`` Versions over ``versions / 1000`` projects; returns the project ids."""
    start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    user = {"type": "HumanUser", "id": 1}
    projects = []
    with store.transaction():
        uid = store.new_id("HumanUser")
        store.put("HumanUser", {"id": uid, "name": "Bench User", "login": "bench"}, False)
        for p in range(max(1, versions // PER_PROJECT)):
            pid = store.new_id("Project")
            store.put("Project", {"id": pid, "name": f"Project {p}"}, False)
            projects.append(pid)
        shot = {"type": "Shot", "id": 0}
        for n in range(versions):
            project = {"type": "Project", "id": projects[n // PER_PROJECT % len(projects)]}
            if n % 10 == 0:
                shot = {"type": "Shot", "id": store.new_id("Shot")}
                store.put(
                    "Shot", {"id": shot["id"], "code": f"sh{n:06d}", "project": project}, False
                )
            stamp = (start + dt.timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
            rec: dict[str, Any] = {
                "id": store.new_id("Version"),
                "code": f"v{n:06d}",
                "project": project,
                "entity": shot,
                "user": user,
                "sg_status_list": STATUSES[n % len(STATUSES)],
                "created_at": stamp,
                "updated_at": stamp,
            }
            store.put("Version", rec, False)
    return projects


def rate(url: str, projects: list[int], finds: int) -> float:
    """Finds per second, each on the next project in turn."""
    sg = shotgun.Shotgun(url, SCRIPT, KEY)
    sg.find_one("Version", [])  # connect and warm up
    t0 = time.perf_counter()
    for i in range(finds):
        project = {"type": "Project", "id": projects[i * 7 % len(projects)]}
        rows = sg.find(
            "Version",
            [["project", "is", project], ["sg_status_list", "is", "rev"]],
            FIELDS,
            order=ORDER,
            limit=50,
        )
        if len(rows) != 50:
            raise SystemExit(f"found {len(rows)} rows, expected 50")
    elapsed = time.perf_counter() - t0
    sg.close()
    return finds / elapsed


def measure(versions: int, finds: int, runs: int) -> tuple[float, float]:
    """``(best finds/s, seed seconds)`` on a site with ``versions`` Versions."""
    with Sandbox(scripts={SCRIPT: KEY}) as sb:
        t0 = time.perf_counter()
        projects = seed(sb.store, versions)
        seed_s = time.perf_counter() - t0
        return max(rate(sb.url, projects, finds) for _ in range(runs)), seed_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--finds", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3, help="best of N runs for each size")
    args = parser.parse_args()
    small, _ = measure(args.small, args.finds, args.runs)
    large, seed_s = measure(args.large, args.finds, args.runs)
    print(
        json.dumps(
            {
                "benchmark": "sandbox_find",
                "small_rows": args.small,
                "large_rows": args.large,
                "small_finds_per_s": round(small, 1),
                "large_finds_per_s": round(large, 1),
                "ratio": round(large / small, 3),
                "target_ratio": 0.5,
                "large_seed_seconds": round(seed_s, 2),
                "finds": args.finds,
                "runs": args.runs,
            }
        )
    )


if __name__ == "__main__":
    main()
