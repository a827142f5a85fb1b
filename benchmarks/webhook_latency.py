"""Write-to-handler latency and idle cost with webhook deliveries, against polling alone.

A sandbox process with demo data.  In the same run, ``evframe serve`` runs twice
with the benchmark handlers, each time talking to the site through a counting
proxy: first polling alone (default poll settings), then with its webhook
listener on (``backstop_interval = 10``) and the sandbox posting a signed
delivery per event to it.  Each time a script changes a shot's description at a
steady rate, the ``b_latency`` handler notes when it starts on each event, and
then the daemon is left idle while its requests per second are counted.
Prints one JSON line.

    python benchmarks/webhook_latency.py [--writes 200] [--rate 10] [--idle 20]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import KEY, SCRIPT, CountingProxy, SandboxProcess, ensure_bench_handlers, env_for
from latency import idle_rate, percentile, stop_daemon, write_at_rate

from evframe.testing import wait_until

SECRET_ENV, SECRET = "EVFRAME_BENCH_WEBHOOK_TOKEN", "bench-webhook-token"


def measure(site: SandboxProcess, tmp: Path, args: Any, webhooks: bool) -> dict[str, float]:
    from shotgun_api3 import shotgun

    mode = "webhooks" if webhooks else "polling"
    out = tmp / f"{mode}.txt"
    out.touch()
    log = tmp / f"{mode}.log"
    proxy = CountingProxy(site.url)
    config = tmp / f"{mode}.toml"
    text = (
        "[daemon]\n"
        f'state = "{mode}.db"\n'
        'group = "evframe.bench_handlers"\n'
        'start = "latest"\n'
        f"[handlers.b_latency.config]\nout = {json.dumps(str(out))}\n"
    )
    if webhooks:
        text += (
            f'[webhook]\nlisten = "127.0.0.1:0"\nsecret_env = "{SECRET_ENV}"\n'
            "backstop_interval = 10\n"
        )
    config.write_text(text)
    env = {**env_for(proxy.url), SECRET_ENV: SECRET}
    with open(log, "w") as err:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "evframe", "serve", "--config", str(config)],
            env=env,
            stderr=err,
            cwd=tmp,
        )
    try:
        if webhooks:
            wait_until(lambda: "webhook listener on" in log.read_text(), 30, "the listener")
            url = re.search(r"webhook listener on (\S+)", log.read_text())[1]  # type: ignore[index]
            body = json.dumps({"url": url, "secret": SECRET}).encode()
            urllib.request.urlopen(f"{site.url}/_sandbox/webhooks", data=body, timeout=10).read()
        wait_until(lambda: proxy.requests >= 2, 30, "the daemon's first polls")
        sg = shotgun.Shotgun(site.url, SCRIPT, KEY)
        shots = [s["id"] for s in sg.find("Shot", [], ["id"])]
        latencies = write_at_rate(sg, shots, out, args.writes, args.rate, f"lat-{mode}")
        sg.close()
        idle_rps = idle_rate(proxy, args.idle)
    finally:
        stop_daemon(daemon)
        proxy.close()
    return {
        "p50_ms": round(percentile(latencies, 0.5), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "idle_requests_per_s": round(idle_rps, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="writes per second")
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle measured")
    args = parser.parse_args()
    ensure_bench_handlers()
    os.environ.pop(SECRET_ENV, None)
    with tempfile.TemporaryDirectory(prefix="evframe-bench-") as name:
        tmp = Path(name)
        site = SandboxProcess(extra=["--seed", "demo"])
        try:
            polling = measure(site, tmp, args, webhooks=False)
            hooked = measure(site, tmp, args, webhooks=True)
        finally:
            site.stop()
    print(
        json.dumps(
            {
                "benchmark": "webhook_latency",
                "writes": args.writes,
                "rate_per_s": args.rate,
                "backstop_interval_s": 10,
                "webhooks": hooked,
                "polling": polling,
                "target_webhooks_p50_ms": 20,
                "target_webhooks_idle_requests_per_s": 0.2,
            }
        )
    )


if __name__ == "__main__":
    main()
