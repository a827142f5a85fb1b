"""Concurrent executors end to end: ``evframe serve`` with executor = "threads" and
"processes" against the sandbox, the parallel test handlers installed with pip."""

from __future__ import annotations

from pathlib import Path

import pytest

from evframe.state import State
from support.e2e import Procs, SandboxProc, read_records
from support.parallel import (
    events_on,
    final,
    ids_of,
    order_violations,
    serve,
    write_config,
)

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_every_event_once_and_each_entity_in_order(
    executor: str, procs: Procs, sandbox: SandboxProc, tmp_path: Path, parallel_dist: None
) -> None:
    ids = events_on(sandbox, shots=6, rounds=4)
    out = tmp_path / "records.jsonl"
    config = write_config(
        tmp_path,
        out=out,
        daemon={"executor": executor, "workers": 3},
        options={name: {"delay": 0.01} for name in ("par_first", "par_second", "par_global")},
    )
    proc = serve(procs, config, sandbox.url, "--until-caught-up")
    assert proc.wait_exit(120) == 0, proc.tail()
    records = read_records(out)
    for name in ("par_first", "par_second", "par_global", "par_trouble"):
        assert ids_of(out, name) == ids, name
    assert order_violations(records) == 0
    glob = [r for r in records if r["handler"] == "par_global"]
    assert order_violations(glob, by="global") == 0
    if executor == "processes":  # the chains ran outside the daemon, in several workers
        pids = {r["pid"] for r in final(records)}
        assert proc.pid not in pids and len(pids) > 1
    with State.open(tmp_path / "state.db", sandbox.url, lock=False, create=False) as state:
        assert {r.cursor for r in state.handlers().values()} == {ids[-1]}
        assert state.done() == {}


def test_a_crashing_or_hung_handler_cannot_take_the_daemon_down(
    procs: Procs, sandbox: SandboxProc, tmp_path: Path, parallel_dist: None
) -> None:
    ids = events_on(sandbox, shots=4, rounds=2)
    crash, hang = ids[3], ids[6]
    out = tmp_path / "records.jsonl"
    config = write_config(
        tmp_path,
        out=out,
        daemon={"executor": "processes", "workers": 2},
        handlers={"par_trouble": {"on_error": "skip", "timeout": 2}},
        options={"par_trouble": {"crash_on": [crash], "hang_on": [hang]}},
    )
    proc = serve(procs, config, sandbox.url, "--until-caught-up")
    assert proc.wait_exit(120) == 0, proc.tail()
    assert ids_of(out, "par_first") == ids
    assert ids_of(out, "par_trouble") == [i for i in ids if i not in (crash, hang)]
    assert proc.log_lines(r"handler par_trouble: the worker process died \(exit status 3\)")
    assert proc.log_lines(r"handler par_trouble: killed: ran past its deadline of 2 s")
    with State.open(tmp_path / "state.db", sandbox.url, lock=False, create=False) as state:
        letters = {(d.handler, d.event_id) for d in state.dead_letters()}
        assert letters == {("par_trouble", crash), ("par_trouble", hang)}
        assert {r.cursor for r in state.handlers().values()} == {ids[-1]}
