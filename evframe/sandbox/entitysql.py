"""Checked filters and sorts of entity reads compiled to SQL over the ``entities`` table.

Every entity is one row of ``entities`` (its fields as a JSON document); every
link it holds is also one row of ``entity_links`` (see
:mod:`evframe.sandbox.store`), so a link filter is an index lookup, and a
filter on a scalar field reads that field from the JSON document of the rows
the link lookups left.  The compiler is :class:`evframe.sandbox.eventsql.Where`
(groups, negations, ``id``); :class:`EntityWhere` adds entity fields, with the
semantics of the Python engine (:func:`evframe.sandbox.query.predicate`) over
the wire values of :mod:`evframe.sandbox.values`:

* links (``entity``, ``multi_entity``): ``is``, ``in`` (with ``None``),
  ``type_is`` and their negations; a link to a retired entity reads as no link;
* scalar fields (text, list, status, numbers, dates, checkbox...): ``is``,
  ``in``, ``less_than``, ``greater_than``, ``between``, ``contains``,
  ``starts_with``, ``ends_with``, ``in_last``, ``in_next`` and their negations;
  values compare only with values of their own kind, as in Python;
* ``id`` and ``type``.

Left to Python: dotted paths (``entity.Shot.code``: a hop to another table),
reverse fields, ``name_*`` relations, ``tag_list`` and ``serializable`` fields,
link values that are not ``{type, id}`` with an int id.  Sorts compile on
``id`` and scalar fields; links (sorted by name), multi-links and dotted paths
are sorted in Python.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from evframe.sandbox.eventsql import NotCompiled, Where, compile_filters, link_key
from evframe.sandbox.query import UNFILTERABLE, Condition, Group, window
from evframe.sandbox.schema import DATA_TYPES

if TYPE_CHECKING:
    from evframe.sandbox.store import Store

#: Data types whose stored values are one JSON scalar (or null): not links, lists,
#: documents, or the types a filter refuses.
SCALAR_TYPES = DATA_TYPES - UNFILTERABLE - {"entity", "multi_entity", "serializable", "tag_list"}
_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_NUMERIC = "('integer','real')"
#: A link row ``l`` whose entity is not retired (a missing one reads as the stored link).
_LIVE = (
    "NOT EXISTS (SELECT 1 FROM entities t WHERE t.type = l.ltype AND t.id = l.lid"
    " AND t.retired = 1)"
)


def text_match(mode: str, wanted: str, value: Any) -> int:
    """``contains``/``starts_with``/``ends_with`` exactly as Python does them (SQL function)."""
    if not isinstance(value, str):
        return 0
    v = value.lower()
    if mode == "contains":
        return int(wanted in v)
    return int(v.startswith(wanted) if mode == "starts_with" else v.endswith(wanted))


def install(conn: sqlite3.Connection) -> None:
    """Register the SQL functions the compiled filters call."""
    conn.create_function("sb_text_match", 3, text_match, deterministic=True)


def column(name: str) -> str:
    """SQL reading a scalar field of ``entities e`` from its JSON document."""
    if not _NAME.match(name):
        raise NotCompiled
    return f"json_extract(e.data, '$.\"{name}\"')"


def _scalar(value: Any) -> str:
    """``"text"``, ``"number"`` or (not comparable in SQL as in Python) NotCompiled."""
    if isinstance(value, str):
        return "text"
    if isinstance(value, int | float):
        return "number"
    raise NotCompiled


class EntityWhere(Where):
    """Conditions on the fields of one entity type (see the module docstring)."""

    def __init__(self, store: Store, entity_type: str) -> None:
        super().__init__()
        self.store = store
        self.entity_type = entity_type

    def null_safe(self, cond: Condition) -> bool:
        return cond.path in ("id", "type") or (cond.field.is_link and cond.field.reverse_of is None)

    def field(self, cond: Condition) -> str:
        if cond.path == "type":
            return "1" if cond.test(self.entity_type) else "0"
        fdef = cond.field
        if "." in cond.path or fdef.reverse_of is not None or not _NAME.match(cond.path):
            raise NotCompiled
        if fdef.is_link:
            return self._link(cond)
        if fdef.data_type not in SCALAR_TYPES:
            raise NotCompiled
        col, relation, values = column(cond.path), cond.relation, cond.values
        if fdef.data_type == "checkbox":
            # The wire value is bool(stored): a missing value is False.
            if relation != "is" or not (values[0] is None or type(values[0]) in (bool, int)):
                raise NotCompiled
            self.args.append(int(values[0] or 0))
            return f"coalesce({col}, 0) = ?"
        if relation == "is":
            if values[0] is None:
                return f"{col} IS NULL"
            _scalar(values[0])
            return f"{col} = {self.params(values)}"
        if relation == "in":
            for v in values:
                if v is not None:
                    _scalar(v)
            parts = [f"{col} IS NULL"] if None in values else []
            present = [v for v in values if v is not None]
            if present:
                parts.append(f"{col} IN ({self.params(present)})")
            return "(" + " OR ".join(parts or ["0"]) + ")"
        if relation in ("less_than", "greater_than", "between"):
            kinds = {_scalar(v) for v in values}
            if len(kinds) != 1:
                raise NotCompiled
            kind = "= 'text'" if kinds == {"text"} else f"IN {_NUMERIC}"
            return f"(typeof({col}) {kind} AND {self.compare(col, relation, values)})"
        if relation in ("contains", "starts_with", "ends_with"):
            self.args.extend((relation, values[0].lower()))
            return f"sb_text_match(?, ?, {col})"
        if relation in ("in_last", "in_next"):
            lo, hi = window(values, relation, fdef.data_type == "date")
            self.args.extend((lo, hi))
            return f"(typeof({col}) = 'text' AND {col} >= ? AND {col} <= ?)"
        raise NotCompiled

    def _links(self, field: str, where: str = "") -> str:
        """Ids of the records with a live link in ``field`` (matching ``where``)."""
        self.args.extend((self.entity_type, field))
        return (
            "e.id IN (SELECT l.id FROM entity_links l WHERE l.type = ? AND l.field = ?"
            f"{where} AND {_LIVE})"
        )

    def _no_link(self, field: str) -> str:
        self.args.extend((self.entity_type, field))
        return (
            "NOT EXISTS (SELECT 1 FROM entity_links l WHERE l.type = ? AND l.field = ?"
            f" AND l.id = e.id AND {_LIVE})"
        )

    def _link(self, cond: Condition) -> str:
        name, relation, values = cond.path, cond.relation, cond.values
        if relation == "type_is":
            if values[0] is None:
                return self._no_link(name)
            if not isinstance(values[0], str):
                raise NotCompiled
            sql = self._links(name, " AND l.ltype = ?")
            self.args.append(values[0])
            return sql
        if relation not in ("is", "in"):
            raise NotCompiled
        keys = [link_key(v) for v in values if v is not None]
        # A link to a retired entity reads as null: it matches none of its keys.
        live = [k for k in dict.fromkeys(keys) if not self.store.is_retired(*k)]
        parts = [self._no_link(name)] if None in values else []
        if live:
            self.args.extend((self.entity_type, name))
            terms = " OR ".join("(l.ltype = ? AND l.lid = ?)" for _ in live)
            for k in live:
                self.args.extend(k)
            parts.append(
                "e.id IN (SELECT l.id FROM entity_links l WHERE l.type = ? AND l.field = ?"
                f" AND ({terms}))"
            )
        return "(" + " OR ".join(parts or ["0"]) + ")"


def compile_order(store: Store, entity_type: str, sorts: Sequence[tuple[str, bool]]) -> str:
    """``ORDER BY`` for the sorts of a read, ties by id as in Python (else NotCompiled)."""
    fields = store.schema.types[entity_type].fields
    parts = []
    for path, desc in sorts:
        if path == "id":
            parts.append(f"e.id {'DESC' if desc else 'ASC'}")
            break  # ids are unique: later sorts change nothing
        if path == "type":
            continue
        fdef = fields.get(path)
        if fdef is None or fdef.data_type not in SCALAR_TYPES or fdef.reverse_of is not None:
            raise NotCompiled
        col = column(path)
        if fdef.data_type == "checkbox":
            col = f"coalesce({col}, 0)"
        if desc:
            parts.append(f"{col} IS NULL DESC, {col} DESC")
        else:
            parts.append(f"{col} IS NULL, {col} ASC")
    else:
        parts.append("e.id ASC")
    return ", ".join(parts)


def _where(
    store: Store, entity_type: str, filters: Group, retired: bool
) -> tuple[str, list[Any], Group | None]:
    sql, args, residual = compile_filters(filters, lambda: EntityWhere(store, entity_type))
    return f"e.type = ? AND e.retired = ? AND {sql}", [entity_type, int(retired), *args], residual


def matching_ids(
    store: Store, entity_type: str, filters: Group, retired: bool
) -> tuple[list[int], Group | None]:
    """Ids (ascending) of the records SQL keeps, and the residual filters for Python."""
    where, args, residual = _where(store, entity_type, filters, retired)
    sql = f"SELECT e.id FROM entities e WHERE {where} ORDER BY e.id"
    try:
        return [r[0] for r in store.conn.execute(sql, args)], residual
    except sqlite3.Error:  # e.g. a stored document SQLite cannot parse (NaN)
        return matching_ids(store, entity_type, Group("and", ()), retired)[0], filters


def page_ids(
    store: Store,
    entity_type: str,
    filters: Group,
    sorts: Sequence[tuple[str, bool]],
    retired: bool,
    paging: tuple[int, int],
    *,
    count: bool,
) -> tuple[list[int], bool, int | None]:
    """One page (``(per_page, page)``) of ids, whether more follow, the count if asked.

    Raises :class:`NotCompiled` when SQL does not cover the filters and sorts.
    """
    per_page, page = paging
    where, args, residual = _where(store, entity_type, filters, retired)
    if residual is not None:
        raise NotCompiled
    order = compile_order(store, entity_type, sorts)
    sql = f"SELECT e.id FROM entities e WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
    try:
        ids = [r[0] for r in store.conn.execute(sql, (*args, per_page + 1, (page - 1) * per_page))]
        total: int | None = None
        if count:
            row = store.conn.execute(f"SELECT count(*) FROM entities e WHERE {where}", args)
            total = int(row.fetchone()[0])
    except sqlite3.Error:
        raise NotCompiled from None
    return ids[:per_page], len(ids) > per_page, total
