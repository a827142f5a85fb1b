"""In memory: site trouble in a handler's own requests, time budgets and a stop past a
stuck handler, and the events a handler's own script caused."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from shotgun_api3 import Fault

from evframe import own_writes
from evframe.daemon.sitewait import is_site_trouble
from evframe.handler import Status
from evframe.site import daemon_session, make_shotgun
from evframe.testing import make_record, wait_until

# Nothing listens on the discard port of loopback: a real, instant connection error.
REFUSED = "http://127.0.0.1:9"


def refused_request() -> None:
    sg = make_shotgun(REFUSED, "s", "k", timeout=2)
    try:
        sg.find("Shot", [], ["code"])
    finally:
        sg.close()


def raised(func: Any) -> Exception:
    try:
        func()
    except Exception as exc:
        return exc
    raise AssertionError("nothing raised")


def _own_oserror() -> None:
    open("/nonexistent/evframe/file")


def _fault() -> None:
    raise Fault("API read() Shot.code doesn't exist")


def test_which_errors_are_the_sites() -> None:
    assert is_site_trouble(raised(refused_request))
    assert not is_site_trouble(raised(_own_oserror))  # the handler's own OSError
    assert not is_site_trouble(raised(_fault))  # the site refused the request
    assert not is_site_trouble(RuntimeError("bug"))
    assert not is_site_trouble(ConnectionError("not from shotgun_api3"))


@pytest.mark.inline_only  # the site wait and the watchdog hook the inline executor
def test_site_trouble_in_a_handlers_request_reruns_it_and_pauses_nothing(h: Any) -> None:
    blips: dict[int, int] = {}

    def talker(ctx: Any, event: Any) -> None:
        if event.id == 2 and blips.get(2, 0) < 3:
            blips[2] = blips.get(2, 0) + 1
            refused_request()
        h.calls.append(("talker", event.id))

    h.add(4)
    daemon = h.daemon([talker, h.recorder("other")], h.config(), until_caught_up=True)
    daemon.run()
    assert h.got("talker") == [1, 2, 3, 4]
    assert h.got("other") == [1, 2, 3, 4]
    assert blips == {2: 3}
    assert daemon.watch.site.waits == 3
    with h.state() as state:
        assert {n: r.status for n, r in state.handlers().items()} == {
            "talker": Status.ACTIVE,
            "other": Status.ACTIVE,
        }
        assert state.handlers()["talker"].cursor == 4


def test_the_handlers_own_errors_still_count_against_its_policy(h: Any) -> None:
    def careless(ctx: Any, event: Any) -> None:
        if event.id == 2:
            _own_oserror()
        h.calls.append(("careless", event.id))

    h.add(3)
    daemon = h.daemon([careless], h.config(), until_caught_up=True)
    daemon.run()
    assert h.got("careless") == [1]
    assert daemon.watch.site.waits == 0
    with h.state() as state:
        assert state.handlers()["careless"].status == Status.FAILED


@pytest.mark.inline_only  # the site wait and the watchdog hook the inline executor
def test_a_stop_during_a_site_wait_leaves_the_event_undone(h: Any) -> None:
    def talker(ctx: Any, event: Any) -> None:
        if event.id == 2:
            daemon.stop()
            refused_request()
        h.calls.append(("talker", event.id))

    h.add(3)
    daemon = h.daemon([talker], h.config())
    daemon.run()
    assert h.got("talker") == [1]
    with h.state() as state:
        assert state.handlers()["talker"].cursor == 1
        assert state.handlers()["talker"].status == Status.ACTIVE


# -- own writes ---------------------------------------------------------------------------


def by(script: str | None = None, session: str | None = None, *, eid: int) -> dict[str, Any]:
    user = {"type": "ApiUser", "id": 7, "name": script} if script else None
    kwargs: dict[str, Any] = {"user": user} if user else {}
    return make_record(
        "Shotgun_Shot_Change",
        id=eid,
        entity={"type": "Shot", "id": 1, "name": "sh001"},
        attribute_name="code",
        session_uuid=session,
        **kwargs,
    )


def test_handlers_do_not_get_their_own_scripts_writes_unless_they_opt_in(h: Any) -> None:
    config = h.config(
        {"opted": {"own_writes": True}, "own_creds": {"script_name": "other", "api_key": "x"}}
    )
    session = daemon_session(config, "s")  # the daemon's script is "s"
    for record in (
        by(eid=1),  # someone else
        by("s", eid=2),  # the daemon's script
        by(None, session, eid=3),  # a sudo write through the daemon's connection
        by("other", eid=4),  # own_creds's script
        by("artist", eid=5),
    ):
        h.source.add(record)
    decorated = own_writes()(h.recorder("decorated"))
    handlers = [h.recorder(n) for n in ("plain", "opted", "own_creds")] + [decorated]
    h.daemon(handlers, config, until_caught_up=True).run()
    assert h.got("plain") == [1, 4, 5]
    assert h.got("opted") == [1, 2, 3, 4, 5]
    assert h.got("decorated") == [1, 2, 3, 4, 5]
    assert h.got("own_creds") == [1, 2, 3, 5]
    with h.state() as state:
        assert {r.cursor for r in state.handlers().values()} == {5}


def test_config_overrides_the_decorator(h: Any) -> None:
    h.source.add(by("s", eid=1))
    h.source.add(by("artist", eid=2))
    decorated = own_writes()(h.recorder("decorated"))
    config = h.config({"decorated": {"own_writes": False}})
    h.daemon([decorated], config, until_caught_up=True).run()
    assert h.got("decorated") == [2]


def test_own_writes_takes_a_bool() -> None:
    with pytest.raises(TypeError, match="True or False"):
        own_writes("yes")  # type: ignore[arg-type]


# -- time budgets and stopping past a stuck handler ---------------------------------------


@pytest.mark.inline_only  # the site wait and the watchdog hook the inline executor
def test_a_stuck_handler_is_reported_with_its_stack_and_abandoned_at_a_stop(
    h: Any, caplog: pytest.LogCaptureFixture
) -> None:
    started, release = threading.Event(), threading.Event()

    def stuck_handler(ctx: Any, event: Any) -> None:
        if event.id == 3:
            started.set()
            release.wait(30)
        h.calls.append(("stuck_handler", event.id))

    h.add(5)
    config = h.config({"stuck_handler": {"timeout": 5}}, stop_timeout=2)
    abandoned: list[bool] = []
    daemon = h.daemon(
        [h.recorder("a_first"), stuck_handler], config, on_abandon=lambda: abandoned.append(True)
    )
    assert daemon.stopping is False
    runner = threading.Thread(target=daemon.run, daemon=True)
    runner.start()
    try:
        assert started.wait(10)
        watch = daemon.watch
        watch.close()  # checked by hand from here on, with the fake clock
        assert watch.timeouts == {"a_first": 300.0, "stuck_handler": 5}  # 300: the default
        caplog.set_level(logging.INFO, "evframe.daemon")
        watch.check()
        assert watch.reports == 0
        h.clock.advance(6)
        watch.check()
        watch.check()
        assert watch.reports == 1  # once, not on every look
        text = caplog.text
        assert "handler stuck_handler has run for 6 s on event 3, past its timeout" in text
        assert "in stuck_handler" in text and "release.wait(30)" in text

        daemon.stop()
        watch.check()
        h.clock.advance(1)
        watch.check()
        assert not abandoned  # still within stop_timeout
        h.clock.advance(1.5)
        watch.check()
        assert abandoned == [True]
        assert "abandoning it" in caplog.text
        with h.state() as state:
            assert state.read_cursor == 2
            assert {n: r.cursor for n, r in state.handlers().items()} == {
                "a_first": 2,
                "stuck_handler": 2,
            }
    finally:
        release.set()
    # Should the handler return after all, the daemon's thread does nothing more.
    wait_until(lambda: ("stuck_handler", 3) in h.calls, 10, "the handler to return")
    assert h.got("a_first") == [1, 2, 3]
    assert runner.is_alive()


def test_a_slow_handler_that_finishes_is_reported_once_done(
    h: Any, caplog: pytest.LogCaptureFixture
) -> None:
    h.add(1)
    daemon = h.daemon([h.recorder("slow")], h.config({"slow": {"timeout": 1}}), once=True)
    daemon.run()
    watch = daemon.watch
    caplog.set_level(logging.INFO, "evframe.daemon")
    event = object()
    watch.begin("slow", event)  # type: ignore[arg-type]
    watch.check()  # calls are timed from the watchdog's first look
    h.clock.advance(2)
    watch.check()
    watch.end()
    watch.check()
    assert "handler slow is done with event" in caplog.text
    assert watch.reports == 1
