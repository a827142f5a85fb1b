"""Logging configuration for the ``evframe`` command line (never used at import time).

Only the ``evframe`` logger tree is configured: a stderr (journald-friendly) sink, an
optional rotating file, optional JSON lines, an optional error mail.  Every sink redacts
secret values from messages and tracebacks.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING, Final

from evframe.config import ConfigError, EmailConfig, LoggingConfig
from evframe.mail import message, send_mail
from evframe.redact import redact_secrets

if TYPE_CHECKING:
    from evframe.alerts import Alerter

__all__ = [
    "LOGGER_NAME",
    "JsonFormatter",
    "RedactingFilter",
    "RepeatFilter",
    "SSLSMTPHandler",
    "configure_logging",
    "reset_logging",
]

LOGGER_NAME: Final = "evframe"
HANDLER_LOGGER_PREFIX: Final = "evframe.handler."
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# What configure_logging changed, so the next call (or reset_logging) can undo exactly that
# and leave alone whatever a host application added.
_installed_handlers: list[logging.Handler] = []
_leveled_loggers: list[str] = []


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``.

    ``event_id`` and ``handler`` are included when given through ``extra=``; ``exc`` holds the
    traceback text when the record has exception info, ``stack`` any stack info.
    """

    def format(self, record: logging.LogRecord) -> str:
        created = datetime.fromtimestamp(record.created, tz=timezone.utc)
        data: dict[str, object] = {
            "time": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("event_id", "handler"):
            if hasattr(record, key):
                data[key] = getattr(record, key)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exc"] = record.exc_text
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, ensure_ascii=False, default=str)


class RedactingFilter(logging.Filter):
    """Replaces secret values with ``***`` in a record's message, traceback and stack.

    It runs before any formatter: it renders the message (``getMessage()``) and the traceback
    text once, redacts them and stores them back on the record (``msg``/``args``/``exc_text``),
    so every formatter — the stock one, :class:`JsonFormatter`, the mail handler's — and every
    later sink sees only the redacted text.
    """

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:
            # A bad format string: leave it for the handler's handleError to report, but don't
            # let it escape to the code that logged.
            return True
        record.msg = redact_secrets(message, self.secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            # Plain traceback text; never locals.
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = redact_secrets(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact_secrets(record.stack_info, self.secrets)
        return True


class RepeatFilter(logging.Filter):
    """Holds back an ERROR line identical to one logged less than ``window`` seconds ago.

    The next time it is logged after that, it says how often it was held back.  One
    instance serves every sink: it decides once per record and marks the record, so all
    sinks agree.  At most :attr:`LIMIT` distinct lines are remembered.
    """

    LIMIT = 1000
    _MARK = "_evframe_repeat"

    def __init__(self, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window = window
        self.clock = clock
        # line -> (when it was last let through, how many were held back since)
        self._seen: OrderedDict[tuple[str, int, str], tuple[float, int]] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR or self.window <= 0:
            return True
        decided = getattr(record, self._MARK, None)
        if decided is not None:
            return bool(decided)
        try:
            text = record.getMessage()
        except Exception:
            return True  # a bad format string: the sink reports it
        key = (record.name, record.levelno, text)
        now = self.clock()
        seen = self._seen.get(key)
        keep = seen is None or now - seen[0] >= self.window
        if keep:
            if seen is not None and seen[1]:
                held = f"held back {seen[1]} time(s) in the last {now - seen[0]:.0f} s"
                record.msg = f"{text} ({held})"
                record.args = None
            self._seen[key] = (now, 0)
            self._seen.move_to_end(key)
            while len(self._seen) > self.LIMIT:
                self._seen.popitem(last=False)
        else:
            assert seen is not None
            self._seen[key] = (seen[0], seen[1] + 1)
        setattr(record, self._MARK, keep)
        return keep


class SSLSMTPHandler(logging.handlers.SMTPHandler):
    """:class:`logging.handlers.SMTPHandler` that can also speak SMTP over TLS (``ssl``).

    STARTTLS (``secure=()``) and SMTP-over-TLS connections verify the server's certificate
    with the system's trust store (the stdlib handler does not verify).
    """

    def __init__(self, email: EmailConfig) -> None:
        credentials = (email.username, email.password or "") if email.username else None
        super().__init__(
            mailhost=(email.host, email.port),
            fromaddr=email.sender,
            toaddrs=list(email.to),
            subject=email.subject,
            credentials=credentials,
            secure=() if email.tls else None,
            timeout=email.timeout,
        )
        self.use_ssl = email.ssl
        self._email = email

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = message(self._email, self.toaddrs, self.getSubject(record), self.format(record))
            send_mail(self._email, msg)
        except Exception:
            self.handleError(record)


def _text_or_json(cfg: LoggingConfig) -> logging.Formatter:
    return JsonFormatter() if cfg.json else logging.Formatter(TEXT_FORMAT)


def configure_logging(
    cfg: LoggingConfig,
    *,
    secrets: Sequence[str] = (),
    verbose: int = 0,
    stream: IO[str] | None = None,
    alerter: Alerter | None = None,
) -> Alerter | None:
    """Configure the ``evframe`` logger tree from ``cfg``, replacing any earlier call's setup.

    ``secrets`` are redacted from every sink; ``verbose`` (the count of ``-v``) of 1 or more
    sets the level to DEBUG; ``stream`` replaces stderr.  With ``[logging.email]``, ERROR
    records become alert mail through ``alerter`` (default: one mailing ``email.to``),
    which is returned.  Raises :class:`ConfigError` (``logging.file``) when the log file
    cannot be opened.
    """
    reset_logging()
    root = logging.getLogger(LOGGER_NAME)
    redactor = RedactingFilter(secrets)
    repeats = RepeatFilter(cfg.repeat_window)

    handlers: list[logging.Handler] = [
        logging.StreamHandler(stream if stream is not None else sys.stderr)
    ]
    if cfg.file is not None:
        try:
            handlers.append(
                logging.handlers.RotatingFileHandler(
                    cfg.file,
                    maxBytes=cfg.max_bytes,
                    backupCount=cfg.backup_count,
                    encoding="utf-8",
                )
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot open log file {cfg.file}: {exc.strerror or exc}", key="logging.file"
            ) from None
    if cfg.email is not None:
        from evframe.alerts import Alerter, AlertHandler

        alerter = alerter or Alerter(cfg.email)
        handlers.append(AlertHandler(alerter))
    else:
        alerter = None

    for handler in handlers:
        handler.setFormatter(_text_or_json(cfg))
        handler.addFilter(redactor)
        handler.addFilter(repeats)
        root.addHandler(handler)
        _installed_handlers.append(handler)

    root.setLevel(logging.DEBUG if verbose >= 1 else cfg.level)
    # A handler package calling logging.basicConfig() must not make every line appear twice.
    root.propagate = False
    _leveled_loggers.append(LOGGER_NAME)
    for name, level in sorted(cfg.handlers.items()):
        logger_name = HANDLER_LOGGER_PREFIX + name
        logging.getLogger(logger_name).setLevel(level)
        _leveled_loggers.append(logger_name)
    return alerter


def reset_logging() -> None:
    """Undo :func:`configure_logging`: remove and close its sinks, reset the levels it set."""
    root = logging.getLogger(LOGGER_NAME)
    while _installed_handlers:
        handler = _installed_handlers.pop()
        root.removeHandler(handler)
        handler.close()
    while _leveled_loggers:
        logging.getLogger(_leveled_loggers.pop()).setLevel(logging.NOTSET)
    root.propagate = True
