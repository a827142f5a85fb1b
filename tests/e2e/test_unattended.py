"""Left alone for months: site blips inside a handler's own requests, a handler that
hangs, handlers writing to what they handle (``evframe serve`` as a process, the
sandbox's faults endpoint, handlers of evframe-test-robust installed with pip)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from evframe.handler import Status
from evframe.state import State
from evframe.testing import install_distribution, wait_until
from support.e2e import (
    DAEMON_SCRIPT,
    E2E_DIR,
    SCRIPT,
    Daemon,
    Procs,
    SandboxProc,
    Writer,
    ids_by_handler,
    installed_version,
    read_records,
)

# What this suite tests does not depend on the executor (or hooks the inline one).
pytestmark = [pytest.mark.e2e, pytest.mark.inline_only]

ROBUST = E2E_DIR / "dists" / "evframe-test-robust"
HANDLERS = ("hang", "rec", "touch", "touch_own")


@pytest.fixture(scope="session")
def robust_dist(e2e_build_root: Path) -> None:
    version = install_distribution(ROBUST, build_root=str(e2e_build_root))
    assert installed_version("evframe-test-robust") == version


@pytest.fixture
def robust(procs: Procs, tmp_path: Path, sandbox: SandboxProc, robust_dist: None) -> Daemon:
    daemon = Daemon.in_dir(procs, tmp_path, sandbox.url, sandbox)
    daemon.handlers = HANDLERS
    daemon.daemon_options.update(group="evframe.e2e_robust", start="latest")
    return daemon


def records_of(daemon: Daemon, name: str) -> list[dict[str, Any]]:
    return [r for r in read_records(daemon.records) if r["handler"] == name]


def final_ids(daemon: Daemon, name: str) -> list[int]:
    return ids_by_handler(read_records(daemon.records)).get(name, [])


def begun(daemon: Daemon, name: str, event_id: int) -> int:
    return sum(
        1
        for r in records_of(daemon, name)
        if r["event_id"] == event_id and r.get("phase") == "begin"
    )


def status_change(writer: Writer, status: str) -> int:
    writer.sg.update("Task", writer.tasks[0]["id"], {"sg_status_list": status})
    return writer.last_event_id()


def caught_up(daemon: Daemon, writer: Writer) -> bool:
    """Every handler's committed cursor is at the newest event (writes by handlers too)."""
    last = writer.last_event_id()
    _read, rows = daemon.read_state()
    return bool(rows) and all(
        row.cursor >= last for row in rows.values() if row.status == Status.ACTIVE
    )


def test_site_trouble_in_a_handlers_own_request_does_not_pause_it(
    robust: Daemon, sandbox: SandboxProc, writer: Writer, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    robust.handler_options["touch"] = {"gate": str(gate)}
    config = robust.write_config(
        extra='[site]\ntimeout = 1.0\n\n[handlers.touch]\non_error = "skip"\n'
    )
    proc = robust.start_serving(config=config)
    # Each blip is set while `touch` waits at its gate, so it hits the handler's own
    # ctx.sg.update (the daemon's thread is in the handler: the poller is not reading).
    blips: list[tuple[str, dict[str, Any]]] = [
        ("dropped connection", {"drop_next": 2}),  # shotgun_api3 re-sends once by itself
        ("maintenance", {"maintenance": 2.0}),
        ("HTTP 500", {"error_next": 1, "error_kind": "http500"}),
        ("socket timeout", {"latency": 1.5}),
    ]
    statuses = iter(("rdy", "ip", "rev", "fin", "wtg"))
    handled: list[int] = []
    for what, fault in blips:
        event_id = status_change(writer, next(statuses))
        wait_until(lambda e=event_id: begun(robust, "touch", e) >= 1, 20, f"touch on {event_id}")
        sandbox.faults(**fault)
        (gate / str(event_id)).touch()
        proc.wait_log(rf"handler touch met site trouble on event {event_id}: ", timeout=20)
        if what == "socket timeout":
            sandbox.faults(latency=0)
        wait_until(
            lambda e=event_id: e in final_ids(robust, "touch"),
            30,
            f"touch to get through the {what} on event {event_id}",
            detail=proc.tail,
        )
        assert begun(robust, "touch", event_id) >= 2, what  # it ran again
        handled.append(event_id)

    # A Fault is the site refusing the request: the handler's own failure, by its policy.
    refused = status_change(writer, next(statuses))
    wait_until(lambda: begun(robust, "touch", refused) >= 1, 20, f"touch on {refused}")
    sandbox.faults(error_next=1, error_kind="exception")
    (gate / str(refused)).touch()
    proc.wait_log(rf"handler touch failed on event {refused}", timeout=20)

    wait_until(lambda: caught_up(robust, writer), 30, "the daemon to catch up", detail=proc.tail)
    assert proc.alive(), proc.tail()
    assert final_ids(robust, "touch") == handled  # each once; the refused one dead-lettered
    _read, rows = robust.read_state()
    assert {name: row.status for name, row in rows.items()} == dict.fromkeys(
        HANDLERS, Status.ACTIVE
    )
    with State.open(robust.state, robust.url, lock=False, create=False) as state:
        dead = state.dead_letters()
    assert [(d.handler, d.event_id) for d in dead] == [("touch", refused)]
    assert not proc.log_lines(r"paused handler group"), proc.tail()
    errors = proc.log_lines(r" (ERROR|CRITICAL) ")
    assert len(errors) == 1 and "touch failed on event" in errors[0], proc.tail()
    # Every event the artist caused reached `rec`, once.
    artist = [e["id"] for e in sandbox.events() if e["id"] > handled[0] - 1]
    rec = records_of(robust, "rec")
    assert {r["event_id"] for r in rec if r["user"] == SCRIPT[0]} >= {*handled, refused}
    assert len({r["event_id"] for r in rec}) == len(rec)
    assert set(artist) >= {r["event_id"] for r in rec}


def test_a_handler_stuck_forever_is_reported_and_does_not_keep_the_daemon_from_stopping(
    robust: Daemon, sandbox: SandboxProc, writer: Writer
) -> None:
    robust.daemon_options["stop_timeout"] = 2.0
    off = "[handlers.touch]\nenabled = false\n\n[handlers.touch_own]\nenabled = false\n"
    config = robust.write_config(extra=off + "\n[handlers.hang]\ntimeout = 1.0\n")
    proc = robust.start_serving(config=config)
    first = writer.last_event_id()
    writer.create_shot("sh010_hang")
    writer.steps(5)
    proc.wait_log(r"ERROR .*handler hang has run for \d+ s on event \d+, past its timeout", 20)
    report = proc.err()
    assert "in hang" in report and "_FOREVER.wait()" in report, proc.tail()
    stuck = next(r["event_id"] for r in records_of(robust, "hang") if r.get("phase") == "begin")

    started = time.monotonic()
    proc.signal(signal.SIGTERM)
    assert proc.wait_exit(15) == 0, proc.tail()
    assert time.monotonic() - started < 8
    assert proc.log_lines(rf"handler hang still runs on event {stuck} .*abandoning it")
    read, rows = robust.read_state()
    assert read is not None and read < stuck
    assert rows["rec"].cursor == stuck - 1  # what it had done before is kept

    # The operator disables the stuck handler: everything else arrives, nothing lost.
    config = robust.write_config(extra=off + "\n[handlers.hang]\nenabled = false\n")
    robust.run("--until-caught-up", config=config)
    everything = [e["id"] for e in sandbox.events() if e["id"] > first]
    assert final_ids(robust, "rec") == everything


def test_handlers_do_not_get_the_events_their_own_writes_caused_unless_they_opt_in(
    robust: Daemon, sandbox: SandboxProc, writer: Writer
) -> None:
    proc = robust.start_serving()
    changes = [status_change(writer, status) for status in ("rdy", "ip", "rev")]
    wait_until(lambda: caught_up(robust, writer), 30, "the daemon to catch up", detail=proc.tail)
    newest = writer.last_event_id()
    assert newest > changes[-1] + 3  # the handlers wrote

    # `touch` updates the task whose change it handles: once per outside change, no loop.
    assert final_ids(robust, "touch") == changes
    # `rec` gets what the artist did, not what the daemon's handlers wrote.
    rec = records_of(robust, "rec")
    assert [r["event_id"] for r in rec] == changes
    assert {r["user"] for r in rec} == {SCRIPT[0]}
    # `touch_own` opted in: it also gets its own script's writes (touch's and its own).
    own = records_of(robust, "touch_own")
    assert [r["event_id"] for r in own if r["user"] == SCRIPT[0]] == changes
    mine = [r for r in own if r["user"] == DAEMON_SCRIPT[0]]
    assert mine and all(r["field"] == "sg_description" for r in mine)
    assert proc.alive() and not proc.log_lines(r" (ERROR|CRITICAL) "), proc.tail()
    # Caught up with every event, the handlers' writes included: the loop is closed.
    assert writer.last_event_id() == newest
