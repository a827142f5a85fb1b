"""``evframe serve`` against a sandbox process: normal running, shutdown, config errors."""

from __future__ import annotations

import signal

import pytest

from evframe.testing import wait_until
from support.e2e import (
    RECORDERS,
    Daemon,
    SandboxProc,
    Writer,
    expected_ids,
    ids_by_handler,
    in_id_order,
    read_records,
    wait_delivered,
)

pytestmark = pytest.mark.e2e


def test_every_event_is_delivered_exactly_once_in_order(
    daemon: Daemon, sandbox: SandboxProc, writer: Writer
) -> None:
    proc = daemon.start_serving()
    writer.steps(200)
    events = sandbox.events()
    want = expected_ids(events)
    assert len(want["rec_all"]) > 200 and len(want["rec_task_status"]) >= 150
    wait_delivered(daemon.records, want, 30, proc)

    records = read_records(daemon.records)
    got = ids_by_handler(records)
    for name in RECORDERS:
        # Exactly once each, in event order (per entity, with a concurrent executor).
        assert in_id_order(daemon, got[name], events) == want[name], name
    assert {r["pid"] for r in records} == {proc.pid}
    position = {(r["handler"], r["event_id"]): i for i, r in enumerate(records)}
    late = [i for i in want["rec_all"] if position[("rec_after", i)] < position[("rec_all", i)]]
    assert late == [], "rec_after ran before rec_all (which it requires) on these events"

    proc.signal(signal.SIGTERM)
    assert proc.wait_exit(10) == 0, proc.tail()
    assert proc.log_lines(r"stopped at event"), proc.tail()
    assert not proc.log_lines(r" (WARNING|ERROR|CRITICAL) "), proc.tail()
    read_cursor, handlers = daemon.read_state()
    last = events[-1]["id"]
    assert read_cursor == last
    for name in RECORDERS:
        assert handlers[name].status == "active"
        assert handlers[name].cursor == last, name


def test_sigterm_while_idle_exits_at_once(daemon: Daemon, writer: Writer) -> None:
    # Idle polls 120 s apart: a daemon that slept out its poll before seeing the signal
    # would take about that long, so a 10 s bound tells the two apart on any machine.
    daemon.daemon_options["poll_interval"] = 120
    daemon.daemon_options["active_poll_interval"] = 120
    proc = daemon.start_serving()
    proc.wait_log(r"caught up|serving", timeout=10)
    wait_until(
        lambda: daemon.records.exists(), 10, "the setup events to be recorded", detail=proc.tail
    )
    proc.signal(signal.SIGTERM)
    assert proc.wait_exit(10) == 0, proc.tail()
    assert proc.log_lines(r"stopped at event"), proc.tail()


def test_sigterm_finishes_the_event_in_hand(daemon: Daemon, writer: Writer) -> None:
    # start = latest: only the event written below reaches the slow handler.
    daemon.daemon_options["start"] = "latest"
    daemon.handler_options["rec_all"] = {"delay": 1.5}
    proc = daemon.start_serving()
    writer.step()
    event_id = writer.last_event_id()

    def begun() -> bool:
        return any(
            r.get("phase") == "begin" and r["event_id"] == event_id
            for r in read_records(daemon.records)
        )

    wait_until(begun, 15, "rec_all to begin the event", detail=proc.tail)
    proc.signal(signal.SIGTERM)
    assert proc.wait_exit(15) == 0, proc.tail()
    got = ids_by_handler(read_records(daemon.records))
    assert got["rec_all"] == [event_id]
    assert got["rec_after"] == [event_id], "the event in hand is finished by every handler"
    read_cursor, handlers = daemon.read_state()
    assert read_cursor == event_id
    assert handlers["rec_all"].cursor == event_id
    assert handlers["rec_after"].cursor == event_id


def test_second_signal_exits_at_once(daemon: Daemon, writer: Writer) -> None:
    daemon.daemon_options["start"] = "latest"
    daemon.handler_options["rec_all"] = {"delay": 120}
    proc = daemon.start_serving()
    writer.step()

    def begun() -> bool:
        return any(r.get("phase") == "begin" for r in read_records(daemon.records))

    wait_until(begun, 15, "rec_all to begin an event", detail=proc.tail)
    proc.signal(signal.SIGTERM)
    proc.wait_log(r"SIGTERM received", timeout=10)
    assert proc.alive(), "the first signal waits for the event in hand"
    proc.signal(signal.SIGINT)
    # The handler in hand sleeps 120 s, so exiting within 10 s means it was not waited for.
    code = proc.wait_exit(10)
    assert code == 128 + signal.SIGINT, proc.tail()
    assert "second signal" in proc.err()
    assert "rec_all" not in ids_by_handler(read_records(daemon.records)), "abandoned, not finished"


def test_config_error_exits_3_naming_the_key(offline_daemon: Daemon) -> None:
    offline_daemon.daemon_options["batch_sise"] = 50
    proc = offline_daemon.run(timeout=30)
    assert proc.popen.returncode == 3, proc.tail()
    err = proc.err()
    assert "daemon.batch_sise" in err
    assert "batch_size" in err.replace("daemon.batch_sise", "")  # the suggestion
    assert "Traceback" not in err
