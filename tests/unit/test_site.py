"""Tests for evframe.site: making connections, describing failures, SiteGuard's
retries and logging, and the per-handler connections."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, NoReturn
from xmlrpc.client import ProtocolError

import pytest
from shotgun_api3.shotgun import AuthenticationFault, Shotgun

from evframe.config import Config, HandlerConfig, SiteConfig
from evframe.site import (
    Connections,
    SiteGuard,
    Stopping,
    daemon_session,
    describe_error,
    make_shotgun,
)

URL = "https://studio.example.com"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach a server fails the test."""

    def refuse(self: Shotgun) -> NoReturn:
        raise AssertionError("a connection to the site was made")

    monkeypatch.setattr(Shotgun, "_get_connection", refuse)


@pytest.fixture
def caplog_site(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="evframe.site")
    return caplog


def site_records(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "evframe.site"]


def failing(*errors: BaseException, result: Any = "ok") -> Callable[[], Any]:
    """A callable that raises ``errors`` one per call, then returns ``result``."""
    pending = list(errors)

    def call() -> Any:
        if pending:
            raise pending.pop(0)
        return result

    return call


def guard(**kwargs: Any) -> SiteGuard:
    kwargs.setdefault("base", 0.001)
    kwargs.setdefault("cap", 0.001)
    return SiteGuard(threading.Event(), **kwargs)


def http_error(code: int) -> ProtocolError:
    return ProtocolError(URL + "/api3/json", code, "Service Unavailable", {})


# -- make_shotgun -----------------------------------------------------


def test_make_shotgun_sets_timeout_and_attempts_without_connecting() -> None:
    sg = make_shotgun(URL, "evframe", "secret", timeout=12.5, rpc_attempts=2)
    assert isinstance(sg, Shotgun)
    assert sg.config.timeout_secs == 12.5
    assert sg.config.max_rpc_attempts == 2
    assert sg.config.script_name == "evframe"
    assert sg.config.api_key == "secret"
    assert sg.config.server == "studio.example.com"
    assert sg._connection is None


def test_make_shotgun_defaults_and_proxy() -> None:
    sg = make_shotgun(URL, "evframe", "secret", http_proxy="proxy.example.com:3128")
    assert sg.config.timeout_secs == 30.0
    assert sg.config.max_rpc_attempts == 1
    assert sg.config.proxy_server == "proxy.example.com"
    assert sg.config.proxy_port == 3128
    assert sg._connection is None


# -- describe_error ---------------------------------------------------


def test_describe_authentication_fault() -> None:
    text = describe_error(AuthenticationFault("Can't authenticate script 'evframe'"))
    assert "refused the script credentials" in text
    assert "EVFRAME_SCRIPT_NAME" in text
    assert "EVFRAME_API_KEY" in text
    assert text.endswith("Can't authenticate script 'evframe'")


def test_describe_http_503() -> None:
    assert describe_error(http_error(503)) == (
        "the site is down for maintenance or too busy (HTTP 503)"
    )


def test_describe_http_502() -> None:
    assert describe_error(http_error(502)) == "the site answered HTTP 502"


def test_describe_plain_exception() -> None:
    assert describe_error(ConnectionResetError("peer reset")) == (
        "ConnectionResetError: peer reset"
    )
    assert describe_error(TimeoutError()) == "TimeoutError: TimeoutError"


# -- SiteGuard --------------------------------------------------------


def test_call_returns_the_result(caplog_site: pytest.LogCaptureFixture) -> None:
    g = guard()
    assert g.call("find events", lambda: [1, 2]) == [1, 2]
    assert (g.requests, g.failures) == (1, 0)
    assert g.down_since is None
    assert site_records(caplog_site) == []


def test_call_retries_until_it_succeeds(caplog_site: pytest.LogCaptureFixture) -> None:
    g = guard()
    func = failing(ConnectionResetError("reset"), ConnectionResetError("reset"), result=42)
    assert g.call("find events", func) == 42
    assert (g.requests, g.failures) == (3, 2)
    assert g.down_since is None
    records = site_records(caplog_site)
    assert records[0] == (
        "WARNING",
        "find events failed: ConnectionResetError: reset; "
        "retrying with backoff until the site answers",
    )
    assert [level for level, _ in records] == ["WARNING", "INFO"]
    assert records[1][1].startswith("site reachable again after ")


def test_attempts_bounds_the_calls_and_raises_the_last_failure(
    caplog_site: pytest.LogCaptureFixture,
) -> None:
    once = guard(attempts=1)
    with pytest.raises(ConnectionResetError, match="first"):
        once.call("find events", failing(ConnectionResetError("first")))
    assert (once.requests, once.failures) == (1, 1)
    assert site_records(caplog_site) == [], "a bounded call that gives up warns of no retrying"
    twice = guard(attempts=2)
    assert twice.call("find events", failing(ConnectionResetError("reset"), result=7)) == 7
    with pytest.raises(ConnectionResetError, match="second"):
        twice.call(
            "find events", failing(ConnectionResetError("a"), ConnectionResetError("second"))
        )


def test_reachable_again_is_logged_once(caplog_site: pytest.LogCaptureFixture) -> None:
    g = guard()
    g.call("find events", failing(OSError("down")))
    g.call("find events", lambda: 1)
    g.call("find events", lambda: 2)
    again = [m for _, m in site_records(caplog_site) if "reachable again" in m]
    assert len(again) == 1
    assert (g.requests, g.failures) == (4, 1)


def test_warning_once_per_change_of_reason(caplog_site: pytest.LogCaptureFixture) -> None:
    g = guard(error_after=3600.0)
    func = failing(
        http_error(503),
        http_error(503),
        http_error(503),
        http_error(502),
        http_error(502),
        http_error(503),
    )
    assert g.call("find events", func) == "ok"
    warnings = [m for level, m in site_records(caplog_site) if level == "WARNING"]
    assert warnings == [
        "find events failed: the site is down for maintenance or too busy (HTTP 503); "
        "retrying with backoff until the site answers",
        "site still unavailable, now: the site answered HTTP 502",
        "site still unavailable, now: the site is down for maintenance or too busy (HTTP 503)",
    ]
    assert not [m for level, m in site_records(caplog_site) if level == "ERROR"]
    assert (g.requests, g.failures) == (7, 6)


def test_new_trouble_after_recovery_warns_again(caplog_site: pytest.LogCaptureFixture) -> None:
    g = guard()
    g.call("find events", failing(OSError("down")))
    g.call("read schema", failing(OSError("down")))
    warnings = [m for level, m in site_records(caplog_site) if level == "WARNING"]
    assert warnings == [
        "find events failed: OSError: down; retrying with backoff until the site answers",
        "read schema failed: OSError: down; retrying with backoff until the site answers",
    ]


def test_error_after_error_after(caplog_site: pytest.LogCaptureFixture) -> None:
    g = guard(error_after=0.0, remind_every=3600.0)
    down = [OSError("down")] * 5
    g.call("find events", failing(*down))
    errors = [m for level, m in site_records(caplog_site) if level == "ERROR"]
    # Once, not once per attempt (the reminder is an hour away).
    assert len(errors) == 1
    assert errors[0].startswith("site unavailable for ")
    assert errors[0].endswith(" s: OSError: down; still retrying")


def test_error_is_repeated_every_remind_every(caplog_site: pytest.LogCaptureFixture) -> None:
    g = guard(error_after=0.0, remind_every=0.0)
    g.call("find events", failing(*[OSError("down")] * 4))
    errors = [m for level, m in site_records(caplog_site) if level == "ERROR"]
    # The first failure warns; each later one errors (first time, then reminders).
    assert len(errors) == 3


def test_no_error_before_error_after(caplog_site: pytest.LogCaptureFixture) -> None:
    g = guard(error_after=3600.0, remind_every=0.0)
    g.call("find events", failing(*[OSError("down")] * 4))
    assert [level for level, _ in site_records(caplog_site)] == ["WARNING", "INFO"]


def test_error_again_in_new_trouble_after_recovery(
    caplog_site: pytest.LogCaptureFixture,
) -> None:
    g = guard(error_after=0.0, remind_every=3600.0)
    g.call("find events", failing(OSError("down"), OSError("down")))
    g.call("find events", failing(OSError("down"), OSError("down")))
    errors = [m for level, m in site_records(caplog_site) if level == "ERROR"]
    assert len(errors) == 2


def test_stopping_before_the_call() -> None:
    g = guard()
    g.stopping.set()
    calls: list[int] = []
    with pytest.raises(Stopping):
        g.call("find events", lambda: calls.append(1))
    assert calls == []
    assert (g.requests, g.failures) == (0, 0)


def test_stopping_while_waiting(caplog_site: pytest.LogCaptureFixture) -> None:
    # A long backoff: only the stop event can end the wait.
    g = guard(base=3600.0, cap=3600.0)

    def fail_and_stop() -> NoReturn:
        g.stopping.set()
        raise OSError("down")

    with pytest.raises(Stopping) as info:
        g.call("find events", fail_and_stop)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
    assert (g.requests, g.failures) == (1, 1)
    assert g.down_since is not None
    assert [level for level, _ in site_records(caplog_site)] == ["WARNING"]


def test_stopping_is_not_an_exception() -> None:
    assert not issubclass(Stopping, Exception)
    g = guard()

    def stop() -> NoReturn:
        raise Stopping()

    with pytest.raises(Stopping):
        g.call("find events", stop)
    assert (g.requests, g.failures) == (1, 0)


def test_counters_add_up_over_calls() -> None:
    g = guard()
    g.call("a", lambda: None)
    g.call("b", failing(OSError("x"), OSError("y"), OSError("z")))
    g.call("c", failing(OSError("x")))
    assert (g.requests, g.failures) == (7, 4)


# -- Connections ------------------------------------------------------


def make_config(**handlers: HandlerConfig) -> Config:
    site = SiteConfig(
        url=URL,
        script_name="evframe",
        api_key="daemon-key",
        timeout=7.0,
        http_proxy="proxy.example.com:3128",
    )
    return Config(site=site, handlers=handlers)


@pytest.fixture
def config() -> Config:
    return make_config(
        own=HandlerConfig("own", script_name="own-script", api_key="own-key"),
        half=HandlerConfig("half", script_name="half-script"),  # no key: the daemon's
        session=HandlerConfig("session", pass_session_uuid=True),
        session2=HandlerConfig("session2", pass_session_uuid=True),
        own_session=HandlerConfig(
            "own_session", script_name="own-script", api_key="own-key", pass_session_uuid=True
        ),
    )


@pytest.fixture
def connections(config: Config) -> Iterator[Connections]:
    conns = Connections(config, URL)
    yield conns
    conns.close()


def test_handlers_share_the_daemons_credentials(connections: Connections) -> None:
    a = connections.for_handler("unconfigured")
    b = connections.for_handler("another")
    half = connections.for_handler("half")
    assert a is b is half
    assert a.config.script_name == "evframe"
    assert a.config.api_key == "daemon-key"
    assert a.config.timeout_secs == 7.0
    assert a.config.max_rpc_attempts == 3
    assert a.config.proxy_server == "proxy.example.com"
    # The daemon marks its handlers' writes with a session of its own (own_writes).
    assert a.config.session_uuid == daemon_session(connections.config, "evframe")
    assert a._connection is None


def test_handler_with_its_own_credentials(connections: Connections) -> None:
    own = connections.for_handler("own")
    assert own is not connections.for_handler("unconfigured")
    assert own is connections.for_handler("own")
    assert (own.config.script_name, own.config.api_key) == ("own-script", "own-key")
    assert own.config.timeout_secs == 7.0


def test_same_credentials_share_a_connection() -> None:
    config = make_config(
        a=HandlerConfig("a", script_name="shared", api_key="k"),
        b=HandlerConfig("b", script_name="shared", api_key="k"),
        same_as_daemon=HandlerConfig("same_as_daemon", script_name="evframe", api_key="daemon-key"),
    )
    conns = Connections(config, URL)
    try:
        assert conns.for_handler("a") is conns.for_handler("b")
        assert conns.for_handler("same_as_daemon") is conns.for_handler("other")
        assert conns.for_handler("a") is not conns.for_handler("other")
    finally:
        conns.close()


def test_session_handlers_get_connections_of_their_own(connections: Connections) -> None:
    plain = connections.for_handler("unconfigured")
    own = connections.for_handler("own")
    session = connections.for_handler("session")
    own_session = connections.for_handler("own_session")
    assert len({id(plain), id(own), id(session), id(own_session)}) == 4
    # Session handlers with one credential set share theirs.
    assert connections.for_handler("session2") is session
    assert session.config.script_name == "evframe"
    assert own_session.config.script_name == "own-script"


def test_set_session_uuid_reaches_only_session_handlers(connections: Connections) -> None:
    plain = connections.for_handler("unconfigured")
    own = connections.for_handler("own")
    session = connections.for_handler("session")
    own_session = connections.for_handler("own_session")
    connections.set_session_uuid("5a1d49b0-0c69-11e0-a24c-003048d17544")
    assert session.config.session_uuid == "5a1d49b0-0c69-11e0-a24c-003048d17544"
    assert own_session.config.session_uuid == "5a1d49b0-0c69-11e0-a24c-003048d17544"
    # The others keep the daemon's own session, one per script.
    assert plain.config.session_uuid == daemon_session(connections.config, "evframe")
    assert own.config.session_uuid == daemon_session(connections.config, "own-script")
    assert plain.config.session_uuid != own.config.session_uuid
    connections.set_session_uuid(None)
    assert session.config.session_uuid is None
    assert own_session.config.session_uuid is None


def test_setting_the_same_session_again_changes_nothing(connections: Connections) -> None:
    session = connections.for_handler("session")
    connections.set_session_uuid("abc")
    session.config.session_uuid = "changed by hand"
    connections.set_session_uuid("abc")
    assert session.config.session_uuid == "changed by hand"


def test_session_set_before_the_connection_is_made(connections: Connections) -> None:
    connections.set_session_uuid("abc")
    session = connections.for_handler("session")
    assert session.config.session_uuid == "abc"
    plain = connections.for_handler("unconfigured")
    assert plain.config.session_uuid == daemon_session(connections.config, "evframe")


def test_close_closes_every_connection(
    connections: Connections, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[str] = []
    made = [connections.for_handler(name) for name in ("unconfigured", "own", "session")]
    for sg in made:
        monkeypatch.setattr(sg, "close", lambda sg=sg: closed.append(sg.config.script_name))
    connections.close()
    assert sorted(closed) == ["evframe", "evframe", "own-script"]
    # Made afresh after a close; a later session reaches the new one only.
    session = connections.for_handler("session")
    assert session is not made[2]
    connections.set_session_uuid("after")
    assert session.config.session_uuid == "after"
    assert made[2].config.session_uuid is None
