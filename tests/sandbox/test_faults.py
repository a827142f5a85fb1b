"""Fault injection, from Python and over the admin endpoint, as the client sees it."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from shotgun_api3 import shotgun

from evframe.sandbox import Faults, Sandbox


def admin(sb: Sandbox, changes: dict[str, Any] | None = None) -> dict[str, Any]:
    data = None if changes is None else json.dumps(changes).encode()
    with urllib.request.urlopen(f"{sb.url}/_sandbox/faults", data=data, timeout=10) as resp:
        result: dict[str, Any] = json.loads(resp.read())
        return result


def test_latency_is_added_to_every_request(sg: shotgun.Shotgun, faults: Faults) -> None:
    faults.latency = 0.25
    t0 = time.perf_counter()
    sg.find("Shot", [])
    assert time.perf_counter() - t0 >= 0.25  # a lower bound: a slow machine only adds to it
    faults.latency = 0
    # Twenty requests would take at least 5 s if the latency still applied; without it
    # they take milliseconds, so the 5 s bound holds on the slowest machine.
    t0 = time.perf_counter()
    for _ in range(20):
        sg.find("Shot", [])
    assert time.perf_counter() - t0 < 20 * 0.25


def test_maintenance_answers_503(sg: shotgun.Shotgun, faults: Faults) -> None:
    faults.maintenance(True)
    with pytest.raises(shotgun.ProtocolError) as err:
        sg.find("Shot", [])
    assert err.value.errcode == 503
    assert "maintenance" in err.value.errmsg
    faults.maintenance(False)
    assert len(sg.find("Shot", [])) == 7


def test_maintenance_for_some_seconds(sg: shotgun.Shotgun, faults: Faults) -> None:
    faults.maintenance(True, seconds=600)
    with pytest.raises(shotgun.ProtocolError):
        sg.find("Shot", [])
    assert faults.snapshot()["maintenance_seconds_left"] > 590
    faults.advance(601)  # the fault clock moves; nobody sleeps
    assert len(sg.find("Shot", [])) == 7
    assert faults.snapshot()["maintenance"] is False


def test_one_dropped_connection_is_retried_by_the_client(
    sg: shotgun.Shotgun, faults: Faults
) -> None:
    sg.find("Shot", [])  # open the keep-alive connection
    before = faults.requests_seen
    faults.drop_next(1)
    # httplib2 (inside shotgun_api3) silently re-sends the POST once.
    assert len(sg.find("Shot", [])) == 7
    assert faults.requests_seen - before == 2


def test_dropped_connections_reach_the_caller(sg: shotgun.Shotgun, faults: Faults) -> None:
    sg.find("Shot", [])
    faults.drop_next(2)
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        sg.find("Shot", [])
    assert len(sg.find("Shot", [])) == 7  # a new connection works


def test_drop_rate(sandbox: Sandbox, faults: Faults) -> None:
    faults.drop_rate = 1.0
    sg = shotgun.Shotgun(sandbox.url, "test_script", "test-key-123", connect=False)
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        sg.find("Shot", [])
    faults.drop_rate = 0.0
    assert len(sg.find("Shot", [])) == 7
    sg.close()


def test_error_replies(sg: shotgun.Shotgun, faults: Faults) -> None:
    faults.error_next(1, "http500")
    with pytest.raises(shotgun.ProtocolError) as err:
        sg.find("Shot", [])
    assert err.value.errcode == 500
    faults.error_next(2, "exception")
    for _ in range(2):
        with pytest.raises(shotgun.Fault, match="Injected error"):
            sg.find("Shot", [])
    assert len(sg.find("Shot", [])) == 7
    faults.error_rate = 1.0
    with pytest.raises(shotgun.Fault):
        sg.find("Shot", [])
    faults.error_rate = 0.0


def test_late_visible_event_ids(sg: shotgun.Shotgun, faults: Faults, log: Any) -> None:
    faults.hide_next_events(1, seconds=30)
    sg.update("Shot", 1, {"description": "first"})  # gets the hidden id
    sg.update("Shot", 1, {"description": "second"})
    visible = log.since()
    hidden_id = log.cursor + 1
    assert [r["id"] for r in visible] == [hidden_id + 1]
    assert sg.find("EventLogEntry", [["id", "is", hidden_id]]) == []
    assert sg.find("EventLogEntry", [["id", "in", [hidden_id, hidden_id + 1]]], ["id"]) == [
        {"type": "EventLogEntry", "id": hidden_id + 1}
    ]
    # the generic (Python) read path hides it too
    assert (
        sg.find("EventLogEntry", [["id", "is", hidden_id], ["entity.Shot.code", "is", "010_0010"]])
        == []
    )
    assert faults.snapshot()["hidden_event_ids"] == [hidden_id]
    faults.advance(31)
    rows = log.since()
    assert [r["id"] for r in rows] == [hidden_id, hidden_id + 1]
    assert rows[0]["meta"]["new_value"] == "first"


def test_reveal_shows_hidden_ids_at_once(sg: shotgun.Shotgun, faults: Faults, log: Any) -> None:
    faults.hide_next_events(2, seconds=3600)
    sg.update("Shot", 1, {"description": "a"})
    assert log.since() == []
    faults.reveal()
    assert len(log.since()) == 1


def test_admin_endpoint(sandbox: Sandbox, sg: shotgun.Shotgun) -> None:
    state = admin(sandbox)
    assert state["latency"] == 0 and state["maintenance"] is False
    state = admin(sandbox, {"maintenance": True, "latency": 0.01})
    assert state["maintenance"] is True and state["latency"] == 0.01
    with pytest.raises(shotgun.ProtocolError):
        sg.find("Shot", [])
    admin(sandbox, {"reset": True})
    assert len(sg.find("Shot", [])) == 7
    state = admin(
        sandbox,
        {
            "hide_next_events": {"count": 1, "seconds": 100},
            "error_next": 1,
            "error_kind": "exception",
        },
    )
    assert state["hide_next_events"] == 1 and state["error_next"] == 1
    with pytest.raises(shotgun.Fault):
        sg.find("Shot", [])
    state = admin(sandbox, {"maintenance": 5})
    assert 0 < state["maintenance_seconds_left"] <= 5
    state = admin(sandbox, {"advance": 6})
    assert state["maintenance"] is False
    for bad, word in (({"latnecy": 1}, "latnecy"), ({"drop_rate": 2}, "drop_rate")):
        with pytest.raises(urllib.error.HTTPError) as err:
            admin(sandbox, bad)
        with err.value:
            assert err.value.code == 400
            assert word in err.value.read().decode()


def test_faults_validate_settings() -> None:
    with pytest.raises(ValueError, match="drop_rate"):
        Faults(drop_rate=1.5)
    with pytest.raises(ValueError, match="error_kind"):
        Faults(error_kind="teapot")
    faults = Faults()
    with pytest.raises(ValueError, match="unknown fault setting"):
        faults.apply({"nope": 1})


def test_auth_failure_is_authentication_fault(sandbox: Sandbox) -> None:
    clients: list[shotgun.Shotgun] = []

    def client(*args: str, **kwargs: str) -> shotgun.Shotgun:
        clients.append(shotgun.Shotgun(sandbox.url, *args, connect=False, **kwargs))
        return clients[-1]

    try:
        with pytest.raises(shotgun.AuthenticationFault, match="bad script name or api key"):
            client("test_script", "wrong-key").find("Shot", [])
        with pytest.raises(shotgun.AuthenticationFault):
            client("nobody", "test-key-123").find("Shot", [])
        # No HumanUser has that login and password.
        with pytest.raises(shotgun.AuthenticationFault, match="bad login or password"):
            client(login="ann", password="pw").find("Shot", [])
        sandbox.add_script("other", "other-key")
        other = client("other", "other-key")
        assert len(other.find("Shot", [])) == 7
        keys = other.find("ApiUser", [], ["salted_password", "firstname"])
        assert {k["firstname"] for k in keys} >= {"other", "test_script"}
        assert all(k["salted_password"] is None for k in keys)  # keys are never echoed
    finally:
        for c in clients:
            c.close()
