"""Webhook deliveries as hints: which event ids were announced, and how fast to poll.

A verified delivery says "event N exists".  The loop does not dispatch from the
delivery: it reads the event log at once from its read cursor, so the event
reaches handlers through the one path polling uses (same rows, same cursors,
ids before N first, never twice).  What this module decides is the pace:

- an announced id not read yet: poll at the active pace until it shows (a
  transaction commits late) or :data:`HINT_WAIT` passes;
- deliveries flowing: poll only every ``backstop_interval``, to fill in what
  deliveries missed;
- before the first delivery, or once a read finds events no delivery announced
  while none came for ``stale_after`` seconds: deliveries count as stopped and
  polling keeps its normal pace until one arrives again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

from evframe.daemon.clock import Clock

__all__ = ["HINT_WAIT", "Hints"]

log = logging.getLogger("evframe.daemon.webhook")

#: Seconds an announced id that is not visible yet keeps polling at the active pace.
HINT_WAIT = 5.0


class Hints:
    """Announced ids (added from the listener's threads) and the pacing state (the loop's)."""

    def __init__(self, clock: Clock, *, capacity: int, stale_after: float, backstop: float) -> None:
        self.clock = clock
        self.capacity = capacity
        self.stale_after = stale_after
        self.backstop = backstop
        self._lock = threading.Lock()
        self._inbox: set[int] = set()
        self._last_delivery: float | None = None
        #: Announced ids above the read cursor, with the time they stop being waited for.
        self.waiting: dict[int, float] = {}
        self.flowing = False
        self.counters = dict.fromkeys(
            ("ids", "overflow", "early", "duplicate", "missed", "stalls", "resumed"), 0
        )

    # -- the listener's side (any thread) --------------------------------------------

    def add(self, ids: Iterable[int]) -> None:
        """Note the ids of one verified delivery (never blocks on the loop)."""
        now = self.clock.monotonic()
        with self._lock:
            self._last_delivery = now
            for event_id in ids:
                self.counters["ids"] += 1
                if len(self._inbox) >= self.capacity:
                    # The poller finds it anyway; memory stays bounded.
                    self.counters["overflow"] += 1
                else:
                    self._inbox.add(event_id)

    # -- the loop's side ---------------------------------------------------------------

    def take(self, read_cursor: int, pending: Any) -> bool:
        """Move announced ids into :attr:`waiting`; True if one of them is a pending id
        (the loop then fetches pending ids at once)."""
        with self._lock:
            inbox, self._inbox = self._inbox, set()
        deadline = self.clock.monotonic() + HINT_WAIT
        late = False
        for event_id in inbox:
            if event_id > read_cursor:
                self.waiting.setdefault(event_id, deadline)
            elif event_id in pending:
                late = True
            else:
                self.counters["duplicate"] += 1  # read already, or announced twice
        return late

    def after_read(self, records: list[dict[str, Any]], read_cursor: int) -> None:
        """What a read found: announced ids seen, events no delivery announced."""
        now = self.clock.monotonic()
        unannounced = [r["id"] for r in records if self.waiting.pop(r["id"], None) is None]
        for event_id in [i for i, t in self.waiting.items() if i <= read_cursor or t <= now]:
            del self.waiting[event_id]
        self.counters["early"] += len(records) - len(unannounced)
        self.counters["missed"] += len(unannounced)
        with self._lock:
            last = self._last_delivery
        recent = last is not None and now - last < self.stale_after
        if recent and not self.flowing:
            self.flowing = True
            if self.counters["stalls"]:
                self.counters["resumed"] += 1
            log.info(
                "webhook deliveries are arriving: polling every %g s as a backstop", self.backstop
            )
        elif unannounced and not recent and self.flowing:
            self.flowing = False
            self.counters["stalls"] += 1
            log.warning(
                "webhook deliveries stopped: %d new event(s) up to id %d came without one, and "
                "none arrived for %.0f s; polling at the normal pace until they resume",
                len(unannounced),
                unannounced[-1],
                self.stale_after,
            )

    def interval(self, normal: float, active: float) -> float:
        """How long the loop may idle now."""
        if self.waiting:
            return active
        return max(normal, self.backstop) if self.flowing else normal
