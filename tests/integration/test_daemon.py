"""The daemon in-process against a sandbox on loopback: policies, gaps, operators, sessions.

The handlers are those of the ``evframe-test-daemon`` distribution, read from its source
and registered on a Processor handed to the daemon (they do what their config section
tells them); only the test about an upgrade installs the distribution.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evframe import Processor
from evframe.config import Config, DaemonConfig, HandlerConfig, SiteConfig
from evframe.daemon import Daemon
from evframe.handler import Status
from evframe.sandbox import Sandbox
from evframe.state import State, StateError
from evframe.testing import wait_until

SCRIPT, KEY = "daemon_test", "daemon-test-key"
# The writes a test makes come from another script: the handlers do not get the
# events their own script (the daemon's here) caused.
WRITER, WRITER_KEY = "artist_tool", "artist-tool-key"
GROUP = "evframe.test_daemon_handlers"
DIST = Path(__file__).resolve().parent.parent / "dists" / "evframe-test-daemon"


def _handlers_module() -> Any:
    path = DIST / "evframe_test_daemon" / "__init__.py"
    spec = importlib.util.spec_from_file_location("evframe_test_daemon_source", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HANDLERS = _handlers_module()


def daemon_for(config: Config, **options: Any) -> Daemon:
    """A daemon over the test handlers, registered directly (no install needed)."""
    processor = Processor(config=lambda name: config.handler(name).config)
    for name in ("d_record", "d_after", "d_other"):
        processor.register(getattr(HANDLERS, name), name)
    return Daemon(config, processor=processor, **options)


@pytest.fixture
def sandbox(test_dists: dict[str, str]) -> Iterator[Sandbox]:
    with Sandbox(scripts={SCRIPT: KEY, WRITER: WRITER_KEY}) as sb:
        yield sb


@pytest.fixture
def writer(sandbox: Sandbox) -> Iterator[Any]:
    sg = sandbox.client(WRITER)
    yield sg
    sg.close()


def make_config(
    sandbox: Sandbox, tmp_path: Path, handlers: dict[str, dict[str, Any]], **daemon: Any
) -> Config:
    out = str(tmp_path / "out.txt")
    hcfgs = {}
    for name in ("d_record", "d_after", "d_other"):
        options = dict(handlers.get(name, {}))
        policy = options.pop("on_error", None)
        extra = {k: options.pop(k) for k in list(options) if k.startswith(("retry_", "pass_"))}
        hcfgs[name] = HandlerConfig(name, on_error=policy, config={"out": out, **options}, **extra)
    settings = {
        "state": str(tmp_path / "state.db"),
        "group": GROUP,
        "start": "earliest",
        "poll_interval": 0.05,
        "active_poll_interval": 0.01,
        "reload_interval": 0,
        **daemon,
    }
    return Config(
        site=SiteConfig(url=sandbox.url, script_name=SCRIPT, api_key=KEY),
        daemon=DaemonConfig(**settings),
        handlers=hcfgs,
    )


def records(tmp_path: Path) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    path = tmp_path / "out.txt"
    if path.exists():
        for line in path.read_text().splitlines():
            name, event_id, _session = line.split()
            out.setdefault(name, []).append(int(event_id))
    return out


def event_ids(sg: Any) -> list[int]:
    rows = sg.find("EventLogEntry", [], ["id"], order=[{"field_name": "id", "direction": "asc"}])
    return [r["id"] for r in rows]


def make_shots(sg: Any, count: int) -> None:
    for i in range(count):
        sg.create("Shot", {"code": f"sh{i:03d}"})


@contextlib.contextmanager
def serving(daemon: Daemon) -> Iterator[threading.Thread]:
    """Run ``daemon`` in a thread; stop it and check it stopped on the way out."""
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        daemon.stop()
        thread.join(10)
    assert not thread.is_alive()


def catch_up(config: Config) -> Daemon:
    daemon = daemon_for(config, until_caught_up=True)
    daemon.run()
    return daemon


def test_every_event_reaches_every_handler_once_in_order(sandbox, writer, tmp_path):
    make_shots(writer, 5)
    catch_up(make_config(sandbox, tmp_path, {}))
    ids = event_ids(writer)
    got = records(tmp_path)
    assert got == {"d_record": ids, "d_after": ids, "d_other": ids}
    lines = (tmp_path / "out.txt").read_text().splitlines()
    for event_id in ids:  # the requirement ran first for every event
        assert lines.index(f"d_record {event_id} -") < lines.index(f"d_after {event_id} -")


def test_skip_records_dead_letters_and_carries_on(sandbox, writer, tmp_path):
    make_shots(writer, 3)
    ids = event_ids(writer)
    bad = ids[2]
    config = make_config(sandbox, tmp_path, {"d_record": {"on_error": "skip", "fail_on": [bad]}})
    catch_up(config)
    got = records(tmp_path)
    assert got["d_record"] == [i for i in ids if i != bad]
    assert got["d_after"] == [i for i in ids if i != bad]  # skipped: its requirement failed
    assert got["d_other"] == ids
    with State.open(config.daemon.state, sandbox.url, lock=False) as state:
        letters = {(d.handler, d.event_id): d for d in state.dead_letters()}
        assert set(letters) == {("d_record", bad), ("d_after", bad)}
        assert "told to fail on event" in letters["d_record", bad].error
        assert letters["d_record", bad].event["id"] == bad
        assert "requirement 'd_record' failed" in letters["d_after", bad].error
        assert {h.status for h in state.handlers().values()} == {Status.ACTIVE}


def test_retry_calls_again_then_succeeds(sandbox, writer, tmp_path, caplog):
    make_shots(writer, 2)
    ids = event_ids(writer)
    config = make_config(
        sandbox,
        tmp_path,
        {
            "d_record": {
                "on_error": "retry",
                "retry_attempts": 3,
                "retry_backoff": 0.01,
                "fail_on": [ids[1]],
                "fail_times": 2,
            }
        },
    )
    with caplog.at_level(logging.WARNING, logger="evframe"):
        catch_up(config)
    assert records(tmp_path)["d_record"] == ids
    retries = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) == 2
    assert "attempt 1 of 3" in retries[0].getMessage()


def test_retry_exhausted_falls_back_to_stop(sandbox, writer, tmp_path):
    make_shots(writer, 2)
    ids = event_ids(writer)
    config = make_config(
        sandbox,
        tmp_path,
        {
            "d_record": {
                "on_error": "retry",
                "retry_attempts": 2,
                "retry_backoff": 0.01,
                "fail_on": [ids[1]],
            }
        },
    )
    catch_up(config)
    with State.open(config.daemon.state, sandbox.url, lock=False) as state:
        handlers = state.handlers()
    assert handlers["d_record"].status == Status.FAILED
    assert handlers["d_record"].cursor == ids[1] - 1


def test_stop_pauses_the_group_and_resume_catches_up(sandbox, writer, tmp_path):
    make_shots(writer, 3)
    ids = event_ids(writer)
    bad = ids[4]
    failing = make_config(sandbox, tmp_path, {"d_record": {"fail_on": [bad]}})
    catch_up(failing)
    got = records(tmp_path)
    assert got["d_other"] == ids  # unrelated handlers carry on
    assert got["d_record"] == ids[:4]
    assert got["d_after"] == ids[:4]
    with State.open(failing.daemon.state, sandbox.url, lock=False) as state:
        rows = state.handlers()
        assert rows["d_record"].status == Status.FAILED
        assert rows["d_record"].failed_event_id == bad
        assert "told to fail" in (rows["d_record"].error or "")
        assert rows["d_after"].status == Status.FAILED
        assert "linked handler 'd_record'" in (rows["d_after"].error or "")
        assert rows["d_other"].cursor == ids[-1]
        # An operator resumes one member: the daemon resumes the whole group.
        state.set_status("d_record", Status.ACTIVE)
        state.commit()

    before = ids[-1]
    make_shots(writer, 1)  # new events arrive meanwhile
    ids = event_ids(writer)
    (tmp_path / "out.txt").unlink()
    catch_up(make_config(sandbox, tmp_path, {}))
    got = records(tmp_path)
    # The group re-runs from the failing event, in order; the others only see what is new.
    assert got["d_record"] == [i for i in ids if i >= bad]
    assert got["d_after"] == [i for i in ids if i >= bad]
    assert got["d_other"] == [i for i in ids if i > before]


def test_operator_resume_reaches_a_running_daemon(sandbox, writer, tmp_path):
    make_shots(writer, 2)
    ids = event_ids(writer)
    config = make_config(sandbox, tmp_path, {"d_record": {"fail_on": [ids[0]], "fail_times": 1}})
    with serving(daemon_for(config)):
        wait_until(lambda: records(tmp_path).get("d_other") == ids, what="d_other to record all")
        assert "d_record" not in records(tmp_path)
        with State.open(config.daemon.state, sandbox.url, lock=False) as state:
            assert state.handlers()["d_record"].status == Status.FAILED
            state.set_status("d_after", Status.ACTIVE)  # resuming any member resumes the group
            state.commit()
        wait_until(lambda: records(tmp_path).get("d_after") == ids, what="the group to resume")
        assert records(tmp_path)["d_record"] == ids


def test_late_visible_events_are_delivered_once(sandbox, writer, tmp_path):
    make_shots(writer, 1)
    config = make_config(sandbox, tmp_path, {}, gap_timeout=60)
    daemon = daemon_for(config)
    with serving(daemon):
        wait_until(
            lambda: records(tmp_path).get("d_other") == event_ids(writer),
            what="d_other to record every event",
        )
        sandbox.faults.hide_next_events(2, seconds=30)
        make_shots(writer, 2)  # the first two of these rows stay hidden for now
        visible = event_ids(writer)
        wait_until(lambda: records(tmp_path).get("d_other") == visible, what="the visible ids")
        wait_until(lambda: len(daemon.gaps) == 2, what="two pending ids")
        sandbox.faults.advance(31)
        every = event_ids(writer)
        assert len(every) == len(visible) + 2
        wait_until(lambda: sorted(records(tmp_path)["d_other"]) == every, what="the late ids")
        wait_until(lambda: not len(daemon.gaps), what="no pending ids left")
    got = records(tmp_path)
    for name in ("d_record", "d_after", "d_other"):
        assert sorted(got[name]) == every, name
    with State.open(config.daemon.state, sandbox.url, lock=False) as state:
        assert state.pending() == {}


def test_pass_session_uuid_gives_handlers_the_events_session(sandbox, tmp_path):
    sg = sandbox.client(WRITER)
    sg.set_session_uuid("0c5e1a2b-1111-2222-3333-444455556666")
    sg.create("Shot", {"code": "with_session"})
    sg.close()
    config = make_config(
        sandbox,
        tmp_path,
        {
            "d_record": {"show_session": True, "pass_session_uuid": True},
            "d_other": {"show_session": True},
        },
    )
    catch_up(config)
    lines = (tmp_path / "out.txt").read_text().splitlines()
    assert any(line.startswith("d_record") and "0c5e1a2b" in line for line in lines)
    assert all("0c5e1a2b" not in line for line in lines if line.startswith("d_other"))


def test_site_down_at_start_is_waited_out(tmp_path, caplog):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = Config(
        site=SiteConfig(url=f"http://127.0.0.1:{port}", script_name=SCRIPT, api_key=KEY),
        daemon=DaemonConfig(state=str(tmp_path / "state.db"), group=GROUP),
    )
    daemon = daemon_for(config)
    with caplog.at_level(logging.WARNING, logger="evframe"), serving(daemon) as thread:
        wait_until(lambda: daemon.source.guard.failures >= 3, what="three failed attempts")
        assert thread.is_alive()
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and "retrying" in r.getMessage()
    ]
    assert len(warnings) == 1  # once per change of state, not once per attempt


def test_state_of_another_site_is_refused(sandbox, tmp_path):
    config = make_config(sandbox, tmp_path, {})
    catch_up(config)
    other = dataclasses.replace(
        config, site=dataclasses.replace(config.site, url="http://127.0.0.1:9")
    )
    with pytest.raises(StateError, match="belongs to site"):
        daemon_for(other).run()


@pytest.fixture
def broken_upgrade(tmp_path: Path, test_dists: dict[str, str]) -> Iterator[Path]:
    """A 1.1 of evframe-test-daemon whose d_after requires a handler nobody has."""
    import shutil

    from evframe.testing import install_distribution

    source = DIST
    copy = tmp_path / "evframe-test-daemon-1.1"
    shutil.copytree(source, copy)
    cfg = copy / "setup.cfg"
    cfg.write_text(cfg.read_text().replace("version = 1.0", "version = 1.1"))
    module = copy / "evframe_test_daemon" / "__init__.py"
    module.write_text(module.read_text().replace('@requires("d_record")', '@requires("d_gone")'))
    yield copy
    install_distribution(source, force=True)


def test_a_broken_upgrade_quarantines_its_handler_and_the_others_run_on(
    sandbox, writer, tmp_path, broken_upgrade, caplog
):
    from evframe.testing import install_distribution

    make_shots(writer, 1)
    config = make_config(sandbox, tmp_path, {}, reload_interval=0.05)
    daemon = Daemon(config)
    with caplog.at_level(logging.INFO, logger="evframe"), serving(daemon) as thread:
        wait_until(
            lambda: records(tmp_path).get("d_after") == event_ids(writer),
            what="d_after to record every event",
        )
        install_distribution(broken_upgrade)
        # Accepted, not refused: the restart sets d_after aside and runs the others.
        thread.join(20)
        assert not thread.is_alive()
    assert "new handler set is valid: 2 handler(s), quarantined d_after" in caplog.text
    assert "new handler set refused" not in caplog.text
    # What the restarted process does with it (a fresh interpreter imports the new
    # code, which this one cannot) is tested end to end in tests/e2e/test_quarantine.py.
