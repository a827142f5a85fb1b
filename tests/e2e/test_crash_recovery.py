"""``kill -9`` of the daemon at random moments loses no event (delivery is at least once)."""

from __future__ import annotations

import random
import signal
import threading
from collections import Counter

import pytest

from evframe.testing import wait_until
from support.e2e import (
    RECORDERS,
    Daemon,
    SandboxProc,
    Writer,
    concurrent,
    expected_ids,
    ids_by_handler,
    in_id_order,
    read_records,
)

pytestmark = pytest.mark.e2e

BATCH = 50


def test_kill_9_at_random_points_loses_nothing(
    daemon: Daemon, sandbox: SandboxProc, writer: Writer
) -> None:
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    daemon.daemon_options["batch_size"] = BATCH
    # A handler that takes a few ms keeps the daemon busy, so a backlog builds up, batches
    # are full and the kills land in the middle of one.
    daemon.handler_options["rec_all"] = {"delay": 0.004}

    stop = threading.Event()
    failures: list[BaseException] = []

    def write() -> None:
        try:
            while not stop.is_set():
                writer.step()
                stop.wait(0.002)  # pace the artists, not a synchronisation
        except BaseException as exc:  # reported by the test
            failures.append(exc)

    thread = threading.Thread(target=write, name="e2e-writer", daemon=True)
    thread.start()
    killed: list[tuple[int, dict[str, int]]] = []  # (pid, committed cursor per handler)
    try:
        for _ in range(3):
            proc = daemon.start_serving()
            threshold = rng.randint(20, 400)

            def reached(pid: int = proc.pid, n: int = threshold) -> bool:
                recs = read_records(daemon.records)
                done = ids_by_handler([r for r in recs if r["pid"] == pid])
                return len(done.get("rec_all", ())) >= n

            wait_until(reached, 30, f"{threshold} events recorded (seed {seed})", detail=proc.tail)
            proc.signal(signal.SIGKILL)
            assert proc.wait_exit(10) == -signal.SIGKILL
            _, rows = daemon.read_state()
            killed.append((proc.pid, {name: rows[name].cursor for name in RECORDERS}))
    finally:
        stop.set()
        thread.join(10)
    assert not failures, f"the writer failed: {failures[0]!r}"

    final = daemon.run("--until-caught-up", timeout=60)
    assert final.popen.returncode == 0, final.tail()

    events = sandbox.events()
    want = expected_ids(events)
    records = read_records(daemon.records)
    pids = [pid for pid, _ in killed] + [final.pid]
    assert {r["pid"] for r in records} <= set(pids)
    for name in RECORDERS:
        mine = [r for r in records if r["handler"] == name and r.get("phase") != "begin"]
        all_ids = [r["event_id"] for r in mine]
        missing = sorted(set(want[name]) - set(all_ids))
        assert not missing, f"{name}: events never delivered (seed {seed}): {missing[:20]}"
        assert set(all_ids) <= set(want[name]), f"{name} got events it does not want"
        by_pid = {pid: [r["event_id"] for r in mine if r["pid"] == pid] for pid in pids}
        for pid, ids in by_pid.items():
            assert in_id_order(daemon, ids, events) == sorted(ids), f"{name}: order, pid {pid}"
            dups = [i for i, n in Counter(ids).items() if n > 1]
            assert not dups, f"{name}: delivered twice by one process {pid}: {dups[:10]}"
        for k, (pid, cursors) in enumerate(killed):
            later = {i for p in pids[k + 1 :] for i in by_pid[p]}
            committed = cursors[name]
            replayed = [i for i in by_pid[pid] if i in later]
            # Only what was done after the last commit is done again...
            assert all(i > committed for i in replayed), (
                f"{name}: events at or before the committed cursor {committed} "
                f"were delivered again after kill {k + 1}: "
                f"{[i for i in replayed if i <= committed][:10]} (seed {seed})"
            )
            # ...and all of it is: the next run starts at the committed cursor.
            uncommitted = [i for i in by_pid[pid] if i > committed]
            if concurrent(daemon):  # ids done above the cursor are not replayed
                assert set(replayed) <= set(uncommitted), f"{name}: kill {k + 1} (seed {seed})"
            else:
                assert replayed == uncommitted, f"{name}: lost after kill {k + 1} (seed {seed})"
            # A crash replays at most one batch.
            assert len(replayed) <= BATCH, (
                f"{name}: {len(replayed)} events replayed after kill {k + 1}, "
                f"more than batch_size = {BATCH} (seed {seed})"
            )

    read_cursor, rows = daemon.read_state()
    assert read_cursor == events[-1]["id"]
    for name in RECORDERS:
        assert rows[name].cursor == events[-1]["id"]
