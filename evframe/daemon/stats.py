"""What the daemon has done and how it is: counters, lag and health, as an observer.

:class:`Stats` counts in plain integers on the dispatch path (no locks, no
metric objects per event) and, at most once a second after a commit, takes a
:class:`View` of the handler table in the daemon's own thread.  The metrics
listener, ``/livez`` ``/readyz`` and the status snapshot read only those, from
any thread.

Lag in seconds is ``now - created_at`` of the event at a handler's cursor (the
last one it was given; for a paused handler, the one it failed on), and 0 for a
handler that has every event the site has shown: a quiet site is not a late
daemon.  A handler that got no event in this process yet counts from when it
was first seen behind (a lower bound).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from xmlrpc.client import ProtocolError

from shotgun_api3.shotgun import AuthenticationFault, Fault

from evframe.config import Config
from evframe.daemon.observe import Observer, Record
from evframe.event import ShotgunEvent
from evframe.handler import Outcome, Status
from evframe.site import describe_error

if TYPE_CHECKING:
    from evframe.alerts import Alerter
    from evframe.daemon.core import Daemon
    from evframe.processor import Report

__all__ = ["HandlerView", "Histogram", "Stats", "View", "error_kind"]

DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
POLL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
REFRESH = 1.0  # seconds between two views of the handler table
_LAST_LIMIT = 1024  # recipient sets remembered for the lag


class Histogram:
    """Counts per bucket (upper bounds ``bounds``, then +Inf), a sum and a count."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """(``le``, count) pairs as Prometheus wants them."""
        out, total = [], 0
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            total += count
            out.append((bound, total))
        return out


def error_kind(exc: BaseException) -> str:
    """The kind of a failed site request, for the ``kind`` label."""
    if isinstance(exc, AuthenticationFault):
        return "auth"
    if isinstance(exc, ProtocolError):
        code = int(getattr(exc, "errcode", 0) or 0)
        return "maintenance" if code == 503 else "http_5xx" if code >= 500 else "http_other"
    if isinstance(exc, Fault):
        return "fault"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, (ConnectionError, http.client.HTTPException)):
        return "connection"
    if isinstance(exc, ssl.SSLError):
        return "tls"
    if isinstance(exc, OSError):
        return "network"
    return "other"


@dataclass(frozen=True)
class HandlerView:
    """One handler as of the last view: ``since`` is the creation time of the event at its
    cursor while it is behind (None when it is not)."""

    name: str
    status: str
    cursor: int
    lag_events: int
    since: float | None

    def lag_seconds(self, now: float) -> float:
        return max(0.0, now - self.since) if self.since is not None else 0.0


@dataclass(frozen=True)
class View:
    """The handler table and the daemon's position, taken in the daemon's thread."""

    read_cursor: int = 0
    handlers: tuple[HandlerView, ...] = ()
    pending: int = 0
    dead_letters: int = 0
    at: float = 0.0


@dataclass
class Stats(Observer):
    """Counters and health of one daemon run."""

    config: Config
    alerter: Alerter | None = None
    events_read: int = 0
    polls: dict[str, int] = field(default_factory=lambda: {"events": 0, "empty": 0})
    poll_seconds: Histogram = field(default_factory=lambda: Histogram(POLL_BUCKETS))
    handled: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    durations: dict[str, Histogram] = field(default_factory=dict)
    site_errors: dict[str, int] = field(default_factory=dict)
    site_down_since: float | None = None  # wall time
    site_reason: str | None = None
    site_kind: str | None = None
    view: View = field(default_factory=View)
    started_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.daemon: Daemon | None = None
        self.polls_ok = 0
        self.at_head = False
        self.last_turn = time.monotonic()
        self._monotonic = time.monotonic
        self._wall = time.time
        self._last: dict[frozenset[str], Record] = {}
        self._read_record: Record | None = None
        self._behind_since: dict[str, float] = {}
        self._last_refresh = -REFRESH

    # -- the hooks --------------------------------------------------------------------

    def started(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self._monotonic, self._wall = daemon.clock.monotonic, daemon.clock.time
        self.last_turn = self._monotonic()
        for name in daemon.roster.members:
            self.handled.setdefault(name, 0)
            self.failed.setdefault(name, 0)
            self.skipped.setdefault(name, 0)
            self.durations.setdefault(name, Histogram(DURATION_BUCKETS))
        self.refresh(force=True)

    def turned(self) -> None:
        self.last_turn = self._monotonic()

    def polled(self, seconds: float, records: Sequence[Record], *, full: bool) -> None:
        self.poll_seconds.observe(seconds)
        self.polls["events" if records else "empty"] += 1
        self.polls_ok += 1
        self.events_read += len(records)
        self.at_head = not full
        if records:
            self._read_record = records[-1]
        self.site_down_since = self.site_reason = self.site_kind = None

    def dispatched(self, record: Record, who: frozenset[str], report: Report) -> None:
        # Once per event, for every handler that ran: kept to plain dict and list
        # operations (no call per result), since it runs on the daemon's thread.
        self._last[who] = record
        ok, failed, handled, failures = Outcome.OK, Outcome.FAILED, self.handled, self.failed
        durations = self.durations
        for result in report.results:
            name, status = result.name, result.status
            if status is ok or status is failed:
                counts = handled if status is ok else failures
                counts[name] = counts.get(name, 0) + 1
                hist = durations.get(name)
                if hist is None:
                    hist = durations[name] = Histogram(DURATION_BUCKETS)
                value = result.duration
                hist.counts[bisect_left(hist.bounds, value)] += 1
                hist.sum += value
                hist.count += 1
            elif status is Outcome.SKIPPED:
                self.skipped[name] = self.skipped.get(name, 0) + 1

    def committed(self) -> None:
        self.refresh()

    def site_error(self, exc: BaseException) -> None:
        kind = error_kind(exc)
        self.site_errors[kind] = self.site_errors.get(kind, 0) + 1
        if self.site_down_since is None:
            self.site_down_since = self._wall()
        self.site_reason, self.site_kind = describe_error(exc), kind
        # The loop waits inside the request while the site is down: that is not a stall.
        self.last_turn = self._monotonic()

    def stopped(self) -> None:
        self.refresh(force=True)

    # -- views ------------------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> bool:
        """Take a new :class:`View` (in the daemon's thread), at most once a second unless
        ``force``; returns whether it did."""
        daemon = self.daemon
        now = self._monotonic()
        if daemon is None or (not force and now - self._last_refresh < REFRESH):
            return False
        self._last_refresh = now
        if len(self._last) > _LAST_LIMIT:
            self._last = self._by_handler()
        read_cursor = daemon.read_cursor
        last = self._by_handler()
        handlers = []
        for m in daemon.roster.members.values():
            since: float | None = None
            if m.cursor < read_cursor or not self.at_head:
                mine = last.get(frozenset([m.name]))
                record = self._read_record if m.cursor >= read_cursor else mine
                since = _created(record) if record is not None else None
                if since is None:
                    since = self._behind_since.setdefault(m.name, self._wall())
            else:
                self._behind_since.pop(m.name, None)
            lag = max(0, read_cursor - m.cursor)
            handlers.append(HandlerView(m.name, m.status.value, m.cursor, lag, since))
        dead = self.view.dead_letters
        if daemon.state is not None:
            dead = daemon.state.count_dead_letters()
        self.view = View(read_cursor, tuple(handlers), len(daemon.gaps), dead, self._wall())
        return True

    def _by_handler(self) -> dict[frozenset[str], Record]:
        """The newest event each handler was given, keyed by the set of its name alone."""
        newest: dict[str, Record] = {}
        for who, record in list(self._last.items()):
            for name in who:
                seen = newest.get(name)
                if seen is None or int(seen["id"]) < int(record["id"]):
                    newest[name] = record
        return {frozenset([n]): r for n, r in newest.items()}

    # -- health -----------------------------------------------------------------------

    def live(self) -> tuple[bool, str]:
        """Whether the loop turned (or tried the site) within ``stall_after`` seconds."""
        idle = self._monotonic() - self.last_turn
        limit = self.config.metrics.stall_after
        if idle > limit:
            return False, f"the loop has not turned for {idle:.0f} s (stall_after = {limit:g})"
        return True, f"the loop turned {idle:.1f} s ago"

    def ready(self) -> tuple[bool, list[str]]:
        """Whether the site answers with good credentials and no active handler lags past
        ``ready_max_lag``; the reasons when not."""
        reasons = []
        if self.site_down_since is not None:
            what = "the site refused the credentials" if self.site_kind == "auth" else "site down"
            reasons.append(f"{what}: {self.site_reason}")
        elif not self.polls_ok:
            reasons.append("the event log has not been read yet")
        bound = self.config.metrics.ready_max_lag
        if bound > 0:
            now = self._wall()
            for h in self.view.handlers:
                lag = h.lag_seconds(now)
                if h.status == Status.ACTIVE.value and lag > bound:
                    reasons.append(
                        f"handler {h.name} is {lag:.0f} s behind (ready_max_lag = {bound:g})"
                    )
        return not reasons, reasons

    def now(self) -> float:
        """Wall time as the daemon sees it."""
        return self._wall()


def _created(record: Record) -> float | None:
    created = ShotgunEvent(record).created_at
    return created.timestamp() if created is not None else None
