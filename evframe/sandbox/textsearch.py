"""``text_search`` (the ``query_display_name_cache`` call): find entities by name.

The text is split into lower-case terms; an entity matches when its display
name (``code``, ``name``, ``content``...) contains every term, ignoring case.
Each searched type may carry its own filters, and ``project_ids`` narrows the
search to those projects.  Matches come type by type in the order asked, by
id within a type.
"""

from __future__ import annotations

from typing import Any

from evframe.sandbox.auth import Actor
from evframe.sandbox.errors import ApiError
from evframe.sandbox.lookup import find
from evframe.sandbox.query import parse_filters
from evframe.sandbox.store import Store

#: A site refuses shorter searches.
MIN_TEXT = 3


def _links(row: dict[str, Any]) -> list[str]:
    """``[type, name]`` of the entity a match belongs to (a Task's Shot...), or blanks."""
    parent = row.get("entity")
    if isinstance(parent, dict):
        return [str(parent.get("type")), str(parent.get("name") or "")]
    return ["", ""]


def text_search(store: Store, actor: Actor, params: Any) -> dict[str, Any]:
    """Entities whose names contain every term of ``text``: ``{matches, terms}``."""
    if not isinstance(params, dict):
        raise ApiError("text_search: expected an object of parameters.")
    text, types = params.get("text"), params.get("entity_types")
    if not isinstance(text, str) or len(text.strip()) < MIN_TEXT:
        raise ApiError(f"text_search: the text must be at least {MIN_TEXT} characters long.")
    if not isinstance(types, dict) or not types:
        raise ApiError("text_search: entity_types must name at least one entity type.")
    project_ids = params.get("project_ids") or []
    limit = params.get("max_results")
    if limit is not None and (type(limit) is not int or limit < 1):
        raise ApiError(f"text_search: bad limit {limit!r}.")
    terms = text.lower().split()
    matches: list[dict[str, Any]] = []
    for type_name, filters in types.items():
        edef = store.schema.entity(type_name)
        if edef.name_field is None:
            raise ApiError(f"text_search: {type_name} has no name to search.")
        parsed = parse_filters(store.schema, edef.name, filters)
        fields = [edef.name_field]
        for extra in ("project", "sg_status_list", "entity", "image"):
            if extra in edef.fields:
                fields.append(extra)
        for row in find(store, edef.name, parsed, fields, [("id", False)]):
            name = row.get(edef.name_field)
            if not isinstance(name, str) or not all(t in name.lower() for t in terms):
                continue
            project = row.get("project") if edef.name != "Project" else row
            project_id = project.get("id") if isinstance(project, dict) else None
            if project_ids and project_id not in project_ids:
                continue
            matches.append(
                {
                    "type": edef.name,
                    "id": row["id"],
                    "name": name,
                    "project_id": project_id,
                    "image": row.get("image"),
                    "links": _links(row),
                    "status": row.get("sg_status_list"),
                }
            )
    return {"matches": matches[:limit] if limit else matches, "terms": terms}
