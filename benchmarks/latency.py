"""Latency from a write on the site to the handler's start, and idle polling cost.

A sandbox process with demo data; ``evframe serve`` (default poll settings) with
the benchmark handlers, talking to the site through a counting proxy.  A script
changes a shot's description at a steady rate; the ``b_latency`` handler notes
when it starts on each event.  Then the daemon is left idle and its requests per
second are counted.  Prints one JSON line.

    python benchmarks/latency.py [--writes 200] [--rate 10] [--idle 10]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    WRITER,
    WRITER_KEY,
    CountingProxy,
    SandboxProcess,
    ensure_bench_handlers,
    env_for,
)

from evframe.testing import wait_until


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="writes per second")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle measured")
    args = parser.parse_args()
    ensure_bench_handlers()
    from shotgun_api3 import shotgun

    with tempfile.TemporaryDirectory(prefix="evframe-bench-") as name:
        tmp = Path(name)
        out = tmp / "latency.txt"
        out.touch()
        site = SandboxProcess(extra=["--seed", "demo"])
        proxy = CountingProxy(site.url)
        config = tmp / "evframe.toml"
        config.write_text(
            "[daemon]\n"
            'state = "state.db"\n'
            'group = "evframe.bench_handlers"\n'
            'start = "latest"\n'
            f"[handlers.b_latency.config]\nout = {json.dumps(str(out))}\n"
        )
        daemon = subprocess.Popen(
            [sys.executable, "-m", "evframe", "serve", "--config", str(config)],
            env=env_for(proxy.url),
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp,
        )
        try:
            sg = shotgun.Shotgun(site.url, WRITER, WRITER_KEY)
            shots = [s["id"] for s in sg.find("Shot", [], ["id"])]
            # Wait until the daemon polls (its first request after start-up).
            wait_until(lambda: proxy.requests >= 2, 30, "the daemon's first polls")
            written: dict[str, float] = {}
            interval = 1.0 / args.rate
            next_at = time.monotonic()
            for i in range(args.writes):
                next_at += interval
                token = f"lat-{i}"
                written[token] = time.time()
                sg.update("Shot", shots[i % len(shots)], {"description": token})
                pause = next_at - time.monotonic()
                if pause > 0:
                    time.sleep(pause)

            def seen() -> dict[str, float]:
                found = {}
                for line in out.read_text().splitlines():
                    token, started = line.split()
                    found[token] = float(started)
                return found

            wait_until(lambda: len(seen()) >= args.writes, 60, "every write to reach the handler")
            latencies = [(seen()[t] - written[t]) * 1000 for t in written]
            # Idle: nothing written for a while, then count the daemon's requests.
            time.sleep(3.0)
            before = proxy.requests
            time.sleep(args.idle)
            idle_rps = (proxy.requests - before) / args.idle
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(15)
            except subprocess.TimeoutExpired:
                daemon.kill()
            proxy.close()
            site.stop()
    print(
        json.dumps(
            {
                "benchmark": "latency",
                "writes": args.writes,
                "rate_per_s": args.rate,
                "p50_ms": round(percentile(latencies, 0.5), 1),
                "p99_ms": round(percentile(latencies, 0.99), 1),
                "idle_requests_per_s": round(idle_rps, 2),
                "target_p50_ms": 250,
                "target_idle_requests_per_s": 2,
            }
        )
    )


if __name__ == "__main__":
    main()
