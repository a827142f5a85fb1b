"""Silent misconfiguration refused: ``serve`` exits 3 for a [handlers.NAME] table or a
[logging.handlers] key naming a handler that is not installed, and shows handlers
disabled in the config as disabled (start-up line, ``evframe state``)."""

from __future__ import annotations

import json
import signal

import pytest

from support.e2e import (
    Daemon,
    SandboxProc,
    Writer,
    expected_ids,
    ids_by_handler,
    read_records,
    wait_delivered,
)

# What this suite tests does not depend on the executor (or hooks the inline one).
pytestmark = [pytest.mark.e2e, pytest.mark.inline_only]


@pytest.mark.parametrize(
    ("extra", "key", "near"),
    [
        ('[handlers.rec_al]\non_error = "skip"\n', "handlers.rec_al", "rec_all"),
        (
            '[logging.handlers]\nrec_task_stat = "DEBUG"\n',
            "logging.handlers.rec_task_stat",
            "rec_task_status",
        ),
    ],
)
def test_config_for_a_handler_that_is_not_installed_is_refused(
    daemon: Daemon, sandbox: SandboxProc, extra: str, key: str, near: str
) -> None:
    config = daemon.write_config(extra=extra)
    proc = daemon.run(config=config, timeout=60)
    assert proc.popen.returncode == 3, proc.tail()
    err = proc.err()
    assert f"evframe: error: {key}: " in err and f"did you mean {near!r}?" in err, err
    assert str(config) in err
    assert not daemon.state.exists() or not read_records(daemon.records)
    check = daemon.cli("check")
    assert check.returncode == 3 and key in check.stdout, check.stdout


def test_handlers_disabled_in_config_show_as_disabled(
    daemon: Daemon, sandbox: SandboxProc, writer: Writer
) -> None:
    config = daemon.write_config(extra="[handlers.rec_task_status]\nenabled = false\n")
    proc = daemon.start_serving(config=config)
    (serving,) = proc.log_lines(r"evframe\.daemon: serving ")
    assert "rec_task_status (disabled in config)" in serving, serving
    writer.steps(4)
    want = expected_ids(sandbox.events())
    del want["rec_task_status"]
    wait_delivered(daemon.records, want, 20, proc)
    assert "rec_task_status" not in ids_by_handler(read_records(daemon.records))
    shown = daemon.cli("state")
    assert shown.returncode == 0, shown.stderr
    line = next(row for row in shown.stdout.splitlines() if row.startswith("rec_task_status"))
    assert "disabled (config)" in line, shown.stdout
    rows = {h["name"]: h for h in json.loads(daemon.cli("state", "--json").stdout)["handlers"]}
    assert rows["rec_task_status"]["status"] == "disabled"
    assert rows["rec_task_status"]["disabled_in_config"] is True
    assert rows["rec_all"]["status"] == "active"
    proc.signal(signal.SIGTERM)
    assert proc.wait_exit(15) == 0, proc.tail()
