"""Which events each handler has done, when they finish out of order.

With a concurrent executor the roster's cursor of a handler says how far events
were *handed out* to it; an event handed out may still run.  What the state file
keeps is the handler's low watermark — the highest id below which every event
it got is done — and the ids done above it, so a crash re-delivers only what was
not done.  On a restart the cursor starts at the watermark and the ids done
above it are not delivered again.

Late ids (pending ids that became visible) are not tracked here: they stay
pending in the state file until their chain is done (:class:`Gaps` holds them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from evframe.daemon.roster import Member
from evframe.state import State

__all__ = ["Ledger"]


class Ledger:
    """Events in flight and done above the watermark, per handler."""

    def __init__(self, done: Mapping[str, set[int]] | None = None) -> None:
        # Per handler: the ids handed out and not done, in the order handed out
        # (ascending: a handler gets its events in id order).
        self.inflight: dict[str, dict[int, None]] = {}
        self.done: dict[str, set[int]] = {n: set(ids) for n, ids in (done or {}).items() if ids}
        self._written: dict[str, frozenset[int]] = {n: frozenset(s) for n, s in self.done.items()}

    def __bool__(self) -> bool:
        return bool(self.done) or any(self.inflight.values())

    def already_done(self, event_id: int, who: frozenset[str]) -> frozenset[str]:
        """``who`` without the handlers that did ``event_id`` before a restart."""
        if not self.done:
            return who
        return frozenset(n for n in who if event_id not in self.done.get(n, ()))

    def handed_out(self, names: Iterable[str], event_id: int) -> None:
        """``event_id`` is on its way to ``names``."""
        for name in names:
            self.inflight.setdefault(name, {})[event_id] = None

    def accepted(self, name: str, event_id: int) -> bool:
        """Whether ``name`` still waits for ``event_id`` (not rewound since)."""
        return event_id in self.inflight.get(name, ())

    def finished(self, name: str, event_id: int) -> bool:
        """``name`` is done with ``event_id``; False if that was rewound meanwhile
        (a paused group runs it again when it resumes)."""
        pending = self.inflight.get(name)
        if pending is None or event_id not in pending:
            return False
        del pending[event_id]
        if pending and next(iter(pending)) < event_id:
            self.done.setdefault(name, set()).add(event_id)
        return True

    def rewind(self, name: str, event_id: int) -> None:
        """``name`` goes back to just before ``event_id``: forget what it has in
        flight or done from there on."""
        pending = self.inflight.get(name)
        if pending:
            for i in [i for i in pending if i >= event_id]:
                del pending[i]
        done = self.done.get(name)
        if done:
            done.difference_update([i for i in done if i >= event_id])
            if not done:
                del self.done[name]

    def watermark(self, name: str, cursor: int) -> int:
        """What the state file keeps as ``name``'s cursor, given its hand-out cursor."""
        pending = self.inflight.get(name)
        if pending:
            return min(cursor, min(pending) - 1)
        return cursor

    def flush(self, state: State, members: Mapping[str, Member]) -> None:
        """Write the ids done above each watermark (dropping those below it)."""
        if not self.done and not self._written:
            return
        for name in set(self.done) | set(self._written):
            done = self.done.get(name, set())
            if done and name in members:
                low = self.watermark(name, members[name].cursor)
                done.difference_update([i for i in done if i <= low])
            if not done:
                self.done.pop(name, None)
            snapshot = frozenset(done)
            if snapshot != self._written.get(name, frozenset()):
                state.set_done(name, sorted(snapshot))
                self._written[name] = snapshot
            if not snapshot:
                self._written.pop(name, None)
