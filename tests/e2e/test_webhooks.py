"""``evframe serve`` with webhook deliveries from a sandbox process: lossy deliveries,
forged ones, a huge body and a slow client."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import signal
import socket
import sys
import time
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import pytest

from evframe.testing import wait_until
from support.e2e import expected_ids, has_all, ids_by_handler, missing_report, read_records

# What this suite tests does not depend on the executor (or hooks the inline one).
pytestmark = [pytest.mark.e2e, pytest.mark.inline_only]

RECORDERS = ("rec_all", "rec_task_status", "rec_after")
SECRET_ENV = "EVFRAME_E2E_WEBHOOK_TOKEN"
SECRET = "e2e-webhook-token-9d2a"


def start_with_webhooks(daemon: Any, sandbox: Any, backstop: float) -> tuple[Any, str]:
    """Start the daemon with a listener on a free port; register it on the sandbox."""
    extra = (
        '\n[webhook]\nlisten = "127.0.0.1:0"\n'
        f'secret_env = "{SECRET_ENV}"\nbackstop_interval = {backstop}\n'
    )
    config = daemon.write_config(extra=extra)
    env = {**daemon.env(), SECRET_ENV: SECRET}
    cmd = [sys.executable, "-m", "evframe", "serve", "--config", str(config)]
    proc = daemon.procs.start("serve", cmd, env=env)
    line = proc.wait_log(r"webhook listener on http://", timeout=30)[0]
    url = line.rsplit(" ", 1)[-1]
    proc.wait_log(r"evframe\.daemon: serving ", timeout=30)
    sandbox.faults()  # the sandbox answers
    _admin(sandbox, "/_sandbox/webhooks", {"url": url, "secret": SECRET})
    return proc, url


def _admin(sandbox: Any, path: str, payload: dict[str, Any] | None = None) -> Any:
    data = json.dumps(payload).encode() if payload is not None else None
    with urllib.request.urlopen(f"{sandbox.url}{path}", data=data, timeout=10) as resp:
        return json.loads(resp.read())


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=10)
    conn.request("POST", parts.path, body=body, headers=headers)
    status = conn.getresponse().status
    conn.close()
    return status


def _delivery(event_id: int) -> bytes:
    return json.dumps({"data": {"event_log_entry_id": event_id}, "timestamp": "x"}).encode()


def test_lossy_deliveries_give_every_event_exactly_once_in_order(
    daemon: Any, sandbox: Any, writer: Any
) -> None:
    proc, _ = start_with_webhooks(daemon, sandbox, backstop=2.0)
    sandbox.faults(webhook_drop_rate=0.3, webhook_duplicate_rate=0.1, webhook_reorder_rate=0.2)
    writer.steps(120)
    events = sandbox.events()
    want = expected_ids(events)
    wait_until(
        lambda: has_all(daemon.records, want),
        60,
        "every event to reach every handler that wants it",
        detail=lambda: missing_report(daemon.records, want) + "\n" + proc.tail(),
    )
    got = ids_by_handler(read_records(daemon.records))
    for name in RECORDERS:
        assert got[name] == want[name], name  # exactly once each, in event order
    records = _admin(sandbox, "/_sandbox/webhooks")["deliveries"]
    statuses = {d["status"] for d in records}
    assert {"delivered", "dropped"} <= statuses
    assert any(d["duplicate"] for d in records)
    assert all(d["http_status"] == 200 for d in records if d["status"] == "delivered")
    proc.signal(signal.SIGTERM)
    assert proc.wait_exit(10) == 0, proc.tail()
    assert proc.log_lines(r"webhook deliveries are arriving"), proc.tail()


def test_forged_huge_and_slow_requests_stall_nothing(
    daemon: Any, sandbox: Any, writer: Any
) -> None:
    # A long backstop: an event that arrives fast arrived through its delivery.
    proc, url = start_with_webhooks(daemon, sandbox, backstop=60.0)
    writer.step()
    wait_until(lambda: has_all(daemon.records, expected_ids(sandbox.events())),
                   20, "the first events", detail=proc.tail)  # fmt: skip
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port
    assert host and port

    # Forged and unsigned deliveries for an event that does not exist yet.
    newest = sandbox.events()[-1]["id"]
    body = _delivery(newest + 1)
    forged = "sha1=" + hmac.new(b"not-the-token", body, hashlib.sha1).hexdigest()
    assert _post(url, body, {"X-SG-SIGNATURE": forged}) == 401
    assert _post(url, body, {}) == 401

    # A slow client holding a connection, and a 10 MB body being pushed.
    slow = socket.create_connection((host, port), timeout=10)
    slow.sendall(f"POST {parts.path} HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{{".encode())
    huge = socket.create_connection((host, port), timeout=10)
    size = 10 * 1024 * 1024
    huge.sendall(
        f"POST {parts.path} HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode()
    )
    try:
        huge.sendall(b"x" * size)
    except OSError:
        pass  # refused and closed before it was all sent: as intended
    assert huge.recv(4096).startswith(b"HTTP/1.1 413")
    huge.close()

    begun = time.monotonic()
    writer.step()
    want = expected_ids(sandbox.events())
    wait_until(lambda: has_all(daemon.records, want), 20, "the new event",
                   detail=proc.tail)  # fmt: skip
    took = time.monotonic() - begun
    assert took < 5.0, f"an event took {took:.1f} s with a slow client and a huge body around"
    slow.close()

    got = ids_by_handler(read_records(daemon.records))
    for name in RECORDERS:
        assert got[name] == want[name], name
    proc.signal(signal.SIGTERM)
    assert proc.wait_exit(10) == 0, proc.tail()
    (summary,) = proc.log_lines(r"webhook listener stopped")
    assert "unauthorized 2" in summary and "too_large 1" in summary, summary
