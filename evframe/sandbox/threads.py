"""Conversations and activity: ``note_thread_read`` and ``activity_stream_read``.

A note's thread is the Note, its Replies (``Reply.entity``) and, where the
schema has ``Note.attachments``, its Attachments, oldest first, each with the
default fields a site returns plus those the caller asks for per type.

An entity's activity stream is made from the EventLogEntry rows: its own
creation (``create``), its later field changes (``update``), and the creation
of Notes linking it (``note_links``) and Versions made for it (``entity``),
newest first.  Update ids are the event ids, so ``min_id``/``max_id`` page
through it as on a site.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evframe.sandbox.auth import Actor
from evframe.sandbox.errors import ApiError
from evframe.sandbox.lookup import find, get
from evframe.sandbox.store import Store

#: The fields every thread entry has, by type (the caller's ``entity_fields`` add to them).
THREAD_FIELDS = {
    "Note": ["content", "created_at", "created_by"],
    "Reply": ["content", "created_at", "user"],
    "Attachment": ["created_at", "created_by"],
}
#: Default stream length, as a site's.
STREAM_LIMIT = 25
_UPDATE_FIELDS = ["event_type", "entity", "user", "meta", "created_at", "attribute_name"]


def _extra(entity_fields: Any, etype: str) -> list[str]:
    if not isinstance(entity_fields, dict):
        return []
    fields = entity_fields.get(etype) or []
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise ApiError(f"entity_fields[{etype!r}]: expected a list of field names.")
    return fields


def _fields(etype: str, entity_fields: Any) -> list[str]:
    return [*THREAD_FIELDS[etype], *_extra(entity_fields, etype)]


def note_thread(store: Store, actor: Actor, params: Any) -> list[dict[str, Any]]:
    """``note_thread_contents``: the Note, then its Replies and Attachments, oldest first."""
    if not isinstance(params, dict):
        raise ApiError("note_thread_read: expected an object of parameters.")
    note_id, extra = params.get("note_id"), params.get("entity_fields") or {}
    note_fields = _fields("Note", extra)
    note = get(store, "Note", note_id, note_fields)
    entries: list[dict[str, Any]] = []
    order = [("created_at", False), ("id", False)]
    if "Reply" in store.schema.types:
        link = {"type": "Note", "id": note_id}
        for reply in find(store, "Reply", [["entity", "is", link]], _fields("Reply", extra), order):
            # A site shows the author's thumbnail with each reply.
            if isinstance(reply.get("user"), dict):
                reply["user"] = {**reply["user"], "image": None}
            entries.append(reply)
    note_def = store.schema.types["Note"]
    if "Attachment" in store.schema.types and "attachments" in note_def.fields:
        ids = [a["id"] for a in get(store, "Note", note_id, ["attachments"])["attachments"]]
        if ids:
            fields = _fields("Attachment", extra)
            entries.extend(find(store, "Attachment", [["id", "in", *ids]], fields, order))
    entries.sort(key=lambda e: (str(e.get("created_at")), e["type"] != "Reply", e["id"]))
    return [note, *entries]


def _int_or_none(params: dict[str, Any], key: str) -> int | None:
    value = params.get(key)
    if value is not None and type(value) is not int:
        raise ApiError(f"activity_stream_read: {key} must be an integer, not {value!r}.")
    return value


def activity_stream(store: Store, actor: Actor, params: Any) -> dict[str, Any]:
    """``activity_stream``: the updates about one entity, newest first."""
    if not isinstance(params, dict):
        raise ApiError("activity_stream_read: expected an object of parameters.")
    etype = store.schema.entity(params.get("type")).name
    eid = params.get("id")
    get(store, etype, eid, ["id"])
    min_id, max_id = _int_or_none(params, "min_id"), _int_or_none(params, "max_id")
    limit = _int_or_none(params, "limit") or STREAM_LIMIT
    target = {"type": etype, "id": eid}
    sources: list[Any] = [
        {
            "logical_operator": "and",
            "conditions": [
                {"path": "entity", "relation": "is", "values": [target]},
                {"path": "event_type", "relation": "in", "values": _own_events(etype)},
            ],
        }
    ]
    for child_type, link_field in (("Note", "note_links"), ("Version", "entity")):
        if child_type not in store.schema.types:
            continue
        children = find(store, child_type, [[link_field, "is", target]], ["id"])
        if children:
            sources.append(
                {
                    "logical_operator": "and",
                    "conditions": [
                        {"path": "entity", "relation": "in", "values": children},
                        {
                            "path": "event_type",
                            "relation": "is",
                            "values": [f"Shotgun_{child_type}_New"],
                        },
                    ],
                }
            )
    conditions: list[Any] = [{"logical_operator": "or", "conditions": sources}]
    if min_id is not None:
        conditions.append({"path": "id", "relation": "greater_than", "values": [min_id - 1]})
    if max_id is not None:
        conditions.append({"path": "id", "relation": "less_than", "values": [max_id + 1]})
    events = find(
        store,
        "EventLogEntry",
        {"logical_operator": "and", "conditions": conditions},
        _UPDATE_FIELDS,
        [("id", True)],
        limit=None,
    )
    updates = [
        u
        for u in (_update(store, ev, params.get("entity_fields") or {}) for ev in events)
        if u is not None
    ][:limit]
    return {
        "entity_type": etype,
        "entity_id": eid,
        "latest_update_id": updates[0]["id"] if updates else None,
        "earliest_update_id": updates[-1]["id"] if updates else None,
        "updates": updates,
    }


def _own_events(etype: str) -> list[str]:
    return [f"Shotgun_{etype}_New", f"Shotgun_{etype}_Change"]


def _primary(store: Store, link: dict[str, Any], entity_fields: Any) -> dict[str, Any] | None:
    """The entity an update is about: ``{type, id, name, status}`` plus asked fields."""
    etype = link["type"]
    edef = store.schema.types.get(etype)
    if edef is None:
        return None
    status = "sg_status_list" if "sg_status_list" in edef.fields else None
    fields: Sequence[str] = [f for f in (status, *_extra(entity_fields, etype)) if f]
    rows = find(store, etype, [["id", "is", link["id"]]], fields)
    if not rows:
        return None
    row = rows[0]
    out = {"type": etype, "id": link["id"], "name": link.get("name"), "status": None}
    if status:
        out["status"] = row.pop(status)
    out.update({k: v for k, v in row.items() if k not in ("type", "id")})
    return out


def _update(store: Store, ev: dict[str, Any], entity_fields: Any) -> dict[str, Any] | None:
    meta = ev.get("meta") or {}
    if meta.get("in_create") or not ev.get("entity"):
        return None  # A creation is one update, not one per field it set.
    primary = _primary(store, ev["entity"], entity_fields)
    if primary is None:
        return None
    if ev["event_type"].endswith("_New"):
        kind = "create"
        meta = {"type": "new_entity", "entity_type": primary["type"], "entity_id": primary["id"]}
    else:
        kind = "update"
    user = ev.get("user")
    return {
        "id": ev["id"],
        "update_type": kind,
        "created_at": ev["created_at"],
        "created_by": {**user, "image": None} if isinstance(user, dict) else None,
        "meta": meta,
        "primary_entity": primary,
        "read": False,
    }
