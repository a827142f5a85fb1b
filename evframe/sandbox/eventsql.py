"""Checked EventLogEntry filters and sorts compiled to SQL over the ``events`` table.

The filters arrive already checked by :func:`evframe.sandbox.query.parse_filters`,
so this module only knows which conditions have an exact SQL equivalent over
the table's raw columns.  Whatever has none raises :class:`NotCompiled` and is
left to the Python engine (:func:`compile_filters` hands it back as a residual).
"""

from __future__ import annotations

from collections.abc import Sequence
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


def _link_key(v: Any) -> tuple[str, int]:
    # Stricter than the Python engine, which takes ids as any int-able value.
    if isinstance(v, dict) and isinstance(v.get("type"), str) and isinstance(v.get("id"), int):
        return v["type"], v["id"]
    raise NotCompiled


class _Where:
    """Compile a checked filter tree into a NULL-safe SQL boolean expression."""

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
        if node.path != "id":  # id is never NULL; a bare comparison keeps the rowid range scan
            expr = f"coalesce({expr}, 0)"
        return f"(NOT {expr})" if node.negated else expr

    def _params(self, values: Sequence[Any]) -> str:
        self.args.extend(values)
        return ",".join("?" * len(values))

    def _compare(self, col: str, relation: str, values: list[Any]) -> str:
        """The relations id and text columns share (values already checked)."""
        if relation == "is":
            return f"{col} IS {self._params(values)}"
        if relation == "in" and values:
            return f"{col} IN ({self._params(values)})"
        if relation == "less_than":
            return f"{col} < {self._params(values)}"
        if relation == "greater_than":
            return f"{col} > {self._params(values)}"
        if relation == "between":
            return f"{col} BETWEEN {self._params(values[:1])} AND {self._params(values[1:])}"
        raise NotCompiled

    def _positive(self, cond: Condition) -> str:
        path, relation, values = cond.path, cond.relation, cond.values
        if path == "id":
            # SQLite would turn "5" into 5 where Python compares unequal: ints only.
            if not all(type(v) is int for v in values):
                raise NotCompiled
            if relation == "is":
                return f"id = {self._params(values)}"
            return self._compare("id", relation, values)
        if path in _TEXT_COLUMNS:
            if relation in ("in_last", "in_next"):
                lo, hi = window(values, relation, False)
                self.args.extend((lo, hi))
                return f"({path} >= ? AND {path} <= ?)"
            if relation == "is" and (values[0] is None or isinstance(values[0], str)):
                return self._compare(path, relation, values)
            # SQLite orders every text after every number, Python refuses to compare them.
            if not all(isinstance(v, str) for v in values):
                raise NotCompiled
            if relation in ("contains", "starts_with", "ends_with"):
                if path == "created_at":
                    raise NotCompiled
                self.args.append(_like(values[0], relation))
                return f"{path} LIKE ? ESCAPE '\\'"
            return self._compare(path, relation, values)
        if path in _LINK_COLUMNS:
            tcol, icol, live = _LINK_COLUMNS[path]
            null = "j_entity = 'null'" if path == "entity" else f"{icol} IS NULL"
            if relation in ("is", "in"):
                parts = []
                for v in values:
                    if v is None:
                        parts.append(null)
                    else:
                        self.args.extend(_link_key(v))
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


def compile_filters(filters: Group) -> tuple[str, list[Any], Group | None]:
    """SQL for as much of ``filters`` as compiles; the rest comes back as a residual.

    Returns ``(sql, args, residual)``; ``residual`` is ``None`` when SQL covers it all.
    """
    w = _Where()
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
        w = _Where()
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
