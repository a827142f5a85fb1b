"""Webhook deliveries as hints, in memory: dispatch at once, backstop pacing, stalls."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pytest

from evframe.config import WebhookConfig
from evframe.daemon import RunResult
from evframe.daemon.hints import HINT_WAIT
from evframe.testing import FakeClock


class ScriptedClock(FakeClock):
    """A fake clock that runs the next scripted step each time the daemon idles."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[Callable[[], None]] = []
        self.waits: list[float] = []

    def wait(self, event: threading.Event, timeout: float) -> bool:
        self.waits.append(timeout)
        if self.steps:
            self.steps.pop(0)()
        return super().wait(event, timeout)


@pytest.fixture
def clock(h):
    h.clock = ScriptedClock()
    return h.clock


def hooked(h, **webhook):
    config = h.config()
    hooks = WebhookConfig(**{"stale_after": 30.0, "backstop_interval": 10.0, **webhook})
    return type(config)(site=config.site, daemon=config.daemon, webhook=hooks)


def timed_recorder(h, name="rec"):
    def rec(ctx, event):
        h.calls.append((name, event.id))
        h.times.append(h.clock.monotonic())

    rec.__name__ = name
    h.times = []
    return rec


def run_script(h, steps, **webhook):
    daemon = h.daemon([timed_recorder(h)], hooked(h, **webhook))
    h.clock.steps = [lambda s=s: s(daemon) for s in steps] + [lambda: daemon.stop()]
    assert daemon.run() is RunResult.STOPPED
    return daemon


def write_and_hint(h, count=1, hint=True):
    def step(daemon):
        ids = h.add(count)
        if hint:
            daemon.hint(ids)

    return step


def idle(daemon):
    pass


def test_an_announced_event_is_dispatched_without_waiting_for_a_poll(h, clock):
    started = {}

    def write(daemon):
        started["at"] = clock.monotonic()
        write_and_hint(h)(daemon)

    run_script(h, [idle, write, idle])
    assert h.got("rec") == [1]
    assert h.times == [started["at"]]  # no fake time passed between hint and handler


def test_polling_slows_to_the_backstop_while_deliveries_flow(h, clock):
    run_script(h, [idle, write_and_hint(h), idle, idle])
    # Before any delivery: the normal pace; after one: the backstop.
    assert clock.waits[0] == 0.5
    assert clock.waits[-2:] == [10.0, 10.0]


def test_ids_before_an_announced_one_come_first_and_duplicates_are_harmless(h, clock):
    def write(daemon):
        ids = h.add(3)
        daemon.hint([ids[2], ids[2], ids[0]])

    def again(daemon):
        daemon.hint([3, 2, 1, 3])  # duplicated, reordered, all already read

    daemon = run_script(h, [write, again, idle])
    assert h.got("rec") == [1, 2, 3]
    assert daemon.hints.counters["duplicate"] == 3  # 3 and 3 are one id


def test_an_announced_id_not_visible_yet_is_polled_for_until_it_shows(h, clock):
    def write(daemon):
        (hidden,) = h.add(1, hidden=True)
        daemon.hint([hidden])

    def reveal(daemon):
        h.source.reveal(2)

    run_script(h, [write_and_hint(h, hint=True), write, idle, reveal, idle, idle])
    assert h.got("rec") == [1, 2]
    # While id 2 was announced but invisible, the loop polled at the active pace.
    assert 0.05 in clock.waits
    assert clock.waits[-1] == 10.0


def test_an_announced_id_that_never_shows_is_not_waited_for_long(h, clock):
    def phantom(daemon):
        daemon.hint([999])

    steps = [write_and_hint(h), phantom] + [idle] * int(HINT_WAIT / 0.05 + 5)
    run_script(h, steps)
    assert clock.waits[-1] == 10.0


@pytest.mark.inline_only  # it pins when the late id's chain has run
def test_an_announced_pending_id_is_fetched_at_once(h, clock):
    def gap(daemon):
        h.add(1, hidden=True)  # id 2, visible late
        ids = h.add(1)  # id 3
        daemon.hint(ids)

    def late(daemon):
        h.source.reveal(2)
        daemon.hint([2])

    daemon = run_script(h, [write_and_hint(h), gap, late, idle])
    assert h.got("rec") == [1, 3, 2]
    assert h.source.fetches >= 1
    assert 2 not in daemon.gaps


def test_stopped_deliveries_are_noticed_and_polling_returns_to_its_pace(h, clock, caplog):
    caplog.set_level(logging.INFO, "evframe.daemon.webhook")

    def pause(daemon):
        clock.advance(31)

    steps = [write_and_hint(h), idle, pause, write_and_hint(h, hint=False), idle, idle]
    steps += [write_and_hint(h), idle]
    daemon = run_script(h, steps)
    assert h.got("rec") == [1, 2, 3]
    assert daemon.hints.counters["stalls"] == 1
    assert daemon.hints.counters["resumed"] == 1
    stalls = [r for r in caplog.records if "deliveries stopped" in r.getMessage()]
    assert len(stalls) == 1 and stalls[0].levelno == logging.WARNING
    # backstop ... the stall: normal pace ... deliveries back: backstop again.
    assert max(clock.waits[4:6]) < 10.0
    assert clock.waits[-1] == 10.0


def test_a_missed_delivery_among_flowing_ones_is_no_stall(h, clock):
    steps = [write_and_hint(h), write_and_hint(h, hint=False), idle, write_and_hint(h), idle]
    daemon = run_script(h, steps)
    assert h.got("rec") == [1, 2, 3]
    assert daemon.hints.counters["stalls"] == 0


def test_hints_are_bounded(h, clock):
    def flood(daemon):
        daemon.hint(range(10_000, 10_100))

    daemon = run_script(h, [flood, idle], queue_size=10)
    assert daemon.hints.counters["overflow"] == 90
