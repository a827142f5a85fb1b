"""``executor = "celery"`` end to end: a Redis server, ``evframe worker`` processes and
``evframe serve``, all started here on loopback; workers killed, the broker stopped."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import pytest

from evframe.state import State
from evframe.testing import wait_until
from support.celery import start_redis, start_worker
from support.e2e import Procs, SandboxProc, read_records
from support.parallel import (
    cursors,
    events_on,
    final,
    ids_of,
    order_violations,
    serve,
    write_config,
    write_events,
)

pytestmark = pytest.mark.e2e
HANDLERS = ("par_first", "par_second", "par_global", "par_trouble")


def all_done(out: Path, ids: list[int]) -> bool:
    return all(set(ids) <= set(ids_of(out, name)) for name in HANDLERS)


def test_chains_run_on_workers_in_order_and_nothing_is_lost(
    procs: Procs, sandbox: SandboxProc, tmp_path: Path, parallel_dist: None
) -> None:
    ids = events_on(sandbox, shots=6, rounds=3)
    redis = start_redis(procs, tmp_path)
    out = tmp_path / "records.jsonl"
    config = write_config(
        tmp_path,
        out=out,
        daemon={"executor": "celery", "workers": 4, "broker": redis.url},
        options={name: {"delay": 0.01} for name in HANDLERS},
    )
    workers = [start_worker(procs, config, sandbox.url, f"w{i}") for i in range(2)]
    proc = serve(procs, config, sandbox.url, "--until-caught-up")
    assert proc.wait_exit(120) == 0, proc.tail()
    records = read_records(out)
    for name in HANDLERS:
        assert ids_of(out, name) == ids, name
    assert order_violations(records) == 0
    assert order_violations([r for r in records if r["handler"] == "par_global"], by="global") == 0
    assert {r["pid"] for r in final(records)} <= {w.pid for w in workers}
    assert cursors(tmp_path, sandbox.url) == {ids[-1]}


@pytest.mark.slow
def test_a_worker_killed_while_it_runs_a_handler_loses_nothing(
    procs: Procs, sandbox: SandboxProc, tmp_path: Path, parallel_dist: None
) -> None:
    ids = events_on(sandbox, shots=4, rounds=2)
    victim_event = ids[5]
    redis = start_redis(procs, tmp_path)
    out = tmp_path / "records.jsonl"
    config = write_config(
        tmp_path,
        out=out,
        daemon={"executor": "celery", "workers": 2, "broker": redis.url, "chain_timeout": 5},
        options={"par_trouble": {"kill_on": [victim_event], "kill_delay": 60}},
    )
    started = [start_worker(procs, config, sandbox.url, f"w{i}") for i in (1, 2)]
    workers = {w.pid: w for w in started}
    proc = serve(procs, config, sandbox.url, "--until-caught-up")

    def busy_worker() -> int | None:
        for rec in read_records(out):
            if rec.get("phase") == "begin" and rec["event_id"] == victim_event:
                return int(rec["pid"])
        return None

    pid = wait_until(busy_worker, 60, f"a worker to start on event {victim_event}")
    workers[pid].signal(signal.SIGKILL)  # while par_trouble runs on the event
    assert proc.wait_exit(120) == 0, proc.tail()
    assert all_done(out, ids), {name: ids_of(out, name) for name in HANDLERS}
    done_by = {
        r["pid"]
        for r in final(read_records(out))
        if r["event_id"] == victim_event and r["handler"] == "par_trouble"
    }
    assert done_by and pid not in done_by  # the other worker completed it
    assert proc.log_lines(rf"event {victim_event} was in flight for more than 5 s")


@pytest.mark.slow
def test_a_broker_outage_of_20_seconds_loses_nothing(
    procs: Procs, sandbox: SandboxProc, tmp_path: Path, parallel_dist: None
) -> None:
    sg = sandbox.client()
    before = write_events(sg, shots=3, rounds=1)
    redis = start_redis(procs, tmp_path)
    out = tmp_path / "records.jsonl"
    config = write_config(
        tmp_path,
        out=out,
        daemon={"executor": "celery", "workers": 2, "broker": redis.url, "chain_timeout": 10},
    )
    for i in (1, 2):
        start_worker(procs, config, sandbox.url, f"w{i}")
    proc = serve(procs, config, sandbox.url)
    wait_until(lambda: all_done(out, before), 60, "the first events", detail=proc.tail)
    redis.stop()
    # Artists keep working while the broker is away: these events wait for it.
    shot = sg.find_one("Shot", [])
    assert shot is not None
    for n in range(10):
        sg.update("Shot", shot["id"], {"description": f"during the outage {n}"})
    # The outage itself lasts 20 s (what is tested is that the daemon waits it out).
    threading.Event().wait(20)
    assert proc.alive(), proc.tail()
    redis.start()
    rows = sg.find("EventLogEntry", [], ["id"], order=[{"field_name": "id", "direction": "asc"}])
    every = [int(r["id"]) for r in rows]
    sg.close()
    wait_until(lambda: all_done(out, every), 120, "every event after the outage", detail=proc.tail)
    proc.signal(signal.SIGTERM)
    assert proc.wait_exit(60) == 0, proc.tail()
    assert proc.log_lines(r"celery executor: .*retrying until the broker answers")
    with State.open(tmp_path / "state.db", sandbox.url, lock=False, create=False) as state:
        assert {r.cursor for r in state.handlers().values()} == {every[-1]}


def test_a_worker_refuses_a_chain_for_other_handler_versions(
    procs: Procs, sandbox: SandboxProc, tmp_path: Path, parallel_dist: None
) -> None:
    from evframe.config import load_config
    from evframe.daemon.celeryworker import WorkerRuntime
    from evframe.daemon.jobs import make_job
    from evframe.daemon.remote import redis_client, refusal

    redis = start_redis(procs, tmp_path)
    out = tmp_path / "records.jsonl"
    path = write_config(tmp_path, out=out, daemon={"executor": "celery", "broker": redis.url})
    runtime = WorkerRuntime(load_config(path), sandbox.url)
    assert runtime.versions["par_first"] == "evframe-test-parallel 1.0"
    record = {"id": 7, "event_type": "Shotgun_Shot_Change", "entity": {"type": "Shot", "id": 1}}
    job = make_job(
        1, record, ["par_first"], ["Shot:1"], {}, {"par_first": "evframe-test-parallel 0.9"}
    )
    job["reply"] = "evframe:replies:test"
    runtime.run(job)
    reply = json.loads(redis_client(redis.url).lpop("evframe:replies:test"))
    assert reply == {
        "seq": 1,
        "refused": "handler versions differ from the daemon's: par_first: daemon runs "
        "evframe-test-parallel 0.9, this worker has evframe-test-parallel 1.0",
    }
    assert not out.exists()  # the handler never ran
    job["versions"] = {"par_first": "evframe-test-parallel 1.0"}
    runtime.run(job)
    reply = json.loads(redis_client(redis.url).lpop("evframe:replies:test"))
    assert [r["name"] for r in reply["outcome"]["results"]] == ["par_first"]
    assert ids_of(out, "par_first") == [7]
    assert refusal({"gone": "x 1"}, {}) == (
        "handler versions differ from the daemon's: gone: daemon runs x 1, this worker has nothing"
    )
