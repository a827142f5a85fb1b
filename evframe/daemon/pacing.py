"""How long the daemon waits between two reads of the event log.

The event log can only be polled, so latency and idle load pull against each
other.  Writes come in bursts (an artist's session, a publish, a script), so the
daemon polls every ``active`` seconds while events arrive and for a short window
after the last one, then backs off — each empty read doubles the wait — up to
``idle``.  The first event read resets the wait to ``active`` at once: the rest
of a burst is picked up at the fast rate, and only the first write after a quiet
spell waits for an idle poll.
"""

from __future__ import annotations

from evframe.daemon.clock import Clock

__all__ = ["ACTIVE_WINDOW", "BACKOFF", "Pacing"]

# How long the active interval is kept after the last event: writes of one burst
# are rarely further apart than this.
ACTIVE_WINDOW = 2.0
# Each empty read after the window multiplies the wait by this, up to the idle interval.
BACKOFF = 2.0


class Pacing:
    """The wait before the next read, after one that did not fill a page.

    :meth:`saw_events` after every read that returned events; :meth:`next_wait`
    before idling.  Starts idle: a daemon that has seen no event polls at ``idle``.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        active: float,
        idle: float,
        window: float = ACTIVE_WINDOW,
        backoff: float = BACKOFF,
    ) -> None:
        self.clock = clock
        self.active = min(active, idle)
        self.idle = idle
        self.window = window
        self.backoff = backoff
        self._last_event: float | None = None
        self._wait = idle

    def saw_events(self) -> None:
        """Events arrived: poll at the active interval again, from now on."""
        self._last_event = self.clock.monotonic()
        self._wait = self.active

    def next_wait(self) -> float:
        """Seconds to wait before the next read."""
        last = self._last_event
        if last is not None and self.clock.monotonic() - last < self.window:
            return self.active
        if last is not None:
            self._wait = min(self.idle, self._wait * self.backoff)
        return self._wait
