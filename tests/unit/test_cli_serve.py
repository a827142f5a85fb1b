"""``evframe serve`` around the daemon: restarting in place on a new handler set.

The daemon is replaced by a stub and ``os.execv`` by a recorder; the e2e tests
(tests/e2e/test_reload.py) do it for real.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from evframe._logsetup import reset_logging
from evframe.cli import main, serve
from evframe.daemon import RunResult
from evframe.state import StateLockedError


class Exec(Exception):
    """Raised instead of replacing the process."""


class StubDaemon:
    made: list[StubDaemon] = []
    result = RunResult.STOPPED
    stop_while_running = False
    raises: Exception | None = None

    def __init__(self, config: Any, **kwargs: Any) -> None:
        self.config = config
        self.kwargs = kwargs
        self.stopping = False
        StubDaemon.made.append(self)

    def run(self) -> RunResult:
        if self.raises is not None:
            raise self.raises
        if self.stop_while_running:
            self.stopping = True
        return self.result


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``run(*args)``: ``evframe serve`` with the stub daemon; exec calls in ``run.execs``."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("EVFRAME_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("EVFRAME_SITE_URL", "https://site.example.com")
    monkeypatch.setenv("EVFRAME_SCRIPT_NAME", "evframe")
    monkeypatch.setenv("EVFRAME_API_KEY", "an-api-key-0123456789")
    monkeypatch.setattr(serve, "Daemon", StubDaemon)
    StubDaemon.made = []
    execs: list[tuple[str, list[str]]] = []

    def execv(path: str, argv: list[str]) -> None:
        execs.append((path, argv))
        raise Exec()

    monkeypatch.setattr(os, "execv", execv)

    def invoke(*args: str) -> Any:
        return CliRunner().invoke(main, ["serve", *args])

    invoke.execs = execs  # type: ignore[attr-defined]
    yield invoke
    reset_logging()


def test_reload_restarts_in_place_with_the_same_arguments(
    run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(StubDaemon, "result", RunResult.RELOAD)
    result = run("--state", "s.db", "--once")
    assert isinstance(result.exception, Exec), result.output
    assert run.execs == [
        (sys.executable, [sys.executable, "-m", "evframe", "serve", "--state", "s.db", "--once"])
    ]
    assert os.environ.pop(serve.RESTARTED_ENV) == "1"
    assert StubDaemon.made[0].kwargs["restarted"] is False


def test_the_restarted_process_tells_the_daemon_and_forgets_the_variable(
    run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(serve.RESTARTED_ENV, "1")
    result = run()
    assert result.exit_code == 0, result.output
    assert StubDaemon.made[0].kwargs["restarted"] is True
    assert serve.RESTARTED_ENV not in os.environ
    assert run.execs == []


@pytest.mark.parametrize("result", [RunResult.STOPPED, RunResult.FINISHED])
def test_stopped_or_finished_exits_0(
    run: Any, monkeypatch: pytest.MonkeyPatch, result: RunResult
) -> None:
    monkeypatch.setattr(StubDaemon, "result", result)
    assert run().exit_code == 0
    assert run.execs == []


def test_a_stop_during_the_reload_wins(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(StubDaemon, "result", RunResult.RELOAD)
    monkeypatch.setattr(StubDaemon, "stop_while_running", True)
    result = run()
    assert result.exit_code == 0, result.output
    assert run.execs == []


def test_state_and_start_reach_the_daemon(run: Any, tmp_path: Path) -> None:
    assert run("--state", "s.db", "--start", "42").exit_code == 0
    daemon = StubDaemon.made[0].config.daemon
    assert (daemon.state, daemon.start) == (str(tmp_path / "s.db"), 42)


def test_an_evframe_error_exits_with_its_code(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    error = StateLockedError("state file s.db is in use by another daemon")
    monkeypatch.setattr(StubDaemon, "raises", error)
    result = run()
    assert result.exit_code == 5
    assert "evframe: error: state file s.db is in use" in result.stderr


def test_a_crash_exits_1_with_the_secret_redacted(
    run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVFRAME_API_KEY", "s3cret-key-0123456789")

    monkeypatch.setattr(StubDaemon, "raises", RuntimeError("boom with s3cret-key-0123456789"))
    result = run()
    assert result.exit_code == 1
    assert "daemon crashed" in result.stderr
    assert "s3cret-key-0123456789" not in result.output
