"""Entity storage: SQLite on disk (or in memory), mirrored in memory for reads.

Entities of every type but EventLogEntry live in one table as JSON documents,
with every link they hold also a row of ``entity_links`` (indexed both ways);
reads filter, sort and page them in SQL (:mod:`evframe.sandbox.entitysql`) and
take the records of the page from an in-memory mirror of the table (loaded at
start-up), which also serves the links and dotted paths of the reply.
EventLogEntry rows live in their own table with a fast SQL read path
(:mod:`evframe.sandbox.eventlog`).  Every write
is one SQLite transaction (:meth:`Store.transaction`) that also appends the
EventLogEntry rows a site would write; a failed write (or batch) leaves nothing
behind.  What the rows and records mean is for :mod:`~evframe.sandbox.writes`
and :mod:`~evframe.sandbox.reads`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from evframe.sandbox.entitysql import install
from evframe.sandbox.eventlog import EventLog, NewEvent, dumps
from evframe.sandbox.faults import Faults
from evframe.sandbox.query import Record
from evframe.sandbox.schema import FieldDef, Schema

_CREATE_SQL = """
CREATE TABLE IF NOT EXISTS entities (
    type TEXT NOT NULL,
    id INTEGER NOT NULL,
    retired INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL,
    PRIMARY KEY (type, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entity_links (
    type TEXT NOT NULL,
    field TEXT NOT NULL,
    ltype TEXT NOT NULL,
    lid INTEGER NOT NULL,
    id INTEGER NOT NULL,
    PRIMARY KEY (type, field, ltype, lid, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entity_links_of ON entity_links (type, id);
CREATE INDEX IF NOT EXISTS entity_links_to ON entity_links (ltype, lid);
CREATE TABLE IF NOT EXISTS custom_fields (
    entity_type TEXT NOT NULL,
    field_name TEXT NOT NULL,
    spec TEXT NOT NULL,
    PRIMARY KEY (entity_type, field_name)
);
"""

#: ``PRAGMA user_version`` of a database whose ``entity_links`` are complete.
_VERSION = 1


class Store:
    """The sandbox's data.  All public methods are thread-safe (one lock)."""

    def __init__(
        self,
        schema: Schema,
        path: str | Path | None = None,
        faults: Faults | None = None,
        page_size: int = 500,
    ) -> None:
        self.schema = schema
        self.faults = faults or Faults()
        self.page_size = page_size
        self.lock = threading.RLock()
        self.path = str(path) if path else ":memory:"
        self.conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if self.path != ":memory:":
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(_CREATE_SQL)
        install(self.conn)
        self.events = EventLog(self.conn)
        self._data: dict[str, dict[int, Record]] = {}
        self._retired: dict[str, set[int]] = {}
        self._next_ids: dict[str, int] = {}
        self._next_event_id = 1
        self._depth = 0
        self._undo: list[tuple[str, int, Record | None, bool]] = []
        #: Called with the ``(id, row)`` pairs of each commit (webhooks); must not block.
        self.event_listeners: list[Callable[[list[tuple[int, NewEvent]]], None]] = []
        self._written: list[tuple[int, NewEvent]] = []
        self._load()

    # -- persistence -----------------------------------------------------------------

    def _load(self) -> None:
        for etype, fname, spec in self.conn.execute("SELECT * FROM custom_fields"):
            if etype in self.schema.types:
                self.schema.restore_field(etype, fname, json.loads(spec))
        for etype, eid, retired, data in self.conn.execute("SELECT * FROM entities"):
            self._data.setdefault(etype, {})[eid] = json.loads(data)
            if retired:
                self._retired.setdefault(etype, set()).add(eid)
            self._next_ids[etype] = max(self._next_ids.get(etype, 1), eid + 1)
        self._next_event_id = self.events.max_id() + 1
        if self.conn.execute("PRAGMA user_version").fetchone()[0] < _VERSION:
            # A database written before links were indexed: index them now.
            with self.transaction():
                self.conn.execute("DELETE FROM entity_links")
                for etype, table in self._data.items():
                    for rec in table.values():
                        self._index_links(etype, rec)
                self.conn.execute(f"PRAGMA user_version = {_VERSION}")

    def close(self) -> None:
        """Close the database."""
        with self.lock:
            self.conn.close()

    def save_custom_field(self, fdef: FieldDef, retired: bool = False) -> None:
        """Remember a field added or changed (or retired), so it is so again on restart."""
        spec = {**fdef.spec(), "retired": retired}
        with self.lock:
            self.conn.execute(
                "INSERT OR REPLACE INTO custom_fields VALUES (?, ?, ?)",
                (fdef.entity_type, fdef.name, json.dumps(spec)),
            )

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing: SQLite and the in-memory mirror roll back together."""
        with self.lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            saved_ids, saved_event_id = dict(self._next_ids), self._next_event_id
            self._undo = []
            self._depth = 1
            self.conn.execute("BEGIN")
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                for etype, eid, old, was_retired in reversed(self._undo):
                    if old is None:
                        self._data[etype].pop(eid, None)
                    else:
                        self._data[etype][eid] = old
                    retired = self._retired.setdefault(etype, set())
                    if was_retired:
                        retired.add(eid)
                    else:
                        retired.discard(eid)
                self._next_ids, self._next_event_id = saved_ids, saved_event_id
                raise
            else:
                self.conn.execute("COMMIT")
                self._announce()
            finally:
                self._written = []
                self._depth = 0
                self._undo = []

    def put(self, etype: str, rec: Record, retired: bool) -> None:
        """Write one record (inside :meth:`transaction`, which can undo it)."""
        eid = rec["id"]
        table = self._data.setdefault(etype, {})
        retired_set = self._retired.setdefault(etype, set())
        self._undo.append((etype, eid, table.get(eid), eid in retired_set))
        table[eid] = rec
        if retired:
            retired_set.add(eid)
        else:
            retired_set.discard(eid)
        self.conn.execute(
            "INSERT OR REPLACE INTO entities VALUES (?, ?, ?, ?)",
            (etype, eid, int(retired), dumps(rec)),
        )
        self.conn.execute("DELETE FROM entity_links WHERE type = ? AND id = ?", (etype, eid))
        self._index_links(etype, rec)

    def _index_links(self, etype: str, rec: Record) -> None:
        # By the values' shape, not the schema: a field retired from the schema
        # and restored (or a link field added later) stays indexed.
        rows = []
        for name, v in rec.items():
            if not v or not isinstance(v, dict | list):
                continue
            for lk in v if isinstance(v, list) else [v]:
                if isinstance(lk, dict) and isinstance(lk.get("type"), str):
                    if type(lk.get("id")) is int:
                        rows.append((etype, name, lk["type"], lk["id"], rec["id"]))
        if rows:
            self.conn.executemany("INSERT OR IGNORE INTO entity_links VALUES (?,?,?,?,?)", rows)

    def new_id(self, etype: str) -> int:
        """The next id of ``etype`` (given back if the transaction fails)."""
        eid = self._next_ids.get(etype, 1)
        self._next_ids[etype] = eid + 1
        return eid

    def write_events(self, events: Sequence[NewEvent]) -> list[int]:
        """Append EventLogEntry rows (inside the current transaction, if any)."""
        with self.lock:
            first = self._next_event_id
            ids = list(range(first, first + len(events)))
            self._next_event_id = first + len(events)
            self.events.insert(e.row(i) for e, i in zip(events, ids, strict=True))
            for i in ids:
                self.faults.on_event_written(i)
            if self.event_listeners:
                self._written.extend(zip(ids, events, strict=True))
                if not self._depth:
                    self._announce()
            return ids

    def _announce(self) -> None:
        written, self._written = self._written, []
        if written:
            for listener in self.event_listeners:
                listener(written)

    def insert_event_rows(self, make_row: Callable[[int], tuple[Any, ...]], count: int) -> int:
        """Bulk-insert ``count`` prebuilt rows (``make_row(id)``); returns the first id."""
        with self.lock:
            first = self._next_event_id
            self._next_event_id = first + count
            self.conn.execute("BEGIN")
            try:
                self.events.insert(make_row(i) for i in range(first, first + count))
            except BaseException:
                self.conn.execute("ROLLBACK")
                self._next_event_id = first
                raise
            self.conn.execute("COMMIT")
            return first

    # -- records ---------------------------------------------------------------------

    def get(self, etype: str, eid: int) -> Record | None:
        """The stored record ``etype`` ``eid`` (retired or not), if any."""
        return self._data.get(etype, {}).get(eid)

    def is_retired(self, etype: str, eid: int) -> bool:
        """Whether ``etype`` ``eid`` is retired."""
        return eid in self._retired.get(etype, ())

    def table(self, etype: str) -> Mapping[int, Record]:
        """Every stored record of ``etype`` by id, retired ones included (read only)."""
        return self._data.get(etype, {})

    def linking_ids(self, etype: str, field: str, target_type: str, target_id: int) -> list[int]:
        """Ids (ascending) of the ``etype`` records whose ``field`` links to the target."""
        with self.lock:
            rows = self.conn.execute(
                "SELECT id FROM entity_links WHERE ltype = ? AND lid = ? AND type = ?"
                " AND field = ? ORDER BY id",
                (target_type, target_id, etype, field),
            )
            return [r[0] for r in rows]

    def retired_ids(self, etype: str) -> Set[int]:
        """The ids of the retired records of ``etype`` (read only)."""
        return self._retired.get(etype, set())
