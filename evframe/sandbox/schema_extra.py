"""Entity types and fields the api3 calls beyond CRUD rely on, added where the schema lacks them.

``schema_api.json`` holds the few fields those calls read or write
(``HumanUser.password_proxy``, ``Project.last_accessed_by_current_user``,
``Page``, ``Reply``...).  They are merged *only where missing*, so a bundled
schema that already defines them (more fully) wins and this file never
overrides it.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from evframe.sandbox.schema import Schema


def add_missing(schema: Schema) -> None:
    """Add the types and fields of ``schema_api.json`` that ``schema`` does not have."""
    text = resources.files("evframe.sandbox").joinpath("schema_api.json").read_text("utf-8")
    missing: dict[str, Any] = {}
    for type_name, tspec in json.loads(text)["entity_types"].items():
        edef = schema.types.get(type_name)
        if edef is None:
            missing[type_name] = tspec
            continue
        fields = {n: f for n, f in tspec["fields"].items() if n not in edef.fields}
        if fields:
            missing[type_name] = {"fields": fields}
    schema.extend({"entity_types": missing}, custom=False)
