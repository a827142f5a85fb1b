"""Retries inside Processor.run: RetryPolicy, the warning per retry, and a stop event."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from evframe import Event, Outcome, Processor, RetryPolicy, requires
from evframe.testing import SimpleEvent


def _processor(*funcs: Any) -> Processor:
    processor = Processor()
    for func in funcs:
        processor.register(func)
    return processor


def test_delay_doubles_up_to_the_cap_with_jitter() -> None:
    policy = RetryPolicy(attempts=10, backoff=1.0, max_backoff=5.0)
    for attempt, base in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (9, 5.0)]:
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(base * 0.5 <= d <= base for d in delays), (attempt, min(delays), max(delays))
        assert max(delays) - min(delays) > 0  # jittered, so failing handlers spread out


def test_each_retry_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def flaky(ctx: Any, event: Event) -> None:
        calls.append(1)
        if len(calls) < 3:
            raise OSError("down")

    policy = RetryPolicy(attempts=3, backoff=0.0, max_backoff=0.0)
    with caplog.at_level(logging.WARNING, logger="evframe"):
        report = _processor(flaky).run(SimpleEvent("e"), retry={"flaky": policy})
    assert report.outcome("flaky") == Outcome.OK
    assert report.results[0].attempts == 3
    records = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert [r.name for r in records] == ["evframe.handler.flaky"] * 2
    assert records[0].getMessage().startswith("handler flaky failed on ")
    assert "(attempt 1 of 3): OSError: down; retrying in 0.00 s" in records[0].getMessage()
    assert records[1].handler == "flaky"  # type: ignore[attr-defined]


def test_stop_during_the_wait_interrupts_the_run() -> None:
    stop = threading.Event()
    calls: list[str] = []

    def flaky(ctx: Any, event: Event) -> None:
        calls.append("flaky")
        raise OSError("down")

    def later(ctx: Any, event: Event) -> None:
        calls.append("later")

    class StopOnRetry(logging.Handler):
        """Sets the stop event when the retry is announced, i.e. just before the wait."""

        def emit(self, record: logging.LogRecord) -> None:
            stop.set()

    policy = RetryPolicy(attempts=5, backoff=3600.0, max_backoff=3600.0)
    hook = StopOnRetry()
    logger = logging.getLogger("evframe.handler.flaky")
    logger.addHandler(hook)
    try:
        report = _processor(flaky, later).run(SimpleEvent("e"), retry={"flaky": policy}, stop=stop)
    finally:
        logger.removeHandler(hook)
    # An hour's backoff, yet the run is over: the wait was on the stop event.
    assert calls == ["flaky"]
    assert report.interrupted and not report.ok
    (result,) = report.results
    assert (result.name, result.status, result.attempts) == ("flaky", Outcome.INTERRUPTED, 1)
    assert isinstance(result.error, OSError)
    assert report.outcome("flaky") == Outcome.INTERRUPTED
    assert report.outcome("later") == Outcome.NOT_WANTED
    assert report.failures == []


def test_stop_set_before_a_retry_interrupts_without_waiting() -> None:
    stop = threading.Event()
    stop.set()
    calls: list[str] = []

    def flaky(ctx: Any, event: Event) -> None:
        calls.append("flaky")
        raise OSError("down")

    policy = RetryPolicy(attempts=5, backoff=3600.0, max_backoff=3600.0)
    report = _processor(flaky).run(SimpleEvent("e"), retry={"flaky": policy}, stop=stop)
    assert calls == ["flaky"]
    assert [(r.name, r.status, r.attempts) for r in report.results] == [
        ("flaky", Outcome.INTERRUPTED, 1)
    ]
    assert report.interrupted


def test_a_stop_otherwise_lets_the_event_in_hand_finish() -> None:
    stop = threading.Event()
    calls: list[str] = []

    def first(ctx: Any, event: Event) -> None:
        calls.append("first")
        stop.set()

    @requires("first")
    def second(ctx: Any, event: Event) -> None:
        calls.append("second")

    report = _processor(first, second).run(SimpleEvent("e"), stop=stop)
    assert calls == ["first", "second"]
    assert report.ok and not report.interrupted


def test_no_policy_no_retry_and_no_stop_needed() -> None:
    calls: list[str] = []

    def once(ctx: Any, event: Event) -> None:
        calls.append("once")
        raise OSError("down")

    policy = RetryPolicy(attempts=3, backoff=0.0, max_backoff=0.0)
    report = _processor(once).run(SimpleEvent("e"), retry={"someone_else": policy})
    assert calls == ["once"]
    assert report.outcome("once") == Outcome.FAILED
    assert not report.interrupted
