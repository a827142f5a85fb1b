"""The webhook listener over loopback: signatures, sizes, batches, slow and busy clients."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from evframe.config import WebhookConfig
from evframe.daemon.webhook import Intake, event_ids, sign, verify

SECRET = "hook-token-1234"


def delivery(*ids: int, batch: bool = False) -> dict[str, Any]:
    events = [
        {
            "id": f"{i}.0.0",
            "event_log_entry_id": i,
            "event_type": "Shotgun_Shot_Change",
            "operation": "update",
            "user": {"type": "HumanUser", "id": 1},
            "entity": {"type": "Shot", "id": 2},
            "project": {"type": "Project", "id": 3},
            "meta": {"type": "attribute_change", "attribute_name": "code"},
            "created_at": "2024-05-01 10:00:00.000000",
            "attribute_name": "code",
            "session_uuid": None,
        }
        for i in ids
    ]
    data = {"deliveries": events} if batch else events[0]
    return {"data": data, "timestamp": "2024-05-01T10:00:00Z"}


@pytest.fixture
def intake() -> Iterator[tuple[Intake, list[int]]]:
    got: list[int] = []
    config = WebhookConfig(listen="127.0.0.1:0", max_body=100_000, read_timeout=0.5, max_clients=2)
    server = Intake(config, SECRET, got.extend).start()
    yield server, got
    server.stop()


def post(server: Intake, body: bytes, headers: dict[str, str] | None = None) -> int:
    host, port = server.url.split("//")[1].split("/")[0].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request("POST", server.config.path, body=body, headers=headers or {})
    status = conn.getresponse().status
    conn.close()
    return status


def signed(payload: Any, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, {"X-SG-SIGNATURE": sign(body, secret), "Content-Type": "application/json"}


def raw(server: Intake) -> socket.socket:
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def test_signature_round_trip_and_constant_shape():
    assert sign(b"{}", "k").startswith("sha1=") and len(sign(b"{}", "k")) == 45
    assert verify(b"{}", sign(b"{}", "k"), "k")
    assert not verify(b"{}", sign(b"{}", "other"), "k")
    assert not verify(b"{}", None, "k") and not verify(b"{}", "", "k")


def test_event_ids_of_one_event_and_of_a_batch():
    assert event_ids(delivery(7)) == [7]
    assert event_ids(delivery(3, 1, 2, batch=True)) == [3, 1, 2]
    assert event_ids({"data": {"deliveries": [{"data": {"event_log_entry_id": 5}}]}}) == [5]
    for bad in ({}, [], {"data": 1}, {"data": {"deliveries": 1}}, {"data": {"id": "x"}}):
        with pytest.raises(ValueError):
            event_ids(bad)


def test_a_signed_delivery_is_accepted_and_its_ids_handed_on(intake):
    server, got = intake
    assert post(server, *signed(delivery(11))) == 200
    assert post(server, *signed(delivery(12, 13, batch=True))) == 200
    assert got == [11, 12, 13]
    assert server.counters["accepted"] == 2 and server.counters["events"] == 3


def test_a_stripped_payload_is_a_delivery_like_any_other(intake):
    server, got = intake
    payload = delivery(21)
    del payload["data"]["meta"]
    payload["data"]["warning"] = "payload over 1 MB: old_value and new_value removed"
    assert post(server, *signed(payload)) == 200
    assert got == [21]


@pytest.mark.parametrize("secret", [None, "wrong-token"])
def test_unsigned_or_forged_deliveries_are_refused(intake, secret):
    server, got = intake
    body, headers = signed(delivery(5), secret or SECRET)
    if secret is None:
        del headers["X-SG-SIGNATURE"]
    assert post(server, body, headers) == 401
    assert got == [] and server.counters["unauthorized"] == 1


def test_a_signature_of_another_body_is_refused(intake):
    server, got = intake
    _, headers = signed(delivery(5))
    assert post(server, json.dumps(delivery(6)).encode(), headers) == 401
    assert got == []


def test_a_signed_body_that_is_no_delivery_is_a_bad_request(intake):
    server, got = intake
    body = b"not json"
    assert post(server, body, {"X-SG-SIGNATURE": sign(body, SECRET)}) == 400
    assert post(server, *signed({"hello": 1})) == 400
    assert got == []


def test_a_body_over_the_limit_is_refused_before_it_is_read(intake):
    server, got = intake
    sock = raw(server)
    started = time.monotonic()
    head = f"POST {server.config.path} HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n"
    sock.sendall(head.encode())
    reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413")
    assert time.monotonic() - started < 0.4  # well before the read timeout
    sock.close()
    assert server.counters["too_large"] == 1 and got == []


def test_a_slow_client_is_cut_off_and_others_are_served_meanwhile(intake):
    server, got = intake
    slow = raw(server)
    slow.sendall(
        f"POST {server.config.path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{".encode()
    )
    begun = time.monotonic()
    assert post(server, *signed(delivery(1))) == 200
    assert time.monotonic() - begun < 0.4
    reply = slow.recv(4096)  # the listener gives up on it after read_timeout
    assert reply.startswith(b"HTTP/1.1 408") or reply == b""
    slow.close()
    assert got == [1]


def test_more_clients_than_allowed_get_503(intake):
    server, _ = intake
    held = [raw(server) for _ in range(2)]
    for sock in held:  # each holds a slot while it sends its request slowly
        sock.sendall(f"POST {server.config.path} HTTP/1.1\r\n".encode())
    deadline = time.monotonic() + 5
    while server.busy_slots() < 2 and time.monotonic() < deadline:
        time.sleep(0.01)  # a poll interval: wait until the server took both connections
    extra = raw(server)
    assert extra.recv(4096).startswith(b"HTTP/1.1 503")
    extra.close()
    for sock in held:
        sock.close()
    assert server.counters["busy"] >= 1


def test_other_paths_and_methods(intake):
    server, _ = intake
    host_port = server.url.split("//")[1].split("/")[0]
    conn = http.client.HTTPConnection(host_port, timeout=5)
    conn.request("POST", "/elsewhere", body=b"{}")
    assert conn.getresponse().status == 404
    conn = http.client.HTTPConnection(host_port, timeout=5)
    conn.request("GET", server.config.path)
    assert conn.getresponse().status == 405
