"""EventLogEntry storage: its own table, written once, read fast.

Every row keeps, next to its raw columns (for filters), the wire JSON of each
field, so that the common poll — ``id > cursor`` in id order, a page at a time —
is answered by one indexed range scan whose rows SQLite itself concatenates into
the reply: no per-row Python objects at all.  Queries the SQL compiler does not
cover fall back to the store's generic Python engine (see :meth:`EventLog.records`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from evframe.sandbox.query import NEGATIONS, _window

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
_TEXT_COLUMNS = {"event_type", "attribute_name", "session_uuid", "description", "created_at"}
_SORTABLE = {"id", "created_at", "event_type", "attribute_name", "session_uuid", "description"}


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


class NotCompiled(Exception):
    """A filter or sort the SQL path does not cover; use the Python engine."""


def _like(s: str, mode: str) -> str:
    s = s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return {"contains": f"%{s}%", "starts_with": f"{s}%", "ends_with": f"%{s}"}[mode]


def _link_key(v: Any) -> tuple[str, int]:
    if isinstance(v, dict) and isinstance(v.get("type"), str) and isinstance(v.get("id"), int):
        return v["type"], v["id"]
    raise NotCompiled


class _Where:
    """Compile an api3 filter tree into a NULL-safe SQL boolean expression."""

    def __init__(self) -> None:
        self.args: list[Any] = []

    def node(self, node: Any) -> str:
        if isinstance(node, dict) and "conditions" in node:
            op = node.get("logical_operator", "and")
            conds = node["conditions"]
            if op not in ("and", "or") or not isinstance(conds, list):
                raise NotCompiled
            if not conds:
                return "1"
            joiner = " AND " if op == "and" else " OR "
            return "(" + joiner.join(self.node(c) for c in conds) + ")"
        if not isinstance(node, dict):
            raise NotCompiled
        path, relation, values = node.get("path"), node.get("relation"), node.get("values", [])
        if not isinstance(values, list):
            values = [values]
        negate = relation in NEGATIONS
        positive = NEGATIONS.get(str(relation), relation)
        expr = self._positive(path, positive, values)
        if path != "id":  # id is never NULL; a bare comparison keeps the rowid range scan
            expr = f"coalesce({expr}, 0)"
        return f"(NOT {expr})" if negate else expr

    def _params(self, values: Sequence[Any]) -> str:
        self.args.extend(values)
        return ",".join("?" * len(values))

    def _positive(self, path: Any, relation: Any, values: list[Any]) -> str:
        if path == "id":
            if not values or not all(type(v) is int for v in values):
                raise NotCompiled
            if relation == "is" and len(values) == 1:
                return f"id = {self._params(values)}"
            if relation == "in":
                return f"id IN ({self._params(values)})"
            if relation == "less_than" and len(values) == 1:
                return f"id < {self._params(values)}"
            if relation == "greater_than" and len(values) == 1:
                return f"id > {self._params(values)}"
            if relation == "between" and len(values) == 2:
                return f"id BETWEEN {self._params(values[:1])} AND {self._params(values[1:])}"
            raise NotCompiled
        if path in _TEXT_COLUMNS:
            col = str(path)
            if relation in ("in_last", "in_next") and path == "created_at":
                try:
                    lo, hi = _window(values, relation, False)
                except Exception:
                    raise NotCompiled from None
                self.args.extend((lo, hi))
                return f"({col} >= ? AND {col} <= ?)"
            if (
                relation == "is"
                and len(values) == 1
                and (values[0] is None or isinstance(values[0], str))
            ):
                return f"{col} IS {self._params(values)}"
            if not values or not all(isinstance(v, str) for v in values):
                raise NotCompiled
            if relation == "in":
                return f"{col} IN ({self._params(values)})"
            if relation in ("contains", "starts_with", "ends_with") and len(values) == 1:
                if path == "created_at":
                    raise NotCompiled
                self.args.append(_like(values[0], relation))
                return f"{col} LIKE ? ESCAPE '\\'"
            if relation == "less_than" and len(values) == 1:
                return f"{col} < {self._params(values)}"
            if relation == "greater_than" and len(values) == 1:
                return f"{col} > {self._params(values)}"
            if relation == "between" and len(values) == 2:
                return f"{col} BETWEEN {self._params(values[:1])} AND {self._params(values[1:])}"
            raise NotCompiled
        if path in ("entity", "project", "user"):
            if path == "entity":
                tcol, icol, live = "entity_type", "entity_id", " AND j_entity != 'null'"
            elif path == "project":
                tcol, icol, live = "'Project'", "project_id", " AND project_id IS NOT NULL"
            else:
                tcol, icol, live = "user_type", "user_id", " AND user_id IS NOT NULL"
            null = "j_entity = 'null'" if path == "entity" else f"{icol} IS NULL"
            if relation in ("is", "in"):
                if relation == "is" and len(values) != 1:
                    raise NotCompiled
                parts = []
                for v in values:
                    if v is None:
                        parts.append(null)
                    else:
                        t, i = _link_key(v)
                        self.args.extend((t, i))
                        parts.append(f"({tcol} = ? AND {icol} = ?{live})")
                return "(" + " OR ".join(parts or ["0"]) + ")"
            if relation == "type_is" and len(values) == 1:
                if values[0] is None:
                    return null
                if not isinstance(values[0], str):
                    raise NotCompiled
                self.args.append(values[0])
                return f"({tcol} = ?{live})"
            raise NotCompiled
        raise NotCompiled


def compile_filters(filters: Any) -> tuple[str, list[Any], Any]:
    """SQL for as much of ``filters`` as compiles; the rest comes back as a residual.

    Returns ``(sql, args, residual)``; ``residual`` is ``None`` when SQL covers it all.
    """
    if not filters:
        return "1", [], None
    if isinstance(filters, list):
        filters = {"logical_operator": "and", "conditions": filters}
    w = _Where()
    try:
        return w.node(filters), w.args, None
    except NotCompiled:
        pass
    if not (isinstance(filters, dict) and filters.get("logical_operator", "and") == "and"):
        return "1", [], filters
    sql_parts: list[str] = []
    args: list[Any] = []
    residual: list[Any] = []
    for cond in filters.get("conditions") or []:
        w = _Where()
        try:
            sql_parts.append(w.node(cond))
            args.extend(w.args)
        except NotCompiled:
            residual.append(cond)
    sql = " AND ".join(sql_parts) or "1"
    return sql, args, {"logical_operator": "and", "conditions": residual}


def compile_order(sorts: Any) -> str:
    """``ORDER BY`` for sorts the SQL path covers (nulls last when ascending)."""
    parts = []
    has_id = False
    for s in sorts or []:
        name = s.get("field_name") if isinstance(s, dict) else None
        direction = s.get("direction", "asc") if isinstance(s, dict) else None
        if name not in _SORTABLE or direction not in ("asc", "desc"):
            raise NotCompiled
        has_id = has_id or name == "id"
        if name == "id":
            parts.append(f"id {direction.upper()}")
        elif direction == "asc":
            parts.append(f"{name} IS NULL, {name} ASC")
        else:
            parts.append(f"{name} IS NULL DESC, {name} DESC")
    if not has_id:
        parts.append("id ASC")
    return ", ".join(parts)


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
        filters: Any,
        sorts: Any,
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

    def records(self, filters: Any, hidden: Sequence[int]) -> tuple[list[dict[str, Any]], Any]:
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
