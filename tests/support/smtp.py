"""A local SMTP sink for tests: accepts every mail on 127.0.0.1 and keeps it.

Enough of SMTP for ``smtplib`` (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), one
thread per connection; :meth:`SmtpSink.close` stops it (the ``smtp_sink`` fixture
does at teardown).
"""

from __future__ import annotations

import email
import email.policy
import socketserver
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage


@dataclass
class Mail:
    """One mail as received: the envelope recipients and the parsed message."""

    rcpt: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        return str(self.message.get_content())


@dataclass
class _Inbox:
    mails: list[Mail] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Session(socketserver.StreamRequestHandler):
    server: _Server

    def _reply(self, text: str) -> None:
        self.wfile.write(text.encode() + b"\r\n")

    def handle(self) -> None:
        self._reply("220 sink ESMTP")
        rcpt: list[str] = []
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self._reply("250 sink")
            elif verb == "MAIL":
                rcpt = []
                self._reply("250 ok")
            elif verb == "RCPT":
                rcpt.append(line.split(":", 1)[1].strip().strip("<>"))
                self._reply("250 ok")
            elif verb == "DATA":
                self._reply("354 end with .")
                self._data(rcpt)
                self._reply("250 queued")
            elif verb == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("250 ok")

    def _data(self, rcpt: list[str]) -> None:
        lines = []
        while True:
            raw = self.rfile.readline()
            if raw in (b".\r\n", b".\n", b""):
                break
            lines.append(raw[1:] if raw.startswith(b"..") else raw)
        parsed = email.message_from_bytes(b"".join(lines), policy=email.policy.default)
        with self.server.inbox.lock:
            self.server.inbox.mails.append(Mail(list(rcpt), parsed))


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        self.inbox = _Inbox()
        super().__init__(("127.0.0.1", 0), _Session)


class SmtpSink:
    """An SMTP server on a free loopback port that keeps every mail it gets."""

    def __init__(self) -> None:
        self._server = _Server()
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def mails(self) -> list[Mail]:
        with self._server.inbox.lock:
            return list(self._server.inbox.mails)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
