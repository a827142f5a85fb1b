"""Handlers the daemon holds whatever their status: quarantined, or disabled in the config.

At start the daemon records both in the state file (so ``evframe state`` and
``evframe handlers`` show them without reading the config or loading the
handlers) and names them in its start-up line.  A handler that is no longer
quarantined (a fixed package was installed) is said to catch up from its cursor.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from evframe.daemon.roster import Roster
from evframe.quarantine import Quarantined
from evframe.state import HandlerState, State

__all__ = ["record_holds", "serving_names"]

log = logging.getLogger("evframe.daemon")


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
