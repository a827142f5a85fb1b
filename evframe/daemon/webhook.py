"""The webhook listener: verified deliveries become hints for the daemon's loop.

A site posts each event (or a batch of up to 50) to a URL, signed with the
webhook's secret token (``X-SG-SIGNATURE: sha1=<HMAC-SHA1 of the body>``).  The
listener checks the signature before it parses anything, hands the event ids
to a callback that never blocks (:meth:`evframe.daemon.hints.Hints.add`) and
answers 200 at once: handlers never run on the listener's threads, so the site
gets its reply in milliseconds whatever they do.

What an unfriendly client can cost is bounded: a body over ``max_body`` is
refused (413) before it is read, a request has ``read_timeout`` seconds to
arrive whole, at most ``max_clients`` connections are served at once (the rest
get 503), and every refusal is counted in :attr:`Intake.counters`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from evframe.config import WebhookConfig

__all__ = ["SIGNATURE_HEADER", "Intake", "event_ids", "sign", "verify"]

log = logging.getLogger("evframe.daemon.webhook")

SIGNATURE_HEADER = "X-SG-SIGNATURE"
_CHUNK = 65536
_COUNTERS = (
    "requests", "accepted", "unauthorized", "too_large", "bad_request", "timeouts", "busy",
    "not_found", "events",
)  # fmt: skip


def sign(body: bytes, secret: str) -> str:
    """The ``X-SG-SIGNATURE`` value of ``body``: ``sha1=`` and the HMAC-SHA1 in hex."""
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def verify(body: bytes, signature: str | None, secret: str) -> bool:
    """Whether ``signature`` is ``body``'s, compared in constant time."""
    if not signature:
        return False
    return hmac.compare_digest(sign(body, secret).encode(), signature.strip().encode())


def event_ids(payload: Any) -> list[int]:
    """The EventLogEntry ids a delivery announces (one event, or ``data.deliveries``).

    Raises ``ValueError`` for a payload of another shape.
    """
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        raise ValueError("expected {'data': {...}}")
    items = data.get("deliveries", [data])
    if not isinstance(items, list):
        raise ValueError("data.deliveries is not a list")
    ids = []
    for item in items:
        # A batched item is the event itself, or (some site versions) {"data": event}.
        event = item.get("data", item) if isinstance(item, dict) else None
        eid = event.get("event_log_entry_id") if isinstance(event, dict) else None
        if type(eid) is not int or eid < 1:
            raise ValueError("an event without an integer event_log_entry_id")
        ids.append(eid)
    return ids


class Intake:
    """The listener: ``start()`` binds and serves in daemon threads, ``stop()`` ends it.

    ``on_ids`` receives the ids of every verified delivery; it must not block.
    """

    def __init__(
        self, config: WebhookConfig, secret: str, on_ids: Callable[[Iterable[int]], None]
    ) -> None:
        if not config.listen:
            raise ValueError("no webhook.listen address")
        host, _, port = config.listen.rpartition(":")
        self.config = config
        self.address = (host.strip("[]"), int(port))
        self.secret = secret
        self.on_ids = on_ids
        self.counters = dict.fromkeys(_COUNTERS, 0)
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counters[name] += n

    def start(self) -> Intake:
        server = _Server(self.address, self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="evframe-webhook",
            daemon=True,
        )
        self._thread.start()
        log.info("webhook listener on %s", self.url)
        return self

    @property
    def url(self) -> str:
        """Where deliveries are received (the bound port when ``listen`` gave port 0)."""
        host, port = self.address
        if self._server is not None:
            port = int(self._server.server_address[1])
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}{self.config.path}"

    def busy_slots(self) -> int:
        """Connections being served now."""
        server = self._server
        return 0 if server is None else server.busy

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=10)
        self._server = self._thread = None
        log.info(
            "webhook listener stopped: %s",
            ", ".join(f"{k} {v}" for k, v in self.counters.items()),
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], intake: Intake) -> None:
        self.intake = intake
        self.slots = threading.BoundedSemaphore(intake.config.max_clients)
        self.busy = 0
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            # Over the limit: answer without starting a thread or reading anything.
            self.intake.count("busy")
            try:
                request.sendall(_head(503, 0, close=True))
            except OSError:
                pass
            self.shutdown_request(request)
            return
        with self.intake._lock:
            self.busy += 1
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.intake._lock:
                self.busy -= 1
            self.slots.release()


def _head(status: int, length: int, *, close: bool) -> bytes:
    reason = _REASONS.get(status, "Error")
    connection = "close" if close else "keep-alive"
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\nConnection: {connection}\r\n\r\n"
    ).encode("latin-1")


_REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
    408: "Request Timeout", 411: "Length Required", 413: "Payload Too Large",
    503: "Service Unavailable",
}  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # A per-read timeout: an idle keep-alive connection or a stalled client is let go.
        self.connection.settimeout(self.server.intake.config.read_timeout)
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # pragma: no cover - not TCP
            pass

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _reply(self, status: int, message: str = "", *, close: bool = False) -> None:
        body = json.dumps({"status": status, "message": message}).encode() if message else b""
        if close:
            self.close_connection = True
        try:
            self.connection.sendall(_head(status, len(body), close=self.close_connection) + body)
        except OSError:
            self.close_connection = True

    def do_GET(self) -> None:
        self._reply(405, "deliveries are POSTed", close=True)

    def do_POST(self) -> None:
        intake = self.server.intake
        config = intake.config
        intake.count("requests")
        if self.path.split("?", 1)[0] != config.path:
            intake.count("not_found")
            self._reply(404, "no such path", close=True)
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            intake.count("bad_request")
            self._reply(411, "Content-Length required", close=True)
            return
        if length < 0 or length > config.max_body:
            intake.count("too_large")
            self._reply(413, f"body over {config.max_body} bytes", close=True)
            return
        body = self._read(length, time.monotonic() + config.read_timeout)
        if body is None:
            intake.count("timeouts")
            self._reply(408, "request not received in time", close=True)
            return
        if not verify(body, self.headers.get(SIGNATURE_HEADER), intake.secret):
            intake.count("unauthorized")
            self._reply(401, "missing or wrong signature")
            return
        try:
            ids = event_ids(json.loads(body))
        except ValueError as exc:  # JSONDecodeError is a ValueError
            intake.count("bad_request")
            self._reply(400, f"not a delivery: {exc}")
            return
        intake.on_ids(ids)
        intake.count("accepted")
        intake.count("events", len(ids))
        self._reply(200)

    def _read(self, length: int, deadline: float) -> bytes | None:
        """``length`` bytes of body, or None if the client is too slow or goes away."""
        parts = []
        left = length
        try:
            while left > 0:
                if time.monotonic() > deadline:
                    return None
                chunk = self.rfile.read1(min(left, _CHUNK))
                if not chunk:
                    return None
                parts.append(chunk)
                left -= len(chunk)
        except OSError:  # socket timeout, reset
            return None
        return b"".join(parts)
