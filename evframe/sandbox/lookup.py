"""Reads for the sandbox's own use: the rows ``find`` would answer, as plain dicts.

The calls beyond CRUD (threads, activity streams, text search, follows) read
entities the way a client's ``find`` does, through the same filter parser and
read path, so they see exactly what ``find`` sees (retired rows, hidden event
ids, renamed links...).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from evframe.sandbox import reads
from evframe.sandbox.errors import ApiError
from evframe.sandbox.query import Group, parse_filters
from evframe.sandbox.reads import ReadRequest
from evframe.sandbox.store import Store


def find(
    store: Store,
    entity_type: str,
    filters: Any,
    fields: Sequence[str],
    sorts: Sequence[tuple[str, bool]] = (),
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Live ``entity_type`` rows matching ``filters`` (api3 or list form), ``fields`` each."""
    parsed = (
        filters if isinstance(filters, Group) else parse_filters(store.schema, entity_type, filters)
    )
    out: list[dict[str, Any]] = []
    page = 1
    while limit is None or len(out) < limit:
        req = ReadRequest(
            entity_type=entity_type,
            filters=parsed,
            sorts=list(sorts),
            return_fields=list(fields),
            per_page=store.page_size,
            page=page,
            retired=False,
            with_count=False,
        )
        reply = reads.read(store, req)
        result = json.loads(reply)["results"] if isinstance(reply, bytes) else reply
        out.extend(result["entities"])
        if not result["paging_info"]["has_next_page"]:
            break
        page += 1
    return out if limit is None else out[:limit]


def get(store: Store, entity_type: str, entity_id: Any, fields: Sequence[str]) -> dict[str, Any]:
    """One live entity as ``find`` returns it; an api3 error when there is none."""
    rows = (
        find(store, entity_type, [["id", "is", entity_id]], fields)
        if type(entity_id) is int
        else []
    )
    if not rows:
        raise ApiError(f"{entity_type} {entity_id!r} does not exist (or is retired).")
    return rows[0]
