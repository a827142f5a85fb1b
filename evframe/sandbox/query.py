"""Filters and sorts of ``read`` and ``summarize``: checked once, evaluated in Python.

A filter tree (``{"logical_operator", "conditions"}``, as ``shotgun_api3``
sends it) is checked against the schema once per request by
:func:`parse_filters`, the one place that knows the relations and their
values; every bad path, relation or value is an
:class:`~evframe.sandbox.errors.ApiError` naming it.  The checked tree becomes
a predicate over records (:func:`predicate`) or, for EventLogEntry, SQL
(:mod:`evframe.sandbox.eventsql`).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from evframe.sandbox.errors import ApiError
from evframe.sandbox.schema import FieldDef, Schema

Record = dict[str, Any]
Predicate = Callable[[Record], bool]
Test = Callable[[Any], bool]

WIRE_DATETIME = "%Y-%m-%dT%H:%M:%SZ"

#: Relations that are the negation of another one.
NEGATIONS = {
    "is_not": "is",
    "not_in": "in",
    "not_contains": "contains",
    "not_between": "between",
    "type_is_not": "type_is",
    "not_in_last": "in_last",
    "not_in_next": "in_next",
    "name_not_contains": "name_contains",
}
RELATIONS = frozenset(
    {
        "is",
        "in",
        "less_than",
        "greater_than",
        "between",
        "contains",
        "starts_with",
        "ends_with",
        "type_is",
        "in_last",
        "in_next",
        "name_contains",
        "name_is",
        "name_starts_with",
        "name_ends_with",
    }
    | set(NEGATIONS)
)
_UNITS = {
    "HOUR": _dt.timedelta(hours=1),
    "DAY": _dt.timedelta(days=1),
    "WEEK": _dt.timedelta(weeks=1),
    "MONTH": _dt.timedelta(days=30),
    "YEAR": _dt.timedelta(days=365),
}
_TYPE_FIELD = FieldDef(entity_type="", name="type", data_type="text", display_name="Type")
#: Data types a site refuses in filters (their values are secret, files or computed).
UNFILTERABLE = frozenset({"password", "image", "url", "summary", "pivot_column"})


PathValues = Callable[[str, Record, Sequence[str]], list[Any]]
"""Every value a (possibly dotted) path reaches from a record; ``[None]`` if none."""


@dataclass(frozen=True)
class Condition:
    """One checked condition, its negation split off (``not_in`` is ``in``, negated)."""

    path: str
    relation: str
    negated: bool
    values: list[Any]
    field: FieldDef
    #: The (positive) relation as a test of one field value.
    test: Test


@dataclass(frozen=True)
class Group:
    """``conditions`` joined by ``operator`` (``and`` or ``or``)."""

    operator: str
    conditions: tuple[Condition | Group, ...]


Node = Condition | Group
#: Filters that keep every record.
EVERYTHING = Group("and", ())


def check_path(schema: Schema, entity_type: str, path: Any) -> FieldDef:
    """Validate ``field`` or ``link.Type.field[.Type.field...]``; return the last field."""
    if not isinstance(path, str) or not path:
        raise ApiError(f"Bad filter or field path {path!r} on {entity_type}: expected a string.")
    parts = path.split(".")
    if len(parts) % 2 == 0:
        raise ApiError(
            f"Bad field path {path!r} on {entity_type}: expected field or "
            "field.EntityType.field (e.g. entity.Shot.code)."
        )
    current = entity_type
    fdef = _TYPE_FIELD
    for i in range(0, len(parts), 2):
        name = parts[i]
        if name == "type":
            fdef = _TYPE_FIELD
        else:
            try:
                fdef = schema.field(current, name)
            except ApiError as exc:
                raise ApiError(f"Bad field path {path!r}: {exc.message}") from None
        if i + 1 < len(parts):
            if not fdef.is_link:
                raise ApiError(
                    f"Bad field path {path!r}: {current}.{name} is a {fdef.data_type} field, "
                    "not an entity link, so it cannot be followed."
                )
            current = parts[i + 1]
            if not schema.enabled(current):
                raise ApiError(f"Bad field path {path!r}: unknown entity type {current!r}.")
    return fdef


def now_wire() -> str:
    """The current UTC time as the api3 wire form ``YYYY-MM-DDTHH:MM:SSZ``."""
    return _dt.datetime.now(_dt.timezone.utc).strftime(WIRE_DATETIME)


def _link_key(value: Any) -> tuple[str, int] | None:
    if isinstance(value, dict) and "type" in value and "id" in value:
        return (str(value["type"]), int(value["id"]))
    return None


def _name(value: Any) -> str:
    return str(value.get("name") or "") if isinstance(value, dict) else ""


def window(values: list[Any], relation: str, date_only: bool) -> tuple[str, str]:
    """The ``(start, end)`` an ``in_last``/``in_next`` condition covers, now."""
    if len(values) != 2 or not isinstance(values[0], int) or values[1] not in _UNITS:
        raise ApiError(
            f"Bad filter: {relation} takes a count and a unit "
            f'({", ".join(_UNITS)}), e.g. ["created_at", "{relation}", 1, "DAY"]; '
            f"got {values!r}."
        )
    now = _dt.datetime.now(_dt.timezone.utc)
    delta = values[0] * _UNITS[values[1]]
    start, end = (now - delta, now) if relation == "in_last" else (now, now + delta)
    fmt = "%Y-%m-%d" if date_only else WIRE_DATETIME
    return start.strftime(fmt), end.strftime(fmt)


def parse_filters(schema: Schema, entity_type: str, filters: Any) -> Group:
    """Check an api3 filter tree against the schema; :class:`ApiError` names what is wrong.

    Accepts the object form ``shotgun_api3`` sends, a bare list of conditions,
    and conditions as ``[path, relation, *values]`` lists.
    """
    if filters is None or filters == [] or filters == {}:
        return EVERYTHING
    if isinstance(filters, list):
        filters = {"logical_operator": "and", "conditions": filters}
    if not isinstance(filters, dict):
        raise ApiError(f"Bad filters {filters!r}: expected an object or a list.")
    node = _Parser(schema).node(entity_type, filters)
    return node if isinstance(node, Group) else Group("and", (node,))


def predicate(entity_type: str, filters: Group, path_values: PathValues) -> Predicate:
    """``filters`` as a test of one record of ``entity_type``."""
    if not filters.conditions and filters.operator == "and":
        return lambda rec: True
    return _predicate(entity_type, filters, path_values)


def _predicate(entity_type: str, node: Node, path_values: PathValues) -> Predicate:
    if isinstance(node, Group):
        subs = [_predicate(entity_type, c, path_values) for c in node.conditions]
        if node.operator == "and":
            return lambda rec: all(p(rec) for p in subs)
        return lambda rec: any(p(rec) for p in subs)
    test = node.test
    parts = node.path.split(".")
    if len(parts) == 1 and parts[0] == "id":
        # The commonest filter of all (the event poller's cursor), kept cheap.
        def get(rec: Record) -> list[Any]:
            return [rec["id"]]
    else:

        def get(rec: Record) -> list[Any]:
            return path_values(entity_type, rec, parts)

    if node.negated:
        return lambda rec: not any(test(v) for v in get(rec))
    return lambda rec: any(test(v) for v in get(rec))


class _Parser:
    """Checks filter nodes against one schema, building each condition's test."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    def node(self, entity_type: str, node: Any) -> Node:
        if isinstance(node, list | tuple) and len(node) >= 2:
            node = {"path": node[0], "relation": node[1], "values": list(node[2:])}
        if not isinstance(node, dict):
            raise ApiError(f"Bad filter {node!r}: expected a condition object.")
        if "conditions" in node:
            op = node.get("logical_operator", "and")
            if op not in ("and", "or"):
                raise ApiError(f"Bad filter: logical_operator must be 'and' or 'or', got {op!r}.")
            conds = node["conditions"]
            if not isinstance(conds, list):
                raise ApiError(f"Bad filter: conditions must be a list, got {conds!r}.")
            return Group(op, tuple(self.node(entity_type, c) for c in conds))
        return self._condition(entity_type, node)

    def _condition(self, entity_type: str, cond: dict[str, Any]) -> Condition:
        path = cond.get("path")
        relation = cond.get("relation")
        values = cond.get("values", [])
        if not isinstance(values, list):
            values = [values]
        fdef = check_path(self.schema, entity_type, path)
        if fdef.data_type in UNFILTERABLE:
            # Worded as a site words it.
            raise ApiError(
                f"API read() {fdef.entity_type}.{fdef.name}'s '{fdef.data_type}' data type "
                "cannot be used in a filter."
            )
        if relation not in RELATIONS:
            raise ApiError(
                f"Bad filter on {path!r}: unknown relation {relation!r}; "
                f"use one of {', '.join(sorted(RELATIONS))}."
            )
        positive = NEGATIONS.get(relation, relation)
        test = self._test(fdef, str(path), positive, values)
        return Condition(str(path), positive, positive != relation, values, fdef, test)

    def _test(self, fdef: FieldDef, path: str, relation: str, values: list[Any]) -> Test:
        where = f"Bad filter on {path!r} ({fdef.data_type} field), relation {relation!r}"

        def one() -> Any:
            if len(values) != 1:
                raise ApiError(f"{where}: expected exactly one value, got {values!r}.")
            return values[0]

        dt = fdef.data_type
        if dt in ("entity", "multi_entity"):
            multi = dt == "multi_entity"
            if relation in ("is", "in"):
                wanted = values if relation == "in" else [one()]
                none_ok = any(v is None for v in wanted)
                keys = set()
                for v in wanted:
                    if v is None:
                        continue
                    key = _link_key(v)
                    if key is None:
                        raise ApiError(f"{where}: {v!r} is not an entity link {{type, id}}.")
                    if not self.schema.enabled(key[0]):
                        raise ApiError(f"{where}: {key[0]!r} is not a valid entity type.")
                    keys.add(key)
                if multi:
                    return lambda v: (
                        (none_ok and not v) or any(_link_key(x) in keys for x in (v or ()))
                    )
                return lambda v: (v is None and none_ok) or _link_key(v) in keys
            if relation == "type_is":
                t = one()
                if t is not None and not self.schema.enabled(t):
                    raise ApiError(f"{where}: {t!r} is not a valid entity type.")

                def type_is(v: Any) -> bool:
                    links = v if isinstance(v, list) else [v] if v else []
                    if t is None:
                        return not links
                    return any(isinstance(x, dict) and x.get("type") == t for x in links)

                return type_is
            if relation.startswith("name_"):
                s = one()
                if not isinstance(s, str):
                    raise ApiError(f"{where}: expected a string, got {s!r}.")
                s = s.lower()
                name_tests: dict[str, Callable[[str], bool]] = {
                    "name_contains": lambda n: s in n,
                    "name_is": lambda n: s == n,
                    "name_starts_with": lambda n: n.startswith(s),
                    "name_ends_with": lambda n: n.endswith(s),
                }
                nt = name_tests[relation]

                def name_test(v: Any) -> bool:
                    links = v if isinstance(v, list) else [v] if v else []
                    return any(nt(_name(x).lower()) for x in links)

                return name_test
            raise ApiError(f"{where}: not supported on entity links.")

        if relation.startswith("name_") or relation == "type_is":
            raise ApiError(f"{where}: only entity link fields support it.")
        if relation == "is":
            x = one()
            if dt == "tag_list":
                return lambda v: (x is None and not v) or (isinstance(v, list) and x in v)
            if dt == "checkbox" and x is None:
                return lambda v: not v
            return lambda v: v == x
        if relation == "in":
            xs = list(values)
            return lambda v: v in xs
        if relation in ("less_than", "greater_than"):
            x = one()
            if x is None:
                raise ApiError(f"{where}: cannot compare with null.")
            if relation == "less_than":
                return lambda v: _safe(lambda: v is not None and v < x)
            return lambda v: _safe(lambda: v is not None and v > x)
        if relation == "between":
            if len(values) != 2 or None in values:
                raise ApiError(f"{where}: expected two values [low, high], got {values!r}.")
            lo, hi = values
            return lambda v: _safe(lambda: v is not None and lo <= v <= hi)
        if relation in ("contains", "starts_with", "ends_with"):
            s = one()
            if not isinstance(s, str):
                raise ApiError(f"{where}: expected a string, got {s!r}.")
            s = s.lower()
            if relation == "contains":
                if dt == "tag_list":
                    return lambda v: isinstance(v, list) and any(s == str(t).lower() for t in v)
                return lambda v: isinstance(v, str) and s in v.lower()
            if relation == "starts_with":
                return lambda v: isinstance(v, str) and v.lower().startswith(s)
            return lambda v: isinstance(v, str) and v.lower().endswith(s)
        if relation in ("in_last", "in_next"):
            if dt not in ("date", "date_time"):
                raise ApiError(f"{where}: only date and date_time fields support it.")
            lo, hi = window(values, relation, dt == "date")
            return lambda v: isinstance(v, str) and lo <= v <= hi
        raise ApiError(f"{where}: not supported.")  # pragma: no cover - RELATIONS is closed


def _safe(f: Callable[[], bool]) -> bool:
    try:
        return f()
    except TypeError:
        return False


def sort_key(value: Any) -> tuple[int, int, Any]:
    """A total order over field values (links by name, nulls last)."""
    if value is None:
        return (1, 0, 0)
    if isinstance(value, bool | int | float):
        return (0, 0, value)
    if isinstance(value, str):
        return (0, 1, value)
    if isinstance(value, dict):
        return (0, 1, _name(value))
    if isinstance(value, list):
        return (0, 2, len(value))
    return (0, 3, str(value))
