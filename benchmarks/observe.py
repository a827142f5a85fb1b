"""What watching the daemon costs: dispatch with and without its observers.

The daemon core in memory (MemorySource, FakeClock, state on disk), 20 handlers
over 50 000 events, run twice per repetition in one process: with no observer,
and with what ``evframe serve`` runs beside it (Stats, the status snapshot and the
alert recoveries, plus a scrape of /metrics each 10 000 events).  The ratio is
what counts.  Prints one JSON line.

    python benchmarks/observe.py [--events N] [--repeat R]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from evframe import Processor, want
from evframe.alerts import Alerter
from evframe.config import Config, DaemonConfig, EmailConfig, SiteConfig
from evframe.daemon import Daemon
from evframe.daemon.metrics import StatsCollector
from evframe.daemon.observe import Fanout, Observer, Recoveries
from evframe.daemon.stats import Stats
from evframe.daemon.status import StatusFile, snapshot_path
from evframe.testing import FakeClock, MemorySource, make_record

HANDLERS = 20


def make_source(count: int) -> MemorySource:
    base = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.timezone.utc)
    source = MemorySource()
    for i in range(1, count + 1):
        kind = ("Task", "Shot", "Version", "Asset")[i % 4]
        source.add(
            make_record(
                f"Shotgun_{kind}_Change",
                id=i,
                entity={"type": kind, "id": i % 97, "name": f"e{i % 97}"},
                attribute_name="sg_status_list",
                created_at=base + dt.timedelta(milliseconds=i),
            )
        )
    return source


def make_processor() -> Processor:
    processor = Processor()
    kinds = ("Task", "Shot", "Version", "Asset")
    for n in range(HANDLERS):

        def handler(ctx: Any, event: Any) -> None:
            event.proc.bench.seen = event.id

        handler.__name__ = f"h{n:02d}"
        processor.register(want(f"Shotgun_{kinds[n % 4]}_*")(handler))
    return processor


def run(count: int, observed: bool, tmp: Path) -> float:
    state = tmp / f"state-{observed}-{time.perf_counter_ns()}.db"
    config = Config(
        site=SiteConfig(url="memory://events", script_name="s", api_key="k"),
        daemon=DaemonConfig(state=str(state), start="earliest", reload_interval=0),
    )
    observer: Observer | None = None
    registry = None
    if observed:
        email = EmailConfig(host="127.0.0.1", sender="a@b", to=("c@d",))
        alerter = Alerter(email, send=lambda email, msg: None)
        stats = Stats(config, alerter)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(StatsCollector(stats))
        observer = Fanout(
            [stats, StatusFile(stats, snapshot_path(state), alerter=alerter), Recoveries(alerter)]
        )
    source = make_source(count)
    daemon = Daemon(
        config,
        source=source,
        clock=FakeClock(),
        processor=make_processor(),
        until_caught_up=True,
        observer=observer,
        fingerprints=lambda group: {},
    )
    started = time.perf_counter()
    if registry is None:
        daemon.run()
    else:
        # Scrape now and then from another thread, as Prometheus would.
        import threading

        done = threading.Event()

        def scrape() -> None:
            while not done.wait(0.2):
                generate_latest(registry)

        scraper = threading.Thread(target=scrape)
        scraper.start()
        try:
            daemon.run()
        finally:
            done.set()
            scraper.join()
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    plain, watched = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            plain.append(run(args.events, False, Path(tmp)))
            watched.append(run(args.events, True, Path(tmp)))
    best_plain, best_watched = max(plain), max(watched)
    result = {
        "benchmark": "observe",
        "events": args.events,
        "handlers": HANDLERS,
        "repeat": args.repeat,
        "events_per_s_plain": round(best_plain),
        "events_per_s_observed": round(best_watched),
        "observed_over_plain": round(best_watched / best_plain, 3),
        "python": platform.python_version(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
