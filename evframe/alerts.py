"""Alert mail that never holds up dispatch and never floods.

ERROR records of the ``evframe`` loggers become :class:`Alert`\\ s through
:class:`AlertHandler`, a logging sink that only queues.  A thread of the
:class:`Alerter` groups them: by handler (records logged with ``extra={"handler":
...}``), and one group for everything else (the daemon).  The first alert of a
quiet group is mailed at once, after :data:`GATHER` seconds so that the lines
logged with it (a failure, then its pause) come in the same mail; whatever the
group gets in the next ``digest_interval`` seconds is mailed as one digest at its
end.  When a handler that failed processes an event again, a "recovered" alert
joins its group.  So a group mails at most once per ``digest_interval``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import queue
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Any, Final

from evframe.config import EmailConfig
from evframe.mail import message, send_mail

__all__ = ["GATHER", "Alert", "AlertHandler", "Alerter", "SentMail"]

log = logging.getLogger("evframe.alerts")

GATHER: Final = 1.0
QUEUE_LIMIT: Final = 10_000
RECENT: Final = 20
# A mail shows this many alerts in full, then one line each up to LINES, then a count.
FULL: Final = 10
LINES: Final = 100

Send = Callable[[EmailConfig, EmailMessage], None]


@dataclass(frozen=True)
class Alert:
    """One thing to tell: ``summary`` is one line, ``text`` the whole (redacted) record."""

    handler: str | None
    event_id: int | None
    summary: str
    text: str
    at: float = field(default_factory=time.time)
    recovered: bool = False


@dataclass(frozen=True)
class SentMail:
    """A mail the alerter sent (for ``evframe status``)."""

    at: float
    subject: str
    to: tuple[str, ...]
    alerts: int


# What the sender thread "gets" when nothing came before the next mail was due.
_TICK: Final = Alert(None, None, "", "")


@dataclass
class _Group:
    pending: list[Alert] = field(default_factory=list)
    due: float | None = None  # when the pending alerts go out
    quiet_until: float = 0.0  # the end of the digest interval that the last mail began


class Alerter:
    """Queues alerts and mails them from a thread of its own, grouped and rate-limited.

    ``recipients(handler)`` names who gets a handler's alerts (default: ``email.to``).
    ``send`` and ``clock`` are for tests.  Counters: ``sent`` mails, ``suppressed``
    alerts that did not get a mail of their own (in a digest, or dropped because the
    queue was full), ``failed`` mails the server did not take.
    """

    def __init__(
        self,
        email: EmailConfig,
        recipients: Callable[[str], tuple[str, ...]] | None = None,
        *,
        send: Send = send_mail,
        gather: float = GATHER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.email = email
        self.recipients = recipients or (lambda name: ())
        self.send = send
        self.gather = gather
        self.clock = clock
        self.sent = 0
        self.suppressed = 0
        self.failed = 0
        self.recent: deque[SentMail] = deque(maxlen=RECENT)
        self._queue: queue.Queue[Alert | None] = queue.Queue(QUEUE_LIMIT)
        self._failing: dict[str, int] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._host = socket.gethostname()

    # -- what the daemon and the log sink call (any thread, never blocks) ---------

    def submit(self, alert: Alert) -> None:
        """Queue ``alert``; a handler's failure marks it failing until it recovers."""
        if alert.handler is not None and not alert.recovered:
            with self._lock:
                self._failing[alert.handler] = self._failing.get(alert.handler, 0) + 1
        self._ensure_thread()
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self.suppressed += 1  # a flood this large says enough in the mails already queued

    def succeeded(self, names: Iterable[str], event_id: int) -> None:
        """Handlers ``names`` processed ``event_id``; those that were failing recovered."""
        if not self._failing:  # the common case, on every event: nothing to do
            return
        with self._lock:
            back = [(n, self._failing.pop(n)) for n in names if n in self._failing]
        for name, count in back:
            summary = f"handler {name} recovered: processed event {event_id}"
            text = f"{summary} after {count} failure line(s)"
            self.submit(Alert(name, event_id, summary, text, recovered=True))

    def failing(self) -> dict[str, int]:
        """Handlers alerted on and not recovered yet, with their failure lines."""
        with self._lock:
            return dict(self._failing)

    def snapshot(self) -> dict[str, Any]:
        """Counters, the handlers alerted on, the newest mails (for the status snapshot)."""
        return {
            "sent": self.sent,
            "suppressed": self.suppressed,
            "failed": self.failed,
            "failing": self.failing(),
            "recent": [dataclasses.asdict(m) for m in list(self.recent)],
        }

    def restore_snapshot(self, data: Mapping[str, Any]) -> None:
        """Take over what the previous process of this daemon knew (after a restart in
        place): the handlers it alerted on, so their recovery is told, and its mails."""
        failing = data.get("failing")
        with self._lock:
            if isinstance(failing, dict):
                for name, count in failing.items():
                    self._failing.setdefault(str(name), int(count))
        for mail in data.get("recent") or ():
            with contextlib.suppress(KeyError, TypeError, ValueError):
                at, subject, to = float(mail["at"]), str(mail["subject"]), tuple(mail["to"])
                self.recent.append(SentMail(at, subject, to, int(mail["alerts"])))

    @property
    def watching(self) -> bool:
        """Whether some handler is failing (so successes are worth telling)."""
        return bool(self._failing)

    def stop(self, timeout: float | None = None) -> None:
        """Mail what is pending now and end the thread (waiting at most ``timeout``)."""
        thread = self._thread
        if thread is None:
            return
        wait = timeout if timeout is not None else self.email.timeout + 2.0
        try:
            self._queue.put(None, timeout=wait)
        except queue.Full:
            return
        thread.join(wait)

    def _ensure_thread(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    # A daemon thread: a mail server that hangs must not keep the process.
                    self._thread = threading.Thread(
                        target=self._run, name="evframe-alerts", daemon=True
                    )
                    self._thread.start()

    # -- the sender thread ----------------------------------------------------------

    def _run(self) -> None:
        groups: dict[str | None, _Group] = {}
        while True:
            dues = [g.due for g in groups.values() if g.due is not None]
            timeout = max(0.0, min(dues) - self.clock()) if dues else None
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = _TICK
            now = self.clock()
            if item is None:  # stop(): mail what is pending
                for key, group in groups.items():
                    if group.pending:
                        self._mail(key, group, now)
                return
            if item is not _TICK:
                group = groups.setdefault(item.handler, _Group())
                group.pending.append(item)
                if group.due is None:
                    # First of a quiet group: at once; else at the end of its interval.
                    group.due = max(now + self.gather, group.quiet_until)
            for key, group in groups.items():
                if group.due is not None and group.due <= now:
                    self._mail(key, group, now)

    def _mail(self, handler: str | None, group: _Group, now: float) -> None:
        alerts, group.pending, group.due = group.pending, [], None
        group.quiet_until = now + self.email.digest_interval
        self.suppressed += len(alerts) - 1
        to = (self.recipients(handler) if handler is not None else ()) or self.email.to
        subject = f"{self.email.subject}: {describe(handler, alerts)}"
        try:
            self.send(self.email, message(self.email, to, subject, self._body(alerts)))
        except Exception as exc:
            self.failed += 1
            # WARNING, not ERROR: an ERROR here would be one more alert to a failing server.
            log.warning("could not send alert mail %r: %s", subject, exc)
            return
        self.sent += 1
        self.recent.append(SentMail(time.time(), subject, tuple(to), len(alerts)))

    def _body(self, alerts: list[Alert]) -> str:
        lines = [f"evframe on {self._host} (pid {os.getpid()}): {len(alerts)} alert(s)", ""]
        for i, alert in enumerate(alerts):
            stamp = datetime.fromtimestamp(alert.at).strftime("%Y-%m-%d %H:%M:%S")
            if i < FULL:
                lines += [f"--- {stamp}", alert.text, ""]
            elif i < LINES:
                lines.append(f"{stamp} {alert.summary}")
            else:
                lines.append(f"... and {len(alerts) - LINES} more")
                break
        return "\n".join(lines) + "\n"


def describe(handler: str | None, alerts: list[Alert]) -> str:
    """The subject of a mail about ``alerts`` (after the configured prefix)."""
    trouble = [a for a in alerts if not a.recovered]
    events = sorted({a.event_id for a in trouble if a.event_id is not None})
    recovered = alerts[-1] if alerts[-1].recovered else None
    if not trouble and recovered is not None:
        return recovered.summary
    first = trouble[0].summary
    if handler is None:
        return first if len(trouble) == 1 else f"{first} (and {len(trouble) - 1} more)"
    if len(events) <= 1:
        text = first
    else:
        text = f"handler {handler} failed on {len(events)} events ({events[0]}..{events[-1]})"
        last = trouble[-1].summary.partition(": ")[2]
        text += f", last: {last}" if last else ""
    if recovered is not None:
        text += f"; recovered at event {recovered.event_id}"
    return text


class AlertHandler(logging.Handler):
    """A logging sink (ERROR and above) that queues each record as an alert."""

    def __init__(self, alerter: Alerter) -> None:
        super().__init__(logging.ERROR)
        self.alerter = alerter

    def emit(self, record: logging.LogRecord) -> None:
        try:
            lines = [line.strip() for line in record.getMessage().splitlines() if line.strip()]
            first = lines[0] if lines else record.levelname
            # "handler X failed on event N ...:" followed by a traceback: add its last line.
            summary = f"{first.rstrip(':')}: {lines[-1]}" if first.endswith(":") else first
            handler = getattr(record, "handler", None)
            event_id = getattr(record, "event_id", None)
            self.alerter.submit(
                Alert(
                    handler if isinstance(handler, str) else None,
                    event_id if isinstance(event_id, int) else None,
                    summary,
                    self.format(record),
                    record.created,
                )
            )
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        self.alerter.stop()
        super().close()
