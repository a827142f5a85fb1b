"""Event ids that are not visible yet.

A site assigns event ids when a transaction starts but the row becomes visible
when it commits, so a reader can see id 12 before id 11.  Ids skipped between
two rows read in order are *pending*: held for ``gap_timeout`` seconds and
fetched by id, while the read cursor moves on.  (The classic daemon rewinds to
the lowest missing id instead, and can re-read the same full batch forever.)
"""

from __future__ import annotations

import datetime as dt
import logging

from evframe.daemon.clock import Clock
from evframe.state import State, format_id_ranges, id_ranges

__all__ = ["Gaps"]

log = logging.getLogger("evframe.daemon")


class Gaps:
    """The pending ids, their deadlines (wall time, so they survive a restart),
    and what changed since the last :meth:`flush`."""

    def __init__(
        self, clock: Clock, *, timeout: float, max_gap: int, pending: dict[int, float]
    ) -> None:
        self.clock = clock
        self.timeout = timeout
        self.max_gap = max_gap
        self.pending = dict(pending)
        self._added: dict[int, float] = {}
        self._removed: set[int] = set()
        # Resolved ids whose chain still runs: they leave the state file once it is done.
        self._held: set[int] = set()

    def __len__(self) -> int:
        return len(self.pending)

    def __contains__(self, event_id: int) -> bool:
        return event_id in self.pending

    def note(self, first: int, last: int, created_at: dt.datetime | None) -> None:
        """Ids ``first..last`` were skipped; ``created_at`` is the row read after them."""
        count = last - first + 1
        if count > self.max_gap:
            log.warning(
                "event ids %d..%d (%d ids) are missing: more than daemon.max_gap = %d, "
                "so they are not waited for",
                first,
                last,
                count,
                self.max_gap,
            )
            return
        now = self.clock.time()
        if created_at is not None and now - created_at.timestamp() > self.timeout:
            # A late id commits within the timeout of its neighbours; among events
            # that old, a missing id is a deleted or never-written one.
            log.debug("ids %d..%d missing among old events; not waited for", first, last)
            return
        deadline = now + self.timeout
        for i in range(first, last + 1):
            self.pending[i] = deadline
            self._added[i] = deadline
            self._removed.discard(i)
        log.debug("ids %d..%d not visible yet; waiting up to %.0f s", first, last, self.timeout)

    def expire(self) -> list[int]:
        """Give up on the ids whose deadline has passed; returns them."""
        now = self.clock.time()
        expired = sorted(i for i, deadline in self.pending.items() if deadline <= now)
        if expired:
            log.info(
                "gave up waiting for %d missing event id(s) after %.0f s: %s",
                len(expired),
                self.timeout,
                format_id_ranges(id_ranges(expired)),
            )
            self.resolve(expired)
        return expired

    def resolve(self, ids: list[int]) -> None:
        """Stop waiting for ``ids`` (arrived, or given up)."""
        for i in ids:
            if self.pending.pop(i, None) is not None:
                self._added.pop(i, None)
                self._removed.add(i)

    def hold(self, event_id: int) -> None:
        """Keep ``event_id`` in the state file until :meth:`release` (its chain runs)."""
        self._held.add(event_id)

    def release(self, event_id: int) -> None:
        """``event_id``'s chain is done: it may leave the state file."""
        self._held.discard(event_id)

    def flush(self, state: State) -> None:
        """Write what changed to the state file (in its open transaction)."""
        removed = self._removed - self._held if self._held else self._removed
        if removed:
            state.remove_pending(sorted(removed))
            self._removed.difference_update(removed)
        by_deadline: dict[float, list[int]] = {}
        for i, deadline in self._added.items():
            by_deadline.setdefault(deadline, []).append(i)
        for deadline, ids in by_deadline.items():
            state.add_pending(ids, deadline)
        self._added.clear()
