"""Fixtures: a started sandbox, a shotgun_api3 client on it, an event-log cursor."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from shotgun_api3 import shotgun

from evframe.sandbox import Faults, Sandbox
from support.sandbox import KEY, SCRIPT, EventLog, make_client


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


@pytest.fixture
def log(sg: shotgun.Shotgun) -> EventLog:
    log = EventLog(sg)
    log.mark()
    return log
