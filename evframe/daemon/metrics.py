"""The daemon's listener: ``/metrics`` for Prometheus, ``/livez`` and ``/readyz``.

Metrics are collected when scraped, from :class:`~evframe.daemon.stats.Stats`
(plain counters kept on the dispatch path), so an unscraped daemon pays nothing
for them.  The listener runs in threads of its own and never touches the state
file.  Only ``evframe serve`` starts it, when ``[metrics] listen`` is set.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from evframe._opsconfig import parse_listen
from evframe.config import ConfigError
from evframe.daemon.stats import Stats
from evframe.handler import Status

__all__ = ["MetricsServer", "StatsCollector"]

log = logging.getLogger("evframe.metrics")


Samples = Iterable[tuple[list[str], float]]


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _counters(name: str, doc: str, labels: list[str], samples: Samples) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family


def _gauges(name: str, doc: str, labels: list[str], samples: Samples) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family


class StatsCollector(Collector):
    """Every evframe metric, read from ``stats`` when scraped."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        yield from self._handlers()
        yield from self._daemon()
        yield from self._site_and_alerts()

    def _handlers(self) -> Iterator[Metric]:
        s = self.stats
        now = s.now()
        outcomes = (("ok", s.handled), ("failed", s.failed), ("skipped", s.skipped))
        yield _counters(
            "evframe_handler_events",
            "Events each handler was called with, by outcome (skipped: a requirement failed).",
            ["handler", "outcome"],
            [
                ([name, outcome], n)
                for outcome, counts in outcomes
                for name, n in list(counts.items())
            ],
        )
        durations = HistogramMetricFamily(
            "evframe_handler_duration_seconds", "How long each call of a handler took.",
            labels=["handler"],
        )  # fmt: skip
        for name, hist in list(s.durations.items()):
            durations.add_metric([name], hist.cumulative(), hist.sum)
        yield durations
        handlers = s.view.handlers
        yield _gauges(
            "evframe_handler_lag_events",
            "Event ids between the read cursor and the handler's cursor.",
            ["handler"],
            [([h.name], h.lag_events) for h in handlers],
        )
        yield _gauges(
            "evframe_handler_lag_seconds",
            "Age of the event at the handler's cursor while it is behind; 0 when it has every "
            "event the site has shown.",
            ["handler"],
            [([h.name], h.lag_seconds(now)) for h in handlers],
        )
        statuses = sorted({*(st.value for st in Status), *(h.status for h in handlers)})
        yield _gauges(
            "evframe_handler_status",
            "1 for the status each handler is in (active; failed: paused; disabled; ...).",
            ["handler", "status"],
            [([h.name, st], float(h.status == st)) for h in handlers for st in statuses],
        )
        yield _gauges(
            "evframe_handlers",
            "Handlers by status.",
            ["status"],
            [([st], sum(h.status == st for h in handlers)) for st in statuses],
        )

    def _daemon(self) -> Iterator[Metric]:
        s = self.stats
        view = s.view
        yield _counter("evframe_events_read", "Events read from the event log.", s.events_read)
        yield _gauge("evframe_read_cursor", "The newest event id read.", view.read_cursor)
        yield _gauge("evframe_pending_ids", "Ids seen missing, still waited for.", view.pending)
        yield _gauge("evframe_dead_letters", "Dead letters in the state file.", view.dead_letters)
        polls = HistogramMetricFamily(
            "evframe_poll_duration_seconds", "How long each read of new events took."
        )
        polls.add_metric([], s.poll_seconds.cumulative(), s.poll_seconds.sum)
        yield polls
        yield _counters(
            "evframe_polls",
            "Reads of new events, by whether they found any.",
            ["result"],
            [([result], n) for result, n in list(s.polls.items())],
        )
        yield _gauge("evframe_live", "1 while the loop turns (as /livez).", float(s.live()[0]))
        yield _gauge("evframe_ready", "1 when /readyz answers 200.", float(s.ready()[0]))
        yield _gauge("evframe_start_time_seconds", "When the daemon started.", s.started_at)

    def _site_and_alerts(self) -> Iterator[Metric]:
        s = self.stats
        guard = getattr(getattr(s.daemon, "source", None), "guard", None)
        if guard is not None:
            yield _counter(
                "evframe_site_requests",
                "Requests the daemon made to read the event log (not the handlers' own).",
                guard.requests,
            )
        yield _counters(
            "evframe_site_errors",
            "Failed requests to the site, by kind.",
            ["kind"],
            [([kind], n) for kind, n in list(s.site_errors.items())],
        )
        up = s.site_down_since is None and s.polls_ok > 0
        yield _gauge("evframe_site_up", "1 when the last request to the site succeeded.", up)
        alerter = s.alerter
        sent, suppressed, failed = (
            (alerter.sent, alerter.suppressed, alerter.failed) if alerter else (0, 0, 0)
        )
        yield _counter("evframe_alerts_sent", "Alert mails sent.", sent)
        yield _counter(
            "evframe_alerts_suppressed",
            "Alerts that got no mail of their own (gathered into a digest, or dropped).",
            suppressed,
        )
        yield _counter("evframe_alerts_failed", "Alert mails the server refused.", failed)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        stats = self.server.stats
        if path == "/metrics":
            self._send(200, generate_latest(self.server.registry), CONTENT_TYPE_LATEST)
        elif path == "/livez":
            ok, why = stats.live()
            self._text(200 if ok else 503, f"{'ok' if ok else 'stalled'}: {why}")
        elif path == "/readyz":
            ok, reasons = stats.ready()
            self._text(200 if ok else 503, "ok" if ok else "not ready:\n" + "\n".join(reasons))
        elif path == "/":
            self._text(200, "evframe: /metrics /livez /readyz")
        else:
            self._text(404, f"not found: {path}")

    def _text(self, code: int, text: str) -> None:
        self._send(code, (text + "\n").encode(), "text/plain; charset=utf-8")

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], stats: Stats) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.stats = stats
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StatsCollector(stats))
        super().__init__(address, _Handler)


class MetricsServer:
    """The listener on ``listen`` (``HOST:PORT``; a port alone is loopback)."""

    def __init__(self, listen: str, stats: Stats) -> None:
        host, port = parse_listen(listen)
        try:
            self.server = _Server((host, port), stats)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}", key="metrics.listen"
            ) from None
        bound = self.server.server_address
        self.host, self.port = str(bound[0]), int(bound[1])
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="evframe-metrics", daemon=True
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> MetricsServer:
        self._thread.start()
        log.info("metrics on %s/metrics (health: /livez, /readyz)", self.url)
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self.server.shutdown()
        self.server.server_close()
