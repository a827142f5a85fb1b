"""Quiet data loss and leaks: an empty state file, a symlinked state file, secrets in
stored errors, where an integer ``start`` begins — each with ``evframe serve`` as a process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evframe.state import State
from evframe.testing import install_distribution
from support.e2e import (
    E2E_DIR,
    SCRIPT,
    Daemon,
    Procs,
    SandboxProc,
    Writer,
    expected_ids,
    ids_by_handler,
    read_records,
    wait_delivered,
)

# What this suite tests does not depend on the executor (or hooks the inline one).
pytestmark = [pytest.mark.e2e, pytest.mark.inline_only]

LEAKY_DIST = E2E_DIR / "dists" / "evframe-test-leaky"
LEAKY_GROUP = "evframe.e2e_leaky"


# -- an empty state file ----------------------------------------------------------------


def test_an_empty_state_file_exits_4_and_is_kept(offline_daemon: Daemon) -> None:
    # With start = "latest" a reset would skip every event since the lost cursor.
    offline_daemon.daemon_options["start"] = "latest"
    offline_daemon.state.touch()
    proc = offline_daemon.run(timeout=30)
    assert proc.popen.returncode == 4, proc.tail()
    err = proc.err()
    assert f"state file {offline_daemon.state} is empty (0 bytes)" in err
    assert "Traceback" not in err
    assert offline_daemon.state.stat().st_size == 0, "the state file must never be reset"


# -- a symlink to the state file ---------------------------------------------------------


def test_a_second_daemon_through_a_symlink_exits_5(
    daemon: Daemon, sandbox: SandboxProc, writer: Writer, tmp_path: Path
) -> None:
    first = daemon.start_serving()
    link = tmp_path / "elsewhere" / "link.db"
    link.parent.mkdir()
    link.symlink_to(daemon.state)
    daemon.daemon_options["state"] = str(link)
    second = daemon.start(config=daemon.write_config(tmp_path / "second.toml"), name="second")
    assert second.wait_exit(30) == 5, second.tail()
    err = second.err()
    assert f"state file {link} (the file {daemon.state}) is in use by another evframe" in err
    assert f"pid {first.pid}" in err

    # The first one serves on, alone: every event reaches its handlers once, from it.
    assert first.alive(), first.tail()
    writer.steps(5)
    wait_delivered(daemon.records, expected_ids(sandbox.events()), 20, first)
    records = read_records(daemon.records)
    assert {r["pid"] for r in records} == {first.pid}
    for name, ids in ids_by_handler(records).items():
        assert len(ids) == len(set(ids)), f"{name} got an event twice"


# -- secrets in stored errors ------------------------------------------------------------


@pytest.fixture(scope="module")
def leaky_dist(e2e_build_root: Path) -> None:
    install_distribution(LEAKY_DIST, build_root=str(e2e_build_root))


def test_stored_handler_errors_show_no_secret(
    procs: Procs,
    tmp_path: Path,
    sandbox: SandboxProc,
    writer: Writer,
    leaky_dist: None,
) -> None:
    key = SCRIPT[1]
    state = tmp_path / "state.db"
    config = tmp_path / "evframe.toml"
    config.write_text(
        "[daemon]\n"
        f"state = {json.dumps(str(state))}\n"
        f'group = "{LEAKY_GROUP}"\n'
        'start = "earliest"\n'
        "poll_interval = 0.1\n"
        "reload_interval = 0\n"
        '[handlers.leaky_skip]\non_error = "skip"\n'
        '[handlers.leaky_stop]\non_error = "stop"\n'
    )
    setup = Daemon.in_dir(procs, tmp_path, sandbox.url, sandbox)
    proc = setup.run("--until-caught-up", config=config)
    assert proc.popen.returncode == 0, proc.tail()
    proc.wait_log(r"handler leaky_stop failed on event", timeout=5)
    assert key not in proc.err()

    with State.open(state, sandbox.url, lock=False, create=False) as st:
        rows = st.handlers()
        letters = st.dead_letters()
    assert rows["leaky_stop"].status == "failed"
    assert rows["leaky_stop"].error is not None and "with key '***'" in rows["leaky_stop"].error
    assert [d.handler for d in letters] == ["leaky_skip"]
    assert "with key '***'" in letters[0].error
    # Nowhere in the file, whatever a tool reads from it.
    assert key.encode() not in state.read_bytes()

    for args in (["state"], ["state", "--json"], ["handlers"], ["handlers", "--json"]):
        out = setup.cli(*args)
        assert out.returncode == 0, out.stderr
        assert key not in out.stdout + out.stderr, args
        assert "***" in out.stdout, args


# -- an integer start --------------------------------------------------------------------


def test_an_integer_start_begins_after_that_event(
    daemon: Daemon, sandbox: SandboxProc, writer: Writer
) -> None:
    writer.steps(6)
    events = sandbox.events()
    start = events[len(events) // 2]["id"]
    proc = daemon.run("--start", str(start), "--until-caught-up")
    assert proc.popen.returncode == 0, proc.tail()
    assert proc.log_lines(rf"first run: starting after event {start}\b"), proc.tail()
    got = ids_by_handler(read_records(daemon.records))
    assert got["rec_all"] == [e["id"] for e in events if e["id"] > start]
    for name, ids in expected_ids(events, after=start).items():
        assert got.get(name, []) == ids, name
    assert min(got["flaky_after"]) == start + 1
