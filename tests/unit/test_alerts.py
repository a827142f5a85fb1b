"""Alert mail: queued, grouped per handler, rate-limited, recovered; repeated lines held back."""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from evframe import ShotgunEvent
from evframe._logsetup import RepeatFilter, configure_logging, reset_logging
from evframe.alerts import Alert, Alerter, describe
from evframe.config import Config, EmailConfig, LoggingConfig
from evframe.daemon.roster import Roster
from evframe.handler import Outcome
from evframe.processor import Processor
from evframe.report import HandlerResult, Report
from evframe.testing import make_record, wait_until

EMAIL = EmailConfig(
    host="127.0.0.1", sender="evframe@studio", to=("ops@studio",), digest_interval=600.0
)


class Outbox:
    """Records the mails an Alerter sends; can be made to hang like a dead server."""

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []
        self.gate = threading.Event()
        self.gate.set()

    def send(self, email: EmailConfig, msg: EmailMessage) -> None:
        self.gate.wait(30)
        self.mails.append(msg)

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.mails]


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
def alerter(outbox: Outbox) -> Iterator[Alerter]:
    recipients = {"rollup": ("rollup-team@studio",)}
    a = Alerter(EMAIL, lambda n: recipients.get(n, ()), send=outbox.send, gather=0.0)
    yield a
    outbox.gate.set()
    a.stop(timeout=10)


def failure(handler: str | None, event_id: int) -> Alert:
    return Alert(handler, event_id, f"handler {handler} failed on event {event_id}: E", "tb")


def test_a_flood_is_one_mail_then_one_digest(alerter: Alerter, outbox: Outbox) -> None:
    for i in range(100):
        alerter.submit(failure("rollup", 1000 + i))
    wait_until(lambda: outbox.mails, 10, "the first mail")
    alerter.stop(timeout=10)  # the digest interval is 10 minutes: stop() sends the digest
    assert len(outbox.mails) == 2
    first, digest = outbox.subjects()
    assert first == "evframe error: handler rollup failed on event 1000: E"
    assert digest == "evframe error: handler rollup failed on 99 events (1001..1099), last: E"
    assert outbox.mails[0]["To"] == "rollup-team@studio"
    body = outbox.mails[1].get_content()
    assert "99 alert(s)" in body and "handler rollup failed on event 1099" in body
    assert (alerter.sent, alerter.suppressed) == (2, 98)


def test_groups_are_per_handler_and_the_daemon_goes_to_everyone(
    alerter: Alerter, outbox: Outbox
) -> None:
    alerter.submit(failure("rollup", 1))
    alerter.submit(failure("notify", 2))
    alerter.submit(Alert(None, None, "site unavailable for 300 s", "..."))
    wait_until(lambda: len(outbox.mails) == 3, 10, "three mails")
    to = {str(m["Subject"]).split(": ", 1)[1]: m["To"] for m in outbox.mails}
    assert to == {
        "handler rollup failed on event 1: E": "rollup-team@studio",
        "handler notify failed on event 2: E": "ops@studio",
        "site unavailable for 300 s": "ops@studio",
    }


def test_recovery_is_told_with_the_digest(alerter: Alerter, outbox: Outbox) -> None:
    alerter.succeeded(["rollup"], 1)  # never failed: nothing to tell
    alerter.submit(failure("rollup", 5))
    wait_until(lambda: outbox.mails, 10, "the first mail")
    alerter.submit(failure("rollup", 6))
    assert alerter.watching
    alerter.succeeded(["other", "rollup"], 7)
    assert not alerter.watching
    alerter.stop(timeout=10)
    assert outbox.subjects()[1] == (
        "evframe error: handler rollup failed on event 6: E; recovered at event 7"
    )


def test_a_lone_recovery_names_the_event() -> None:
    back = Alert("h", 9, "handler h recovered: processed event 9", "", recovered=True)
    assert describe("h", [back]) == "handler h recovered: processed event 9"


def test_a_hanging_mail_server_never_blocks_the_caller(alerter: Alerter, outbox: Outbox) -> None:
    outbox.gate.clear()  # the server hangs
    for i in range(50):
        alerter.submit(failure("rollup", i))  # returns at once, every time
    alerter.submit(Alert(None, None, "daemon trouble", ""))
    assert outbox.mails == []
    outbox.gate.set()
    wait_until(lambda: len(outbox.mails) >= 1, 10, "the mail once the server answers")


def test_a_failed_send_is_counted_and_logged_as_a_warning(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(email: EmailConfig, msg: EmailMessage) -> None:
        raise OSError("connection refused")

    a = Alerter(EMAIL, send=refuse, gather=0.0)
    with caplog.at_level(logging.WARNING, logger="evframe.alerts"):
        a.submit(failure("h", 1))
        wait_until(lambda: a.failed == 1, 10, "the failed send")
        a.stop(timeout=10)
    assert "could not send alert mail" in caplog.text
    assert all(r.levelno == logging.WARNING for r in caplog.records)


def test_the_snapshot_carries_failing_handlers_over_a_restart(
    alerter: Alerter, outbox: Outbox
) -> None:
    alerter.submit(failure("rollup", 3))
    wait_until(lambda: outbox.mails, 10, "the first mail")
    snap = alerter.snapshot()
    assert snap["failing"] == {"rollup": 1} and snap["sent"] == 1
    after = Alerter(EMAIL, send=outbox.send, gather=0.0)
    after.restore_snapshot(snap)
    assert after.watching and [m.subject for m in after.recent] == outbox.subjects()
    after.succeeded(["rollup"], 4)
    after.stop(timeout=10)
    assert outbox.subjects()[-1] == "evframe error: handler rollup recovered: processed event 4"


# --------------------------------------------------------------------------- logging


@pytest.fixture
def _clean_logging() -> Iterator[None]:
    reset_logging()
    yield
    reset_logging()


def test_error_records_become_alerts_keyed_by_handler(_clean_logging: None, outbox: Outbox) -> None:
    a = Alerter(EMAIL, send=outbox.send, gather=0.0)
    configure_logging(LoggingConfig(email=EMAIL), stream=io.StringIO(), alerter=a)
    log = logging.getLogger("evframe.handler.rollup")
    log.error(
        "handler rollup failed on event 12 after 1 attempt(s):\nTraceback...\nKeyError: 'x'",
        extra={"handler": "rollup", "event_id": 12},
    )
    log.warning("not an alert")
    reset_logging()  # closing the sink sends what is queued
    assert outbox.subjects() == [
        "evframe error: handler rollup failed on event 12 after 1 attempt(s): KeyError: 'x'"
    ]
    assert a.failing() == {"rollup": 1}


def test_identical_error_lines_are_held_back_then_counted() -> None:
    now = [0.0]
    repeats = RepeatFilter(600.0, clock=lambda: now[0])

    def record(msg: str, level: int = logging.ERROR) -> logging.LogRecord:
        return logging.LogRecord("evframe.daemon", level, __file__, 1, msg, None, None)

    paused = "paused handler group a, b at event 7"
    assert repeats.filter(record(paused))
    second = record(paused)
    assert not repeats.filter(second)
    assert not repeats.filter(second)  # one decision per record, whichever sink asks
    assert repeats.filter(record("another line"))
    assert repeats.filter(record("a warning", logging.WARNING))
    assert repeats.filter(record("a warning", logging.WARNING))
    now[0] = 601.0
    third = record(paused)
    assert repeats.filter(third)
    assert third.getMessage() == f"{paused} (held back 1 time(s) in the last 601 s)"
    assert RepeatFilter(0).filter(record(paused)) and RepeatFilter(0).filter(record(paused))


def test_a_repeated_error_reaches_no_sink_twice(_clean_logging: None) -> None:
    stream = io.StringIO()
    configure_logging(LoggingConfig(), stream=stream)
    log = logging.getLogger("evframe.daemon")
    for _ in range(3):
        log.error("paused handler group a at event 7")
    assert stream.getvalue().count("paused handler group a at event 7") == 1


def test_a_pause_goes_in_the_mail_of_the_failure_it_follows(
    _clean_logging: None, outbox: Outbox
) -> None:
    a = Alerter(EMAIL, send=outbox.send, gather=0.5)
    configure_logging(LoggingConfig(email=EMAIL), stream=io.StringIO(), alerter=a)
    processor = Processor()
    processor.register(lambda ctx, event: None, name="rollup")
    roster = Roster(processor, Config())
    record = make_record("Shotgun_Shot_Change", id=5)
    report = Report(ShotgunEvent(record))
    report.results.append(
        HandlerResult("rollup", report.event, Outcome.FAILED, traceback="KeyError: 'x'")
    )
    roster.settle(record, report)
    reset_logging()
    assert len(outbox.mails) == 1
    body = outbox.mails[0].get_content()
    assert "handler rollup failed on event 5" in body and "paused handler group rollup" in body
