"""Wrong credentials: a daemon that was never let in exits 7 with a clear message; one
that was (the state file remembers) takes a refusal for a rotated key, logs it at
ERROR, retries with backoff and loses nothing once the site lets it in again."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from evframe.testing import wait_until
from support.e2e import (
    DAEMON_SCRIPT,
    SCRIPT,
    Daemon,
    Procs,
    SandboxProc,
    Writer,
    expected_ids,
    read_records,
    wait_delivered,
)

# What this suite tests does not depend on the executor (or hooks the inline one).
pytestmark = [pytest.mark.e2e, pytest.mark.inline_only]

REFUSED = r"ERROR evframe\.site: .*the site refused the script credentials"


def test_credentials_that_never_worked_exit_7(daemon: Daemon) -> None:
    env = {"EVFRAME_API_KEY": "not-the-key"}
    proc = daemon.procs.start(
        "serve",
        [sys.executable, "-m", "evframe", "serve", "--config", str(daemon.write_config())],
        env={**daemon.env(), **env},
    )
    assert proc.wait_exit(30) == 7, proc.tail()
    err = proc.err()
    assert "evframe: error: the site refused the script credentials" in err
    assert f"never been let in with script {DAEMON_SCRIPT[0]!r}" in err
    assert "not-the-key" not in err, "the key is never shown"
    assert not read_records(daemon.records)


def restart_sandbox(procs: Procs, sandbox: SandboxProc, db: Path, key: str) -> None:
    """Stop the site and start it again on the same port and data, accepting ``key``
    for the daemon's script (the artists' script keeps its key)."""
    sandbox.proc.signal(signal.SIGTERM)
    sandbox.proc.wait_exit(15)
    port = sandbox.url.rsplit(":", 1)[1]
    args = [sys.executable, "-m", "evframe", "sandbox", "--port", port, "--db", str(db)]
    args += ["--script", f"{SCRIPT[0]}:{SCRIPT[1]}", "--script", f"{DAEMON_SCRIPT[0]}:{key}"]
    proc = procs.start("sandbox", args)
    wait_until(lambda: "listening on " in proc.out(), 20, "the sandbox to listen again")
    sandbox.proc = proc


def test_a_rotated_key_is_retried_and_logged_and_nothing_is_lost(
    daemon: Daemon, sandbox: SandboxProc, writer: Writer, procs: Procs, tmp_path: Path
) -> None:
    proc = daemon.start_serving()
    writer.steps(5)
    wait_delivered(daemon.records, expected_ids(sandbox.events()), 20, proc)

    # The key is rotated on the site: the daemon's key is refused from now on.
    writer.sg.close()
    restart_sandbox(procs, sandbox, tmp_path / "site.db", "rotated-key-7a2")
    proc.wait_log(REFUSED, timeout=30)
    rotated = Writer(sandbox.client(), writer.project, writer.shot, writer.tasks, writer.n)
    rotated.steps(6)  # artists keep working meanwhile
    seen = sandbox.faults()["requests_seen"]
    wait_until(
        lambda: sandbox.faults()["requests_seen"] >= seen + 3,
        30,
        "the daemon to keep retrying",
        detail=proc.tail,
    )
    assert proc.alive(), proc.tail()
    assert not proc.log_lines(r"CRITICAL"), proc.tail()

    # The operator puts the key back (or the daemon's config gets the new one).
    rotated.sg.close()
    restart_sandbox(procs, sandbox, tmp_path / "site.db", DAEMON_SCRIPT[1])
    proc.wait_log(r"site reachable again", timeout=60)
    wait_delivered(daemon.records, expected_ids(sandbox.events()), 30, proc)
    proc.signal(signal.SIGTERM)
    assert proc.wait_exit(15) == 0, proc.tail()


def test_a_daemon_that_was_let_in_before_retries_a_refused_key_at_start(
    daemon: Daemon, sandbox: SandboxProc, writer: Writer
) -> None:
    writer.steps(2)
    first = daemon.run("--until-caught-up")
    assert first.popen.returncode == 0, first.tail()
    proc = daemon.procs.start(
        "serve-wrong-key",
        [sys.executable, "-m", "evframe", "serve", "--config", str(daemon.write_config())],
        env={**daemon.env(), "EVFRAME_API_KEY": "an-old-key"},
    )
    proc.wait_log(REFUSED, timeout=30)
    seen = sandbox.faults()["requests_seen"]
    wait_until(lambda: sandbox.faults()["requests_seen"] >= seen + 2, 30, "more retries")
    assert proc.alive(), proc.tail()
    proc.signal(signal.SIGTERM)
    assert proc.wait_exit(15) == 0, proc.tail()
