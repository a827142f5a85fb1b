"""Work schedules and site preferences: ``work_schedule_read``/``update``, ``preferences_read``.

Exceptions to the work week are ``WorkDayRule`` entities, as on a site, so
``work_schedule_update`` writes the usual EventLogEntry rows and scripts can
``find`` them.  The studio work week is Monday to Friday (the site preference
``last_day_work_week`` is unset).  For each day, a user's exception wins over
a project's, which wins over the studio's.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

from evframe.sandbox import writes
from evframe.sandbox.auth import Actor
from evframe.sandbox.errors import ApiError
from evframe.sandbox.lookup import find
from evframe.sandbox.store import Store

#: The longest range one ``work_schedule_read`` answers, in days.
MAX_DAYS = 3660
_RULE_FIELDS = ["date", "working", "description", "project", "user"]

#: A new site's preferences, as ``preferences_read`` reports them.
PREFERENCES: dict[str, Any] = {
    "date_component_order": "month_day",
    "duration_units": "days",
    "format_currency_fields_decimal_options": "$1,000.99",
    "format_currency_fields_display_dollar_sign": False,
    "format_currency_fields_negative_options": "- $1,000",
    "format_date_fields": "08/04/22 OR 04/08/22 (depending on the Month order preference)",
    "format_float_fields": "9,999.99",
    "format_float_fields_rounding": "9.999999",
    "format_footage_fields": "10-05",
    "format_number_fields": "1,000",
    "format_time_hour_fields": "12 hour",
    "hours_per_day": 8.0,
    "last_day_work_week": None,
    "support_local_storage": True,
    "view_master_settings": json.dumps({"status_groups": []}),
}


def preferences_read(store: Store, actor: Actor, params: Any) -> dict[str, Any]:
    """The preferences named in ``prefs`` (all when empty); unknown names are left out."""
    names = params.get("prefs") if isinstance(params, dict) else None
    if not names:
        return dict(PREFERENCES)
    if not isinstance(names, list):
        raise ApiError("preferences_read: prefs must be a list of preference names.")
    return {n: PREFERENCES[n] for n in names if n in PREFERENCES}


def _date(value: Any, what: str) -> _dt.date:
    try:
        return _dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ApiError(f"{what}: expected a date YYYY-MM-DD, got {value!r}.") from None


def _owner(params: dict[str, Any]) -> tuple[Any, Any]:
    project, user = params.get("project"), params.get("user")
    if project and user:
        raise ApiError("work schedule: give a project or a user, not both.")
    return project or None, user or None


def _rules(store: Store, first: str, last: str) -> list[dict[str, Any]]:
    filters = [["date", "between", first, last]]
    return find(store, "WorkDayRule", filters, _RULE_FIELDS, [("id", False)])


def _is(link: Any, ref: Any) -> bool:
    return isinstance(link, dict) and isinstance(ref, dict) and link.get("id") == ref.get("id")


def _owned(rule: dict[str, Any], project: Any, user: Any) -> bool:
    """Whether ``rule`` is the one of that project, that user, or the studio's (neither)."""
    same_project = _is(rule.get("project"), project) if project else not rule.get("project")
    same_user = _is(rule.get("user"), user) if user else not rule.get("user")
    return same_project and same_user


def work_schedule_read(store: Store, actor: Actor, params: Any) -> dict[str, Any]:
    """``{date: {working, description, reason}}`` for every day of the range."""
    if not isinstance(params, dict):
        raise ApiError("work_schedule_read: expected an object of parameters.")
    start = _date(params.get("start_date"), "start_date")
    end = _date(params.get("end_date"), "end_date")
    if end < start or (end - start).days >= MAX_DAYS:
        raise ApiError(f"work_schedule_read: end_date must follow start_date by < {MAX_DAYS} days.")
    project, user = _owner(params)
    rules = _rules(store, start.isoformat(), end.isoformat())
    out: dict[str, Any] = {}
    day = start
    while day <= end:
        key = day.isoformat()
        rule, reason = None, "STUDIO_WORK_WEEK"
        for r in rules:
            if r["date"] != key:
                continue
            if user and _is(r.get("user"), user):
                rule, reason = r, "USER_EXCEPTION"
            elif reason != "USER_EXCEPTION" and project and _is(r.get("project"), project):
                rule, reason = r, "PROJECT_EXCEPTION"
            elif rule is None and not r.get("project") and not r.get("user"):
                rule, reason = r, "STUDIO_EXCEPTION"
        if rule is None:
            out[key] = {"working": day.weekday() < 5, "description": None, "reason": reason}
        else:
            out[key] = {
                "working": bool(rule["working"]),
                "description": rule.get("description"),
                "reason": reason,
            }
        day += _dt.timedelta(days=1)
    return out


def work_schedule_update(store: Store, actor: Actor, params: Any) -> dict[str, Any]:
    """Set one day's rule for the studio, a project or a user (a WorkDayRule)."""
    if not isinstance(params, dict):
        raise ApiError("work_schedule_update: expected an object of parameters.")
    day = _date(params.get("date"), "date").isoformat()
    working = params.get("working")
    if not isinstance(working, bool):
        raise ApiError("work_schedule_update: working must be true or false.")
    project, user = _owner(params)
    values: dict[str, Any] = {
        "working": working,
        "description": params.get("description"),
        "project": project,
        "user": user,
    }
    if params.get("recalculate_field") is not None:
        values["recalculate_field"] = params["recalculate_field"]
    items = [{"field_name": k, "value": v} for k, v in values.items()]
    existing = [r for r in _rules(store, day, day) if _owned(r, project, user)]
    with store.transaction():
        if existing:
            writes.update(store, actor, "WorkDayRule", existing[0]["id"], items)
        else:
            items.append({"field_name": "date", "value": day})
            writes.create(store, actor, "WorkDayRule", items)
    return {"date": day, **{k: values[k] for k in ("working", "description", "project", "user")}}
