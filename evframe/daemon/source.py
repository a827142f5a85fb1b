"""Where events come from: the site's event log, read through ``shotgun_api3``.

A source answers three questions: the rows after an id (ascending, a page at a
time), the rows with given ids (late-visible ones), and the newest id.  The
daemon, ``evframe check --connect`` and ``evframe replay`` all read the event log
through :class:`SiteSource`; tests hand the daemon a
:class:`evframe.testing.MemorySource` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, cast

from evframe.event import EVENT_FIELDS
from evframe.site import SiteGuard

__all__ = ["EventSource", "MemorySource", "SiteSource"]

Record = dict[str, Any]
_ASC: Any = [{"field_name": "id", "direction": "asc"}]
_DESC: Any = [{"field_name": "id", "direction": "desc"}]


class EventSource(Protocol):
    """What the daemon reads events from."""

    url: str

    def read(self, after: int, *, upto: int | None = None, limit: int) -> list[Record]:
        """Up to ``limit`` rows with ``after < id <= upto``, in id order."""
        ...

    def fetch(self, ids: Sequence[int]) -> list[Record]:
        """The rows with these ids that are visible now, in id order."""
        ...

    def newest_id(self) -> int:
        """The highest event id (0 for an empty log)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class SiteSource:
    """The event log of a site.  Every request goes through ``guard``, which waits
    out site trouble and raises :class:`evframe.site.Stopping` when asked to stop."""

    def __init__(self, sg: Any, url: str, guard: SiteGuard) -> None:
        self.sg = sg
        self.url = url
        self.guard = guard

    def _find(self, filters: list[Any], what: str, limit: int) -> list[Record]:
        def call() -> list[Record]:
            found = self.sg.find(
                "EventLogEntry", filters, list(EVENT_FIELDS), order=_ASC, limit=limit
            )
            return cast("list[Record]", found)

        return self.guard.call(what, call)

    def read(self, after: int, *, upto: int | None = None, limit: int) -> list[Record]:
        filters: list[Any] = [["id", "greater_than", after]]
        if upto is not None:
            filters.append(["id", "less_than", upto + 1])
        return self._find(filters, "reading the event log", limit)

    def fetch(self, ids: Sequence[int]) -> list[Record]:
        if not ids:  # shotgun_api3 fails on an empty "in" list before sending
            return []
        return self._find([["id", "in", list(ids)]], "fetching missing events", len(ids))

    def newest_id(self) -> int:
        newest = self.guard.call(
            "finding the newest event",
            lambda: self.sg.find_one("EventLogEntry", [], ["id"], order=_DESC),
        )
        return int(newest["id"]) if newest else 0

    def close(self) -> None:
        self.sg.close()


class MemorySource:
    """An event log in memory, for tests: rows are added, hidden (visible late) and
    revealed by hand.  Counts its reads."""

    def __init__(self, records: Sequence[Record] = (), *, url: str = "memory://events") -> None:
        self.url = url
        self.rows: dict[int, Record] = {}
        self.hidden: set[int] = set()
        self.reads = 0
        self.fetches = 0
        self.closed = False
        for record in records:
            self.add(record)

    def add(self, record: Record, *, hidden: bool = False) -> Record:
        """Append ``record`` (it needs an ``id``); ``hidden`` rows are not visible yet."""
        event_id = int(record["id"])
        self.rows[event_id] = record
        if hidden:
            self.hidden.add(event_id)
        return record

    def reveal(self, *ids: int) -> None:
        """Make hidden rows visible."""
        self.hidden.difference_update(ids)

    def _visible(self) -> list[int]:
        return sorted(i for i in self.rows if i not in self.hidden)

    def read(self, after: int, *, upto: int | None = None, limit: int) -> list[Record]:
        self.reads += 1
        ids = [i for i in self._visible() if i > after and (upto is None or i <= upto)]
        return [self.rows[i] for i in ids[:limit]]

    def fetch(self, ids: Sequence[int]) -> list[Record]:
        self.fetches += 1
        wanted = set(ids)
        return [self.rows[i] for i in self._visible() if i in wanted]

    def newest_id(self) -> int:
        visible = self._visible()
        return visible[-1] if visible else 0

    def close(self) -> None:
        self.closed = True
