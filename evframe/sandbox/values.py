"""Stored records as the wire shows them: links with names, reverse fields, dotted paths.

Records keep links as bare ``{type, id}``; every read, reply and EventLogEntry
row resolves them here, so a renamed or retired entity shows as it is now.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evframe.sandbox.errors import ApiError
from evframe.sandbox.fileurls import file_value
from evframe.sandbox.query import Record, check_path
from evframe.sandbox.schema import FieldDef
from evframe.sandbox.store import Store


def is_populated(value: Any) -> bool:
    """Whether a value counts as set (not null, not an empty list or string)."""
    return value is not None and value != [] and value != ""


def display_name(store: Store, etype: str, rec: Record) -> Any:
    """The value of the type's name field (``code``, ``name``...), if it has one."""
    edef = store.schema.types.get(etype)
    if edef is None or edef.name_field is None:
        return None
    return rec.get(edef.name_field)


def link(store: Store, etype: str, eid: int) -> dict[str, Any] | None:
    """``{type, id, name}`` of a live entity; ``None`` if missing or retired."""
    rec = store.get(etype, eid)
    if rec is None or store.is_retired(etype, eid):
        return None
    return {"type": etype, "id": eid, "name": display_name(store, etype, rec)}


def link_out(store: Store, value: Any) -> Any:
    """A stored link as the wire shows it (``None`` once its entity is retired)."""
    if not isinstance(value, dict):
        return None
    etype, eid = value.get("type"), value.get("id")
    if not isinstance(etype, str) or not isinstance(eid, int):
        return None
    if store.get(etype, eid) is None:
        # Not in this store (bulk-seeded events): keep the stored link.
        return value
    return link(store, etype, eid)


def _reverse(store: Store, fdef: FieldDef, etype: str, eid: int) -> list[dict[str, Any]]:
    assert fdef.reverse_of is not None
    rtype, rfield = fdef.reverse_of
    out = []
    retired = store.retired_ids(rtype)
    table = store.table(rtype)
    for rid in store.linking_ids(rtype, rfield, etype, eid):
        if rid not in retired:
            out.append({"type": rtype, "id": rid, "name": display_name(store, rtype, table[rid])})
    return out


def field_value(store: Store, etype: str, rec: Record, name: str) -> Any:
    """A field's wire value: links resolved to ``{type, id, name}``, retired ones gone."""
    if name == "id":
        return rec["id"]
    if name == "type":
        return etype
    edef = store.schema.types.get(etype)
    fdef = edef.fields.get(name) if edef else None
    if fdef is None:
        return rec.get(name)
    if fdef.reverse_of is not None:
        return _reverse(store, fdef, etype, rec["id"])
    v = rec.get(name)
    dt = fdef.data_type
    if dt == "entity":
        return link_out(store, v) if v else None
    if dt == "multi_entity":
        return [lk for lk in (link_out(store, x) for x in v or ()) if lk]
    if dt == "password":
        return None
    if dt == "checkbox":
        return bool(v)
    if v and dt in ("url", "image"):
        return file_value(store, etype, rec, dt, v)
    return v


def path_values(store: Store, entity_type: str, rec: Record, parts: Sequence[str]) -> list[Any]:
    """Every value a (possibly dotted) path reaches from ``rec``; ``[None]`` if none."""
    v = field_value(store, entity_type, rec, parts[0])
    if len(parts) == 1:
        return [v]
    target_type, rest = parts[1], parts[2:]
    out: list[Any] = []
    for lk in v if isinstance(v, list) else [v] if v else []:
        if lk.get("type") != target_type:
            continue
        target = store.get(target_type, lk["id"])
        if target is not None and not store.is_retired(target_type, lk["id"]):
            out.extend(path_values(store, target_type, target, rest))
    return out or [None]


def add_return_field(store: Store, etype: str, rec: Record, path: Any, out: dict[str, Any]) -> None:
    """Put the value of return field ``path`` of ``rec`` into the reply entity ``out``."""
    if not isinstance(path, str):
        raise ApiError(f"Bad return field {path!r}: expected a string.")
    if path in out:
        return
    try:
        check_path(store.schema, etype, path)
    except ApiError:
        return  # Sites leave unknown fields out of the reply instead of failing.
    if "." in path:
        out[path] = path_values(store, etype, rec, path.split("."))[0]
    else:
        out[path] = field_value(store, etype, rec, path)
