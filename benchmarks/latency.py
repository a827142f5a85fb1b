"""Latency from a write on the site to the handler's start, and idle polling cost.

A sandbox process with demo data; ``evframe serve`` (default poll settings) with
the benchmark handlers, talking to the site through a counting proxy.  The run
alternates idle spells and bursts of writes, starting idle: before each burst
the daemon has seen no event for ``--idle`` seconds and has backed off to its
idle interval, so the first writes after every idle spell are measured with the
rest.  In a burst a script changes a shot's description at a steady rate; the
``b_latency`` handler notes when it starts on each event.  The daemon's requests
are counted over the second half of each idle spell (once the back-off after a
burst has settled), from one of its requests to another.  Prints one JSON line.

    python benchmarks/latency.py [--bursts 4] [--writes 50] [--rate 10] [--idle 10]
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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


def seen(out: Path) -> dict[str, float]:
    """When ``b_latency`` started on each token (the lines it wrote to ``out``)."""
    found = {}
    for line in out.read_text().splitlines():
        token, started = line.split()
        found[token] = float(started)
    return found


def write_at_rate(
    sg: Any, shots: list[int], out: Path, writes: int, rate: float, prefix: str
) -> list[float]:
    """Change shot descriptions to tokens at ``rate`` per second; the milliseconds from
    each write to ``b_latency`` starting on it (noted in ``out``)."""
    written: dict[str, float] = {}
    interval = 1.0 / rate
    next_at = time.monotonic()
    for i in range(writes):
        next_at += interval
        token = f"{prefix}-{i}"
        written[token] = time.time()
        sg.update("Shot", shots[i % len(shots)], {"description": token})
        pause = next_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)

    wait_until(lambda: len(seen(out)) >= writes, 60, "every write to reach the handler")
    found = seen(out)
    return [(found[t] - written[t]) * 1000 for t in written]


def idle_rate(proxy: CountingProxy, seconds: float) -> float:
    """Requests per second through ``proxy`` once the daemon has been idle a while."""
    time.sleep(3.0)  # past the short poll interval kept after the last event
    before = proxy.requests
    time.sleep(seconds)
    return (proxy.requests - before) / seconds


def stop_daemon(daemon: subprocess.Popen[Any]) -> None:
    """SIGTERM, and a kill if it has not exited 15 s later."""
    daemon.send_signal(signal.SIGTERM)
    try:
        daemon.wait(15)
    except subprocess.TimeoutExpired:
        daemon.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bursts", type=int, default=4, help="bursts, each after an idle spell")
    parser.add_argument("--writes", type=int, default=50, help="writes per burst")
    parser.add_argument("--rate", type=float, default=10.0, help="writes per second")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of each idle spell")
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
            firsts: list[str] = []
            idle_requests, idle_seconds = 0, 0.0
            phases = random.Random(8)

            def next_request() -> tuple[int, float]:
                """(count, time) just after the daemon's next request."""
                seen = proxy.requests
                wait_until(lambda: proxy.requests > seen, 10, "a poll", interval=0.002)
                return proxy.requests, time.monotonic()

            def idle_spell() -> None:
                nonlocal idle_requests, idle_seconds
                time.sleep(args.idle / 2)  # the back-off after a burst settles
                # Counted from one request to another, so the window's edges add no
                # fraction of a request to the rate.
                before, started = next_request()
                time.sleep(max(0.0, args.idle / 2 - 1.5))
                after, ended = next_request()
                idle_requests += after - before
                idle_seconds += ended - started
                # A write right after a poll would race into it; real writes come at any
                # moment of the idle interval (1 s by default).
                time.sleep(phases.random())

            interval = 1.0 / args.rate
            for burst in range(args.bursts):
                idle_spell()
                next_at = time.monotonic()
                for i in range(args.writes):
                    next_at += interval
                    token = f"lat-{burst}-{i}"
                    if i == 0:
                        firsts.append(token)
                    written[token] = time.time()
                    sg.update("Shot", shots[i % len(shots)], {"description": token})
                    pause = next_at - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
            idle_spell()

            total = args.bursts * args.writes
            wait_until(lambda: len(seen(out)) >= total, 60, "every write to reach the handler")
            started_at = seen(out)
            latencies = [(started_at[t] - written[t]) * 1000 for t in written]
            first_latencies = [(started_at[t] - written[t]) * 1000 for t in firsts]
        finally:
            stop_daemon(daemon)
            proxy.close()
            site.stop()
    p50 = percentile(latencies, 0.5)
    print(
        json.dumps(
            {
                "benchmark": "latency",
                "bursts": args.bursts,
                "writes": total,
                "rate_per_s": args.rate,
                "p50_ms": round(p50, 1),
                "p99_ms": round(percentile(latencies, 0.99), 1),
                "first_after_idle_ms": [round(v) for v in first_latencies],
                "idle_requests_per_s": round(idle_requests / idle_seconds, 2),
                "target_p50_ms": 100,
                "target_idle_requests_per_s": 1,
            }
        )
    )


if __name__ == "__main__":
    main()
