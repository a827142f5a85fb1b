"""A refused key: an exit when the credentials never worked, a retry once they have."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from shotgun_api3.shotgun import AuthenticationFault

from evframe.daemon.credentials import CredentialsWatch
from evframe.errors import CredentialsError
from evframe.site import SiteGuard
from evframe.state import State


def refusing(times: int) -> Any:
    calls = []

    def call() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise AuthenticationFault("Authentication failed: bad script name or api key.")
        return "rows"

    return call


def guarded(watch: CredentialsWatch) -> SiteGuard:
    return SiteGuard(threading.Event(), base=0.001, cap=0.002, **watch.hooks())


def test_never_let_in_gives_up_at_the_first_refusal(tmp_path: Path) -> None:
    with State.open(tmp_path / "s.db", "https://site") as state:
        watch = CredentialsWatch("evframe")
        watch.attach(state)
        with pytest.raises(CredentialsError) as info:
            guarded(watch).call("reading the event log", refusing(1))
    assert info.value.exit_code == 7
    assert "never been let in with script 'evframe'" in str(info.value)


def test_once_let_in_a_refusal_is_retried_and_logged_at_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s.db"
    with State.open(path, "https://site") as state:
        watch = CredentialsWatch("evframe")
        watch.attach(state)
        assert guarded(watch).call("reading", refusing(0)) == "rows"
        state.commit()
    with State.open(path, "https://site") as state:
        assert state.authenticated("evframe") and not state.authenticated("other")
        watch = CredentialsWatch("evframe")
        watch.attach(state)
        with caplog.at_level(logging.INFO, logger="evframe.site"):
            assert guarded(watch).call("reading", refusing(3)) == "rows"
    refusals = [r for r in caplog.records if "refused the script credentials" in r.getMessage()]
    assert [r.levelno for r in refusals] == [logging.ERROR], "one line, at ERROR"
    assert "site reachable again" in caplog.text
