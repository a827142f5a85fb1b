"""Operating the daemon: alert mail that does not flood, metrics and health scraped over
loopback, and ``evframe status``, with ``evframe serve`` as a process against the sandbox."""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from evframe.testing import wait_until
from support.e2e import Daemon, SandboxProc, Writer, expected_ids, wait_delivered
from support.scrape import get
from support.scrape import samples as parse
from support.smtp import SmtpSink

# What this suite tests does not depend on the executor (or hooks the inline one).
pytestmark = [pytest.mark.e2e, pytest.mark.inline_only]

DIGEST = 3.0  # seconds: [logging.email] digest_interval for these tests
FAILURE = r"evframe\.handler\.flaky: handler flaky failed on event"


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    yield sink
    sink.close()


def test_a_hundred_failures_send_a_bounded_number_of_mails(
    daemon: Daemon, sandbox: SandboxProc, writer: Writer, smtp_sink: SmtpSink
) -> None:
    extra = f"""
[handlers.flaky]
on_error = "skip"
alert_to = ["flaky-team@studio.test"]

[logging.email]
host = "127.0.0.1"
port = {smtp_sink.port}
from = "evframe@studio.test"
to = ["ops@studio.test"]
digest_interval = {DIGEST}
"""
    proc = daemon.start_serving(config=daemon.write_config(extra=extra))
    started = time.monotonic()
    # Every event of a shot named "...boom..." makes flaky 1.0 raise.  The first: mailed at once.
    writer.create_shot("sh000_boom")
    wait_until(lambda: smtp_sink.mails, 20, "the first alert mail", detail=proc.tail)
    first_failing = min(
        int(e["id"])
        for e in sandbox.events()
        if e["event_type"].startswith("Shotgun_Shot_") and "boom" in (e["entity"] or {})["name"]
    )
    # Then a flood of over 100 failures: gathered into a digest at the interval's end.
    shots = 1
    while len(proc.log_lines(FAILURE)) < 100:
        writer.create_shot(f"sh{shots:03d}_boom")
        shots += 1
        proc.wait_log(FAILURE, timeout=20, count=shots)
    wait_until(lambda: len(smtp_sink.mails) >= 2, 20, "the digest", detail=proc.tail)
    writer.create_shot("sh998_boom")
    writer.create_shot("sh999_fine")  # flaky handles it: recovered
    recovered = wait_until(
        lambda: [m for m in smtp_sink.mails if "recovered" in m.subject],
        30,
        "a mail saying flaky recovered",
        detail=lambda: "\n".join(m.subject for m in smtp_sink.mails) + "\n" + proc.tail(),
    )
    elapsed = time.monotonic() - started
    failures = len(proc.log_lines(FAILURE))

    mails = smtp_sink.mails
    assert failures >= 100
    # One mail at once, then at most one digest per digest_interval (the recovery in one).
    assert 2 <= len(mails) <= 2 + elapsed / DIGEST, [m.subject for m in mails]
    assert len(mails) < 20
    first = mails[0]
    assert re.match(
        rf"evframe error: handler flaky failed on (event {first_failing} |\d+ events "
        rf"\({first_failing}\.\.)",
        first.subject,
    ), first.subject
    assert "RuntimeError: flaky 1.0 cannot handle shot" in first.subject
    assert "Traceback" in first.body
    assert all(m.rcpt == ["flaky-team@studio.test"] for m in mails)
    assert re.search(r"; recovered at event \d+$", recovered[-1].subject), recovered[-1].subject
    # Every failure is counted in some mail's subject.
    told = 0
    for mail in mails:
        many = re.search(r"failed on (\d+) events", mail.subject)
        told += int(many.group(1)) if many else int("failed on event" in mail.subject)
    assert told == failures, [m.subject for m in mails]

    # Nothing lost meanwhile: every other handler got every event.
    events = sandbox.events()
    wait_delivered(daemon.records, expected_ids(events), 20, proc)

    def snapshot() -> dict[str, Any] | None:
        status = daemon.cli("status", "--json")
        assert status.returncode == 0, status.stderr
        found: dict[str, Any] = json.loads(status.stdout)
        # The snapshot is rewritten at most once a second: wait until it saw every mail.
        return found if found["alerts"]["sent"] == len(smtp_sink.mails) else None

    data = wait_until(snapshot, 20, "the status snapshot to count every mail sent")
    assert data["running"] is True
    assert data["alerts"]["suppressed"] >= failures - len(mails)
    assert data["alerts"]["recent"][0]["subject"] == first.subject

    proc.signal(signal.SIGTERM)
    assert proc.wait_exit(20) == 0


def test_metrics_health_and_status_of_a_running_daemon(
    daemon: Daemon, sandbox: SandboxProc, writer: Writer
) -> None:
    extra = '\n[metrics]\nlisten = "127.0.0.1:0"\nready_max_lag = 600\n'
    proc = daemon.start_serving(config=daemon.write_config(extra=extra))
    (line,) = proc.wait_log(r"metrics on http://127\.0\.0\.1:\d+/metrics")
    url = re.search(r"(http://127\.0\.0\.1:\d+)/metrics", line).group(1)  # type: ignore[union-attr]
    writer.steps(12)
    events = sandbox.events()
    wait_delivered(daemon.records, expected_ids(events), 20, proc)

    def scraped() -> dict[str, float] | None:
        code, text = get(f"{url}/metrics")
        found = parse(text) if code == 200 else {}
        done = found.get('evframe_handler_lag_events{handler="rec_all"}') == 0
        return found if done and found.get("evframe_read_cursor") == events[-1]["id"] else None

    samples = wait_until(scraped, 20, "the metrics to show every handler caught up")
    assert samples["evframe_events_read_total"] == len(events)
    assert samples['evframe_handler_events_total{handler="rec_all",outcome="ok"}'] == len(events)
    assert samples['evframe_handler_duration_seconds_count{handler="rec_all"}'] == len(events)
    assert samples['evframe_handler_lag_seconds{handler="rec_all"}'] == 0
    assert samples['evframe_handler_status{handler="rec_all",status="active"}'] == 1
    assert samples["evframe_site_up"] == 1 and samples["evframe_live"] == 1
    assert samples["evframe_site_requests_total"] >= samples['evframe_polls_total{result="empty"}']
    assert get(f"{url}/livez")[0] == 200
    assert get(f"{url}/readyz") == (200, "ok\n")

    # Maintenance: not ready, and status says why; still alive (the loop waits on the site).
    sandbox.faults(maintenance=True)
    _code, text = wait_until(
        lambda: (r := get(f"{url}/readyz"))[0] == 503 and r, 20, "/readyz to fail"
    )
    assert "site down: the site is down for maintenance" in text
    assert get(f"{url}/livez")[0] == 200
    status = wait_until(
        lambda: (
            (d := json.loads(daemon.cli("status", "--json").stdout))["site"]["up"] is False and d
        ),
        20,
        "evframe status to show the site down",
    )
    assert status["running"] is True and status["site"]["kind"] == "maintenance"
    text_status = daemon.cli("status")
    assert "RUNNING" in text_status.stdout and "DOWN for" in text_status.stdout
    errors = parse(get(f"{url}/metrics")[1])
    assert errors['evframe_site_errors_total{kind="maintenance"}'] >= 1

    sandbox.faults(reset=True)
    wait_until(lambda: get(f"{url}/readyz")[0] == 200, 30, "/readyz to pass again")
    writer.steps(5)
    events = sandbox.events()
    wait_delivered(daemon.records, expected_ids(events), 30, proc)

    proc.signal(signal.SIGTERM)
    assert proc.wait_exit(20) == 0
    stopped = daemon.cli("status")
    assert stopped.returncode == 1 and "NOT RUNNING" in stopped.stdout
