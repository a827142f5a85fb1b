"""Checked filter trees compiled to SQL: the one compiler, and EventLogEntry's columns.

The filters arrive already checked by :func:`evframe.sandbox.query.parse_filters`,
so this module only knows which conditions have an exact SQL equivalent.
:class:`Where` compiles groups, negations and ``id``; a subclass says how the
other conditions map onto one table (:class:`EventWhere` here for the
``events`` table, :class:`evframe.sandbox.entitysql.EntityWhere` for entities).
Whatever has no exact equivalent raises :class:`NotCompiled` and is left to the
Python engine (:func:`compile_filters` hands it back as a residual).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from evframe.sandbox.query import Condition, Group, Node, window

_TEXT_COLUMNS = {"event_type", "attribute_name", "session_uuid", "description", "created_at"}
_SORTABLE = {"id", "created_at", "event_type", "attribute_name", "session_uuid", "description"}
#: Link field -> (type column or constant, id column, "the link is set" condition).
_LINK_COLUMNS = {
    "entity": ("entity_type", "entity_id", " AND j_entity != 'null'"),
    "project": ("'Project'", "project_id", " AND project_id IS NOT NULL"),
    "user": ("user_type", "user_id", " AND user_id IS NOT NULL"),
}


class NotCompiled(Exception):
    """A filter or sort the SQL path does not cover; use the Python engine."""


def _like(s: str, mode: str) -> str:
    s = s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return {"contains": f"%{s}%", "starts_with": f"{s}%", "ends_with": f"%{s}"}[mode]


def link_key(v: Any) -> tuple[str, int]:
    # Stricter than the Python engine, which takes ids as any int-able value.
    if isinstance(v, dict) and isinstance(v.get("type"), str) and isinstance(v.get("id"), int):
        return v["type"], v["id"]
    raise NotCompiled


class Where:
    """Compile a checked filter tree into a NULL-safe SQL boolean expression.

    Subclasses add the conditions of their table's fields (:meth:`field`).
    """

    def __init__(self) -> None:
        self.args: list[Any] = []

    def node(self, node: Node) -> str:
        if isinstance(node, Group):
            if not node.conditions:
                # As the Python engine: all() of nothing holds, any() of nothing does not.
                return "1" if node.operator == "and" else "0"
            joiner = " AND " if node.operator == "and" else " OR "
            return "(" + joiner.join(self.node(c) for c in node.conditions) + ")"
        expr = self._positive(node)
        if not self.null_safe(node):  # a bare comparison keeps an index usable
            expr = f"coalesce({expr}, 0)"
        return f"(NOT {expr})" if node.negated else expr

    def null_safe(self, cond: Condition) -> bool:
        """Whether the SQL of ``cond`` is never NULL (``id`` is never NULL)."""
        return cond.path == "id"

    def params(self, values: Sequence[Any]) -> str:
        self.args.extend(values)
        return ",".join("?" * len(values))

    def compare(self, col: str, relation: str, values: list[Any]) -> str:
        """The relations id and text columns share (values already checked)."""
        if relation == "is":
            return f"{col} IS {self.params(values)}"
        if relation == "in" and values:
            return f"{col} IN ({self.params(values)})"
        if relation == "less_than":
            return f"{col} < {self.params(values)}"
        if relation == "greater_than":
            return f"{col} > {self.params(values)}"
        if relation == "between":
            return f"{col} BETWEEN {self.params(values[:1])} AND {self.params(values[1:])}"
        raise NotCompiled

    def _positive(self, cond: Condition) -> str:
        if cond.path == "id":
            # SQLite would turn "5" into 5 where Python compares unequal: ints only.
            if not all(type(v) is int for v in cond.values):
                raise NotCompiled
            if cond.relation == "is":
                return f"id = {self.params(cond.values)}"
            return self.compare("id", cond.relation, cond.values)
        return self.field(cond)

    def field(self, cond: Condition) -> str:
        """The positive SQL test of a condition on a field other than ``id``."""
        raise NotCompiled


class EventWhere(Where):
    """Conditions on the raw columns of the ``events`` table."""

    def field(self, cond: Condition) -> str:
        path, relation, values = cond.path, cond.relation, cond.values
        if path in _TEXT_COLUMNS:
            if relation in ("in_last", "in_next"):
                lo, hi = window(values, relation, False)
                self.args.extend((lo, hi))
                return f"({path} >= ? AND {path} <= ?)"
            if relation == "is" and (values[0] is None or isinstance(values[0], str)):
                return self.compare(path, relation, values)
            # SQLite orders every text after every number, Python refuses to compare them.
            if not all(isinstance(v, str) for v in values):
                raise NotCompiled
            if relation in ("contains", "starts_with", "ends_with"):
                if path == "created_at":
                    raise NotCompiled
                self.args.append(_like(values[0], relation))
                return f"{path} LIKE ? ESCAPE '\\'"
            return self.compare(path, relation, values)
        if path in _LINK_COLUMNS:
            tcol, icol, live = _LINK_COLUMNS[path]
            null = "j_entity = 'null'" if path == "entity" else f"{icol} IS NULL"
            if relation in ("is", "in"):
                parts = []
                for v in values:
                    if v is None:
                        parts.append(null)
                    else:
                        self.args.extend(link_key(v))
                        parts.append(f"({tcol} = ? AND {icol} = ?{live})")
                return "(" + " OR ".join(parts or ["0"]) + ")"
            if relation == "type_is":
                if values[0] is None:
                    return null
                if not isinstance(values[0], str):
                    raise NotCompiled
                self.args.append(values[0])
                return f"({tcol} = ?{live})"
        raise NotCompiled


def compile_filters(
    filters: Group, make: Callable[[], Where] = EventWhere
) -> tuple[str, list[Any], Group | None]:
    """SQL for as much of ``filters`` as compiles; the rest comes back as a residual.

    ``make`` gives a fresh compiler for the table (EventLogEntry's by default).
    Returns ``(sql, args, residual)``; ``residual`` is ``None`` when SQL covers it all.
    """
    w = make()
    try:
        return w.node(filters), w.args, None
    except NotCompiled:
        pass
    if filters.operator != "and":
        return "1", [], filters
    sql_parts: list[str] = []
    args: list[Any] = []
    residual: list[Node] = []
    for cond in filters.conditions:
        w = make()
        try:
            sql_parts.append(w.node(cond))
            args.extend(w.args)
        except NotCompiled:
            residual.append(cond)
    return " AND ".join(sql_parts) or "1", args, Group("and", tuple(residual))


def compile_order(sorts: Sequence[tuple[str, bool]]) -> str:
    """``ORDER BY`` for checked ``(field, descending)`` sorts (nulls last when ascending)."""
    parts = []
    has_id = False
    for name, desc in sorts:
        if name not in _SORTABLE:
            raise NotCompiled
        has_id = has_id or name == "id"
        if name == "id":
            parts.append(f"id {'DESC' if desc else 'ASC'}")
        elif not desc:
            parts.append(f"{name} IS NULL, {name} ASC")
        else:
            parts.append(f"{name} IS NULL DESC, {name} DESC")
    if not has_id:
        parts.append("id ASC")
    return ", ".join(parts)
