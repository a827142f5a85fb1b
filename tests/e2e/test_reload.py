"""``evframe serve`` on the embedded demo sandbox restarts in place on a new handler set:
same pid, same site, resuming from its cursor."""

from __future__ import annotations

import re
import signal
import sys
from pathlib import Path

import pytest

from evframe.testing import wait_until
from support.e2e import (
    FLAKY_V2,
    Daemon,
    Procs,
    ids_by_handler,
    installed_version,
    pip_install,
    read_records,
)

pytestmark = pytest.mark.e2e

SERVING = r"evframe\.daemon: serving (\S+) from event (\d+) "


def test_upgrade_on_the_embedded_sandbox_restarts_in_place(
    offline_daemon: Daemon, procs: Procs, restore_flaky: None, tmp_path: Path
) -> None:
    assert installed_version("evframe-test-flaky") == "1.0"
    config = offline_daemon.write_config()  # the e2e handlers; reload on SIGHUP only
    records = offline_daemon.records
    # No site configured: serve runs the embedded demo sandbox.
    no_site = {"EVFRAME_SITE_URL": "", "EVFRAME_SCRIPT_NAME": "", "EVFRAME_API_KEY": ""}
    cmd = [sys.executable, "-m", "evframe", "serve", "--config", str(config)]
    proc = procs.start("serve", [*cmd, "--demo-interval", "0.05"], env=no_site)
    (first,) = proc.wait_log(SERVING, timeout=30)
    url, start = re.search(SERVING, first).groups()  # type: ignore[union-attr]
    assert start == "0"
    demo_dir = Path(proc.wait_log(r"its data and the state in (\S+)\)")[0].split()[-1][:-1])
    assert (demo_dir / "site.db").exists()

    def flaky_after_ids() -> list[int]:
        return ids_by_handler(read_records(records)).get("flaky_after", [])

    wait_until(lambda: len(flaky_after_ids()) > 20, 20, "events to be handled", detail=proc.tail)

    pip_install(FLAKY_V2, tmp_path)
    proc.signal(signal.SIGHUP)
    proc.wait_log(r"handler set reloaded: 5 handler\(s\)", timeout=30)
    (_, again) = proc.wait_log(SERVING, count=2)
    url_again, resumed = re.search(SERVING, again).groups()  # type: ignore[union-attr]
    assert url_again == url, "the restarted daemon serves the same site"
    assert int(resumed) > 20, "and resumes from its cursor"
    assert len(proc.log_lines(r"first run: starting")) == 1

    # The demo activity goes on, and the new code handles it in the same process.
    def handled_by_2_0() -> bool:
        rows = read_records(records)
        return any(r["handler"] == "flaky_after" and r["version"] == "2.0" for r in rows)

    wait_until(handled_by_2_0, 20, "flaky_after 2.0 to handle an event", detail=proc.tail)
    assert proc.alive()
    rows = read_records(records)
    assert {r["pid"] for r in rows} == {proc.pid}, "restarted in place: the pid stays"
    # From the same read as ``rows``: the demo keeps writing meanwhile.
    ids = ids_by_handler(rows).get("flaky_after", [])
    assert ids == sorted(set(ids)), "every event once, in order, across the restart"
    versions = {r["event_id"]: r["version"] for r in rows if r["handler"] == "flaky_after"}
    assert {versions[i] for i in ids if i <= int(resumed)} == {"1.0"}
    assert {versions[i] for i in ids if i > int(resumed)} == {"2.0"}

    proc.signal(signal.SIGTERM)
    assert proc.wait_exit(15) == 0, proc.tail()
    assert not proc.log_lines(r" (ERROR|CRITICAL) "), proc.tail()
    assert not demo_dir.exists(), "the demo site and its state go with the last process"
