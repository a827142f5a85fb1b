"""Time as the daemon sees it: a clock it is handed, so tests can move time by hand."""

from __future__ import annotations

import threading
import time
from typing import Protocol

__all__ = ["Clock", "FakeClock", "SystemClock"]


class Clock(Protocol):
    """What the daemon asks of time.

    ``monotonic()`` paces the loop, ``time()`` is wall time (event ages, pending
    deadlines, which are stored and must mean the same after a restart), and
    ``wait(event, timeout)`` idles until ``event`` is set or ``timeout`` passes,
    returning whether it was set.
    """

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def wait(self, event: threading.Event, timeout: float) -> bool: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def wait(self, event: threading.Event, timeout: float) -> bool:
        return event.wait(timeout)


class FakeClock:
    """A clock that moves only when told to, or when the daemon idles.

    ``wait()`` returns at once, moving time forward by the timeout unless the
    event is already set, so a daemon under test never sleeps.
    """

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds

    def wait(self, event: threading.Event, timeout: float) -> bool:
        if event.is_set():
            return True
        self.now += timeout
        return False
