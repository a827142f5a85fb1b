"""Ids that become visible late: waited for, delivered once, given up on."""

from __future__ import annotations

import logging

import pytest

from evframe.daemon import RunResult


def run_until(h, daemon, condition, bound=1000):
    """Run ``daemon`` until ``condition()`` holds at a poll (bounded in polls)."""
    original = h.source.read
    polls = []

    def read(after, *, upto=None, limit):
        polls.append(1)
        if condition() or len(polls) > bound:
            daemon.stop()
        return original(after, upto=upto, limit=limit)

    h.source.read = read
    assert daemon.run() is RunResult.STOPPED
    assert len(polls) <= bound, "condition never held"


# Inline only: it reveals the late id once a handler has seen event 5, and on threads
# the fake clock may run past gap_timeout before the handler thread gets there.
@pytest.mark.inline_only
def test_a_late_id_is_delivered_once_to_the_handlers_past_it(h, caplog):
    h.add(2)
    late = h.add(1, hidden=True)[0]
    h.add(2)
    daemon = h.daemon(h.chain(), h.config(gap_timeout=60))
    revealed = []

    def condition():
        if not revealed and h.got("first")[-1:] == [5]:
            h.source.reveal(late)
            revealed.append(h.clock.now)
        return late in h.got("first")

    with caplog.at_level(logging.INFO, logger="evframe.daemon"):
        run_until(h, daemon, condition)
    assert h.got("first") == [1, 2, 4, 5, 3]
    assert h.got("second") == [1, 2, 4, 5, 3]
    assert f"late event {late} arrived; delivering it to 3 handler(s)" in caplog.text
    with h.state() as state:
        assert state.pending() == {}


def test_pending_ids_survive_a_restart(h):
    h.add(1)
    late = h.add(1, hidden=True)[0]
    h.add(1)
    h.daemon(h.chain(), h.config(gap_timeout=60), until_caught_up=True).run()
    with h.state() as state:
        assert list(state.pending()) == [late]
    h.source.reveal(late)
    h.calls.clear()
    daemon = h.daemon(h.chain(), h.config(gap_timeout=60))
    run_until(h, daemon, lambda: late in h.got("other"))
    assert h.got("other") == [late]


def test_a_missing_id_is_given_up_after_the_gap_timeout(h, caplog):
    h.add(1)
    h.skip_ids(2)
    h.add(1)
    daemon = h.daemon(h.chain(), h.config(gap_timeout=30))
    start = h.clock.now
    with caplog.at_level(logging.INFO, logger="evframe.daemon"):
        run_until(h, daemon, lambda: "gave up waiting" in caplog.text)
    assert "gave up waiting for 2 missing event id(s) after 30 s: 2..3" in caplog.text
    assert 30 <= h.clock.now - start <= 32
    with h.state() as state:
        assert state.pending() == {}


def test_a_gap_wider_than_max_gap_is_not_waited_for(h, caplog):
    h.add(1)
    h.skip_ids(50)
    h.add(1)
    with caplog.at_level(logging.WARNING, logger="evframe.daemon"):
        h.daemon(h.chain(), h.config(max_gap=10), until_caught_up=True).run()
    assert "event ids 2..51 (50 ids) are missing: more than daemon.max_gap = 10" in caplog.text
    with h.state() as state:
        assert state.pending() == {}


def test_gaps_among_old_events_are_not_waited_for(h):
    h.add(1, age=3600)
    h.skip_ids(1)
    h.add(1, age=3600)
    h.daemon(h.chain(), h.config(gap_timeout=300), until_caught_up=True).run()
    with h.state() as state:
        assert state.pending() == {}


def test_a_late_id_reaches_a_lagging_handler_in_order(h):
    h.add(2)
    late = h.add(1, hidden=True)[0]
    h.add(1)
    h.daemon(h.chain(), h.config(gap_timeout=60), until_caught_up=True).run()
    with h.state() as state:  # `other` fell behind the late id
        state.set_cursor(["other"], 1)
        state.commit()
    h.source.reveal(late)
    h.calls.clear()
    daemon = h.daemon(h.chain(), h.config(gap_timeout=60))
    run_until(h, daemon, lambda: late in h.got("first") and h.got("other")[-1:] == [4])
    assert h.got("first") == [late]
    assert h.got("other") == [2, 3, 4]  # in order, and the late id once
