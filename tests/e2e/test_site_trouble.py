"""Site trouble: maintenance, dropped connections and late-visible event ids."""

from __future__ import annotations

import pytest

from evframe.state import State
from evframe.testing import wait_until
from support.e2e import (
    RECORDERS,
    Daemon,
    Proc,
    SandboxProc,
    Writer,
    concurrent,
    expected_ids,
    ids_by_handler,
    in_id_order,
    read_records,
    wait_delivered,
)

pytestmark = pytest.mark.e2e

# "A maintenance window of a minute", as the issue asks: long enough for the daemon's
# backoff (0.5, 1, 2, 4, 8, 16 s...) to reach its 30 s cap. It costs 60-90 s of CI time
# (the first attempt after the window comes up to one capped step later); the rest of
# the e2e suite takes under a minute, so it fits the 4-minute budget. Lower it to ~10 s
# to iterate locally.
MAINTENANCE_SECONDS = 60


def assert_exactly_once(
    daemon: Daemon, sandbox: SandboxProc, proc: Proc, timeout: float, *, ordered: bool = True
) -> None:
    """Wait until every event reached its handlers, then check each got it once (in order)."""
    events = sandbox.events()
    want = expected_ids(events)
    wait_delivered(daemon.records, want, timeout, proc)
    got = ids_by_handler(read_records(daemon.records))
    for name in RECORDERS:
        ids = in_id_order(daemon, got[name], events) if ordered else sorted(got[name])
        assert ids == want[name], f"{name} did not get every event exactly once"


@pytest.mark.slow
def test_maintenance_and_dropped_connections_are_ridden_out(
    daemon: Daemon, sandbox: SandboxProc, writer: Writer
) -> None:
    proc = daemon.start_serving()
    writer.steps(30)
    assert_exactly_once(daemon, sandbox, proc, 20)

    # Maintenance: every request answers 503 for a while.
    before = sandbox.faults(maintenance=MAINTENANCE_SECONDS)["requests_seen"]
    proc.wait_log(r"WARNING evframe\.site: .* the site is down for maintenance", timeout=10)
    wait_until(
        lambda: not sandbox.faults()["maintenance"],
        MAINTENANCE_SECONDS + 10,
        "the maintenance window to end",
    )
    attempts = sandbox.faults()["requests_seen"] - before
    assert proc.alive(), proc.tail()
    writer.steps(30)
    # The next attempt comes after at most one capped backoff step (< 16 s here).
    proc.wait_log(r"site reachable again", timeout=45)
    assert attempts >= 6, f"the daemon should have retried during maintenance ({attempts})"
    # One warning for the whole window (a state change), not one per attempt.
    warnings = proc.log_lines(r"WARNING evframe\.")
    assert len(warnings) == 1, "\n".join(warnings)
    assert len(proc.log_lines(r"ERROR|CRITICAL")) == 0, proc.tail()
    assert_exactly_once(daemon, sandbox, proc, 20)

    # Dropped connections: 30 % of requests are closed without a reply.
    before = sandbox.faults(drop_rate=0.3)["requests_seen"]
    writer.steps(100)
    wait_until(
        lambda: sandbox.faults()["requests_seen"] - before >= 200,
        30,
        "200 requests under dropped connections",
        detail=proc.tail,
    )
    sandbox.faults(reset=True)
    writer.steps(10)
    assert_exactly_once(daemon, sandbox, proc, 40)
    assert proc.alive(), proc.tail()
    # Each trouble episode: one warning, then one recovery line; never a flood.
    trouble = proc.log_lines(r"retrying with backoff until the site answers|reachable again")
    kinds = ["down" if "retrying" in line else "up" for line in trouble]
    assert kinds == ["down", "up"] * (len(kinds) // 2), "\n".join(trouble)
    assert len(proc.log_lines(r"ERROR|CRITICAL")) == 0, proc.tail()


def test_late_visible_ids_are_delivered_once_after_they_appear(
    daemon: Daemon, sandbox: SandboxProc, writer: Writer
) -> None:
    hide_seconds = 2.0
    daemon.daemon_options["gap_timeout"] = 30
    proc = daemon.start_serving()
    assert_exactly_once(daemon, sandbox, proc, 20)

    sandbox.faults(hide_next_events={"count": 5, "seconds": hide_seconds})
    writer.steps(5)
    hidden = sandbox.faults()["hidden_event_ids"]
    assert len(hidden) == 5
    writer.steps(20)
    later = [e["id"] for e in sandbox.events() if e["id"] > max(hidden)]

    # Events after the hidden ones are delivered first...
    wait_until(
        lambda: set(later) <= set(ids_by_handler(read_records(daemon.records))["rec_all"]),
        15,
        "the events after the hidden ones",
        detail=proc.tail,
    )
    # ...and the hidden ones once they become visible, exactly once.
    wait_until(
        lambda: not sandbox.faults()["hidden_event_ids"], hide_seconds + 10, "the ids to appear"
    )
    assert_exactly_once(daemon, sandbox, proc, 20, ordered=False)
    records = read_records(daemon.records)
    position = {(r["handler"], r["event_id"]): i for i, r in enumerate(records)}
    for i in hidden:
        if not concurrent(daemon):  # else only events of one entity keep their order
            assert position[("rec_all", i)] > position[("rec_all", later[-1])], i
        assert position[("rec_after", i)] > position[("rec_all", i)], i
        assert proc.log_lines(rf"late event {i} arrived"), proc.tail()
    with State.open(daemon.state, daemon.url, lock=False, create=False) as state:
        wait_until(
            lambda: not state.pending(), 10, "no pending ids left in the state", detail=proc.tail
        )
    assert not proc.log_lines(r"gave up waiting")
