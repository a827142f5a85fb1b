"""Handler time budgets: a watchdog for handler calls, and stopping past a stuck one.

Each handler has a budget (``timeout`` in ``[handlers.NAME]``).  A watchdog thread
looks at the handler call in hand a few times a second (timing a call from the
first look at it, so that the daemon's thread only stores which call it makes):
past its budget, the call is logged at ERROR with the stack of the thread running
it (``sys._current_frames()``), and again every ten minutes while it lasts.

The inline executor runs handlers in the daemon's own thread, and a Python thread
cannot be killed: a handler stuck forever stays stuck.  What the daemon can do is
never wait for it when asked to stop: ``stop_timeout`` seconds after a stop, a
handler still running is *abandoned*: the daemon's thread is fenced off (should
the handler ever return, that thread does nothing more), the state is committed
as it was before the event in hand, and ``on_abandon`` ends the process.  The
event is delivered again at the next start.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from typing import NamedTuple

from evframe.config import DaemonConfig
from evframe.daemon.clock import Clock
from evframe.daemon.sitewait import SiteWait, is_site_trouble
from evframe.event import Event

__all__ = ["Chain", "HandlerWatch"]

log = logging.getLogger("evframe.daemon")

REMIND_EVERY = 600.0
_PROCESSOR = "evframe/processor.py"


class Chain(NamedTuple):
    """The chain in hand: its root event, the handlers it was given, the thread."""

    event: Event
    only: frozenset[str]
    thread: int


def _event_id(event: Event) -> object:
    return getattr(event, "id", event)


class HandlerWatch:
    """Times handler calls, waits out site trouble in them, and fences a stuck one off.

    It is the :class:`~evframe.runhooks.RunHooks` the executor hands to
    :meth:`Processor.run`, plus :meth:`chain`/:meth:`end` around each chain.
    ``timeouts`` holds each handler's budget in seconds (missing or 0: none).
    ``on_abandon(chain)`` is called from the watchdog thread when a stop has
    waited ``stop_timeout`` seconds for a handler.
    """

    def __init__(
        self,
        stop: threading.Event,
        timeouts: Mapping[str, float],
        site: SiteWait,
        *,
        stop_timeout: float = 10.0,
        on_abandon: Callable[[Chain], None] | None = None,
        now: Callable[[], float] = time.monotonic,
        tick: float = 0.2,
    ) -> None:
        self.stop = stop
        self.timeouts = timeouts
        self.site = site
        self.stop_timeout = stop_timeout
        self.on_abandon = on_abandon
        self.now = now
        self.tick = tick
        self.abandoned: Chain | None = None
        self.reports = 0
        # Written by the daemon's thread on every call: kept to plain attribute stores.
        self._current: tuple[str, Event] | None = None
        self._chain: tuple[Event, frozenset[str], int] | None = None
        # The call the watchdog saw last, and when it first saw it.
        self._seen: tuple[str, Event] | None = None
        self._seen_at = 0.0
        self._lock = threading.Lock()
        self._fence = threading.Event()  # never set: a fenced thread waits here for good
        self._reported: tuple[str, Event] | None = None
        self._reported_since = 0.0
        self._reminded = 0.0
        self._stop_seen: float | None = None
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_daemon(
        cls,
        stop: threading.Event,
        clock: Clock,
        timeouts: Mapping[str, float],
        dcfg: DaemonConfig,
        on_abandon: Callable[[Chain], None],
    ) -> HandlerWatch:
        """The watch of a daemon: its clock, its ``[daemon]`` settings."""
        site = SiteWait(stop, clock=clock, error_after=dcfg.site_error_after)
        return cls(
            stop,
            timeouts,
            site,
            stop_timeout=dcfg.stop_timeout,
            on_abandon=on_abandon,
            now=clock.monotonic,
        )

    # -- the executor's side (the daemon's thread) -----------------------------

    def chain(self, event: Event, only: frozenset[str]) -> None:
        """A chain starts in the calling thread."""
        self._chain = (event, only, threading.get_ident())

    def end(self) -> None:
        """The chain is over.  A thread whose chain was abandoned stops here for good:
        the state was committed without its event, and the process is ending."""
        self._current = None
        if self.site._call is not None:
            self.site.done()
        self._chain = None
        # Only a stop leads to abandoning, and only once the stop is seen here: until
        # then no lock is needed (this runs for every event).
        if self.stop.is_set():
            with self._lock:
                fenced = self.abandoned is not None
            if fenced:
                self._fence.wait()

    # -- RunHooks ---------------------------------------------------------------

    def begin(self, name: str, event: Event) -> None:
        # On every handler call: one store (a call that got through site trouble is
        # told by the next wait or the chain's end, not here).
        self._current = (name, event)

    def site_trouble(self, exc: Exception) -> bool:
        return is_site_trouble(exc)

    def wait_for_site(self, name: str, event: Event, exc: Exception) -> bool:
        self._current = None  # waiting for the site is not the handler's time
        return self.site.wait(name, event, exc)

    # -- the watchdog -------------------------------------------------------------

    def start(self) -> None:
        """Start the watchdog thread."""
        self._thread = threading.Thread(target=self._run, name="evframe-watchdog", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the watchdog thread."""
        self._closed.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._closed.wait(self.tick):
            self.check()

    def check(self) -> None:
        """Look at the call in hand once (the watchdog thread calls this every tick)."""
        now = self.now()
        current = self._current
        if current is not self._seen:
            self._seen, self._seen_at = current, now
        reported = self._reported
        if reported is not None and reported is not current:
            self._reported = None
            log.warning(
                "handler %s is done with event %s after about %.0f s (its timeout is %g s)",
                reported[0],
                _event_id(reported[1]),
                now - self._reported_since,
                self.timeouts.get(reported[0], 0),
            )
        if current is not None:
            budget = self.timeouts.get(current[0], 0)
            if budget and now - self._seen_at >= budget:
                if self._reported is None:
                    self._reported, self._reported_since = current, self._seen_at
                    self._reminded = now
                    self._report(current, now, budget)
                elif now - self._reminded >= REMIND_EVERY:
                    self._reminded = now
                    self._report(current, now, budget)
        if self.stop.is_set():
            if self._stop_seen is None:
                self._stop_seen = now
            elif current is not None and now - self._stop_seen >= self.stop_timeout:
                self._abandon(current, now)

    def _stack(self) -> str:
        chain = self._chain
        frame = sys._current_frames().get(chain[2]) if chain is not None else None
        if frame is None:
            return "  (stack not available)\n"
        frames = traceback.extract_stack(frame)
        # Only the handler's frames: what runs it is the same for every handler.
        for i in range(len(frames) - 1, -1, -1):
            if frames[i].filename.replace("\\", "/").endswith(_PROCESSOR):
                frames = traceback.StackSummary.from_list(frames[i + 1 :])
                break
        return "".join(frames.format())

    def _report(self, current: tuple[str, Event], now: float, budget: float) -> None:
        name, event = current
        started = self._seen_at
        self.reports += 1
        log.error(
            "handler %s has run for %.0f s on event %s, past its timeout of %g s; the inline "
            "executor cannot stop it (it runs in the daemon's thread), so every handler waits "
            "for it. It is at:\n%s",
            name,
            now - started,
            _event_id(event),
            budget,
            self._stack().rstrip("\n"),
            extra={"handler": name, "event_id": _event_id(event)},
        )

    def _abandon(self, current: tuple[str, Event], now: float) -> None:
        with self._lock:
            in_hand = self._chain
            if in_hand is None or self.abandoned is not None:
                return  # the chain ended meanwhile: the daemon stops by itself
            chain = self.abandoned = Chain(*in_hand)
        name, event = current
        started = self._seen_at if current is self._seen else now
        log.error(
            "stopping: handler %s still runs on event %s (for %.0f s), %.0f s after the stop "
            "was asked for; abandoning it, as a thread cannot be stopped. The state is "
            "committed without this event, which is delivered again at the next start. It "
            "is at:\n%s",
            name,
            _event_id(event),
            now - started,
            now - (self._stop_seen or now),
            self._stack().rstrip("\n"),
            extra={"handler": name, "event_id": _event_id(event)},
        )
        if self.on_abandon is not None:
            self.on_abandon(chain)
