"""Pacing: fast polls while events arrive, a back-off to the idle interval after them."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from evframe.daemon.pacing import ACTIVE_WINDOW, Pacing
from evframe.testing import FakeClock


def waits(pacing: Pacing, clock: FakeClock, count: int) -> list[float]:
    """The next ``count`` waits, time moving on by each (no events meanwhile)."""
    out = []
    for _ in range(count):
        wait = pacing.next_wait()
        out.append(wait)
        clock.advance(wait)
    return out


def test_a_daemon_that_saw_no_event_polls_at_the_idle_interval() -> None:
    clock = FakeClock()
    pacing = Pacing(clock, active=0.05, idle=1.0)
    assert waits(pacing, clock, 3) == [1.0, 1.0, 1.0]


def test_active_for_the_window_then_doubling_up_to_idle() -> None:
    clock = FakeClock()
    pacing = Pacing(clock, active=0.05, idle=1.0)
    pacing.saw_events()
    seen = waits(pacing, clock, 48)
    fast = round(ACTIVE_WINDOW / 0.05)
    assert seen[:fast] == pytest.approx([0.05] * fast)
    assert seen[fast:] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0])


def test_an_event_brings_the_active_interval_back_at_once() -> None:
    clock = FakeClock()
    pacing = Pacing(clock, active=0.05, idle=1.0)
    pacing.saw_events()
    clock.advance(60)
    assert waits(pacing, clock, 6)[-1] == 1.0
    pacing.saw_events()
    assert pacing.next_wait() == 0.05
    clock.advance(ACTIVE_WINDOW)
    assert pacing.next_wait() == pytest.approx(0.1)


def test_the_active_interval_is_never_longer_than_the_idle_one() -> None:
    clock = FakeClock()
    pacing = Pacing(clock, active=2.0, idle=0.5)
    pacing.saw_events()
    assert pacing.next_wait() == 0.5
    clock.advance(ACTIVE_WINDOW)
    assert waits(pacing, clock, 2) == [0.5, 0.5]


# -- the daemon's polls ------------------------------------------------------------------


def polls_of(h: Any, daemon: Any, until: float, writes: dict[float, int]) -> list[float]:
    """Run ``daemon``, noting the time of each read; at each time in ``writes`` (seconds
    from the start) that many events appear.  Stops once ``until`` seconds have passed."""
    start = h.clock.now
    polls: list[float] = []
    pending = sorted(writes.items())
    original = h.source.read

    def read(after: int, *, upto: int | None = None, limit: int) -> Any:
        now = h.clock.now - start
        while pending and pending[0][0] <= now:
            h.add(pending.pop(0)[1])
        if upto is None:
            polls.append(now)
        if now >= until:
            daemon.stop()
        return original(after, upto=upto, limit=limit)

    h.source.read = read
    daemon.run()
    return polls


def test_an_idle_daemon_makes_at_most_one_request_a_second(h: Any) -> None:
    daemon = h.daemon(h.chain(), h.config(poll_interval=1.0, active_poll_interval=0.05))
    polls = polls_of(h, daemon, 600.0, {})
    assert len(polls) <= 601
    assert all(b - a == pytest.approx(1.0) for a, b in itertools.pairwise(polls))


@pytest.mark.inline_only  # it pins when each handler call happens
def test_the_first_write_after_idle_waits_one_idle_poll_the_rest_are_fast(h: Any) -> None:
    daemon = h.daemon(h.chain(), h.config(poll_interval=1.0, active_poll_interval=0.05))
    # Idle for a minute, then a burst: a write every 0.3 s for 3 s; then quiet again.
    burst = {60.5 + 0.3 * i: 1 for i in range(10)}
    polls = polls_of(h, daemon, 120.0, burst)
    assert len(h.got("other")) == 10, "every write reached the handler"
    # Each write is picked up by the first read at or after it.
    picked = {t: min(p for p in polls if p >= t - 1e-9) for t in burst}
    first = picked[60.5]
    assert first - 60.5 <= 1.0  # the first write after a quiet spell: one idle poll at most
    # Writes after the daemon noticed the burst: picked up at the active interval.
    later = [p - t for t, p in picked.items() if t > first]
    assert len(later) >= 8
    assert max(later) <= 0.05 + 1e-9
    # Afterwards the daemon backs off to the idle rate again.
    tail = [p for p in polls if p > 100]
    assert all(b - a == pytest.approx(1.0) for a, b in itertools.pairwise(tail))
    quiet = [p for p in polls if 60.5 + 3 < p <= 70]
    assert len(quiet) < 2 / 0.05 + 10  # the window at the active rate, then the back-off
