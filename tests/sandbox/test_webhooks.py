"""The sandbox as a webhook sender: formats, signatures, filters, faults, delivery records."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from evframe.daemon.webhook import event_ids, verify
from evframe.sandbox import Sandbox
from evframe.sandbox.webhooks import WebhookTarget, encode, parse_target

SCRIPT, KEY = "test_script", "test-key-123"
SECRET = "s3cret-token"


class Receiver:
    """A webhook receiver that records every request and answers ``status``."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.cond:
                    receiver.requests.append((dict(self.headers), body))
                    receiver.cond.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait(self, cond: Callable[[], bool], what: str) -> None:
        with self.cond:
            if not self.cond.wait_for(cond, timeout=10):
                pytest.fail(f"timed out waiting for {what}; got {len(self.requests)} request(s)")

    def ids(self) -> list[int]:
        return [i for _, body in self.requests for i in event_ids(json.loads(body))]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def site(*targets: WebhookTarget) -> Sandbox:
    return Sandbox(scripts={SCRIPT: KEY}, webhooks=targets).start()


def write_shots(sb: Sandbox, count: int) -> list[int]:
    sg = sb.client()
    project = sg.create("Project", {"name": "p"})
    for i in range(count):
        sg.create("Shot", {"code": f"sh{i}", "project": project})
    rows = sg.find("EventLogEntry", [], ["id"], order=[{"field_name": "id", "direction": "asc"}])
    sg.close()
    return [r["id"] for r in rows]


def test_parse_target():
    assert parse_target("http://h:1/hook:tok").secret == "tok"
    assert parse_target("http://h:1/hook").secret is None
    assert parse_target("http://h:1/hook").url == "http://h:1/hook"
    assert parse_target("http://h:1:tok").url == "http://h:1"
    with pytest.raises(ValueError):
        parse_target("ftp://h/x")


def test_one_signed_delivery_per_event_in_the_sites_format(receiver):
    sb = site(WebhookTarget(receiver.url, SECRET))
    try:
        ids = write_shots(sb, 2)
        receiver.wait(lambda: len(receiver.requests) >= len(ids), "a delivery per event")
        assert receiver.ids() == ids
        headers, body = receiver.requests[-1]
        assert verify(body, headers["X-SG-SIGNATURE"], SECRET)
        for name in ("WEBHOOK-ID", "DELIVERY-ID", "EVENT-BATCH-ID", "EVENT-BATCH-SIZE",
                     "EVENT-BATCH-INDEX", "WEBHOOK-SITE-URL"):  # fmt: skip
            assert f"X-SG-{name}" in headers, name
        assert headers["X-SG-WEBHOOK-SITE-URL"] == sb.url
        data = json.loads(body)["data"]
        assert set(data) == {
            "id", "event_log_entry_id", "event_type", "operation", "user", "entity", "project",
            "meta", "created_at", "attribute_name", "session_uuid",
        }  # fmt: skip
        assert data["operation"] in ("create", "update")
        records = sb.webhooks.snapshot()
        assert records["webhooks"][0]["status"] == "active"
        assert {d["status"] for d in records["deliveries"]} == {"delivered"}
    finally:
        sb.stop()


def test_batched_and_filtered_deliveries(receiver):
    sb = site(WebhookTarget(receiver.url, None, batch=50, filters=("Shot.code",)))
    try:
        write_shots(sb, 5)
        receiver.wait(lambda: len(receiver.ids()) >= 5, "the code changes of five shots")
        time.sleep(0.2)  # nothing else may follow (a margin, not a synchronisation)
        for headers, body in receiver.requests:
            assert "X-SG-SIGNATURE" not in headers
            assert "deliveries" in json.loads(body)["data"]
        events = [e for _, b in receiver.requests for e in json.loads(b)["data"]["deliveries"]]
        assert {(e["event_type"], e["attribute_name"]) for e in events} == {
            ("Shotgun_Shot_Change", "code")
        }
    finally:
        sb.stop()


def test_a_write_that_fails_posts_nothing(receiver):
    sb = site(WebhookTarget(receiver.url))
    try:
        sg = sb.client()
        with pytest.raises(Exception, match="sg_nope"):
            sg.create("Shot", {"code": "x", "sg_nope": 1})
        sg.create("Project", {"name": "after"})
        sg.close()
        receiver.wait(lambda: bool(receiver.requests), "the project's deliveries")
        events = [json.loads(b)["data"] for _, b in receiver.requests]
        assert all(e["entity"]["type"] == "Project" for e in events)
    finally:
        sb.stop()


def test_faults_drop_duplicate_and_reorder(receiver):
    sb = site(WebhookTarget(receiver.url))
    sb.webhooks.faults.rng.seed(3)
    sb.webhooks.faults.apply(
        {"webhook_drop_rate": 0.3, "webhook_duplicate_rate": 0.2, "webhook_reorder_rate": 0.2}
    )
    try:
        ids = write_shots(sb, 30)
        records = sb.webhooks.deliveries

        def settled() -> bool:
            done = [d for d in list(records) if not d["duplicate"]]
            return sum(len(d["event_ids"]) for d in done) >= len(ids)

        receiver.wait(settled, "every event delivered or dropped")
        got = receiver.ids()
        dropped = [i for d in records if d["status"] == "dropped" for i in d["event_ids"]]
        assert dropped and set(got) | set(dropped) == set(ids)
        assert len(got) > len(set(got)), "no duplicate"
        assert got != sorted(got), "no reordering"
    finally:
        sb.stop()


def test_a_receiver_that_keeps_failing_makes_the_webhook_unstable_then_failed(receiver):
    receiver.status = 500
    sb = site(WebhookTarget(receiver.url))
    try:
        write_shots(sb, 8)
        hooks = sb.webhooks
        receiver.wait(lambda: len(receiver.requests) >= 20, "twenty failed deliveries")
        time.sleep(0.2)  # a margin for the last record to be written
        assert hooks.snapshot()["webhooks"][0]["status"] == "failed"
        statuses = [d["status"] for d in hooks.deliveries]
        assert "failed" in statuses and "not sent: webhook failed" in statuses
    finally:
        sb.stop()


def test_webhooks_and_their_faults_on_the_admin_endpoint(receiver):
    sb = Sandbox(scripts={SCRIPT: KEY}).start()
    try:

        def admin(path: str, payload: dict[str, Any] | None = None) -> Any:
            data = json.dumps(payload).encode() if payload is not None else None
            with urllib.request.urlopen(f"{sb.url}{path}", data=data, timeout=10) as resp:
                return json.loads(resp.read())

        shown = admin("/_sandbox/webhooks", {"url": receiver.url, "secret": SECRET})
        assert shown["webhooks"][0]["signed"] is True
        faults = admin("/_sandbox/faults", {"webhook_delay": 0.01, "latency": 0})
        assert faults["webhook_delay"] == 0.01
        write_shots(sb, 1)
        receiver.wait(lambda: bool(receiver.requests), "a delivery")
        assert admin("/_sandbox/webhooks")["deliveries"]
    finally:
        sb.stop()


def test_an_oversized_payload_loses_old_and_new_values_and_says_so():
    meta = {"old_value": "x" * 600_000, "new_value": "y" * 600_000, "type": "attribute_change"}
    event = {"event_log_entry_id": 1, "meta": meta}
    body = json.loads(encode([event], batched=False))
    assert "old_value" not in body["data"]["meta"] and "warning" in body["data"]
