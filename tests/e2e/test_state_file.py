"""The state file: refused when unusable or held by another daemon, never reset."""

from __future__ import annotations

import pytest

from evframe.state import State
from evframe.testing import wait_until
from support.e2e import Daemon, Writer, ids_by_handler, read_records

pytestmark = pytest.mark.e2e


def test_corrupt_state_file_exits_4_naming_it(offline_daemon: Daemon) -> None:
    garbage = b"evframe e2e: not an SQLite database\x00\xff\xfe" * 200
    offline_daemon.state.write_bytes(garbage)
    proc = offline_daemon.run(timeout=30)
    assert proc.popen.returncode == 4, proc.tail()
    err = proc.err()
    assert str(offline_daemon.state) in err
    assert "Traceback" not in err
    assert offline_daemon.state.read_bytes() == garbage, "the state file must never be reset"


def test_state_file_of_another_site_exits_4(offline_daemon: Daemon) -> None:
    other = "http://other-site.example:8080"
    with State.open(offline_daemon.state, other) as state:
        state.set_read_cursor(1234)
    proc = offline_daemon.run(timeout=30)
    assert proc.popen.returncode == 4, proc.tail()
    err = proc.err()
    assert str(offline_daemon.state) in err
    assert other in err
    assert "Traceback" not in err
    with State.open(offline_daemon.state, other, lock=False, create=False) as state:
        assert state.read_cursor == 1234


def test_second_daemon_on_one_state_file_exits_5(daemon: Daemon, writer: Writer) -> None:
    first = daemon.start_serving()
    second = daemon.start(name="second")
    assert second.wait_exit(30) == 5, second.tail()
    err = second.err()
    assert "another evframe daemon" in err
    assert str(daemon.state) in err
    assert f"pid {first.pid}" in err

    # The first one keeps serving.
    assert first.alive(), first.tail()
    writer.step()
    last = writer.last_event_id()
    wait_until(
        lambda: last in ids_by_handler(read_records(daemon.records)).get("rec_all", []),
        15,
        f"the first daemon to record event {last}",
        detail=first.tail,
    )
    assert {r["pid"] for r in read_records(daemon.records)} == {first.pid}
