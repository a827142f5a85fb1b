"""Catch-up throughput of ``evframe serve`` against the raw read ceiling.

20 000 events in a sandbox (its own process, SQLite file), 10 handlers
(``benchmarks/handlers/evframe-bench-handlers``), state on disk.  Measured in one
run: paging through the log with ``shotgun_api3`` alone (the ceiling), and
``evframe serve --until-caught-up`` from the first event (rate from the daemon's
own summary line, so interpreter start-up is not counted).  Prints one JSON line.

    python benchmarks/catchup.py [--events 20000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    KEY,
    SCRIPT,
    WRITER,
    WRITER_KEY,
    SandboxProcess,
    ensure_bench_handlers,
    raw_read,
    serve_until_caught_up,
)

from evframe.sandbox import Sandbox

SUMMARY = re.compile(r"read (\d+) event\(s\) in ([0-9.]+) s")


def serve_once(url: str, tmp: Path, run: int, total: int) -> float:
    config = tmp / f"evframe-{run}.toml"
    config.write_text(
        "[daemon]\n"
        f'state = "state-{run}.db"\n'
        'group = "evframe.bench_handlers"\n'
        'start = "earliest"\n'
        "batch_size = 500\n"
        "reload_interval = 0\n"
    )
    stderr = serve_until_caught_up(config, url, tmp)
    match = SUMMARY.search(stderr)
    if not match or int(match.group(1)) != total:
        raise RuntimeError(f"serve did not read {total} events:\n{stderr[-3000:]}")
    return float(match.group(2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3, help="best of N for each side")
    args = parser.parse_args()
    ensure_bench_handlers()
    with tempfile.TemporaryDirectory(prefix="evframe-bench-") as name:
        tmp = Path(name)
        db = tmp / "site.db"
        seeder = Sandbox(db, scripts={SCRIPT: KEY, WRITER: WRITER_KEY})
        seeder.seed_events(args.events, script=WRITER)
        seeder.stop()
        site = SandboxProcess(db)
        try:
            raw, daemon = [], []
            for run in range(args.runs):  # interleaved, so drift hits both alike
                raw.append(raw_read(site.url, args.events))
                daemon.append(serve_once(site.url, tmp, run, args.events))
        finally:
            site.stop()
    raw_rate = args.events / min(raw)
    daemon_rate = args.events / min(daemon)
    print(
        json.dumps(
            {
                "benchmark": "catchup",
                "events": args.events,
                "handlers": 10,
                "raw_read_events_per_s": round(raw_rate),
                "serve_events_per_s": round(daemon_rate),
                "ratio": round(daemon_rate / raw_rate, 3),
                "target_ratio": 0.7,
            }
        )
    )


if __name__ == "__main__":
    main()
