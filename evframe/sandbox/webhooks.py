"""The sandbox posts webhook deliveries for the events it writes, as a site does.

Each :class:`WebhookTarget` is one webhook of the site: a URL, an optional
secret token (deliveries are then signed, ``X-SG-SIGNATURE: sha1=<hex>``), how
many events one delivery may carry (1: one per event; up to 50: the batched
format ``{"data": {"deliveries": [...]}}``) and an entity-type/field filter.
Events are posted after their write commits, from one sender thread per
webhook, so a slow receiver never slows a write.  Every delivery is recorded
with its status (``delivered``, ``failed``, ``dropped`` by a fault), HTTP status
and time taken; a webhook whose deliveries keep failing becomes ``unstable``,
then ``failed`` and stops delivering, as on a site.

Faults (:class:`WebhookFaults`, also on the admin endpoint as ``webhook_*``
keys) drop, duplicate, delay and reorder deliveries.
"""

from __future__ import annotations

import datetime as dt
import http.client
import itertools
import json
import queue
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from evframe.daemon.webhook import SIGNATURE_HEADER, sign
from evframe.sandbox.eventlog import NewEvent

__all__ = ["WebhookFaults", "WebhookTarget", "Webhooks", "parse_target"]

MAX_BATCH = 50
#: A site removes old_value/new_value from a payload over this size and says so.
PAYLOAD_LIMIT = 1_000_000
TIMEOUT = 6.0  # what a site gives a receiver
SLOW = 0.5  # above this a site marks a delivery slow
UNSTABLE_AFTER, FAILED_AFTER = 3, 20  # consecutive failures
_OPERATIONS = {"New": "create", "Change": "update", "Retirement": "delete", "Revival": "revive"}


@dataclass
class WebhookTarget:
    """One webhook: where deliveries go and which events it wants.

    ``filters``: ``"Shot"`` (every event of Shots) or ``"Task.sg_status_list"``
    (changes of that field); empty: every event.
    """

    url: str
    secret: str | None = None
    batch: int = 1
    filters: tuple[str, ...] = ()
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL {self.url!r}: expected http:// or https://")
        if not 1 <= self.batch <= MAX_BATCH:
            raise ValueError(f"webhook batch size must be 1..{MAX_BATCH}")

    def wants(self, event: NewEvent) -> bool:
        if not self.filters:
            return True
        etype = event.entity_type or (event.entity or {}).get("type")
        for spec in self.filters:
            ftype, _, fname = spec.partition(".")
            if ftype == etype and (not fname or fname == event.attribute_name):
                return True
        return False


def parse_target(spec: str, *, batch: int = 1, filters: Iterable[str] = ()) -> WebhookTarget:
    """``URL[:SECRET]``: the secret follows the last ``:`` after the URL's path."""
    url, secret = spec, None
    parts = urlsplit(spec)
    if parts.path and ":" in parts.path:
        url, _, secret = spec.rpartition(":")
    elif parts.netloc.count(":") > 1 and not parts.netloc.startswith("["):
        url, _, secret = spec.rpartition(":")  # http://host:port:secret
    return WebhookTarget(url, secret or None, batch, tuple(filters))


class WebhookFaults:
    """Drop, duplicate, delay and reorder deliveries (fractions are of deliveries)."""

    KEYS = ("drop_rate", "duplicate_rate", "reorder_rate", "delay")

    def __init__(self, seed: int | None = None) -> None:
        self.rng = random.Random(seed)
        self.drop_rate = self.duplicate_rate = self.reorder_rate = self.delay = 0.0

    def apply(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Take the ``webhook_*`` keys out of ``changes`` and apply them; the rest is returned."""
        rest = dict(changes)
        if rest.get("reset"):
            self.drop_rate = self.duplicate_rate = self.reorder_rate = self.delay = 0.0
        for name in self.KEYS:
            value = rest.pop(f"webhook_{name}", None)
            if value is None:
                continue
            number = float(value)
            if number < 0 or (name != "delay" and number > 1):
                raise ValueError(f"webhook_{name} out of range: {value!r}")
            setattr(self, name, number)
        return rest

    def snapshot(self) -> dict[str, float]:
        return {f"webhook_{name}": getattr(self, name) for name in self.KEYS}

    def roll(self, rate: float) -> bool:
        return bool(rate) and self.rng.random() < rate


class Webhooks:
    """The site's webhooks: fed by the store after each commit, one sender per webhook."""

    def __init__(
        self,
        targets: Iterable[WebhookTarget] = (),
        *,
        site_url: Callable[[], str],
        faults: WebhookFaults | None = None,
    ) -> None:
        self.site_url = site_url
        self.faults = faults or WebhookFaults()
        self.deliveries: deque[dict[str, Any]] = deque(maxlen=2000)
        self._lock = threading.Lock()
        self._senders: list[_Sender] = []
        self._batches = itertools.count(1)
        for target in targets:
            self.add(target)

    def add(self, target: WebhookTarget) -> WebhookTarget:
        sender = _Sender(target, self)
        with self._lock:
            self._senders.append(sender)
        sender.start()
        return target

    def add_from(self, spec: Mapping[str, Any]) -> WebhookTarget:
        """Add a webhook from ``{"url", "secret", "batch", "filters"}`` (the admin endpoint)."""
        known = {"url", "secret", "batch", "filters"}
        if not isinstance(spec.get("url"), str) or set(spec) - known:
            raise ValueError(f"expected a JSON object with url and optionally {known - {'url'}}")
        filters = spec.get("filters") or ()
        return self.add(
            WebhookTarget(
                spec["url"], spec.get("secret"), int(spec.get("batch", 1)), tuple(filters)
            )
        )

    def on_events(self, written: list[tuple[int, NewEvent]]) -> None:
        """Called by the store with the rows a transaction committed (must not block)."""
        for sender in self._senders:
            for event_id, event in written:
                if sender.target.wants(event):
                    sender.queue.put(payload_event(event_id, event))

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.deliveries.append(entry)

    def snapshot(self) -> dict[str, Any]:
        """Webhooks with their status and the recent deliveries (``GET /_sandbox/webhooks``)."""
        with self._lock:
            hooks = [s.describe() for s in self._senders]
            return {"webhooks": hooks, "deliveries": list(self.deliveries)}

    def stop(self) -> None:
        for sender in self._senders:
            sender.stopping.set()
        for sender in self._senders:
            sender.join(timeout=5)


def payload_event(event_id: int, event: NewEvent) -> dict[str, Any]:
    """One event as a delivery carries it."""
    kind = event.event_type.rsplit("_", 1)[-1]
    created = dt.datetime.strptime(event.created_at, "%Y-%m-%dT%H:%M:%SZ")
    return {
        "id": f"{event_id}.0.0",
        "event_log_entry_id": event_id,
        "event_type": event.event_type,
        "operation": _OPERATIONS.get(kind, kind.lower()),
        "user": _link(event.user),
        "entity": _link(event.entity),
        "project": _link(event.project),
        "meta": event.meta,
        "created_at": created.strftime("%Y-%m-%d %H:%M:%S.%f"),
        "attribute_name": event.attribute_name,
        "session_uuid": event.session_uuid,
    }


def _link(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return {"type": value["type"], "id": value["id"]} if value else None


def encode(events: list[dict[str, Any]], batched: bool) -> bytes:
    """The body of one delivery; over the site's limit, old and new values are left out."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    data: dict[str, Any] = {"deliveries": events} if batched else events[0]
    body = json.dumps({"data": data, "timestamp": stamp}).encode()
    if len(body) > PAYLOAD_LIMIT:
        for event in events:
            meta = {k: v for k, v in event["meta"].items() if k not in ("old_value", "new_value")}
            event["meta"] = meta
            event["warning"] = "payload over 1 MB: old_value and new_value were removed"
        body = json.dumps({"data": data, "timestamp": stamp}).encode()
    return body


@dataclass
class _Delivery:
    events: list[dict[str, Any]]
    body: bytes
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    batch_id: int = 0


class _Sender(threading.Thread):
    """Posts one webhook's deliveries in order (faults aside) over one connection."""

    def __init__(self, target: WebhookTarget, hooks: Webhooks) -> None:
        super().__init__(name=f"evframe-sandbox-webhook-{target.id[:8]}", daemon=True)
        self.target = target
        self.hooks = hooks
        self.queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self.stopping = threading.Event()
        self.status = "active"
        self.failures = 0
        self._held: _Delivery | None = None
        self._conn: http.client.HTTPConnection | None = None

    def describe(self) -> dict[str, Any]:
        t = self.target
        return {"id": t.id, "url": t.url, "signed": bool(t.secret), "batch": t.batch,
                "filters": list(t.filters), "status": self.status}  # fmt: skip

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                first = self.queue.get(timeout=0.1 if self._held else 0.5)
            except queue.Empty:
                if self._held is not None:  # nothing came to overtake it
                    held, self._held = self._held, None
                    self._send(held)
                continue
            events = [first]
            while len(events) < self.target.batch:
                try:
                    events.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            delivery = _Delivery(events, encode(events, self.target.batch > 1))
            delivery.batch_id = next(self.hooks._batches)
            self._fault_and_send(delivery)
        if self._conn is not None:
            self._conn.close()

    def _fault_and_send(self, delivery: _Delivery) -> None:
        faults = self.hooks.faults
        if self.status == "failed":
            self._record(delivery, "not sent: webhook failed", None, 0.0)
            return
        if faults.roll(faults.drop_rate):
            self._record(delivery, "dropped", None, 0.0)
            return
        if faults.delay and self.stopping.wait(faults.delay):
            return
        if self._held is None and faults.roll(faults.reorder_rate):
            self._held = delivery  # sent after the next one
            return
        self._send(delivery)
        if faults.roll(faults.duplicate_rate):
            self._send(delivery, duplicate=True)
        if self._held is not None:
            held, self._held = self._held, None
            self._send(held)

    def _headers(self, delivery: _Delivery) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "evframe-sandbox-webhooks",
            "X-SG-WEBHOOK-ID": self.target.id,
            "X-SG-DELIVERY-ID": delivery.id,
            "X-SG-EVENT-BATCH-ID": str(delivery.batch_id),
            "X-SG-EVENT-BATCH-SIZE": str(len(delivery.events)),
            "X-SG-EVENT-BATCH-INDEX": "0",
            "X-SG-WEBHOOK-SITE-URL": self.hooks.site_url(),
        }
        if self.target.secret:
            headers[SIGNATURE_HEADER] = sign(delivery.body, self.target.secret)
        return headers

    def _send(self, delivery: _Delivery, *, duplicate: bool = False) -> None:
        started = time.monotonic()
        status: int | None = None
        for attempt in range(2):  # a kept-alive connection the receiver closed: once more
            reused = self._conn is not None
            try:
                status = self._post(delivery)
                break
            except (OSError, http.client.HTTPException):
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                if not reused or attempt:
                    break
        took = time.monotonic() - started
        ok = status is not None and 200 <= status < 300
        self._record(delivery, "delivered" if ok else "failed", status, took, duplicate)
        self.failures = 0 if ok else self.failures + 1
        self.status = (
            "failed" if self.failures >= FAILED_AFTER
            else "unstable" if self.failures >= UNSTABLE_AFTER
            else "active"
        )  # fmt: skip

    def _post(self, delivery: _Delivery) -> int:
        if self._conn is None:
            parts = urlsplit(self.target.url)
            cls = (
                http.client.HTTPSConnection
                if parts.scheme == "https"
                else http.client.HTTPConnection
            )
            self._conn = cls(parts.netloc, timeout=TIMEOUT)
        parts = urlsplit(self.target.url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._conn.request("POST", path, body=delivery.body, headers=self._headers(delivery))
        response = self._conn.getresponse()
        response.read()
        if response.getheader("Connection", "").lower() == "close":
            self._conn.close()
            self._conn = None
        return response.status

    def _record(
        self,
        delivery: _Delivery,
        outcome: str,
        status: int | None,
        took: float,
        duplicate: bool = False,
    ) -> None:
        self.hooks.record(
            {
                "webhook_id": self.target.id,
                "delivery_id": delivery.id,
                "event_ids": [e["event_log_entry_id"] for e in delivery.events],
                "status": outcome,
                "http_status": status,
                "duration_ms": round(took * 1000, 1),
                "slow": took > SLOW,
                "duplicate": duplicate,
                "at": time.time(),
            }
        )
