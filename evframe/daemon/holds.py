"""Handlers the daemon holds whatever their status: quarantined, or disabled in the config;
and config naming handlers that are not installed.

At start the daemon refuses ``[handlers.NAME]`` tables and ``[logging.handlers]``
keys for handlers that are not installed (exit 3), records both holds in the
state file (so ``evframe state`` and ``evframe handlers`` show them without
reading the config or loading the handlers) and names them in its start-up
line.  A handler that is no longer quarantined (a fixed package was installed)
is said to catch up from its cursor.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from evframe.config import Config
from evframe.config_names import installed_names, unknown_handler_names
from evframe.daemon.roster import Roster
from evframe.processor import Processor
from evframe.quarantine import Quarantined
from evframe.state import HandlerState, State

__all__ = ["record_holds", "refuse_unknown_names", "serving_names"]

log = logging.getLogger("evframe.daemon")


def refuse_unknown_names(config: Config, processor: Processor, *, refuse: bool) -> None:
    """Raise the first config error for a handler name that is not installed (``refuse``),
    or log each at ERROR: a daemon restarted onto a set without a configured handler
    keeps serving the others rather than exit."""
    errors = unknown_handler_names(config, installed_names(config, processor))
    if errors and refuse:
        raise errors[0]
    for error in errors:
        log.error("%s", error)


def record_holds(
    state: State,
    roster: Roster,
    stored: Mapping[str, HandlerState],
    quarantined: Mapping[str, Quarantined],
    read_cursor: int,
) -> None:
    """Write the holds of this start to ``state``'s open transaction; log the releases."""
    for name, row in sorted(stored.items()):
        if row.quarantined and name in roster.members:
            log.info(
                "handler %s is no longer quarantined: it catches up from event %d",
                name,
                row.cursor + 1,
            )
    disabled = [name for name, m in roster.members.items() if not m.enabled]
    state.set_holds({q.name: q.reason for q in quarantined.values()}, disabled, read_cursor)


def serving_names(roster: Roster, names: list[str], quarantined: Mapping[str, Quarantined]) -> str:
    """The handler list of the start-up line, the held ones marked."""
    shown = [
        f"{name} (disabled in config)" if not roster.members[name].enabled else name
        for name in names
    ]
    text = ", ".join(shown)
    if quarantined:
        text += f"; quarantined: {', '.join(sorted(quarantined))}"
    return text
