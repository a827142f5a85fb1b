"""A handler does not get the events its own script's writes caused, unless it asks.

A handler that updates the entity whose change it handles would otherwise trigger
itself again, and again.  An event is a handler's own write when its ``user`` is
the ApiUser of the script the handler's ``ctx.sg`` logs in with (the link's name
is the script name), or when its ``session_uuid`` is the one the daemon sets on
that script's connections (:func:`evframe.site.daemon_session`; it also marks
writes made with ``sudo_as_login``, whose events name the human user).  A handler
opts in with ``own_writes = true`` in its config or ``@own_writes()``.

The check runs once per dispatched event, after the roster chose the recipients:
two dictionary look-ups, and nothing at all when every handler opted in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evframe.config import Config
from evframe.processor import Processor
from evframe.site import daemon_session, handler_credentials

__all__ = ["OwnWrites"]


class OwnWrites:
    """Which recipients of an event must not get it: those whose own script wrote it."""

    def __init__(self, processor: Processor, config: Config) -> None:
        by_script: dict[str, set[str]] = {}
        by_session: dict[str, set[str]] = {}
        for name in processor.names:
            hcfg = config.handler(name)
            wanted = hcfg.own_writes
            if wanted is None:
                wanted = processor.spec(name).own_writes
            if wanted:
                continue
            script = handler_credentials(config, name)[0]
            if script:
                by_script.setdefault(script, set()).add(name)
            if not hcfg.pass_session_uuid:  # those carry the user's session, not the daemon's
                by_session.setdefault(daemon_session(config, script), set()).add(name)
        self.by_script: Mapping[str, frozenset[str]] = {
            k: frozenset(v) for k, v in by_script.items()
        }
        self.by_session: Mapping[str, frozenset[str]] = {
            k: frozenset(v) for k, v in by_session.items()
        }

    def exclude(self, record: Mapping[str, Any], who: frozenset[str]) -> frozenset[str]:
        """``who`` without the handlers that caused ``record`` through their own script."""
        skip: frozenset[str] | None = None
        user = record.get("user")
        if user is not None and user.get("type") == "ApiUser":
            skip = self.by_script.get(user.get("name"))
        session = record.get("session_uuid")
        if session is not None:
            mine = self.by_session.get(session)
            if mine is not None:
                skip = mine if skip is None else skip | mine
        if skip is None:
            return who
        return who - skip
