"""What the daemon tells observers about itself: the hook for metrics, status and alerts.

The core calls an :class:`Observer` in a handful of places (a loop turn, a read, a
dispatched event, a commit, site trouble); every method here does nothing, so an
observer implements only what it needs.  Calls come from the daemon's own thread,
except :meth:`Observer.site_error`, which comes from whatever thread called the site.
Observers must be quick: they run on the dispatch path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from evframe.handler import Outcome

if TYPE_CHECKING:
    from evframe.alerts import Alerter
    from evframe.daemon.core import Daemon
    from evframe.processor import Report

__all__ = ["Fanout", "Observer", "Recoveries"]

Record = dict[str, Any]


class Observer:
    """No-op hooks; subclasses override what they watch."""

    def started(self, daemon: Daemon) -> None:
        """The daemon has loaded its handlers and state and is about to loop."""

    def turned(self) -> None:
        """The loop went round once (it is alive)."""

    def polled(self, seconds: float, records: Sequence[Record], *, full: bool) -> None:
        """A read of new events took ``seconds`` and returned ``records`` (``full``: a
        whole batch, so more are waiting)."""

    def dispatched(self, record: Record, who: frozenset[str], report: Report) -> None:
        """One event went through the chain of the handlers ``who``."""

    def committed(self) -> None:
        """The state file was committed."""

    def site_error(self, exc: BaseException) -> None:
        """A request to the site failed (it is retried)."""

    def stopped(self) -> None:
        """The daemon committed for the last time and is returning from ``run()``."""


class Fanout(Observer):
    """Several observers, called in order."""

    def __init__(self, observers: Sequence[Observer]) -> None:
        self.observers = tuple(observers)
        # dispatched() runs once per event: call only the observers that do something.
        self._dispatch = tuple(
            o for o in self.observers if type(o).dispatched is not Observer.dispatched
        )

    def started(self, daemon: Daemon) -> None:
        for o in self.observers:
            o.started(daemon)

    def turned(self) -> None:
        for o in self.observers:
            o.turned()

    def polled(self, seconds: float, records: Sequence[Record], *, full: bool) -> None:
        for o in self.observers:
            o.polled(seconds, records, full=full)

    def dispatched(self, record: Record, who: frozenset[str], report: Report) -> None:
        for o in self._dispatch:
            o.dispatched(record, who, report)

    def committed(self) -> None:
        for o in self.observers:
            o.committed()

    def site_error(self, exc: BaseException) -> None:
        for o in self.observers:
            o.site_error(exc)

    def stopped(self) -> None:
        for o in self.observers:
            o.stopped()


class Recoveries(Observer):
    """Tells ``alerter`` which handlers processed an event, so the failing ones recover."""

    def __init__(self, alerter: Alerter) -> None:
        self.alerter = alerter

    def dispatched(self, record: Record, who: frozenset[str], report: Report) -> None:
        if self.alerter.watching:  # nothing to do on the common path
            ok = [r.name for r in report.results if r.status is Outcome.OK]
            if ok:
                self.alerter.succeeded(ok, int(record["id"]))
