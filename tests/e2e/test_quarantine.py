"""One team's broken package (a missing requirement, a cycle) installed next to good ones
at start: exactly the unsafe handlers are quarantined and reported, everything else runs,
and the quarantined ones catch up by themselves, losing nothing, once the fix is installed."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from evframe.testing import install_distribution
from support.e2e import (
    E2E_DIR,
    RECORDERS,
    Daemon,
    SandboxProc,
    Writer,
    expected_ids,
    ids_by_handler,
    pip,
    read_records,
    wait_delivered,
)

# What this suite tests does not depend on the executor (or hooks the inline one).
pytestmark = [pytest.mark.e2e, pytest.mark.inline_only]

DISTS = E2E_DIR / "dists"
TEAM_A = DISTS / "evframe-test-teama"
TEAM_B_1 = DISTS / "evframe-test-teamb-1.0"
TEAM_B_2 = DISTS / "evframe-test-teamb-2.0"
HELD = ("b_dependent", "b_needy", "b_ping", "b_pong")
B_RECORDING = ("b_fine", *HELD)


@pytest.fixture
def teams(e2e_dists: None, e2e_build_root: Path) -> Iterator[None]:
    """Team A's good package and team B's broken 1.0 installed; both removed afterwards."""
    for source in (TEAM_A, TEAM_B_1):
        install_distribution(source, force=True, build_root=str(e2e_build_root))
    try:
        yield
    finally:
        pip("uninstall", "-y", "evframe-test-teama", "evframe-test-teamb")


def test_a_broken_package_quarantines_only_its_unsafe_handlers_until_fixed(
    teams: None,
    daemon: Daemon,
    sandbox: SandboxProc,
    writer: Writer,
    e2e_build_root: Path,
) -> None:
    daemon.daemon_options.update(group="evframe.e2e_quarantine", reload_interval=0.3)
    daemon.handlers = (*RECORDERS, *B_RECORDING)
    proc = daemon.start_serving()
    (serving,) = proc.log_lines(r"evframe\.daemon: serving ")
    assert serving.endswith("; quarantined: b_dependent, b_needy, b_ping, b_pong"), serving
    needy = proc.log_lines(r"ERROR evframe\.daemon: quarantined handler\(s\) b_needy, b_dependent:")
    assert len(needy) == 1 and "@requires 'b_helper', which is not installed" in needy[0]
    cycle = proc.log_lines(r"ERROR evframe\.daemon: quarantined handler\(s\) b_ping, b_pong:")
    assert len(cycle) == 1 and "form an ordering cycle" in cycle[0]

    writer.steps(10)
    events = sandbox.events()
    every = [e["id"] for e in events]
    wait_delivered(daemon.records, {**expected_ids(events), "b_fine": every}, 20, proc)
    assert not set(HELD) & set(ids_by_handler(read_records(daemon.records)))

    # The operator tools say so.
    listed = json.loads(daemon.cli("handlers", "--json").stdout)["handlers"]
    status = {h["name"]: h["status"] for h in listed}
    assert {name: status[name] for name in HELD} == dict.fromkeys(HELD, "quarantined")
    assert status["b_fine"] == status["rec_all"] == "active"
    state = daemon.cli("state")
    assert state.returncode == 0, state.stderr
    assert "Quarantined handlers" in state.stdout and "b_ping: handlers b_ping" in state.stdout
    rows = {h["name"]: h for h in json.loads(daemon.cli("state", "--json").stdout)["handlers"]}
    assert rows["b_needy"]["status"] == "quarantined" and rows["b_needy"]["cursor"] == 0
    check = daemon.cli("check")
    assert check.returncode == 6, check.stdout
    assert "Quarantined (serve sets these aside and runs the others):" in check.stdout

    # Team B installs the fix: the daemon reloads by itself and the held handlers catch up.
    install_distribution(TEAM_B_2, force=True, build_root=str(e2e_build_root))
    proc.wait_log(r"handler set reloaded", timeout=30)
    proc.wait_log(r"handler b_needy is no longer quarantined: it catches up from event 1")
    writer.steps(5)
    events = sandbox.events()
    every = [e["id"] for e in events]
    want = {**expected_ids(events), **dict.fromkeys(B_RECORDING, every)}
    wait_delivered(daemon.records, want, 30, proc, "the quarantined handlers to catch up")
    got = ids_by_handler(read_records(daemon.records))
    for name in B_RECORDING:
        assert got[name] == every, f"{name}: every event once, in order"
    _, rows_after = daemon.read_state()
    assert all(row.quarantined is None for row in rows_after.values())
    proc.signal(signal.SIGTERM)
    assert proc.wait_exit(15) == 0, proc.tail()
