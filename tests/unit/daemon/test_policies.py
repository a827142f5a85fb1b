"""Failure policies: stop pauses a group, skip records a dead letter, retry retries."""

from __future__ import annotations

import logging
import threading

from evframe.daemon import RunResult
from evframe.handler import Status


def test_stop_pauses_the_group_and_the_others_carry_on(h, caplog):
    h.add(5)
    funcs = h.chain(first={"fail_on": [3]})
    with caplog.at_level(logging.INFO, logger="evframe"):
        h.daemon(funcs, h.config(), until_caught_up=True).run()
    assert h.got("first") == [1, 2]
    assert h.got("second") == [1, 2]
    assert h.got("other") == [1, 2, 3, 4, 5]
    assert "paused handler group first, second at event 3" in caplog.text
    assert "evframe handlers resume first" in caplog.text
    with h.state() as state:
        rows = state.handlers()
        assert (rows["first"].status, rows["first"].cursor) == (Status.FAILED, 2)
        assert rows["first"].error == "failed on event 3: RuntimeError: first cannot take event 3"
        assert rows["first"].failed_event_id == 3
        assert rows["second"].status == Status.FAILED
        assert rows["second"].error == "paused: linked handler 'first' failed on event 3"
        assert rows["other"].status == Status.ACTIVE


def test_an_operator_resume_catches_the_group_up_in_order(h, caplog):
    h.add(5)
    h.daemon(
        h.chain(first={"fail_on": [3], "fail_times": 1}), h.config(), until_caught_up=True
    ).run()
    with h.state() as state:
        state.set_status("second", Status.ACTIVE)  # resuming any member resumes the group
        state.commit()
    h.calls.clear()
    with caplog.at_level(logging.INFO, logger="evframe"):
        h.daemon(h.chain(), h.config(), until_caught_up=True).run()
    assert h.got("first") == [3, 4, 5]
    assert h.got("second") == [3, 4, 5]
    assert h.got("other") == []
    assert "handler first resumed from event 3" in caplog.text


def test_a_group_whose_code_changed_since_it_failed_resumes(h, caplog):
    h.installed = {"first": "v1", "second": "v1", "other": "v1"}
    h.add(3)
    h.daemon(h.chain(first={"fail_on": [2]}), h.config(), until_caught_up=True).run()
    h.installed = {"first": "v2", "second": "v1", "other": "v1"}
    h.calls.clear()
    with caplog.at_level(logging.INFO, logger="evframe"):
        h.daemon(h.chain(), h.config(), until_caught_up=True).run()
    assert "handler first changed since it failed: resuming its group" in caplog.text
    assert h.got("first") == [2, 3] and h.got("second") == [2, 3]


def test_a_new_member_of_a_paused_group_is_paused_with_it(h):
    h.add(3)
    first, _second, other = h.chain(first={"fail_on": [2]})
    h.daemon([first, other], h.config(), until_caught_up=True).run()
    h.calls.clear()
    h.daemon(h.chain(first={"fail_on": [2]}), h.config(), until_caught_up=True).run()
    with h.state() as state:
        row = state.handlers()["second"]
        assert row.status == Status.FAILED
        assert row.error == "paused: linked handler 'first' has failed"
    assert h.got("second") == []


def test_skip_records_a_dead_letter_and_moves_on(h):
    h.add(4)
    config = h.config({"first": {"on_error": "skip"}})
    h.daemon(h.chain(first={"fail_on": [2]}), config, until_caught_up=True).run()
    assert h.got("first") == [1, 3, 4]
    assert h.got("second") == [1, 3, 4]  # skipped where its requirement failed
    with h.state() as state:
        letters = {(d.handler, d.event_id) for d in state.dead_letters()}
        assert letters == {("first", 2), ("second", 2)}
        second = state.dead_letters("second")[0]
        assert second.error == "skipped: requirement 'first' failed"
        assert second.event["id"] == 2
        assert {r.status for r in state.handlers().values()} == {Status.ACTIVE}


def test_retry_calls_again_then_succeeds(h, caplog):
    h.add(2)
    config = h.config({"first": {"on_error": "retry", "retry_attempts": 3, "retry_backoff": 0.001}})
    with caplog.at_level(logging.WARNING, logger="evframe"):
        h.daemon(
            h.chain(first={"fail_on": [1], "fail_times": 2}), config, until_caught_up=True
        ).run()
    assert h.got("first") == [1, 2]
    retries = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) == 2


def test_retry_exhausted_falls_back_to_its_fallback(h):
    h.add(2)
    config = h.config(
        {
            "first": {
                "on_error": "retry",
                "retry_attempts": 2,
                "retry_backoff": 0.001,
                "retry_fallback": "skip",
            }
        }
    )
    h.daemon(h.chain(first={"fail_on": [1], "fail_times": 2}), config, until_caught_up=True).run()
    assert h.got("first") == [2]
    with h.state() as state:
        letter = state.dead_letters("first")[0]
        assert (letter.event_id, letter.attempts) == (1, 2)


def test_stop_during_a_retry_wait_leaves_the_event_undone(h):
    h.add(3)
    config = h.config({"first": {"on_error": "retry", "retry_attempts": 5, "retry_backoff": 30}})
    daemon = h.daemon(h.chain(first={"fail_on": [2]}), config)
    timer = threading.Timer(0.2, daemon.stop)
    timer.start()
    try:
        assert daemon.run() is RunResult.STOPPED
    finally:
        timer.cancel()
    with h.state() as state:
        rows = state.handlers()
        assert rows["first"].cursor == 1  # event 2 is delivered again next time
        assert rows["first"].status == Status.ACTIVE
    h.calls.clear()
    h.daemon(h.chain(), h.config(), until_caught_up=True).run()
    assert h.got("first") == [2, 3]
