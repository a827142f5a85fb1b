"""EventLogEntry storage: its own table, written once, read fast.

Every row keeps, next to its raw columns (for filters), the wire JSON of each
field, so that the common poll — ``id > cursor`` in id order, a page at a time —
is answered by one indexed range scan whose rows SQLite itself concatenates into
the reply: no per-row Python objects at all.  Queries the SQL compiler does not
cover (:mod:`evframe.sandbox.eventsql`) fall back to the generic Python engine
(see :meth:`EventLog.records`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from evframe.sandbox.eventsql import NotCompiled, compile_filters, compile_order
from evframe.sandbox.query import Group

CREATE_SQL = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    event_type TEXT NOT NULL,
    attribute_name TEXT,
    entity_type TEXT,
    entity_id INTEGER,
    project_id INTEGER,
    user_type TEXT,
    user_id INTEGER,
    created_at TEXT NOT NULL,
    session_uuid TEXT,
    description TEXT,
    meta TEXT NOT NULL,
    j_event_type TEXT NOT NULL,
    j_attribute_name TEXT NOT NULL,
    j_entity TEXT NOT NULL,
    j_project TEXT NOT NULL,
    j_user TEXT NOT NULL,
    j_created_at TEXT NOT NULL,
    j_session_uuid TEXT NOT NULL,
    j_description TEXT NOT NULL,
    wire BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_entity ON events (entity_type, entity_id);
CREATE INDEX IF NOT EXISTS events_project ON events (project_id);
CREATE INDEX IF NOT EXISTS events_user ON events (user_type, user_id);
"""

INSERT_SQL = "INSERT INTO events VALUES (" + ",".join("?" * 21) + ")"

#: Field -> SQL expression giving its wire JSON.
_FIELD_JSON = {
    "id": "id",
    "event_type": "j_event_type",
    "attribute_name": "j_attribute_name",
    "meta": "meta",
    "entity": "j_entity",
    "project": "j_project",
    "user": "j_user",
    "created_at": "j_created_at",
    "session_uuid": "j_session_uuid",
    "description": "j_description",
}
#: The field set whose row JSON is stored whole (``wire``): the daemon's poll.
FULL_FIELDS = tuple(_FIELD_JSON)
_FULL_SET = frozenset(FULL_FIELDS) | {"type"}


def dumps(value: Any) -> str:
    """Compact JSON, as the sandbox writes it on the wire."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass
class NewEvent:
    """One EventLogEntry row to write; links carry their display ``name``."""

    event_type: str
    attribute_name: str | None
    entity: dict[str, Any] | None
    project: dict[str, Any] | None
    user: dict[str, Any] | None
    meta: dict[str, Any]
    description: str
    created_at: str
    session_uuid: str | None = None
    #: The entity the row is about, kept even when ``entity`` is null (retired).
    entity_type: str | None = None
    entity_id: int | None = None

    def row(self, event_id: int) -> tuple[Any, ...]:
        entity_type = self.entity_type or (self.entity or {}).get("type")
        entity_id = self.entity_id or (self.entity or {}).get("id")
        project, user = self.project, self.user
        j = (
            dumps(self.event_type),
            dumps(self.attribute_name),
            dumps(self.entity),
            dumps(project),
            dumps(user),
            dumps(self.created_at),
            dumps(self.session_uuid),
            dumps(self.description),
        )
        meta = dumps(self.meta)
        wire = (
            f'{{"type":"EventLogEntry","id":{event_id},"event_type":{j[0]},'
            f'"attribute_name":{j[1]},"meta":{meta},"entity":{j[2]},"project":{j[3]},'
            f'"user":{j[4]},"created_at":{j[5]},"session_uuid":{j[6]},"description":{j[7]}}}'
        )
        return (
            event_id,
            self.event_type,
            self.attribute_name,
            entity_type,
            entity_id,
            project["id"] if project else None,
            user["type"] if user else None,
            user["id"] if user else None,
            self.created_at,
            self.session_uuid,
            self.description,
            meta,
            *j,
            wire.encode(),
        )


def select_json(fields: Iterable[str]) -> str:
    """A SQL expression building each row's wire JSON object from its JSON columns."""
    fields = list(fields)
    if set(fields) == _FULL_SET or set(fields) == set(FULL_FIELDS):
        return "wire"
    return "CAST(" + _concat(fields) + " AS BLOB)"


def _concat(fields: Iterable[str]) -> str:
    pieces = ['\'{"type":"EventLogEntry","id":\' || id']
    for f in fields:
        if f in ("id", "type"):
            continue
        col = _FIELD_JSON.get(f)
        if col is None:
            raise NotCompiled
        pieces.append(f"',\"{f}\":' || {col}")
    pieces.append("'}'")
    return " || ".join(pieces)


class EventLog:
    """The ``events`` table of one store (callers hold the store's lock)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        conn.executescript(CREATE_SQL)

    def max_id(self) -> int:
        row = self.conn.execute("SELECT max(id) FROM events").fetchone()
        return int(row[0] or 0)

    def insert(self, rows: Iterable[tuple[Any, ...]]) -> None:
        self.conn.executemany(INSERT_SQL, rows)

    def relink(self, entity_type: str, entity_id: int, link: dict[str, Any] | None) -> None:
        """Rewrite the stored links to one entity (renamed, retired or revived)."""
        j = dumps(link)
        updates: list[tuple[str, str, tuple[Any, ...]]] = [
            ("j_entity", "entity_type = ? AND entity_id = ?", (entity_type, entity_id))
        ]
        if link is not None and entity_type == "Project":
            updates.append(("j_project", "project_id = ?", (entity_id,)))
        elif link is not None and entity_type in ("HumanUser", "ApiUser"):
            updates.append(("j_user", "user_type = ? AND user_id = ?", (entity_type, entity_id)))
        rebuild = "CAST(" + _concat(FULL_FIELDS) + " AS BLOB)"
        for column, where, args in updates:
            self.conn.execute(f"UPDATE events SET {column} = ? WHERE {where}", (j, *args))
            self.conn.execute(f"UPDATE events SET wire = {rebuild} WHERE {where}", args)

    def fast_page(
        self,
        fields: Sequence[str],
        filters: Group,
        sorts: Sequence[tuple[str, bool]],
        per_page: int,
        page: int,
        hidden: Sequence[int],
        with_count: bool,
        prefix: bytes = b"",
        suffix: bytes = b"",
    ) -> bytes:
        """One page of ``results`` JSON (UTF-8) between ``prefix`` and ``suffix``.

        Raises :class:`NotCompiled` for what the SQL path does not cover.
        """
        where, args, residual = compile_filters(filters)
        if residual is not None:
            raise NotCompiled
        order = compile_order(sorts)
        select = select_json(fields)
        if hidden:
            where = f"({where}) AND id NOT IN ({','.join('?' * len(hidden))})"
            args = [*args, *hidden]
        sql = f"SELECT {select} FROM events WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
        rows = [r[0] for r in self.conn.execute(sql, (*args, per_page + 1, (page - 1) * per_page))]
        more = len(rows) > per_page
        if more:
            rows.pop()
        info = '"has_next_page":' + ("true" if more else "false")
        if with_count:
            count = self.conn.execute(f"SELECT count(*) FROM events WHERE {where}", args)
            info += ',"entity_count":' + str(count.fetchone()[0])
        head = prefix + b'{"entities":['
        tail = b'],"paging_info":{' + info.encode() + b"}}" + suffix
        if not rows:
            return head + tail
        # One join builds the whole reply: large buffers are costly to allocate.
        rows[0] = head + rows[0]
        rows[-1] = rows[-1] + tail
        return b",".join(rows)

    def records(
        self, filters: Group, hidden: Sequence[int]
    ) -> tuple[list[dict[str, Any]], Group | None]:
        """Rows as Python records, pre-filtered in SQL; returns ``(records, residual)``."""
        where, args, residual = compile_filters(filters)
        if hidden:
            where = f"({where}) AND id NOT IN ({','.join('?' * len(hidden))})"
            args = [*args, *hidden]
        sql = (
            "SELECT id, event_type, attribute_name, meta, j_entity, j_project, j_user,"
            f" created_at, session_uuid, description FROM events WHERE {where} ORDER BY id"
        )
        loads = json.loads
        out = [
            {
                "id": r[0],
                "event_type": r[1],
                "attribute_name": r[2],
                "meta": loads(r[3]),
                "entity": loads(r[4]),
                "project": loads(r[5]),
                "user": loads(r[6]),
                "created_at": r[7],
                "session_uuid": r[8],
                "description": r[9],
            }
            for r in self.conn.execute(sql, args)
        ]
        return out, residual
