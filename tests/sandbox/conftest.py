"""Fixtures: a started sandbox, a shotgun_api3 client on it, an event-log cursor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from shotgun_api3 import shotgun

from evframe.event import EVENT_FIELDS
from evframe.sandbox import Faults, Sandbox

SCRIPT, KEY = "test_script", "test-key-123"


def make_client(sb: Sandbox, name: str = SCRIPT, key: str = KEY) -> shotgun.Shotgun:
    sg = shotgun.Shotgun(sb.url, name, key)
    # Never hang a test on a silent server.
    sg.config.timeout_secs = 10
    sg.config.rpc_attempt_interval = 0
    return sg


@pytest.fixture
def faults() -> Faults:
    return Faults(seed=1)


@pytest.fixture
def sandbox(faults: Faults) -> Iterator[Sandbox]:
    """A demo site in memory, serving on a free loopback port."""
    with Sandbox(scripts={SCRIPT: KEY}, seed="demo", faults=faults) as sb:
        yield sb


@pytest.fixture
def sg(sandbox: Sandbox) -> Iterator[shotgun.Shotgun]:
    client = make_client(sandbox)
    yield client
    client.close()


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
        return self.sg.find(
            "EventLogEntry",
            [["id", "greater_than", self.cursor]],
            fields or list(EVENT_FIELDS),
            order=[{"field_name": "id", "direction": "asc"}],
        )


@pytest.fixture
def log(sg: shotgun.Shotgun) -> EventLog:
    log = EventLog(sg)
    log.mark()
    return log
