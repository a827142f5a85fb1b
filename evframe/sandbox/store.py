"""Entity storage: SQLite on disk (or in memory), mirrored in memory for reads.

Entities of every type but EventLogEntry live in one table as JSON documents and
are all loaded at start-up; reads filter them in Python (the sandbox holds a
test or demo site, not a production one).  EventLogEntry rows live in their own
table with a fast SQL read path (:mod:`evframe.sandbox.eventlog`).  Every write
is one SQLite transaction that also appends the EventLogEntry rows a site
would write; a failed write (or batch) leaves nothing behind.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evframe.sandbox.errors import ERR_AUTH, ApiError
from evframe.sandbox.eventlog import EventLog, NewEvent, NotCompiled, dumps
from evframe.sandbox.faults import Faults
from evframe.sandbox.query import WIRE_DATETIME, FilterCompiler, Record, check_path, sort_key
from evframe.sandbox.schema import FieldDef, Schema

_CREATE_SQL = """
CREATE TABLE IF NOT EXISTS entities (
    type TEXT NOT NULL,
    id INTEGER NOT NULL,
    retired INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL,
    PRIMARY KEY (type, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS custom_fields (
    entity_type TEXT NOT NULL,
    field_name TEXT NOT NULL,
    spec TEXT NOT NULL,
    PRIMARY KEY (entity_type, field_name)
);
"""


class RawReply(bytes):
    """A complete api3 reply body, already encoded (``{"results": ...}``)."""


@dataclass(frozen=True)
class Actor:
    """Who writes: the authenticated script (or the user it acts as)."""

    user: dict[str, Any]
    label: str
    session_uuid: str | None = None
    sudo_actual_user: dict[str, Any] | None = None


def _hash_key(key: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(8)
    return "sha256$" + salt + "$" + hashlib.sha256((salt + key).encode()).hexdigest()


def _key_matches(stored: Any, key: str) -> bool:
    if not isinstance(stored, str) or stored.count("$") != 2:
        return False
    _, salt, _ = stored.split("$")
    return secrets.compare_digest(_hash_key(key, salt), stored)


def _retirement_stamp() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _quote(value: Any) -> str:
    """A value as an event description shows it."""
    if value is None:
        return '""'
    if isinstance(value, dict):
        return '"' + str(value.get("name") or f"{value.get('type')} {value.get('id')}") + '"'
    if isinstance(value, list):
        return '"' + ", ".join(_quote(v).strip('"') for v in value) + '"'
    return f'"{value}"'


def _is_populated(value: Any) -> bool:
    return value is not None and value != [] and value != ""


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
        self.events = EventLog(self.conn)
        self.filters = FilterCompiler(schema, self)
        self._data: dict[str, dict[int, Record]] = {}
        self._retired: dict[str, set[int]] = {}
        self._next_ids: dict[str, int] = {}
        self._next_event_id = 1
        self._depth = 0
        self._undo: list[tuple[str, int, Record | None, bool]] = []
        self._load()

    # -- persistence -----------------------------------------------------------------

    def _load(self) -> None:
        for etype, fname, spec in self.conn.execute("SELECT * FROM custom_fields"):
            if etype in self.schema.types:
                self.schema.extend({"entity_types": {etype: {"fields": {fname: json.loads(spec)}}}})
        for etype, eid, retired, data in self.conn.execute("SELECT * FROM entities"):
            self._data.setdefault(etype, {})[eid] = json.loads(data)
            if retired:
                self._retired.setdefault(etype, set()).add(eid)
            self._next_ids[etype] = max(self._next_ids.get(etype, 1), eid + 1)
        self._next_event_id = self.events.max_id() + 1

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    def save_custom_field(self, fdef: FieldDef) -> None:
        spec = {
            "data_type": fdef.data_type,
            "name": fdef.display_name,
            "valid_types": list(fdef.valid_types),
            "valid_values": list(fdef.valid_values),
        }
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
            finally:
                self._depth = 0
                self._undo = []

    def _put(self, etype: str, rec: Record, retired: bool) -> None:
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

    def _new_id(self, etype: str) -> int:
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
            return ids

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

    # -- values ----------------------------------------------------------------------

    def get(self, etype: str, eid: int) -> Record | None:
        return self._data.get(etype, {}).get(eid)

    def is_retired(self, etype: str, eid: int) -> bool:
        return eid in self._retired.get(etype, ())

    def display_name(self, etype: str, rec: Record) -> Any:
        edef = self.schema.types.get(etype)
        if edef is None or edef.name_field is None:
            return None
        return rec.get(edef.name_field)

    def link(self, etype: str, eid: int) -> dict[str, Any] | None:
        """``{type, id, name}`` of a live entity; ``None`` if missing or retired."""
        rec = self.get(etype, eid)
        if rec is None or self.is_retired(etype, eid):
            return None
        return {"type": etype, "id": eid, "name": self.display_name(etype, rec)}

    def _link_out(self, value: Any) -> Any:
        if not isinstance(value, dict):
            return None
        etype, eid = value.get("type"), value.get("id")
        if not isinstance(etype, str) or not isinstance(eid, int):
            return None
        if self.get(etype, eid) is None:
            # Not in this store (bulk-seeded events): keep the stored link.
            return value
        return self.link(etype, eid)

    def _reverse(self, fdef: FieldDef, etype: str, eid: int) -> list[dict[str, Any]]:
        assert fdef.reverse_of is not None
        rtype, rfield = fdef.reverse_of
        out = []
        retired = self._retired.get(rtype, set())
        for rid, rrec in self._data.get(rtype, {}).items():
            if rid in retired:
                continue
            v = rrec.get(rfield)
            links = v if isinstance(v, list) else [v] if v else []
            if any(lk.get("type") == etype and lk.get("id") == eid for lk in links):
                out.append({"type": rtype, "id": rid, "name": self.display_name(rtype, rrec)})
        return out

    def field_value(self, etype: str, rec: Record, name: str) -> Any:
        """A field's wire value: links resolved to ``{type, id, name}``, retired ones gone."""
        if name == "id":
            return rec["id"]
        if name == "type":
            return etype
        edef = self.schema.types.get(etype)
        fdef = edef.fields.get(name) if edef else None
        if fdef is None:
            return rec.get(name)
        if fdef.reverse_of is not None:
            return self._reverse(fdef, etype, rec["id"])
        v = rec.get(name)
        dt = fdef.data_type
        if dt == "entity":
            return self._link_out(v) if v else None
        if dt == "multi_entity":
            return [lk for lk in (self._link_out(x) for x in v or ()) if lk]
        if dt == "password":
            return None
        if dt == "checkbox":
            return bool(v)
        return v

    def path_values(self, entity_type: str, rec: Record, parts: Sequence[str]) -> list[Any]:
        v = self.field_value(entity_type, rec, parts[0])
        if len(parts) == 1:
            return [v]
        target_type, rest = parts[1], parts[2:]
        out: list[Any] = []
        for lk in v if isinstance(v, list) else [v] if v else []:
            if lk.get("type") != target_type:
                continue
            target = self.get(target_type, lk["id"])
            if target is not None and not self.is_retired(target_type, lk["id"]):
                out.extend(self.path_values(target_type, target, rest))
        return out or [None]

    def _coerce(self, fdef: FieldDef, value: Any) -> Any:
        """Check a value written to a field; return its stored form."""
        where = f"{fdef.entity_type}.{fdef.name} ({fdef.data_type})"
        dt = fdef.data_type
        if value is None:
            return [] if dt in ("multi_entity", "tag_list") else False if dt == "checkbox" else None
        if dt in ("entity", "multi_entity"):
            links = value if dt == "multi_entity" else [value]
            if not isinstance(links, list):
                raise ApiError(f"Bad value for {where}: expected a list of entity links.")
            out = []
            for lk in links:
                if not (
                    isinstance(lk, dict)
                    and isinstance(lk.get("type"), str)
                    and type(lk.get("id")) is int
                ):
                    raise ApiError(f"Bad value for {where}: {lk!r} is not a link {{type, id}}.")
                t, i = lk["type"], lk["id"]
                if fdef.valid_types and t not in fdef.valid_types:
                    raise ApiError(
                        f"Bad value for {where}: type {t} is not one of "
                        f"{', '.join(fdef.valid_types)}."
                    )
                if self.link(t, i) is None and not (t == "EventLogEntry"):
                    raise ApiError(
                        f"Bad value for {where}: {t} {i} does not exist (or is retired)."
                    )
                ref = {"type": t, "id": i}
                if ref not in out:
                    out.append(ref)
            return out if dt == "multi_entity" else out[0]
        ok: bool
        if dt in ("text", "color", "uuid", "password", "timecode"):
            ok = isinstance(value, str)
        elif dt in ("number", "duration", "percent"):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif dt in ("float", "currency"):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif dt == "checkbox":
            ok = isinstance(value, bool)
        elif dt == "date":
            ok = isinstance(value, str) and _valid_date(value, "%Y-%m-%d")
        elif dt == "date_time":
            ok = isinstance(value, str) and _valid_date(value, WIRE_DATETIME)
        elif dt in ("list", "status_list"):
            ok = isinstance(value, str)
            if ok and fdef.valid_values and value not in fdef.valid_values:
                raise ApiError(
                    f"Bad value for {where}: {value!r} is not one of "
                    f"{', '.join(fdef.valid_values)}."
                )
        elif dt == "tag_list":
            ok = isinstance(value, list) and all(isinstance(t, str) for t in value)
        else:  # serializable, url
            ok = True
        if not ok:
            raise ApiError(f"Bad value for {where}: {value!r}.")
        return value

    def _fields_in(
        self, etype: str, fields: Any, creating: bool
    ) -> list[tuple[FieldDef, Any, str]]:
        if not isinstance(fields, list):
            raise ApiError("Bad request: 'fields' must be a list of {field_name, value}.")
        out = []
        for item in fields:
            if not isinstance(item, dict) or "field_name" not in item:
                raise ApiError(f"Bad field item {item!r}: expected {{field_name, value}}.")
            fdef = self.schema.field(etype, item["field_name"])
            if not fdef.editable or fdef.reverse_of is not None:
                raise ApiError(f"Field {etype}.{fdef.name} is not editable.")
            mode = item.get("multi_entity_update_mode") or "set"
            if mode not in ("set", "add", "remove"):
                raise ApiError(
                    f"Bad multi_entity_update_mode {mode!r} for {etype}.{fdef.name}: "
                    "use set, add or remove."
                )
            if mode != "set" and (fdef.data_type != "multi_entity" or creating):
                raise ApiError(
                    f"multi_entity_update_mode {mode!r} only applies when updating a "
                    f"multi-entity field; {etype}.{fdef.name} is {fdef.data_type}."
                )
            out.append((fdef, self._coerce(fdef, item.get("value")), mode))
        return out

    # -- auth --------------------------------------------------------------------------

    def ensure_script(self, name: str, key: str) -> dict[str, Any]:
        """Make sure an ApiUser ``name`` exists with ``key``; return its link."""
        with self.transaction():
            for eid, rec in self._data.get("ApiUser", {}).items():
                if rec.get("firstname") == name and not self.is_retired("ApiUser", eid):
                    if not _key_matches(rec.get("salted_password"), key):
                        self._put("ApiUser", {**rec, "salted_password": _hash_key(key)}, False)
                    return {"type": "ApiUser", "id": eid, "name": name}
            eid = self._new_id("ApiUser")
            now = _now()
            rec = {
                "id": eid,
                "firstname": name,
                "lastname": "1.0",
                "description": "Created by evframe sandbox",
                "salted_password": _hash_key(key),
                "generate_event_log_entries": True,
                "created_at": now,
                "updated_at": now,
            }
            self._put("ApiUser", rec, False)
            return {"type": "ApiUser", "id": eid, "name": name}

    def authenticate(self, auth: Any) -> Actor:
        """Check api3 auth params; :class:`ApiError` 102 when they are wrong."""
        if not isinstance(auth, dict):
            raise ApiError("Authentication failed: missing credentials.", ERR_AUTH)
        name, key = auth.get("script_name"), auth.get("script_key")
        if not isinstance(name, str) or not isinstance(key, str):
            raise ApiError(
                "Authentication failed: the sandbox accepts script credentials "
                "(script_name and api_key) only.",
                ERR_AUTH,
            )
        with self.lock:
            script = None
            for eid, rec in self._data.get("ApiUser", {}).items():
                if rec.get("firstname") == name and not self.is_retired("ApiUser", eid):
                    if _key_matches(rec.get("salted_password"), key):
                        script = {"type": "ApiUser", "id": eid, "name": name}
                    break
            if script is None:
                raise ApiError("Authentication failed: bad script name or api key.", ERR_AUTH)
            session = auth.get("session_uuid")
            session = session if isinstance(session, str) else None
            sudo = auth.get("sudo_as_login")
            if sudo:
                for eid, rec in self._data.get("HumanUser", {}).items():
                    if rec.get("login") == sudo and not self.is_retired("HumanUser", eid):
                        user = {"type": "HumanUser", "id": eid, "name": rec.get("name")}
                        return Actor(user, str(rec.get("name")), session, script)
                raise ApiError(f"sudo_as_login: no active HumanUser with login {sudo!r}.", ERR_AUTH)
            return Actor(script, f"Script {name}", session)

    # -- writes ------------------------------------------------------------------------

    def _event(
        self,
        actor: Actor,
        etype: str,
        rec: Record,
        event_type: str,
        attribute_name: str | None,
        meta: dict[str, Any],
        description: str,
        entity: dict[str, Any] | None,
        now: str,
    ) -> NewEvent:
        if actor.sudo_actual_user is not None:
            meta = {**meta, "sudo_actual_user": actor.sudo_actual_user}
        project: dict[str, Any] | None
        if etype == "Project":
            project = self.link("Project", rec["id"]) or {
                "type": "Project",
                "id": rec["id"],
                "name": rec.get("name"),
            }
        else:
            project = self.field_value(etype, rec, "project") if "project" in rec else None
        return NewEvent(
            event_type=f"Shotgun_{etype}_{event_type}",
            attribute_name=attribute_name,
            entity=entity,
            project=project,
            user=actor.user,
            meta=meta,
            description=description,
            created_at=now,
            session_uuid=actor.session_uuid,
            entity_type=etype,
            entity_id=rec["id"],
        )

    def _change_events(
        self,
        actor: Actor,
        etype: str,
        rec: Record,
        changes: list[tuple[FieldDef, Any, Any]],
        now: str,
        in_create: bool,
    ) -> list[NewEvent]:
        entity = self.link(etype, rec["id"])
        what = f"{etype} {self.display_name(etype, rec) or rec['id']}"
        events = []
        for fdef, old, new in changes:
            meta: dict[str, Any] = {
                "type": "attribute_change",
                "attribute_name": fdef.name,
                "entity_type": etype,
                "entity_id": rec["id"],
                "field_data_type": fdef.data_type,
            }
            label = fdef.display_name
            if fdef.data_type == "multi_entity":
                old_keys = {(x["type"], x["id"]) for x in old or ()}
                new_keys = {(x["type"], x["id"]) for x in new or ()}
                added = [x for x in new or () if (x["type"], x["id"]) not in old_keys]
                removed = [x for x in old or () if (x["type"], x["id"]) not in new_keys]
                meta["added"], meta["removed"] = added, removed
                if added and not removed:
                    text = f"added {_quote(added)} to {_quote(label)} on {what}"
                elif removed and not added:
                    text = f"removed {_quote(removed)} from {_quote(label)} on {what}"
                else:
                    text = (
                        f"changed {_quote(label)} on {what}: added {_quote(added)}, "
                        f"removed {_quote(removed)}"
                    )
            else:
                meta["old_value"], meta["new_value"] = old, new
                if in_create:
                    text = f"set {_quote(label)} to {_quote(new)} on {what}"
                else:
                    text = f"changed {_quote(label)} from {_quote(old)} to {_quote(new)} on {what}"
            if in_create:
                meta["in_create"] = True
            events.append(
                self._event(
                    actor,
                    etype,
                    rec,
                    "Change",
                    fdef.name,
                    meta,
                    f"{actor.label} {text}",
                    entity,
                    now,
                )
            )
        return events

    def create(
        self,
        actor: Actor,
        etype: str,
        fields: Any,
        return_fields: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        edef = self.schema.entity(etype)
        items = self._fields_in(etype, fields, creating=True)
        with self.transaction():
            if etype == "EventLogEntry":
                return self._create_event_entry(actor, items, return_fields)
            values = {fdef.name: value for fdef, value, _ in items}
            for fdef in edef.fields.values():
                if fdef.default_value is not None and fdef.name not in values:
                    values[fdef.name] = fdef.default_value
            if etype == "HumanUser" and not values.get("name"):
                first, last = values.get("firstname") or "", values.get("lastname") or ""
                values["name"] = f"{first} {last}".strip() or values.get("login")
            now = _now()
            rec: Record = {"id": self._new_id(etype)}
            for auto, value in (
                ("created_at", now),
                ("updated_at", now),
                ("created_by", {"type": actor.user["type"], "id": actor.user["id"]}),
                ("updated_by", {"type": actor.user["type"], "id": actor.user["id"]}),
            ):
                if auto in edef.fields:
                    rec[auto] = value
            rec.update(values)
            self._put(etype, rec, False)
            entity = self.link(etype, rec["id"])
            name = self.display_name(etype, rec)
            events = [
                self._event(
                    actor,
                    etype,
                    rec,
                    "New",
                    None,
                    {"type": "new_entity", "entity_type": etype, "entity_id": rec["id"]},
                    f"{actor.label} created new {etype} {name or rec['id']}",
                    entity,
                    now,
                )
            ]
            populated = [
                (edef.fields[n], None, self.field_value(etype, rec, n))
                for n in values
                if _is_populated(values[n])
            ]
            events += self._change_events(actor, etype, rec, populated, now, in_create=True)
            self.write_events(events)
            out = {"type": etype, "id": rec["id"]}
            for n in values:
                out[n] = self.field_value(etype, rec, n)
            for path in return_fields or ():
                self._add_return_field(etype, rec, path, out)
            return out

    def _create_event_entry(
        self,
        actor: Actor,
        items: list[tuple[FieldDef, Any, str]],
        return_fields: Sequence[str] | None,
    ) -> dict[str, Any]:
        values = {fdef.name: value for fdef, value, _ in items}
        if not values.get("event_type"):
            raise ApiError("EventLogEntry.event_type is required to create an EventLogEntry.")
        entity = values.get("entity")
        ev = NewEvent(
            event_type=values["event_type"],
            attribute_name=values.get("attribute_name"),
            entity=self._link_out(entity) if entity else None,
            project=self._link_out(values.get("project")),
            user=actor.user,
            meta=values.get("meta") or {},
            description=values.get("description") or "",
            created_at=_now(),
            session_uuid=values.get("session_uuid") or actor.session_uuid,
        )
        (eid,) = self.write_events([ev])
        out: dict[str, Any] = {"type": "EventLogEntry", "id": eid}
        for n in values:
            out[n] = getattr(ev, n) if hasattr(ev, n) else values[n]
        return out

    def _active(self, etype: str, eid: Any, verb: str) -> Record:
        self.schema.entity(etype)
        rec = self.get(etype, eid) if type(eid) is int else None
        if rec is None:
            raise ApiError(f"Cannot {verb} {etype} {eid!r}: it does not exist.")
        return rec

    def update(self, actor: Actor, etype: str, eid: Any, fields: Any) -> dict[str, Any]:
        if etype == "EventLogEntry":
            raise ApiError("EventLogEntry rows cannot be updated.")
        rec = self._active(etype, eid, "update")
        if self.is_retired(etype, eid):
            raise ApiError(f"Cannot update {etype} {eid}: it is retired.")
        items = self._fields_in(etype, fields, creating=False)
        edef = self.schema.entity(etype)
        with self.transaction():
            new = dict(rec)
            changes: list[tuple[FieldDef, Any, Any]] = []
            for fdef, value, mode in items:
                name = fdef.name
                old = rec.get(name)
                if fdef.data_type == "multi_entity":
                    old_list = list(old or [])
                    if mode == "add":
                        value = old_list + [x for x in value if x not in old_list]
                    elif mode == "remove":
                        value = [x for x in old_list if x not in value]
                old_out = self.field_value(etype, new, name)
                if value == (old if old is not None else self._coerce(fdef, None)):
                    continue
                new[name] = value
                changes.append((fdef, old_out, None))
            if changes:
                now = _now()
                if "updated_at" in edef.fields:
                    new["updated_at"] = now
                    new["updated_by"] = {"type": actor.user["type"], "id": actor.user["id"]}
                self._put(etype, new, False)
                changes = [(f, o, self.field_value(etype, new, f.name)) for f, o, _ in changes]
                if any(f.name == edef.name_field for f, _, _ in changes):
                    self.events.relink(etype, eid, self.link(etype, eid))
                self.write_events(self._change_events(actor, etype, new, changes, now, False))
            out = {"type": etype, "id": eid}
            for fdef, _, _ in items:
                out[fdef.name] = self.field_value(etype, new, fdef.name)
            return out

    def delete(self, actor: Actor, etype: str, eid: Any) -> bool:
        if etype == "EventLogEntry":
            raise ApiError("EventLogEntry rows cannot be deleted.")
        rec = self._active(etype, eid, "delete")
        if self.is_retired(etype, eid):
            return False
        with self.transaction():
            now = _now()
            stamp = _retirement_stamp()
            name = self.display_name(etype, rec)
            what = f"{etype} {name or eid}"
            self._put(etype, rec, True)
            retire = self._event(
                actor,
                etype,
                rec,
                "Retirement",
                None,
                {
                    "type": "entity_retirement",
                    "entity_type": etype,
                    "entity_id": eid,
                    "class_name": etype,
                    "display_name": name,
                    "retirement_date": stamp,
                },
                f"{actor.label} retired {what}",
                None,
                now,
            )
            change = self._event(
                actor,
                etype,
                rec,
                "Change",
                "retirement_date",
                {
                    "type": "attribute_change",
                    "attribute_name": "retirement_date",
                    "entity_type": etype,
                    "entity_id": eid,
                    "field_data_type": "date_time",
                    "old_value": None,
                    "new_value": stamp,
                },
                f'{actor.label} changed "Date Retired" from "" to "{stamp}" on {what}',
                None,
                now,
            )
            self.write_events([retire, change])
            self.events.relink(etype, eid, None)
            return True

    def revive(self, actor: Actor, etype: str, eid: Any) -> bool:
        if etype == "EventLogEntry":
            raise ApiError("EventLogEntry rows cannot be revived.")
        rec = self._active(etype, eid, "revive")
        if not self.is_retired(etype, eid):
            return False
        with self.transaction():
            self._put(etype, rec, False)
            link = self.link(etype, eid)
            self.events.relink(etype, eid, link)
            name = self.display_name(etype, rec)
            ev = self._event(
                actor,
                etype,
                rec,
                "Revival",
                None,
                {
                    "type": "entity_revival",
                    "entity_type": etype,
                    "entity_id": eid,
                    "class_name": etype,
                    "display_name": name,
                },
                f"{actor.label} revived {etype} {name or eid}",
                link,
                _now(),
            )
            self.write_events([ev])
            return True

    def batch(self, actor: Actor, requests: Any) -> list[Any]:
        if not isinstance(requests, list):
            raise ApiError("batch: expected a list of requests.")
        results: list[Any] = []
        with self.transaction():
            for n, req in enumerate(requests):
                if not isinstance(req, dict):
                    raise ApiError(f"batch request {n}: expected an object, got {req!r}.")
                kind, etype = req.get("request_type"), str(req.get("type"))
                try:
                    if kind == "create":
                        results.append(
                            self.create(actor, etype, req.get("fields"), req.get("return_fields"))
                        )
                    elif kind == "update":
                        results.append(self.update(actor, etype, req.get("id"), req.get("fields")))
                    elif kind == "delete":
                        results.append(self.delete(actor, etype, req.get("id")))
                    else:
                        raise ApiError(f"unknown request_type {kind!r} (create, update, delete)")
                except ApiError as exc:
                    raise ApiError(
                        f"batch request {n} ({kind} {etype}) failed, nothing was written: "
                        f"{exc.message}",
                        exc.code,
                    ) from None
        return results

    # -- reads ---------------------------------------------------------------------------

    def _add_return_field(self, etype: str, rec: Record, path: Any, out: dict[str, Any]) -> None:
        if not isinstance(path, str):
            raise ApiError(f"Bad return field {path!r}: expected a string.")
        if path in out:
            return
        try:
            check_path(self.schema, etype, path)
        except ApiError:
            return  # Sites leave unknown fields out of the reply instead of failing.
        if "." in path:
            out[path] = self.path_values(etype, rec, path.split("."))[0]
        else:
            out[path] = self.field_value(etype, rec, path)

    def _check_sorts(self, etype: str, sorts: Any) -> list[tuple[str, bool]]:
        if sorts is None:
            return []
        if not isinstance(sorts, list):
            raise ApiError(f"Bad sorts {sorts!r}: expected a list of {{field_name, direction}}.")
        out = []
        for s in sorts:
            if not isinstance(s, dict):
                raise ApiError(f"Bad sort {s!r}: expected {{field_name, direction}}.")
            direction = s.get("direction", "asc")
            if direction not in ("asc", "desc"):
                raise ApiError(f"Bad sort direction {direction!r}: use asc or desc.")
            check_path(self.schema, etype, s.get("field_name"))
            out.append((str(s["field_name"]), direction == "desc"))
        return out

    def _matching(self, etype: str, filters: Any, retired: bool) -> list[Record]:
        if etype == "EventLogEntry":
            if retired:
                return []
            records, residual = self.events.records(filters, self.faults.hidden_ids())
            if residual is None:
                return records
            pred = self.filters.compile(etype, residual)
            return [r for r in records if pred(r)]
        pred = self.filters.compile(etype, filters)
        retired_set = self._retired.get(etype, set())
        return [
            r
            for eid, r in sorted(self._data.get(etype, {}).items())
            if (eid in retired_set) == retired and pred(r)
        ]

    def read(self, params: Any) -> Any:
        if not isinstance(params, dict):
            raise ApiError("read: expected an object of parameters.")
        etype = self.schema.entity(params.get("type")).name
        fields = params.get("return_fields") or ["id"]
        if not isinstance(fields, list):
            raise ApiError(f"Bad return_fields {fields!r}: expected a list of field names.")
        paging = params.get("paging") or {}
        try:
            per_page = int(paging.get("entities_per_page") or self.page_size)
            page = int(paging.get("current_page") or 1)
        except (TypeError, ValueError):
            raise ApiError(f"Bad paging {paging!r}.") from None
        per_page = max(1, min(per_page, self.page_size))
        page = max(1, page)
        return_only = params.get("return_only", "active")
        if return_only not in ("active", "retired"):
            raise ApiError(f"Bad return_only {return_only!r}: use active or retired.")
        if params.get("additional_filter_presets"):
            raise ApiError("additional_filter_presets are not supported by the sandbox.")
        with_count = bool(params.get("return_paging_info"))
        filters = params.get("filters")
        sorts = self._check_sorts(etype, params.get("sorts"))
        with self.lock:
            if etype == "EventLogEntry" and return_only == "active":
                self.filters.compile(etype, filters)  # same errors as the generic path
                try:
                    return RawReply(
                        self.events.fast_page(
                            fields,
                            filters,
                            params.get("sorts"),
                            per_page,
                            page,
                            self.faults.hidden_ids(),
                            with_count,
                            b'{"results":',
                            b"}",
                        )
                    )
                except NotCompiled:
                    pass
            records = self._matching(etype, filters, return_only == "retired")
            records.sort(key=lambda r: r["id"])
            for path, desc in reversed(sorts):
                parts = path.split(".")
                records.sort(
                    key=lambda r, p=parts: sort_key(self.path_values(etype, r, p)[0]),  # type: ignore[misc]
                    reverse=desc,
                )
            start = (page - 1) * per_page
            chunk = records[start : start + per_page]
            entities = []
            for rec in chunk:
                out: dict[str, Any] = {"type": etype, "id": rec["id"]}
                for path in fields:
                    self._add_return_field(etype, rec, path, out)
                entities.append(out)
            info: dict[str, Any] = {"has_next_page": len(records) > start + per_page}
            if with_count:
                info["entity_count"] = len(records)
            return {"entities": entities, "paging_info": info}

    def summarize(self, params: Any) -> dict[str, Any]:
        if not isinstance(params, dict):
            raise ApiError("summarize: expected an object of parameters.")
        etype = self.schema.entity(params.get("type")).name
        summaries = params.get("summaries") or []
        grouping = params.get("grouping") or []
        if not isinstance(summaries, list) or not isinstance(grouping, list):
            raise ApiError("summarize: summaries and grouping must be lists.")
        for s in summaries:
            if not isinstance(s, dict) or s.get("type") not in _SUMMARIES:
                raise ApiError(
                    f"Bad summary {s!r}: type must be one of {', '.join(sorted(_SUMMARIES))}."
                )
            check_path(self.schema, etype, s.get("field"))
        for g in grouping:
            if not isinstance(g, dict) or g.get("type", "exact") != "exact":
                raise ApiError(f"Bad grouping {g!r}: only type 'exact' is supported.")
            check_path(self.schema, etype, g.get("field"))
        with self.lock:
            records = self._matching(etype, params.get("filters"), False)
            return {
                "summaries": self._summaries(etype, records, summaries),
                "groups": self._groups(etype, records, summaries, grouping),
            }

    def _summaries(
        self, etype: str, records: list[Record], summaries: list[dict[str, Any]]
    ) -> dict[str, Any]:
        out = {}
        for s in summaries:
            values = [self.path_values(etype, r, s["field"].split("."))[0] for r in records]
            out[s["field"]] = _SUMMARIES[s["type"]](values)
        return out

    def _groups(
        self,
        etype: str,
        records: list[Record],
        summaries: list[dict[str, Any]],
        grouping: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        if not grouping:
            return []
        g, rest = grouping[0], grouping[1:]
        parts = g["field"].split(".")
        buckets: dict[str, tuple[Any, list[Record]]] = {}
        for r in records:
            v = self.path_values(etype, r, parts)[0]
            key = dumps(v)
            buckets.setdefault(key, (v, []))[1].append(r)
        ordered = sorted(buckets.values(), key=lambda b: sort_key(b[0]))
        if g.get("direction") == "desc":
            ordered.reverse()
        out = []
        for value, recs in ordered:
            name = value.get("name") if isinstance(value, dict) else value
            group: dict[str, Any] = {
                "group_name": "" if name is None else str(name),
                "group_value": value,
                "summaries": self._summaries(etype, recs, summaries),
            }
            if rest:
                group["groups"] = self._groups(etype, recs, summaries, rest)
            out.append(group)
        return out


def _numbers(values: list[Any]) -> list[float]:
    return [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]


def _present(values: list[Any]) -> list[Any]:
    return [v for v in values if _is_populated(v)]


_SUMMARIES: dict[str, Callable[[list[Any]], Any]] = {
    "record_count": len,
    "count": lambda vs: len(_present(vs)),
    "sum": lambda vs: sum(_numbers(vs)),
    "maximum": lambda vs: max(_numbers(vs), default=None),
    "minimum": lambda vs: min(_numbers(vs), default=None),
    "average": lambda vs: (sum(_numbers(vs)) / len(_numbers(vs))) if _numbers(vs) else None,
    "earliest": lambda vs: min((v for v in vs if isinstance(v, str)), default=None),
    "latest": lambda vs: max((v for v in vs if isinstance(v, str)), default=None),
    "checked": lambda vs: sum(1 for v in vs if v is True),
    "unchecked": lambda vs: sum(1 for v in vs if not v),
}


def _valid_date(text: str, fmt: str) -> bool:
    try:
        _dt.datetime.strptime(text, fmt)
    except ValueError:
        return False
    return True


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime(WIRE_DATETIME)


def scripts_from(mapping: Mapping[str, str] | None) -> dict[str, str]:
    """Validate a ``{script_name: api_key}`` mapping."""
    out = {}
    for name, key in (mapping or {}).items():
        if not name or not key:
            raise ValueError("script name and key must both be non-empty")
        out[str(name)] = str(key)
    return out
