"""The sandbox's schema: entity types, their fields and data types.

A bundled ``schema.json`` describes the common entity types of a site.  Custom
fields (``sg_*``) and custom entity types are added from an extension file in
the same format, from the command line (``--field Shot.sg_foo:text``) or from
Python (:meth:`Schema.add_field`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from evframe.sandbox.errors import ApiError

#: Data types a field may have, as a site names them.
DATA_TYPES = frozenset(
    {
        "checkbox",
        "color",
        "currency",
        "date",
        "date_time",
        "duration",
        "entity",
        "float",
        "image",
        "list",
        "multi_entity",
        "number",
        "password",
        "percent",
        "serializable",
        "status_list",
        "tag_list",
        "text",
        "timecode",
        "url",
        "uuid",
    }
)

_STANDARD_FIELDS: dict[str, dict[str, Any]] = {
    "id": {"data_type": "number", "name": "Id", "editable": False},
    "created_at": {"data_type": "date_time", "name": "Date Created", "editable": False},
    "updated_at": {"data_type": "date_time", "name": "Date Updated", "editable": False},
    "created_by": {
        "data_type": "entity",
        "name": "Created by",
        "editable": False,
        "valid_types": ["HumanUser", "ApiUser"],
    },
    "updated_by": {
        "data_type": "entity",
        "name": "Updated by",
        "editable": False,
        "valid_types": ["HumanUser", "ApiUser"],
    },
}


@dataclass
class FieldDef:
    """One field of one entity type."""

    entity_type: str
    name: str
    data_type: str
    display_name: str
    editable: bool = True
    valid_types: tuple[str, ...] = ()
    valid_values: tuple[str, ...] = ()
    default_value: Any = None
    #: ``("Task", "entity")`` for a field computed from the links pointing here.
    reverse_of: tuple[str, str] | None = None
    custom: bool = False

    @property
    def is_link(self) -> bool:
        return self.data_type in ("entity", "multi_entity")

    def to_api(self) -> dict[str, Any]:
        """The field as ``schema_field_read`` returns it."""

        def prop(value: Any, editable: bool = False) -> dict[str, Any]:
            return {"editable": editable, "value": value}

        properties: dict[str, Any] = {
            "default_value": prop(self.default_value),
            "summary_default": prop("none", True),
        }
        if self.valid_types:
            properties["valid_types"] = prop(list(self.valid_types), True)
        if self.valid_values:
            properties["valid_values"] = prop(list(self.valid_values), True)
        return {
            "data_type": prop(self.data_type),
            "description": prop("", True),
            "editable": prop(self.editable and self.reverse_of is None),
            "entity_type": prop(self.entity_type),
            "mandatory": prop(False),
            "name": prop(self.display_name, True),
            "properties": properties,
            "unique": prop(False),
            "visible": prop(True),
            "custom_metadata": prop("", True),
        }


@dataclass
class EntityDef:
    """One entity type: its display name, the field links are named by, its fields."""

    name: str
    display_name: str
    name_field: str | None
    fields: dict[str, FieldDef] = field(default_factory=dict)


def _field_from_spec(entity_type: str, name: str, spec: Any, custom: bool) -> FieldDef:
    if isinstance(spec, str):
        spec = {"data_type": spec}
    if not isinstance(spec, Mapping):
        raise ValueError(f"{entity_type}.{name}: a field is a data type or an object")
    data_type = spec.get("data_type")
    if data_type not in DATA_TYPES:
        raise ValueError(
            f"{entity_type}.{name}: unknown data type {data_type!r}; "
            f"use one of {', '.join(sorted(DATA_TYPES))}"
        )
    reverse = spec.get("reverse_of")
    reverse_of = None
    if reverse:
        rtype, _, rfield = str(reverse).partition(".")
        reverse_of = (rtype, rfield)
    return FieldDef(
        entity_type=entity_type,
        name=name,
        data_type=data_type,
        display_name=spec.get("name") or name.removeprefix("sg_").replace("_", " ").title(),
        editable=bool(spec.get("editable", True)),
        valid_types=tuple(spec.get("valid_types") or ()),
        valid_values=tuple(spec.get("valid_values") or ()),
        default_value=spec.get("default_value"),
        reverse_of=reverse_of,
        custom=custom,
    )


class Schema:
    """Entity types and fields the sandbox knows; see the module docstring."""

    def __init__(self) -> None:
        self.types: dict[str, EntityDef] = {}

    @classmethod
    def bundled(cls) -> Schema:
        """The schema shipped with evframe (``evframe/sandbox/schema.json``)."""
        text = resources.files("evframe.sandbox").joinpath("schema.json").read_text("utf-8")
        schema = cls()
        schema.extend(json.loads(text), custom=False)
        return schema

    def extend(self, data: Mapping[str, Any], custom: bool = True) -> None:
        """Merge a schema document: ``{"entity_types": {Type: {"fields": {...}}}}``.

        A field spec is a data type name or an object with ``data_type`` and
        optionally ``name``, ``valid_types``, ``valid_values``, ``default_value``.
        A new entity type also takes ``display_name`` and ``name_field``.
        """
        types = data.get("entity_types", data)
        if not isinstance(types, Mapping):
            raise ValueError("schema: 'entity_types' must be an object")
        for type_name, tspec in types.items():
            if not isinstance(tspec, Mapping):
                raise ValueError(f"schema: entity type {type_name!r} must be an object")
            edef = self.types.get(type_name)
            if edef is None:
                edef = EntityDef(
                    name=type_name,
                    display_name=tspec.get("display_name") or type_name,
                    name_field=tspec.get("name_field", "code"),
                )
                standard = tspec.get("standard_fields", list(_STANDARD_FIELDS))
                for fname in standard:
                    edef.fields[fname] = _field_from_spec(
                        type_name, fname, _STANDARD_FIELDS[fname], custom=False
                    )
                self.types[type_name] = edef
            for fname, fspec in (tspec.get("fields") or {}).items():
                edef.fields[fname] = _field_from_spec(type_name, fname, fspec, custom)

    def load_file(self, path: str | Path) -> None:
        """Merge a schema extension JSON file (see :meth:`extend`)."""
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        try:
            self.extend(data)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None

    def add_field(
        self,
        entity_type: str,
        field_name: str,
        data_type: str,
        *,
        display_name: str | None = None,
        valid_types: Iterable[str] = (),
        valid_values: Iterable[str] = (),
    ) -> FieldDef:
        """Add (or redefine) a custom field, e.g. ``add_field("Shot", "sg_foo", "text")``."""
        if entity_type not in self.types:
            raise ValueError(
                f"unknown entity type {entity_type!r}; known: {', '.join(sorted(self.types))}"
            )
        spec: dict[str, Any] = {
            "data_type": data_type,
            "valid_types": list(valid_types),
            "valid_values": list(valid_values),
        }
        if display_name:
            spec["name"] = display_name
        fdef = _field_from_spec(entity_type, field_name, spec, custom=True)
        self.types[entity_type].fields[field_name] = fdef
        return fdef

    def custom_fields(self) -> list[FieldDef]:
        """Fields added on top of the bundled schema (persisted with the data)."""
        return [f for e in self.types.values() for f in e.fields.values() if f.custom]

    # -- lookups that answer api3 errors -------------------------------------------------

    def entity(self, entity_type: Any) -> EntityDef:
        edef = self.types.get(entity_type) if isinstance(entity_type, str) else None
        if edef is None:
            raise ApiError(f"Unknown entity type {entity_type!r}.")
        return edef

    def field(self, entity_type: str, field_name: Any) -> FieldDef:
        edef = self.entity(entity_type)
        fdef = edef.fields.get(field_name) if isinstance(field_name, str) else None
        if fdef is None:
            raise ApiError(f"Unknown field {field_name!r} on entity type {entity_type}.")
        return fdef

    # -- api3 replies --------------------------------------------------------------------

    def api_entity_read(self) -> dict[str, Any]:
        return {
            name: {
                "name": {"editable": False, "value": e.display_name},
                "visible": {"editable": False, "value": True},
            }
            for name, e in sorted(self.types.items())
        }

    def api_field_read(self, entity_type: str, field_name: str | None = None) -> dict[str, Any]:
        if field_name:
            return {field_name: self.field(entity_type, field_name).to_api()}
        return {n: f.to_api() for n, f in self.entity(entity_type).fields.items()}

    def api_read(self) -> dict[str, Any]:
        return {name: self.api_field_read(name) for name in sorted(self.types)}


def parse_field_option(text: str) -> tuple[str, str, str, list[str]]:
    """Parse ``Type.field:data_type[:A,B]`` (``--field``) into its parts.

    The optional last part lists valid types (entity fields) or valid values
    (list and status_list fields).
    """
    head, sep, rest = text.partition(":")
    entity_type, dot, field_name = head.partition(".")
    if not sep or not dot or not entity_type or not field_name:
        raise ValueError(f"{text!r}: expected Type.field:data_type, e.g. Shot.sg_foo:text")
    data_type, _, extra = rest.partition(":")
    values = [v.strip() for v in extra.split(",") if v.strip()]
    return entity_type, field_name, data_type, values
