"""The HTTP side: ``POST /api3/json``, the loopback-only admin endpoint, file endpoints.

HTTP/1.1 keep-alive with Content-Length, TCP_NODELAY, and every reply written
with a single ``sendall`` so a poll is one round trip without Nagle delays.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from evframe.sandbox.api import Api
from evframe.sandbox.eventlog import dumps
from evframe.sandbox.faults import Faults
from evframe.sandbox.fileroutes import FileRoutes, is_loopback
from evframe.sandbox.fileurls import set_site_url

log = logging.getLogger(__name__)

API_PATH = "/api3/json"
FAULTS_PATH = "/_sandbox/faults"
WEBHOOKS_PATH = "/_sandbox/webhooks"
_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class SandboxHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that remembers its connections to close them on stop."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        api: Api,
        faults: Faults,
        files: FileRoutes | None = None,
    ) -> None:
        self.api = api
        self.faults = faults
        self.files = files
        self.stopping = threading.Event()
        self.webhooks: Any = None  # evframe.sandbox.webhooks.Webhooks, set by the Sandbox
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Close every open client connection (stops idle keep-alive threads)."""
        self.stopping.set()
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SandboxHTTPServer
    server_version = "evframe-sandbox"

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # pragma: no cover - not a TCP socket
            pass

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            f"Content-Type: {content_type}; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Connection: {'close' if self.close_connection else 'keep-alive'}\r\n\r\n"
        )
        # Head and body in one scatter-gather send: no copy of a large body, and one
        # segment train (with TCP_NODELAY) instead of a head waiting on a delayed ACK.
        data = [head.encode("latin-1"), body]
        total = len(data[0]) + len(body)
        sock = self.connection
        try:
            sent = sock.sendmsg(data)
        except (AttributeError, OSError):  # pragma: no cover - no sendmsg here
            sent = 0
        if sent < total:
            sock.sendall(memoryview(data[0] + body)[sent:])

    def _drop(self) -> None:
        """Close the connection without a reply, as a broken network would."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _files(self, method: str, path: str) -> bool:
        """Serve a file endpoint, if ``path`` is one."""
        files = self.server.files
        if files is None or not files.handles(path):
            return False
        files.serve(self, method, path)
        return True

    def _site_url(self) -> None:
        # Replies carry URLs (uploads, thumbnails) on the address the client used.
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        set_site_url(f"http://{host}")

    def do_POST(self) -> None:
        self._site_url()
        path = self.path.split("?", 1)[0]
        if self._files("POST", path):
            return
        body = self._body()
        if path in (FAULTS_PATH, WEBHOOKS_PATH):
            self._admin(body, path)
            return
        if path != API_PATH:
            self._reply(404, dumps({"error": f"no such endpoint {path}"}).encode())
            return
        faults = self.server.faults
        action = faults.decide()
        if faults.latency > 0 and self.server.stopping.wait(faults.latency):
            self._drop()
            return
        if action == "drop":
            self._drop()
        elif action == "maintenance":
            self._reply(503, b"<html><body>Down for maintenance</body></html>", "text/html")
        elif action == "http500":
            self._reply(
                500, b"<html><body>Internal Server Error (injected)</body></html>", "text/html"
            )
        elif action == "exception":
            err = {
                "exception": True,
                "message": "Injected error (sandbox fault)",
                "error_code": 104,
            }
            self._reply(200, dumps(err).encode())
        else:
            self._reply(200, self.server.api.handle(body))

    def do_PUT(self) -> None:
        self._site_url()
        if not self._files("PUT", self.path.split("?", 1)[0]):
            self.close_connection = True  # the body is not read
            self._reply(404, dumps({"error": f"no such endpoint {self.path}"}).encode())

    def do_GET(self) -> None:
        self._site_url()
        path = self.path.split("?", 1)[0]
        if self._files("GET", path):
            return
        if path in (FAULTS_PATH, WEBHOOKS_PATH):
            self._admin(None, path)
        elif path in ("/", "/_sandbox/health"):
            self._reply(200, dumps({"sandbox": "evframe", "api": API_PATH}).encode())
        else:
            self._reply(404, dumps({"error": f"no such endpoint {path}"}).encode())

    def _admin(self, body: bytes | None, path: str = FAULTS_PATH) -> None:
        if not is_loopback(self.client_address[0]):
            self._reply(403, dumps({"error": "the admin endpoint answers loopback only"}).encode())
            return
        faults, hooks = self.server.faults, self.server.webhooks
        if body is not None:
            try:
                changes = json.loads(body or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("expected a JSON object")
                if path == WEBHOOKS_PATH:
                    hooks.add_from(changes)
                else:
                    faults.apply(hooks.faults.apply(changes) if hooks else changes)
            except (ValueError, TypeError) as exc:
                self._reply(400, dumps({"error": str(exc)}).encode())
                return
        if path == WEBHOOKS_PATH:
            self._reply(200, dumps(hooks.snapshot()).encode())
            return
        shown = {**faults.snapshot(), **(hooks.faults.snapshot() if hooks else {})}
        self._reply(200, dumps(shown).encode())
