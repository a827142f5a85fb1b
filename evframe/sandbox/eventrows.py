"""The EventLogEntry rows a site writes for each write: types, ``meta`` and descriptions.

A create writes ``New`` plus one in-create ``Change`` per populated field, an
update one ``Change`` per changed field, a delete ``Retirement`` plus the
``retirement_date`` change, a revive ``Revival`` — worded as a site words them.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from evframe.sandbox.auth import Actor
from evframe.sandbox.eventlog import NewEvent
from evframe.sandbox.query import Record
from evframe.sandbox.schema import FieldDef
from evframe.sandbox.store import Store
from evframe.sandbox.values import display_name, field_value, link

#: ``(field, old wire value, new wire value)`` of one changed field.
Change = tuple[FieldDef, Any, Any]


def _quote(value: Any) -> str:
    """A value as an event description shows it."""
    if value is None:
        return '""'
    if isinstance(value, dict):
        return '"' + str(value.get("name") or f"{value.get('type')} {value.get('id')}") + '"'
    if isinstance(value, list):
        return '"' + ", ".join(_quote(v).strip('"') for v in value) + '"'
    return f'"{value}"'


def _retirement_stamp() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _what(store: Store, etype: str, rec: Record) -> str:
    """The entity as descriptions name it: ``Shot 010_0010`` (or its id when unnamed)."""
    return f"{etype} {display_name(store, etype, rec) or rec['id']}"


def _event(
    store: Store,
    actor: Actor,
    etype: str,
    rec: Record,
    event_type: str,
    meta: dict[str, Any],
    description: str,
    now: str,
    *,
    attribute_name: str | None = None,
    entity: dict[str, Any] | None = None,
) -> NewEvent:
    """One row about ``rec``; ``entity`` is its link, or ``None`` once it is retired."""
    if actor.sudo_actual_user is not None:
        meta = {**meta, "sudo_actual_user": actor.sudo_actual_user}
    project: dict[str, Any] | None
    if etype == "Project":
        project = link(store, "Project", rec["id"]) or {
            "type": "Project",
            "id": rec["id"],
            "name": rec.get("name"),
        }
    else:
        project = field_value(store, etype, rec, "project") if "project" in rec else None
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


def new_entity_event(store: Store, actor: Actor, etype: str, rec: Record, now: str) -> NewEvent:
    """The ``New`` row of a create (its in-create changes come from :func:`change_events`)."""
    meta = {"type": "new_entity", "entity_type": etype, "entity_id": rec["id"]}
    text = f"{actor.label} created new {_what(store, etype, rec)}"
    return _event(
        store, actor, etype, rec, "New", meta, text, now, entity=link(store, etype, rec["id"])
    )


def change_events(
    store: Store,
    actor: Actor,
    etype: str,
    rec: Record,
    changes: list[Change],
    now: str,
    in_create: bool,
) -> list[NewEvent]:
    """One ``Change`` row per changed field (``in_create`` for the fields a create sets)."""
    entity = link(store, etype, rec["id"])
    what = _what(store, etype, rec)
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
        text = f"{actor.label} {text}"
        events.append(
            _event(
                store,
                actor,
                etype,
                rec,
                "Change",
                meta,
                text,
                now,
                attribute_name=fdef.name,
                entity=entity,
            )
        )
    return events


def _lifecycle_meta(store: Store, kind: str, etype: str, rec: Record) -> dict[str, Any]:
    """``meta`` of a retirement or revival row."""
    return {
        "type": kind,
        "entity_type": etype,
        "entity_id": rec["id"],
        "class_name": etype,
        "display_name": display_name(store, etype, rec),
    }


def retirement_events(
    store: Store, actor: Actor, etype: str, rec: Record, now: str
) -> list[NewEvent]:
    """The ``Retirement`` row of a delete and its ``retirement_date`` change.

    Neither links the entity: it is retired by the time a client reads them.
    """
    stamp = _retirement_stamp()
    what = _what(store, etype, rec)
    meta = {**_lifecycle_meta(store, "entity_retirement", etype, rec), "retirement_date": stamp}
    retire = _event(
        store, actor, etype, rec, "Retirement", meta, f"{actor.label} retired {what}", now
    )
    change_meta = {
        "type": "attribute_change",
        "attribute_name": "retirement_date",
        "entity_type": etype,
        "entity_id": rec["id"],
        "field_data_type": "date_time",
        "old_value": None,
        "new_value": stamp,
    }
    text = f'{actor.label} changed "Date Retired" from "" to "{stamp}" on {what}'
    change = _event(
        store, actor, etype, rec, "Change", change_meta, text, now, attribute_name="retirement_date"
    )
    return [retire, change]


def revival_event(store: Store, actor: Actor, etype: str, rec: Record, now: str) -> NewEvent:
    """The ``Revival`` row of a revive (the entity is live again, so linked)."""
    meta = _lifecycle_meta(store, "entity_revival", etype, rec)
    text = f"{actor.label} revived {_what(store, etype, rec)}"
    return _event(
        store, actor, etype, rec, "Revival", meta, text, now, entity=link(store, etype, rec["id"])
    )
