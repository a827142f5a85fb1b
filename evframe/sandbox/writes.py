"""Writes: create, update, delete (retire) and revive, each with its EventLogEntry rows.

Every write runs in one :meth:`~evframe.sandbox.store.Store.transaction`, so a
refused value leaves nothing behind; :mod:`evframe.sandbox.api` runs a
``batch`` as several of them inside one.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import Any

from evframe.sandbox.auth import Actor, hash_secret
from evframe.sandbox.errors import ApiError
from evframe.sandbox.eventlog import NewEvent
from evframe.sandbox.eventrows import (
    Change,
    change_events,
    new_entity_event,
    retirement_events,
    revival_event,
)
from evframe.sandbox.query import WIRE_DATETIME, Record, now_wire
from evframe.sandbox.schema import FieldDef
from evframe.sandbox.store import Store
from evframe.sandbox.twoway import links, partner, pop_computed, sync
from evframe.sandbox.values import add_return_field, field_value, is_populated, link, link_out


def create(
    store: Store,
    actor: Actor,
    etype: str,
    fields: Any,
    return_fields: Sequence[str] | None = None,
    *,
    system: bool = False,
) -> dict[str, Any]:
    """Create one entity (or a custom EventLogEntry row); its reply entity.

    ``system`` writes fields the site fills in itself (read-only to clients).
    """
    edef = store.schema.entity(etype)
    items = _fields_in(store, etype, fields, creating=True, system=system)
    with store.transaction():
        if etype == "EventLogEntry":
            return _create_event_entry(store, actor, items)
        values = {fdef.name: value for fdef, value, _ in items}
        for fdef in edef.fields.values():
            if fdef.default_value is not None and fdef.name not in values:
                values[fdef.name] = fdef.default_value
        if etype == "HumanUser" and not values.get("name"):
            first, last = values.get("firstname") or "", values.get("lastname") or ""
            values["name"] = f"{first} {last}".strip() or values.get("login")
        now = now_wire()
        rec: Record = {"id": store.new_id(etype)}
        for auto, value in (
            ("created_at", now),
            ("updated_at", now),
            ("created_by", {"type": actor.user["type"], "id": actor.user["id"]}),
            ("updated_by", {"type": actor.user["type"], "id": actor.user["id"]}),
        ):
            if auto in edef.fields:
                rec[auto] = value
        rec.update(values)
        pop_computed(store.schema, etype, rec)
        store.put(etype, rec, False)
        two_way = {n: v for n, v in values.items() if partner(store.schema, edef.fields[n])}
        other_side = sync(store, actor, etype, rec["id"], {}, two_way, now)
        populated = [
            (edef.fields[n], None, field_value(store, etype, rec, n))
            for n in values
            if is_populated(values[n])
        ]
        store.write_events(
            [
                new_entity_event(store, actor, etype, rec, now),
                *change_events(store, actor, etype, rec, populated, now, in_create=True),
                *other_side,
            ]
        )
        out = {"type": etype, "id": rec["id"]}
        for n in values:
            out[n] = field_value(store, etype, rec, n)
        for path in return_fields or ():
            add_return_field(store, etype, rec, path, out)
        return out


def _create_event_entry(
    store: Store, actor: Actor, items: list[tuple[FieldDef, Any, str]]
) -> dict[str, Any]:
    values = {fdef.name: value for fdef, value, _ in items}
    if not values.get("event_type"):
        raise ApiError("EventLogEntry.event_type is required to create an EventLogEntry.")
    entity = values.get("entity")
    ev = NewEvent(
        event_type=values["event_type"],
        attribute_name=values.get("attribute_name"),
        entity=link_out(store, entity) if entity else None,
        project=link_out(store, values.get("project")),
        user=actor.user,
        meta=values.get("meta") or {},
        description=values.get("description") or "",
        created_at=now_wire(),
        session_uuid=values.get("session_uuid") or actor.session_uuid,
    )
    (eid,) = store.write_events([ev])
    out: dict[str, Any] = {"type": "EventLogEntry", "id": eid}
    for n in values:
        out[n] = getattr(ev, n) if hasattr(ev, n) else values[n]
    return out


def _active(store: Store, etype: str, eid: Any, verb: str) -> Record:
    store.schema.entity(etype)
    rec = store.get(etype, eid) if type(eid) is int else None
    if rec is None:
        raise ApiError(f"Cannot {verb} {etype} {eid!r}: it does not exist.")
    return rec


def update(
    store: Store, actor: Actor, etype: str, eid: Any, fields: Any, *, system: bool = False
) -> dict[str, Any]:
    """Change fields of a live entity; its reply entity (the fields given).

    ``system`` writes fields the site fills in itself (read-only to clients).
    """
    if etype == "EventLogEntry":
        raise ApiError("EventLogEntry rows cannot be updated.")
    rec = _active(store, etype, eid, "update")
    if store.is_retired(etype, eid):
        raise ApiError(f"Cannot update {etype} {eid}: it is retired.")
    items = _fields_in(store, etype, fields, creating=False, system=system)
    edef = store.schema.entity(etype)
    with store.transaction():
        new = dict(rec)
        changes: list[Change] = []
        before = {
            f.name: links(store, etype, rec, f) for f, _, _ in items if partner(store.schema, f)
        }
        for fdef, value, mode in items:
            name = fdef.name
            old = before[name] if name in before else rec.get(name)
            if fdef.data_type == "multi_entity":
                old_list = list(old or [])
                if mode == "add":
                    value = old_list + [x for x in value if x not in old_list]
                elif mode == "remove":
                    value = [x for x in old_list if x not in value]
            old_out = field_value(store, etype, new, name)
            if value == (old if old is not None else _coerce(store, fdef, None)):
                continue
            new[name] = value
            changes.append((fdef, old_out, None))
        if changes:
            now = now_wire()
            if "updated_at" in edef.fields:
                new["updated_at"] = now
                new["updated_by"] = {"type": actor.user["type"], "id": actor.user["id"]}
            after = {f.name: new[f.name] for f, _, _ in changes if f.name in before}
            pop_computed(store.schema, etype, new)
            store.put(etype, new, False)
            other_side = sync(store, actor, etype, eid, before, after, now)
            changes = [(f, o, field_value(store, etype, new, f.name)) for f, o, _ in changes]
            if any(f.name == edef.name_field for f, _, _ in changes):
                store.events.relink(etype, eid, link(store, etype, eid))
            store.write_events(
                [*change_events(store, actor, etype, new, changes, now, False), *other_side]
            )
        out = {"type": etype, "id": eid}
        for fdef, _, _ in items:
            out[fdef.name] = field_value(store, etype, new, fdef.name)
        return out


def delete(store: Store, actor: Actor, etype: str, eid: Any) -> bool:
    """Retire an entity; ``False`` if it already was."""
    if etype == "EventLogEntry":
        raise ApiError("EventLogEntry rows cannot be deleted.")
    rec = _active(store, etype, eid, "delete")
    if store.is_retired(etype, eid):
        return False
    with store.transaction():
        now = now_wire()
        store.put(etype, rec, True)
        store.write_events(retirement_events(store, actor, etype, rec, now))
        store.events.relink(etype, eid, None)
        return True


def revive(store: Store, actor: Actor, etype: str, eid: Any) -> bool:
    """Bring a retired entity back; ``False`` if it was not retired."""
    if etype == "EventLogEntry":
        raise ApiError("EventLogEntry rows cannot be revived.")
    rec = _active(store, etype, eid, "revive")
    if not store.is_retired(etype, eid):
        return False
    with store.transaction():
        store.put(etype, rec, False)
        store.events.relink(etype, eid, link(store, etype, eid))
        store.write_events([revival_event(store, actor, etype, rec, now_wire())])
        return True


#: Data types whose values are plain strings.
_TEXT_TYPES = frozenset(
    {"text", "color", "uuid", "password", "timecode", "footage", "system_task_type"}
)


def _coerce(store: Store, fdef: FieldDef, value: Any) -> Any:
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
                    f"Bad value for {where}: type {t} is not one of {', '.join(fdef.valid_types)}."
                )
            if link(store, t, i) is None and not (t == "EventLogEntry"):
                raise ApiError(f"Bad value for {where}: {t} {i} does not exist (or is retired).")
            ref = {"type": t, "id": i}
            if ref not in out:
                out.append(ref)
        return out if dt == "multi_entity" else out[0]
    ok: bool
    if dt in _TEXT_TYPES:
        ok = isinstance(value, str)
    elif dt == "entity_type":
        ok = isinstance(value, str) and value in store.schema.types
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
                f"Bad value for {where}: {value!r} is not one of {', '.join(fdef.valid_values)}."
            )
    elif dt == "tag_list":
        ok = isinstance(value, list) and all(isinstance(t, str) for t in value)
    elif dt == "image":
        # A thumbnail is an uploaded Attachment (upload_thumbnail, share_thumbnail):
        # the field keeps its link, reads show the URL serving it.
        ok = isinstance(value, dict) and value.get("type") == "Attachment"
        if ok and (type(value.get("id")) is not int or not link(store, "Attachment", value["id"])):
            raise ApiError(f"Bad value for {where}: no Attachment {value.get('id')!r}.")
        value = {"type": "Attachment", "id": value["id"]} if ok else value
    else:  # serializable, url
        ok = True
    if not ok:
        raise ApiError(f"Bad value for {where}: {value!r}.")
    # Passwords and script keys are stored salted and hashed, never as given.
    return hash_secret(value) if dt == "password" else value


def _fields_in(
    store: Store, etype: str, fields: Any, creating: bool, system: bool = False
) -> list[tuple[FieldDef, Any, str]]:
    """Check ``[{field_name, value, multi_entity_update_mode}]``; values in stored form."""
    if not isinstance(fields, list):
        raise ApiError("Bad request: 'fields' must be a list of {field_name, value}.")
    out = []
    for item in fields:
        if not isinstance(item, dict) or "field_name" not in item:
            raise ApiError(f"Bad field item {item!r}: expected {{field_name, value}}.")
        fdef = store.schema.field(etype, item["field_name"])
        computed = fdef.reverse_of is not None and partner(store.schema, fdef) is None
        if (not fdef.editable and not system) or computed:
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
        out.append((fdef, _coerce(store, fdef, item.get("value")), mode))
    return out


def _valid_date(text: str, fmt: str) -> bool:
    try:
        _dt.datetime.strptime(text, fmt)
    except ValueError:
        return False
    return True
