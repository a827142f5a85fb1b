"""Reading, delivering, starting, burst modes, lagging handlers: the daemon in memory."""

from __future__ import annotations

import itertools
import logging

import pytest

from evframe.daemon import RunResult
from evframe.handler import Status


def test_every_event_reaches_every_handler_once_in_order(h):
    ids = h.add(7)
    daemon = h.daemon(h.chain(), h.config(batch_size=3), until_caught_up=True)
    assert daemon.run() is RunResult.FINISHED
    for name in ("first", "second", "other"):
        assert h.got(name) == ids
    for event_id in ids:  # the requirement ran before its dependent, every time
        assert h.calls.index(("first", event_id)) < h.calls.index(("second", event_id))
    with h.state() as state:
        assert state.read_cursor == ids[-1]
        assert {n: r.cursor for n, r in state.handlers().items()} == dict.fromkeys(
            ("first", "second", "other"), ids[-1]
        )
    assert h.source.closed


def test_a_restart_resumes_after_the_committed_cursor(h):
    h.add(3)
    h.daemon(h.chain(), h.config(), until_caught_up=True).run()
    more = h.add(2)
    h.calls.clear()
    h.daemon(h.chain(), h.config(), until_caught_up=True).run()
    assert h.got("first") == more


@pytest.mark.parametrize(
    ("start", "expected"),
    [("earliest", [1, 2, 3, 4]), ("latest", []), (3, [4]), (0, [1, 2, 3, 4]), (4, [])],
)
def test_where_a_first_run_starts(h, start, expected, caplog):
    h.add(4)
    with caplog.at_level(logging.INFO, logger="evframe.daemon"):
        h.daemon(h.chain(), h.config(start=start), until_caught_up=True).run()
    assert h.got("first") == expected
    if isinstance(start, int):  # "after the given event id", as the docs say
        assert f"first run: starting after event {start} (start = {start})" in caplog.text


def test_once_reads_one_page(h):
    h.add(5)
    daemon = h.daemon(h.chain(), h.config(batch_size=2), once=True)
    assert daemon.run() is RunResult.FINISHED
    assert h.got("first") == [1, 2]


def test_max_events_stops_after_that_many(h):
    h.add(5)
    daemon = h.daemon(h.chain(), h.config(), max_events=3)
    assert daemon.run() is RunResult.FINISHED
    assert h.got("other") == [1, 2, 3]
    with h.state() as state:
        assert state.read_cursor == 3
        assert state.handlers()["other"].cursor == 3


def test_stop_from_a_handler_ends_the_run_and_keeps_what_was_done(h):
    h.add(4)
    holder = {}

    def stopper(ctx, event):
        h.calls.append(("stopper", event.id))
        if event.id == 2:
            holder["daemon"].stop()

    daemon = holder["daemon"] = h.daemon([stopper], h.config())
    assert daemon.run() is RunResult.STOPPED
    assert h.got("stopper") == [1, 2]
    with h.state() as state:
        assert state.handlers()["stopper"].cursor == 2


def test_idle_daemon_polls_at_the_idle_interval_and_writes_nothing(h):
    h.add(1)
    daemon = h.daemon(h.chain(), h.config(poll_interval=0.5, active_poll_interval=0.05))
    polls = []

    def watch(ctx, event):
        pass

    original = h.source.read

    def read(after, *, upto=None, limit):
        polls.append(h.clock.now)
        if len(polls) >= 60:
            daemon.stop()
        return original(after, upto=upto, limit=limit)

    h.source.read = read
    daemon.run()
    gaps = [b - a for a, b in itertools.pairwise(polls)]
    # Short polls while events were recent, then the idle interval.
    assert gaps[0] == pytest.approx(0.05)
    assert gaps[-1] == pytest.approx(0.5)
    with h.state() as state:
        mtime = h.state_path.stat().st_mtime_ns
        assert state.read_cursor == 1
    assert h.state_path.stat().st_mtime_ns == mtime


def test_a_new_handler_starts_at_the_read_cursor(h):
    h.add(3)
    h.daemon(h.chain()[:1], h.config(), until_caught_up=True).run()
    h.calls.clear()
    more = h.add(2)
    h.daemon(h.chain(), h.config(), until_caught_up=True).run()
    assert h.got("first") == more and h.got("other") == more


def test_a_handler_behind_catches_up_page_by_page_while_others_go_on(h, caplog):
    ids = h.add(10)
    h.daemon(h.chain(), h.config(), until_caught_up=True).run()
    with h.state() as state:  # as if `other` had been behind since event 2
        state.set_cursor(["other"], 2)
        state.commit()
    h.calls.clear()
    new = h.add(2)
    with caplog.at_level(logging.INFO, logger="evframe"):
        h.daemon(h.chain(), h.config(batch_size=3), until_caught_up=True).run()
    assert h.got("first") == new
    assert h.got("other") == [*ids[2:], *new]
    assert "caught up: other" in caplog.text


def test_a_disabled_handler_gets_nothing_and_keeps_its_cursor(h):
    h.add(3)
    config = h.config({"other": {"enabled": False}})
    h.daemon(h.chain(), config, until_caught_up=True).run()
    assert h.got("other") == [] and h.got("first") == [1, 2, 3]
    with h.state() as state:
        assert state.handlers()["other"].cursor == 0


@pytest.mark.inline_only
def test_operator_disable_and_resume_reach_a_running_daemon(h):
    h.add(2)
    holder = {}

    def operator(ctx, event):
        h.calls.append(("operator", event.id))
        if event.id == 2:
            with h.state() as state:
                state.set_status("other", Status.DISABLED)
                state.commit()
        if event.id == 4:
            holder["daemon"].stop()

    daemon = holder["daemon"] = h.daemon([operator, *h.chain()], h.config())
    original = h.source.read

    def read(after, *, upto=None, limit):
        if h.got("operator") == [1, 2] and h.next_id == 3:
            h.add(2)  # events 3 and 4 arrive after the operator's change
        return original(after, upto=upto, limit=limit)

    h.source.read = read
    daemon.run()
    assert h.got("other") == [1, 2]
    with h.state() as state:
        row = state.handlers()["other"]
        assert (row.status, row.cursor) == (Status.DISABLED, 2)


def test_heartbeat_every_ten_minutes(h, caplog):
    daemon = h.daemon(h.chain(), h.config(poll_interval=300.0))
    seen = []
    original = h.source.read

    def read(after, *, upto=None, limit):
        seen.append(1)
        if len(seen) > 5:
            daemon.stop()
        return original(after, upto=upto, limit=limit)

    h.source.read = read
    with caplog.at_level(logging.INFO, logger="evframe.daemon"):
        daemon.run()
    beats = [r for r in caplog.records if "event(s) read so far" in r.getMessage()]
    assert len(beats) == 2  # at 600 s and 1200 s of 1500 s idle
    assert "active first, other, second" in beats[0].getMessage()
