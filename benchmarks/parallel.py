"""Slow handlers in parallel: each executor against ``inline`` on the same load.

400 events over 40 entities (a sandbox in its own process), three handlers per
event (``benchmarks/handlers/evframe-bench-parallel``), each waiting 20 ms like an
API call.  For ``inline``, ``threads`` with 4 workers, ``processes`` with 4 and
``celery`` with 4 ``evframe worker`` processes (Redis started here, on a free
loopback port), ``evframe serve --until-caught-up`` runs from the first event;
the time is the span of the handler calls (first start to last end, from what
the handlers record), so interpreter and worker start-up are not counted.
Reported: elapsed seconds, speed-up over ``inline``, efficiency (speed-up ÷
workers), order violations (events of one entity that overlapped or ran out of
id order: must be 0), and the per-event overhead of each executor with handlers
that do not wait.  Prints one JSON line.

    python benchmarks/parallel.py [--events 400] [--entities 40] [--delay 0.02]
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    HERE,
    KEY,
    SCRIPT,
    SandboxProcess,
    ensure_installed,
    env_for,
    serve_until_caught_up,
)

from evframe.sandbox import Sandbox
from evframe.testing import order_violations, wait_until

DIST = HERE / "handlers" / "evframe-bench-parallel"
HANDLERS = ("p_first", "p_second", "p_third")
WORKERS = 4


def seed(db: Path, events: int, entities: int) -> None:
    """``entities`` Shots, then description changes round robin up to ``events`` events."""
    with Sandbox(db, scripts={SCRIPT: KEY}) as site:
        sg = site.client()
        shots = [sg.create("Shot", {"code": f"sh{i:03d}"}) for i in range(entities)]
        made = len(sg.find("EventLogEntry", [], ["id"]))
        for n in range(events - made):
            sg.update("Shot", shots[n % entities]["id"], {"description": f"take {n}"})
        sg.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Redis:
    """``redis-server`` on a free loopback port, without persistence."""

    def __init__(self, directory: Path) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise SystemExit("redis-server is not installed (apt-get install redis-server)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        args = [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        self.proc = subprocess.Popen(
            [*args, "--dir", str(directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_until(self._answers, 20, "redis to answer")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


def run(
    url: str, tmp: Path, name: str, executor: str, delay: float, broker: str | None
) -> list[dict[str, Any]]:
    """Serve every event once with ``executor``; the handlers' records."""
    out = tmp / f"{name}.jsonl"
    lines = [
        "[daemon]",
        f'state = "{tmp / (name + ".db")}"',
        'group = "evframe.bench_parallel"',
        'start = "earliest"',
        "reload_interval = 0",
        "poll_interval = 0.05",
        "active_poll_interval = 0.01",
        f'executor = "{executor}"',
        f"workers = {WORKERS}",
    ]
    if broker:
        lines.append(f'broker = "{broker}"')
    for handler in HANDLERS:
        lines += [f"[handlers.{handler}.config]", f'out = "{out}"', f"delay = {delay}"]
    config = tmp / f"{name}.toml"
    config.write_text("\n".join(lines) + "\n")
    workers: list[subprocess.Popen[bytes]] = []
    try:
        if executor == "celery":
            workers = start_workers(config, url, tmp)
        serve_until_caught_up(config, url, tmp)
    finally:
        for worker in workers:
            worker.kill()
            worker.wait(10)
    return [json.loads(line) for line in out.read_text().splitlines()]


def start_workers(config: Path, url: str, tmp: Path) -> list[subprocess.Popen[bytes]]:
    """``WORKERS`` worker processes, one chain at a time each; returns once all are ready."""
    workers = []
    logs = []
    for i in range(WORKERS):
        log = tmp / f"worker-{i}.log"
        logs.append(log)
        with open(log, "wb") as err:
            workers.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "evframe",
                        "worker",
                        "--config",
                        str(config),
                        "--pool",
                        "solo",
                        "--name",
                        f"bench{i}",
                    ],
                    env=env_for(url),
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                )
            )
    wait_until(
        lambda: all("worker ready" in log.read_text(errors="replace") for log in logs),
        120,
        "the celery workers to be ready",
    )
    return workers


def span(records: list[dict[str, Any]]) -> float:
    return (max(r["end"] for r in records) - min(r["start"] for r in records)) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--entities", type=int, default=40)
    parser.add_argument("--delay", type=float, default=0.02, help="seconds each handler waits")
    args = parser.parse_args()
    ensure_installed("evframe-bench-parallel", DIST)
    executors = ("inline", "threads", "processes", "celery")
    result: dict[str, Any] = {
        "benchmark": "parallel",
        "events": args.events,
        "entities": args.entities,
        "handlers": len(HANDLERS),
        "handler_wait_s": args.delay,
        "workers": WORKERS,
    }
    with tempfile.TemporaryDirectory(prefix="evframe-bench-") as name:
        tmp = Path(name)
        db = tmp / "site.db"
        seed(db, args.events, args.entities)
        site = SandboxProcess(db)
        redis = Redis(tmp)
        try:
            elapsed, overhead, violations = {}, {}, {}
            for executor in executors:
                records = run(site.url, tmp, executor, executor, args.delay, redis.url)
                wanted = args.events * len(HANDLERS)
                if len(records) != wanted:
                    raise RuntimeError(f"{executor}: {len(records)} handler calls, not {wanted}")
                elapsed[executor] = span(records)
                violations[executor] = order_violations(
                    (r["entity"], r["event_id"], r["start"], r["end"]) for r in records
                )
                noop = run(site.url, tmp, f"{executor}-noop", executor, 0.0, redis.url)
                overhead[executor] = span(noop) / args.events
        finally:
            redis.stop()
            site.stop()
    for executor in executors:
        speedup = elapsed["inline"] / elapsed[executor]
        workers = 1 if executor == "inline" else WORKERS
        result[executor] = {
            "elapsed_s": round(elapsed[executor], 3),
            "speedup": round(speedup, 2),
            "efficiency": round(speedup / workers, 3),
            "order_violations": violations[executor],
            "overhead_ms_per_event": round(overhead[executor] * 1000, 3),
        }
    result["order_violations"] = sum(violations.values())
    result["target_efficiency"] = {"threads": 0.8, "celery": 0.8}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
