"""Tests for evframe._logsetup: sinks, formats, levels, redaction, idempotence."""

from __future__ import annotations

import base64
import io
import json
import logging
import logging.handlers
import re
import socket
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from evframe._logsetup import (
    JsonFormatter,
    RedactingFilter,
    SSLSMTPHandler,
    configure_logging,
    reset_logging,
)
from evframe.alerts import AlertHandler
from evframe.config import ConfigError, EmailConfig, LoggingConfig

SECRET = "tok-9f8e7d6c"
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (\w+) ([\w.]+): (.*)$")


@pytest.fixture(autouse=True)
def _clean_logging() -> Iterator[None]:
    reset_logging()
    yield
    reset_logging()


def ours() -> list[logging.Handler]:
    return [
        h for h in logging.getLogger("evframe").handlers if not isinstance(h, logging.NullHandler)
    ]


def configure(cfg: LoggingConfig | None = None, **kwargs: object) -> io.StringIO:
    stream = io.StringIO()
    configure_logging(cfg or LoggingConfig(), stream=stream, **kwargs)  # type: ignore[arg-type]
    return stream


# --------------------------------------------------------------------------- stream sink


def test_text_format_on_stream() -> None:
    stream = configure()
    logging.getLogger("evframe.poller").info("read %d events", 3)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    match = LINE.match(lines[0])
    assert match is not None
    assert match.groups() == ("INFO", "evframe.poller", "read 3 events")


def test_defaults_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(LoggingConfig())
    logging.getLogger("evframe").warning("to stderr")
    assert "WARNING evframe: to stderr" in capsys.readouterr().err


def test_only_evframe_tree_is_configured() -> None:
    root = logging.getLogger()
    before = list(root.handlers), root.level
    configure()
    assert (list(root.handlers), root.level) == before
    assert logging.getLogger("evframe").propagate is False
    reset_logging()
    assert logging.getLogger("evframe").propagate is True


def test_level_and_verbose() -> None:
    stream = configure(LoggingConfig(level="WARNING"))
    log = logging.getLogger("evframe.x")
    log.info("hidden")
    log.warning("shown")
    assert "hidden" not in stream.getvalue()
    assert "shown" in stream.getvalue()

    stream = configure(LoggingConfig(level="WARNING"), verbose=1)
    log.debug("debug shown")
    assert "debug shown" in stream.getvalue()
    assert logging.getLogger("evframe").level == logging.DEBUG


def test_per_handler_levels() -> None:
    stream = configure(
        LoggingConfig(level="INFO", handlers={"shot_rollup": "DEBUG", "noisy": "ERROR"})
    )
    logging.getLogger("evframe.handler.shot_rollup").debug("rollup detail")
    logging.getLogger("evframe.handler.noisy").warning("noisy warning")
    logging.getLogger("evframe.handler.other").debug("other detail")
    out = stream.getvalue()
    assert "rollup detail" in out
    assert "noisy warning" not in out
    assert "other detail" not in out
    reset_logging()
    assert logging.getLogger("evframe.handler.shot_rollup").level == logging.NOTSET


def test_configure_twice_replaces_handlers() -> None:
    first = configure()
    second = configure()
    assert len(ours()) == 1
    logging.getLogger("evframe").error("once")
    assert first.getvalue() == ""
    assert second.getvalue().count("once") == 1


def test_reset_keeps_foreign_handlers() -> None:
    foreign = logging.NullHandler()
    logger = logging.getLogger("evframe")
    logger.addHandler(foreign)
    try:
        configure()
        reset_logging()
        assert foreign in logger.handlers
        assert ours() == []
    finally:
        logger.removeHandler(foreign)


# --------------------------------------------------------------------------- JSON


def test_json_lines() -> None:
    stream = configure(LoggingConfig(json=True))
    log = logging.getLogger("evframe.handler.h")
    log.info("done %s", "ok", extra={"event_id": 42, "handler": "h"})
    log.warning("plain")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "INFO"
    assert first["logger"] == "evframe.handler.h"
    assert first["message"] == "done ok"
    assert first["event_id"] == 42
    assert first["handler"] == "h"
    assert first["time"].endswith("Z")
    assert datetime.fromisoformat(first["time"].replace("Z", "+00:00")).utcoffset() is not None
    assert "exc" not in first
    assert "event_id" not in second and "handler" not in second


def test_json_exception() -> None:
    formatter = JsonFormatter()
    try:
        raise ValueError("bad value")
    except ValueError:
        record = logging.getLogger("evframe").makeRecord(
            "evframe", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    data = json.loads(formatter.format(record))
    assert data["message"] == "failed"
    assert data["exc"].startswith("Traceback (most recent call last):")
    assert "ValueError: bad value" in data["exc"]
    assert "\n" not in formatter.format(record)


# --------------------------------------------------------------------------- redaction


def test_redacts_message_and_args() -> None:
    stream = configure(secrets=[SECRET])
    log = logging.getLogger("evframe.x")
    log.info("key is %s", SECRET)
    log.info(f"inline {SECRET} here")
    log.info("dict %r", {"api_key": SECRET})
    out = stream.getvalue()
    assert SECRET not in out
    assert "key is ***" in out
    assert "inline *** here" in out
    assert "{'api_key': '***'}" in out


def test_redacts_traceback_without_locals() -> None:
    stream = configure(secrets=[SECRET])

    def connect() -> None:
        local_secret = SECRET  # a local holding the secret must not be shown
        raise ConnectionError(f"auth failed for key {local_secret}")

    try:
        connect()
    except ConnectionError:
        logging.getLogger("evframe.handler.h").exception("handler failed")
    out = stream.getvalue()
    assert "Traceback (most recent call last):" in out
    assert "ConnectionError: auth failed for key ***" in out
    assert SECRET not in out
    # A plain traceback: source lines only, no variable dump (the classic daemon mailed locals).
    assert "{local_secret}" in out
    assert "local_secret = '" not in out and "local_secret=" not in out


def test_redacts_traceback_in_json() -> None:
    stream = configure(LoggingConfig(json=True), secrets=[SECRET])
    try:
        raise RuntimeError(SECRET)
    except RuntimeError:
        logging.getLogger("evframe").exception("boom %s", SECRET)
    data = json.loads(stream.getvalue())
    assert data["message"] == "boom ***"
    assert "RuntimeError: ***" in data["exc"]
    assert SECRET not in stream.getvalue()


def test_redacts_stack_info() -> None:
    # The stack names this function, so its name serves as the "secret".
    stream = configure(secrets=["test_redacts_stack_info"])
    logging.getLogger("evframe").info("with stack", stack_info=True)
    assert "Stack (most recent call last)" in stream.getvalue()
    assert "test_redacts_stack_info" not in stream.getvalue()
    assert "in ***" in stream.getvalue()


def test_filter_survives_bad_format_args() -> None:
    record = logging.LogRecord("evframe", logging.INFO, __file__, 1, "%d", ("x",), None)
    assert RedactingFilter([SECRET]).filter(record) is True


def test_filter_without_secrets_leaves_record() -> None:
    record = logging.LogRecord("evframe", logging.INFO, __file__, 1, "a %s", ("b",), None)
    assert RedactingFilter([]).filter(record) is True
    assert (record.msg, record.args) == ("a %s", ("b",))


def test_every_handler_has_the_filter(tmp_path: Path) -> None:
    email = EmailConfig(host="127.0.0.1", sender="a@b", to=("c@d",))
    configure(LoggingConfig(file=str(tmp_path / "e.log"), email=email), secrets=[SECRET])
    handlers = ours()
    assert len(handlers) == 3
    for handler in handlers:
        assert any(isinstance(f, RedactingFilter) for f in handler.filters)


# --------------------------------------------------------------------------- file


def test_rotating_file(tmp_path: Path) -> None:
    path = tmp_path / "evframe.log"
    stream = configure(
        LoggingConfig(file=str(path), max_bytes=300, backup_count=2), secrets=[SECRET]
    )
    log = logging.getLogger("evframe.daemon")
    for i in range(20):
        log.info("line %d %s", i, SECRET)
    reset_logging()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["evframe.log", "evframe.log.1", "evframe.log.2"]
    text = path.read_text(encoding="utf-8")
    assert "line 19 ***" in text
    assert SECRET not in text
    assert LINE.match(text.splitlines()[-1])
    assert stream.getvalue().count("\n") == 20


def test_file_gets_json(tmp_path: Path) -> None:
    path = tmp_path / "evframe.log"
    configure(LoggingConfig(file=str(path), json=True))
    logging.getLogger("evframe").info("hello")
    reset_logging()
    assert json.loads(path.read_text(encoding="utf-8"))["message"] == "hello"


def test_unopenable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        configure(LoggingConfig(file=str(tmp_path / "no" / "such" / "dir.log")))
    assert info.value.key == "logging.file"
    assert "cannot open log file" in str(info.value)


# --------------------------------------------------------------------------- email


def test_smtp_handler_attributes() -> None:
    email = EmailConfig(
        host="smtp.studio",
        port=587,
        tls=True,
        username="bot",
        password="mailpw",
        sender="evframe@studio",
        to=("a@studio", "b@studio"),
        subject="trouble",
        timeout=4.0,
    )
    configure(LoggingConfig(email=email))
    # The daemon's error mail is an alert queue; the plain SMTP handler serves classic plugins.
    (alerts,) = [h for h in ours() if isinstance(h, AlertHandler)]
    assert alerts.level == logging.ERROR
    assert alerts.alerter.email is email
    mail = SSLSMTPHandler(email)
    mail.setLevel(logging.ERROR)
    assert (mail.mailhost, mail.mailport) == ("smtp.studio", 587)
    assert (mail.username, mail.password) == ("bot", "mailpw")
    assert mail.secure == ()
    assert mail.use_ssl is False
    assert mail.fromaddr == "evframe@studio"
    assert mail.toaddrs == ["a@studio", "b@studio"]
    assert mail.subject == "trouble"
    assert mail.timeout == 4.0
    assert mail.level == logging.ERROR
    mail.close()


def test_smtp_ssl_without_credentials() -> None:
    mail = SSLSMTPHandler(EmailConfig(host="h", port=465, ssl=True, sender="a", to=("b",)))
    assert mail.use_ssl is True
    assert mail.secure is None
    assert mail.username is None
    mail.close()


class FakeSMTPServer:
    """A one-connection SMTP server on 127.0.0.1 that records what it receives."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.commands: list[str] = []
        self.data: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn, conn.makefile("rb") as lines:

            def reply(text: str) -> None:
                conn.sendall(text.encode() + b"\r\n")

            reply("220 fake ESMTP")
            in_data = False
            for raw in lines:
                line = raw.decode().rstrip("\r\n")
                if in_data:
                    if line == ".":
                        in_data = False
                        reply("250 queued")
                    else:
                        self.data.append(line)
                    continue
                self.commands.append(line)
                verb = line.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    reply("250-fake\r\n250 AUTH PLAIN")
                elif verb == "AUTH":
                    reply("235 ok")
                elif verb == "DATA":
                    in_data = True
                    reply("354 go on")
                elif verb == "QUIT":
                    reply("221 bye")
                    break
                else:
                    reply("250 ok")

    def close(self) -> None:
        self.thread.join(timeout=10)
        self.sock.close()


def test_error_mail_is_sent_redacted() -> None:
    server = FakeSMTPServer()
    try:
        email = EmailConfig(
            host="127.0.0.1",
            port=server.port,
            username="bot",
            password="mailpw",
            sender="evframe@studio",
            to=("pipeline@studio",),
            subject="evframe error",
            timeout=5.0,
        )
        configure(LoggingConfig(email=email), secrets=[SECRET, "mailpw"])
        log = logging.getLogger("evframe.handler.h")
        log.warning("not mailed")
        try:
            raise RuntimeError(f"bad key {SECRET}")
        except RuntimeError:
            log.exception("handler h failed on event %d", 7)
    finally:
        server.close()
    assert not server.thread.is_alive()
    auth = [c for c in server.commands if c.startswith("AUTH PLAIN")]
    assert len(auth) == 1
    assert base64.b64decode(auth[0].split()[2]) == b"\0bot\0mailpw"
    commands = [c.upper() for c in server.commands]
    assert any(c.startswith("MAIL FROM:<EVFRAME@STUDIO>") for c in commands)
    assert any(c.startswith("RCPT TO:<PIPELINE@STUDIO>") for c in commands)
    body = "\n".join(server.data)
    assert "Subject: evframe error" in body
    assert "handler h failed on event 7" in body
    assert "RuntimeError: bad key ***" in body
    assert SECRET not in body
    assert "not mailed" not in body
