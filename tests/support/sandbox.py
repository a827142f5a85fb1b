"""Helpers for the sandbox tests: credentials, a client, an event-log cursor."""

from __future__ import annotations

from typing import Any

from shotgun_api3 import shotgun

from evframe.event import EVENT_FIELDS
from evframe.sandbox import Sandbox

SCRIPT, KEY = "test_script", "test-key-123"


def make_client(sb: Sandbox, name: str = SCRIPT, key: str = KEY) -> shotgun.Shotgun:
    sg = shotgun.Shotgun(sb.url, name, key)
    # Never hang a test on a silent server.
    sg.config.timeout_secs = 10
    sg.config.rpc_attempt_interval = 0
    return sg


class EventLog:
    """Reads the EventLogEntry rows written since :meth:`mark`."""

    def __init__(self, sg: shotgun.Shotgun) -> None:
        self.sg = sg
        self.cursor = 0

    def last_id(self) -> int:
        row = self.sg.find_one(
            "EventLogEntry", [], ["id"], order=[{"field_name": "id", "direction": "desc"}]
        )
        return int(row["id"]) if row else 0

    def mark(self) -> int:
        self.cursor = self.last_id()
        return self.cursor

    def since(self, fields: list[str] | None = None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.sg.find(  # type: ignore[assignment]
            "EventLogEntry",
            [["id", "greater_than", self.cursor]],
            fields or list(EVENT_FIELDS),
            order=[{"field_name": "id", "direction": "asc"}],
        )
        return rows
