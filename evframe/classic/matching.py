"""``matchEvents`` exactly as the classic daemon applies it, and what ``evframe check``
says about the quirks a plugin may rely on without knowing.

The classic rule (``Callback.canProcess``): an empty or missing ``matchEvents``
matches every event.  If it has a ``"*"`` key, *only* that key's value is used
(the other keys are ignored); otherwise the event type must be a key.  The value
then matches when it is ``None`` or when ``"*" in value``; else the event's
``attribute_name`` must be non-empty and ``in value``.  ``in`` on a plain
string is a substring test, so ``"sg_status_list"`` also matches the attribute
``"status"`` -- kept, because plugins may rely on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["compile_match", "match_warnings", "matches"]


def matches(match_events: Any, record: Mapping[str, Any]) -> bool:
    """Whether the classic daemon gives ``record`` (an EventLogEntry dict) to a callback
    registered with ``match_events``.  Raises what the classic code raises on odd input."""
    if not match_events:
        return True
    event_type: Any
    if "*" in match_events:
        event_type = "*"
    else:
        event_type = record.get("event_type")
        if event_type not in match_events:
            return False
    attributes = match_events[event_type]
    if attributes is None or "*" in attributes:
        return True
    attribute = record.get("attribute_name")
    return bool(attribute and attribute in attributes)


def compile_match(match_events: Any) -> Callable[[Mapping[str, Any]], bool] | None:
    """A predicate on records equivalent to :func:`matches`, or None for "every event"."""
    if not match_events:
        return None
    return lambda record: matches(match_events, record)


def event_types(match_events: Any) -> list[str] | None:
    """The event types a callback can ever get (None: any type), for the dispatch index.

    Only what :func:`matches` would decide on the type alone is used, so the
    index never drops an event the classic rule would give the callback.
    """
    if not match_events or not isinstance(match_events, Mapping) or "*" in match_events:
        return None
    return [t for t in match_events if isinstance(t, str)]


def match_warnings(match_events: Any) -> list[str]:
    """The classic quirks ``match_events`` relies on, one sentence each."""
    if not match_events:
        return []
    if not isinstance(match_events, Mapping):
        return [
            f"matchEvents is a {type(match_events).__name__}, not a dict: the classic daemon "
            "fails on every event it is given (TypeError); use {event_type: attributes}"
        ]
    out = []
    if "*" in match_events and len(match_events) > 1:
        ignored = ", ".join(sorted(repr(k) for k in match_events if k != "*"))
        out.append(f'matchEvents has a "*" key, so its other keys are ignored: {ignored}')
    for event_type, attributes in match_events.items():
        where = f"matchEvents[{event_type!r}]"
        if attributes is None:
            continue
        if isinstance(attributes, str):
            if "*" in attributes:
                out.append(
                    f'{where} is the string {attributes!r}: it contains "*", so it '
                    "matches every attribute"
                )
            else:
                out.append(
                    f"{where} is the string {attributes!r}, not a list: an attribute matches "
                    f"when it is a substring of it (e.g. {attributes[:3]!r}); write "
                    f"[{attributes!r}] for an exact match"
                )
        elif not hasattr(attributes, "__contains__"):
            out.append(
                f"{where} is {attributes!r}: the classic daemon fails on every event "
                "of that type (TypeError)"
            )
        elif not attributes:
            out.append(f"{where} is empty: it never matches (use None for every attribute)")
        elif "*" in attributes and len(attributes) > 1:
            out.append(f'{where} contains "*", so the other attribute names are ignored')
    return out
