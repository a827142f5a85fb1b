"""A handler package installed with ``pip install -e`` and edited while ``evframe serve``
runs it: the daemon notices the edit (by itself, or on SIGHUP), restarts in place onto
the new code, and a group the old code paused resumes and catches up, losing nothing."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.e2e import (
    E2E_DIR,
    Daemon,
    SandboxProc,
    Writer,
    ids_by_handler,
    pip,
    read_records,
    wait_delivered,
)

# What this suite tests does not depend on the executor (or hooks the inline one).
pytestmark = [pytest.mark.e2e, pytest.mark.inline_only]

SOURCE = E2E_DIR / "dists" / "evframe-test-editable"
NAMES = ("edited", "edited_after")


@pytest.fixture
def editable(tmp_path: Path) -> Iterator[Path]:
    """evframe-test-editable installed in editable mode from a copy; its handler module."""
    work = tmp_path / "editable-src"
    shutil.copytree(SOURCE, work)
    pip("install", "--no-deps", "--no-build-isolation", "--no-index", "-e", str(work))
    try:
        yield work / "evframe_test_editable" / "handlers.py"
    finally:
        pip("uninstall", "-y", "evframe-test-editable")


@pytest.mark.parametrize("reload", ["polling", "sighup"])
def test_an_edited_editable_install_is_reloaded_and_its_paused_group_resumes(
    reload: str, daemon: Daemon, sandbox: SandboxProc, writer: Writer, editable: Path
) -> None:
    daemon.daemon_options["group"] = "evframe.e2e_editable"
    daemon.daemon_options["reload_interval"] = 0.3 if reload == "polling" else 0
    daemon.handlers = NAMES
    proc = daemon.start_serving()
    writer.steps(4)
    writer.create_shot("sh020_boom")
    proc.wait_log(r"paused handler group edited, edited_after at event \d+", timeout=20)
    writer.steps(4)

    # The fix, edited in place: nothing is reinstalled, only the file changes.
    code = editable.read_text()
    editable.write_text(
        code.replace('VERSION = "1"', 'VERSION = "2"').replace("FIX = False", "FIX = True")
    )
    if reload == "sighup":
        proc.signal(signal.SIGHUP)
    proc.wait_log(r"handler set reloaded: 2 handler\(s\)", timeout=30)
    proc.wait_log(r"handler edited changed since it failed: resuming its group")
    writer.create_shot("sh030")
    events = sandbox.events()
    every = [e["id"] for e in events]
    shots = [e["id"] for e in events if e["event_type"].startswith("Shotgun_Shot_")]
    wait_delivered(daemon.records, {"edited_after": every, "edited": shots}, 30, proc)
    records = read_records(daemon.records)
    got = ids_by_handler(records)
    assert got["edited_after"] == every, "every event once, in order, across the edit"
    assert got["edited"] == shots
    boom = next(e["id"] for e in events if "boom" in ((e.get("entity") or {}).get("name") or ""))
    versions = {r["event_id"]: r["version"] for r in records if r["handler"] == "edited_after"}
    assert {versions[i] for i in every if i < boom} == {"1"}
    assert {versions[i] for i in every if i >= boom} == {"2"}
    assert {r["pid"] for r in records} == {proc.pid}, "restarted in place"
    proc.signal(signal.SIGTERM)
    assert proc.wait_exit(15) == 0, proc.tail()
