"""``summarize`` groupings: which bucket each value falls in, for every grouping type.

``exact`` groups equal values; the date types (``day``, ``week``, ``month``,
``quarter``, ``year``) group a date or date-time by the period it falls in
(UTC), with the first day of the period (``YYYY-MM-DD``) as ``group_value``;
the number types (``tens`` ... ``millions``) by range, with the lower bound as
``group_value``; ``firstletter`` by the upper-cased first letter of a text or
of a link's name; ``entitytype`` by the type of a link.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any

from evframe.sandbox.errors import ApiError
from evframe.sandbox.schema import FieldDef

_DATES = ("day", "week", "month", "quarter", "year")
_STEPS = {
    "tens": 10,
    "hundreds": 100,
    "thousands": 1_000,
    "tensofthousands": 10_000,
    "hundredsofthousands": 100_000,
    "millions": 1_000_000,
}
_DATE_TYPES = ("date", "date_time")
_NUMBER_TYPES = ("number", "float", "currency", "duration", "percent")
#: Grouping type -> the data types it applies to (``None``: any).
GROUPINGS: dict[str, tuple[str, ...] | None] = {
    "exact": None,
    **dict.fromkeys(_DATES, _DATE_TYPES),
    **dict.fromkeys(_STEPS, _NUMBER_TYPES),
    "firstletter": ("text", "entity", "list", "status_list", "url"),
    "entitytype": ("entity", "multi_entity"),
}


def check(fdef: FieldDef, grouping: Any) -> None:
    """Refuse a grouping the field's data type does not have, as a site does."""
    if not isinstance(grouping, dict):
        raise ApiError(f"Bad grouping {grouping!r}: expected {{field, type, direction}}.")
    kind = grouping.get("type", "exact")
    if kind not in GROUPINGS:
        raise ApiError(f"Bad grouping type {kind!r}; the sandbox supports {', '.join(GROUPINGS)}.")
    allowed = GROUPINGS[kind]
    if allowed is not None and fdef.data_type not in allowed:
        raise ApiError(
            f"Grouping {kind!r} does not apply to {fdef.entity_type}.{fdef.name} "
            f"({fdef.data_type}); it applies to {', '.join(allowed)} fields."
        )


def bucket(kind: str, value: Any) -> tuple[Any, str]:
    """``(group_value, group_name)`` of the group ``value`` falls in."""
    if value is None or value == [] or value == "":
        return None, ""
    if kind in _DATES:
        return _date_bucket(kind, str(value))
    if kind in _STEPS:
        step = _STEPS[kind]
        low = int(math.floor(value / step) * step)
        return low, f"{low} - {low + step - 1}"
    if kind == "firstletter":
        text = value.get("name") if isinstance(value, dict) else value
        letter = str(text or "")[:1].upper()
        return letter, letter
    if kind == "entitytype":
        links = value if isinstance(value, list) else [value]
        etype = str(links[0].get("type"))
        return etype, etype
    name = value.get("name") if isinstance(value, dict) else value
    return value, "" if name is None else str(name)


def _date_bucket(kind: str, text: str) -> tuple[str, str]:
    day = _dt.date.fromisoformat(text[:10])
    if kind == "day":
        return day.isoformat(), day.isoformat()
    if kind == "week":
        start = day - _dt.timedelta(days=day.weekday())
        return start.isoformat(), f"Week of {start.isoformat()}"
    if kind == "month":
        start = day.replace(day=1)
        return start.isoformat(), start.strftime("%B %Y")
    if kind == "quarter":
        quarter = (day.month - 1) // 3
        start = day.replace(month=quarter * 3 + 1, day=1)
        return start.isoformat(), f"{day.year} Q{quarter + 1}"
    start = day.replace(month=1, day=1)
    return start.isoformat(), str(day.year)
