"""Schema changes over the API: ``schema_field_create``, ``_update`` and ``_delete``.

As on a site, a new field's system name is ``sg_`` plus its display name in
lower case (``"Cut Notes"`` -> ``sg_cut_notes``), with ``_1``, ``_2``... added
while the name is taken, by a live field or a deleted one: deleting a field
retires it and its values stay with it, so a later field never inherits them.
Every change is saved with the data and writes the EventLogEntry rows a site
writes for its field records (``DisplayColumn``): ``Shotgun_DisplayColumn_New``,
one ``Shotgun_DisplayColumn_Change`` per property changed, and
``Shotgun_DisplayColumn_Retirement``.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from evframe.sandbox.auth import Actor
from evframe.sandbox.errors import ApiError
from evframe.sandbox.eventlog import NewEvent
from evframe.sandbox.query import now_wire
from evframe.sandbox.schema import DATA_TYPES, EntityDef, FieldDef
from evframe.sandbox.store import Store

#: Data types a site lets scripts create fields of: not the secret, file,
#: computed or system-only ones.
CREATABLE = DATA_TYPES - {
    "entity_type",
    "image",
    "password",
    "pivot_column",
    "serializable",
    "summary",
    "system_task_type",
    "tag_list",
    "uuid",
}
#: Properties any field's ``schema_field_update`` may change (the ones ``editable`` in reads).
_ANY_FIELD = frozenset({"name", "description", "summary_default"})
#: ... and, on fields created by scripts, these too.
_CUSTOM_ONLY = frozenset({"valid_types", "valid_values", "default_value"})
_SUMMARIES = frozenset(
    {
        "none",
        "record_count",
        "count",
        "sum",
        "maximum",
        "minimum",
        "average",
        "earliest",
        "latest",
        "percentage",
        "status_percentage",
        "status_list",
        "checked",
        "unchecked",
    }
)


def _properties(params: dict[str, Any]) -> dict[str, Any]:
    """``[{property_name, value}]`` (as the client sends them) as a dict."""
    props = params.get("properties") or []
    if not isinstance(props, list):
        raise ApiError("Bad properties: expected a list of {property_name, value}.")
    out: dict[str, Any] = {}
    for p in props:
        if not isinstance(p, dict) or not isinstance(p.get("property_name"), str):
            raise ApiError(f"Bad property {p!r}: expected {{property_name, value}}.")
        out[p["property_name"]] = p.get("value")
    return out


def _system_name(edef: EntityDef, retired: set[str], display: str) -> str:
    base = "sg_" + (re.sub(r"[^a-z0-9]+", "_", display.lower()).strip("_") or "field")
    name, n = base, 0
    while name in edef.fields or name in retired:
        n += 1
        name = f"{base}_{n}"
    return name


def _check(store: Store, fdef: FieldDef, props: dict[str, Any], allowed: frozenset[str]) -> None:
    """Check property values for ``fdef`` (the field as it will be); apply them."""
    where = f"{fdef.entity_type}.{fdef.name}"
    for key, value in props.items():
        if key not in allowed:
            raise ApiError(
                f"Cannot set property {key!r} of {where}; settable: {', '.join(sorted(allowed))}."
            )
        if key in ("name", "description"):
            if not isinstance(value, str) or (key == "name" and not value.strip()):
                raise ApiError(f"Bad {key} for {where}: {value!r}.")
        elif key == "summary_default":
            if value not in _SUMMARIES:
                raise ApiError(f"Bad summary_default for {where}: {value!r}.")
        elif key == "valid_types":
            if not fdef.is_link:
                raise ApiError(f"{where} is a {fdef.data_type} field: it has no valid_types.")
            if not isinstance(value, list) or not all(store.schema.enabled(t) for t in value):
                raise ApiError(f"Bad valid_types for {where}: {value!r} (enabled entity types).")
        elif key == "valid_values":
            if fdef.data_type not in ("list", "status_list"):
                raise ApiError(f"{where} is a {fdef.data_type} field: it has no valid_values.")
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ApiError(f"Bad valid_values for {where}: {value!r} (a list of strings).")
    for key, value in props.items():
        if key == "name":
            fdef.display_name = value
        elif key in ("valid_types", "valid_values"):
            setattr(fdef, key, tuple(value))
        else:
            setattr(fdef, key, value)
    if fdef.data_type == "entity" and not fdef.valid_types:
        raise ApiError(f"{where}: an entity field needs valid_types (the types it links to).")


def _column_id(store: Store, fdef: FieldDef) -> int:
    """The field's ``DisplayColumn`` id, given on first need (bundled fields have none)."""
    if fdef.column_id is None:
        schema = store.schema
        known = [f.column_id for e in schema.types.values() for f in e.fields.values()]
        known += [f.column_id for f in schema.retired.values()]
        # Well above the ids a site gives its built-in fields.
        fdef.column_id = max([c for c in known if c is not None], default=10_000) + 1
    return fdef.column_id


def _event(
    actor: Actor, fdef: FieldDef, kind: str, meta: dict[str, Any], text: str, **kw: Any
) -> NewEvent:
    return NewEvent(
        event_type=f"Shotgun_DisplayColumn_{kind}",
        attribute_name=kw.get("attribute_name"),
        entity=kw.get("entity"),
        project=None,
        user=actor.user,
        meta={"entity_type": "DisplayColumn", "entity_id": fdef.column_id, **meta},
        description=f"{actor.label} {text}",
        created_at=now_wire(),
        session_uuid=actor.session_uuid,
        entity_type="DisplayColumn",
        entity_id=fdef.column_id,
    )


def _link(fdef: FieldDef) -> dict[str, Any]:
    return {"type": "DisplayColumn", "id": fdef.column_id, "name": fdef.display_name}


def _changes(actor: Actor, fdef: FieldDef, old: dict[str, Any], in_create: bool) -> list[NewEvent]:
    """One ``Change`` row per property whose value differs from ``old``."""
    new = fdef.spec()
    events = []
    for key in ("name", "description", "summary_default", "valid_types", "valid_values"):
        if new[key] == old.get(key):
            continue
        meta: dict[str, Any] = {
            "type": "attribute_change",
            "attribute_name": key,
            "old_value": old.get(key),
            "new_value": new[key],
        }
        if in_create:
            meta["in_create"] = True
        text = f'changed "{key}" of field {fdef.entity_type}.{fdef.name} to "{new[key]}"'
        events.append(
            _event(actor, fdef, "Change", meta, text, attribute_name=key, entity=_link(fdef))
        )
    return events


def create_field(store: Store, actor: Actor, params: dict[str, Any]) -> str:
    """``schema_field_create``: add a custom field; its system name."""
    edef = store.schema.entity(params.get("type"))
    data_type = params.get("data_type")
    if data_type not in CREATABLE:
        choices = ", ".join(sorted(CREATABLE))
        raise ApiError(f"Bad data_type {data_type!r} for a new field; use one of {choices}.")
    props = _properties(params)
    display = props.get("name")
    if not isinstance(display, str) or not display.strip():
        raise ApiError("schema_field_create needs a display name.")
    retired = {n for t, n in store.schema.retired if t == edef.name}
    name = _system_name(edef, retired, display)
    fdef = FieldDef(edef.name, name, str(data_type), display, custom=True)
    _check(store, fdef, props, _ANY_FIELD | _CUSTOM_ONLY)
    with store.transaction():
        edef.fields[name] = fdef
        try:
            _column_id(store, fdef)
            store.save_custom_field(fdef)
            meta = {"type": "new_entity"}
            text = f"created new field {edef.name}.{name} ({data_type})"
            new = _event(actor, fdef, "New", meta, text, entity=_link(fdef))
            store.write_events([new, *_changes(actor, fdef, {}, in_create=True)])
        except BaseException:
            del edef.fields[name]
            raise
    return name


def update_field(store: Store, actor: Actor, params: dict[str, Any]) -> bool:
    """``schema_field_update``: change a field's display name, description...; ``True``."""
    etype = store.schema.entity(params.get("type")).name
    fdef = store.schema.field(etype, params.get("field_name"))
    props = _properties(params)
    if "visible" in props or params.get("project"):
        raise ApiError("Per-project field visibility is not supported by the sandbox.")
    if fdef.reverse_of is not None:
        raise ApiError(f"{etype}.{fdef.name} is computed from links; it cannot be changed.")
    allowed = _ANY_FIELD | (_CUSTOM_ONLY if fdef.custom else frozenset())
    # Changed on a copy that replaces the field only once the change is saved.
    new = dataclasses.replace(fdef)
    _check(store, new, props, allowed)
    fields = store.schema.types[etype].fields
    with store.transaction():
        fields[fdef.name] = new
        try:
            _column_id(store, new)
            store.save_custom_field(new)
            store.write_events(_changes(actor, new, fdef.spec(), in_create=False))
        except BaseException:
            fields[fdef.name] = fdef
            raise
    return True


def delete_field(store: Store, actor: Actor, params: dict[str, Any]) -> bool:
    """``schema_field_delete``: retire a field created by a script; ``True``."""
    etype = store.schema.entity(params.get("type")).name
    fdef = store.schema.field(etype, params.get("field_name"))
    if not fdef.custom:
        raise ApiError(f"{etype}.{fdef.name} is a system field; it cannot be deleted.")
    edef = store.schema.types[etype]
    with store.transaction():
        del edef.fields[fdef.name]
        store.schema.retired[(etype, fdef.name)] = fdef
        try:
            _column_id(store, fdef)
            store.save_custom_field(fdef, retired=True)
            meta = {
                "type": "entity_retirement",
                "class_name": "DisplayColumn",
                "display_name": fdef.display_name,
            }
            text = f"retired field {etype}.{fdef.name}"
            store.write_events([_event(actor, fdef, "Retirement", meta, text)])
        except BaseException:
            edef.fields[fdef.name] = fdef
            del store.schema.retired[(etype, fdef.name)]
            raise
    return True
