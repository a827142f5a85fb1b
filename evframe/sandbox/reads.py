"""Reads: ``read`` (find) pages and ``summarize``, from requests already checked.

:mod:`evframe.sandbox.api` checks the parameters and the filters; here the
matching records are found, sorted and paged in SQL where the filters and sorts
compile (:mod:`evframe.sandbox.eventlog` for EventLogEntry,
:mod:`evframe.sandbox.entitysql` for the other types), in Python otherwise, and
shaped into the reply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from evframe.sandbox import entitysql
from evframe.sandbox.eventlog import dumps
from evframe.sandbox.eventsql import NotCompiled
from evframe.sandbox.grouping import bucket
from evframe.sandbox.query import Group, Record, predicate, sort_key
from evframe.sandbox.store import Store
from evframe.sandbox.values import add_return_field, is_populated, path_values


class RawReply(bytes):
    """A complete api3 reply body, already encoded (``{"results": ...}``)."""


@dataclass(frozen=True)
class ReadRequest:
    """A checked ``read``: which records, which page, which fields."""

    entity_type: str
    filters: Group
    #: ``(field path, descending)``, most significant first.
    sorts: list[tuple[str, bool]]
    return_fields: list[Any]
    per_page: int
    page: int
    retired: bool
    with_count: bool


@dataclass(frozen=True)
class SummarizeRequest:
    """A checked ``summarize``: ``summaries`` are ``{field, type}``, ``grouping`` ``{field}``."""

    entity_type: str
    filters: Group
    summaries: list[dict[str, Any]]
    grouping: list[dict[str, Any]]


def _numbers(values: list[Any]) -> list[float]:
    return [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]


def _present(values: list[Any]) -> list[Any]:
    return [v for v in values if is_populated(v)]


#: Summary type -> how it folds a field's values.
SUMMARIES: dict[str, Callable[[list[Any]], Any]] = {
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


def _matching(store: Store, etype: str, filters: Group, retired: bool) -> list[Record]:
    values_of = partial(path_values, store)
    if etype == "EventLogEntry":
        if retired:
            return []
        records, residual = store.events.records(filters, store.faults.hidden_ids())
        if residual is None:
            return records
        pred = predicate(etype, residual, values_of)
        return [r for r in records if pred(r)]
    ids, residual = entitysql.matching_ids(store, etype, filters, retired)
    table = store.table(etype)
    records = [table[i] for i in ids]
    if residual is None:
        return records
    pred = predicate(etype, residual, values_of)
    return [r for r in records if pred(r)]


def read(store: Store, req: ReadRequest) -> dict[str, Any] | RawReply:
    """One page of ``req``'s records: ``{entities, paging_info}``."""
    etype, per_page, page = req.entity_type, req.per_page, req.page
    with store.lock:
        if etype == "EventLogEntry" and not req.retired:
            try:
                return RawReply(
                    store.events.fast_page(
                        req.return_fields,
                        req.filters,
                        req.sorts,
                        per_page,
                        page,
                        store.faults.hidden_ids(),
                        req.with_count,
                        b'{"results":',
                        b"}",
                    )
                )
            except NotCompiled:
                pass
        elif etype != "EventLogEntry":
            try:
                ids, more, count = entitysql.page_ids(
                    store,
                    etype,
                    req.filters,
                    req.sorts,
                    req.retired,
                    (per_page, page),
                    count=req.with_count,
                )
            except NotCompiled:
                pass
            else:
                table = store.table(etype)
                return _reply(store, req, [table[i] for i in ids], more, count)
        records = _matching(store, etype, req.filters, req.retired)
        records.sort(key=lambda r: r["id"])
        for path, desc in reversed(req.sorts):
            parts = path.split(".")
            records.sort(
                key=lambda r, p=parts: sort_key(path_values(store, etype, r, p)[0]),  # type: ignore[misc]
                reverse=desc,
            )
        start = (page - 1) * per_page
        chunk = records[start : start + per_page]
        return _reply(store, req, chunk, len(records) > start + per_page, len(records))


def _reply(
    store: Store, req: ReadRequest, chunk: list[Record], more: bool, count: int | None
) -> dict[str, Any]:
    entities = []
    for rec in chunk:
        out: dict[str, Any] = {"type": req.entity_type, "id": rec["id"]}
        for path in req.return_fields:
            add_return_field(store, req.entity_type, rec, path, out)
        entities.append(out)
    info: dict[str, Any] = {"has_next_page": more}
    if req.with_count:
        info["entity_count"] = count
    return {"entities": entities, "paging_info": info}


def summarize(store: Store, req: SummarizeRequest) -> dict[str, Any]:
    """``{summaries, groups}`` over the live records matching ``req.filters``."""
    with store.lock:
        records = _matching(store, req.entity_type, req.filters, False)
        return {
            "summaries": _summaries(store, req.entity_type, records, req.summaries),
            "groups": _groups(store, req.entity_type, records, req.summaries, req.grouping),
        }


def _summaries(
    store: Store, etype: str, records: list[Record], summaries: list[dict[str, Any]]
) -> dict[str, Any]:
    out = {}
    for s in summaries:
        values = [path_values(store, etype, r, s["field"].split("."))[0] for r in records]
        out[s["field"]] = SUMMARIES[s["type"]](values)
    return out


def _groups(
    store: Store,
    etype: str,
    records: list[Record],
    summaries: list[dict[str, Any]],
    grouping: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    if not grouping:
        return []
    g, rest = grouping[0], grouping[1:]
    parts = g["field"].split(".")
    kind = g.get("type", "exact")
    buckets: dict[str, tuple[Any, str, list[Record]]] = {}
    for r in records:
        value, name = bucket(kind, path_values(store, etype, r, parts)[0])
        buckets.setdefault(dumps(value), (value, name, []))[2].append(r)
    ordered = sorted(buckets.values(), key=lambda b: sort_key(b[0]))
    if g.get("direction") == "desc":
        ordered.reverse()
    out = []
    for value, name, recs in ordered:
        group: dict[str, Any] = {
            "group_name": name,
            "group_value": value,
            "summaries": _summaries(store, etype, recs, summaries),
        }
        if rest:
            group["groups"] = _groups(store, etype, recs, summaries, rest)
        out.append(group)
    return out
