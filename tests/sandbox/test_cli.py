"""``evframe sandbox`` as a process: first line, credentials, SIGTERM."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from shotgun_api3 import shotgun

from evframe.sandbox.cli import sandbox_command

FIRST_LINE = re.compile(r"^evframe sandbox listening on (http://127\.0\.0\.1:\d+)$")


class Lines:
    """Read a process's stdout lines without ever blocking the test forever."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.q: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        out = proc.stdout
        threading.Thread(target=lambda: [self.q.put(line) for line in out], daemon=True).start()

    def next(self, timeout: float = 20) -> str:
        return self.q.get(timeout=timeout).rstrip("\n")


def test_cli_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    db = tmp_path / "cli.sqlite"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "evframe",
            "sandbox",
            "--port",
            "0",
            "--seed",
            "demo",
            "--script",
            "cli:cli-key",
            "--field",
            "Shot.sg_cli:text",
            "--db",
            str(db),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = Lines(proc)
        first = lines.next()
        match = FIRST_LINE.match(first)
        assert match, first
        url = match.group(1)
        assert lines.next() == "script: cli  key: cli-key"
        sg = shotgun.Shotgun(url, "cli", "cli-key")
        sg.update("Shot", 1, {"sg_cli": "from the cli test"})
        assert sg.find_one("Project", [], ["name"])["name"] == "Demo Project"
        sg.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()
    assert db.exists()


def test_cli_default_script_and_sigint() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "evframe", "sandbox", "--maintenance"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = Lines(proc)
        url = FIRST_LINE.match(lines.next())
        assert url
        assert lines.next() == "script: evframe  key: evframe-sandbox-key"
        sg = shotgun.Shotgun(url.group(1), "evframe", "evframe-sandbox-key", connect=False)
        with pytest.raises(shotgun.ProtocolError) as err:
            sg.find("Shot", [])
        assert err.value.errcode == 503
        sg.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def test_cli_help_and_bad_options() -> None:
    runner = CliRunner()
    result = runner.invoke(sandbox_command, ["--help"])
    assert result.exit_code == 0
    for word in (
        "--port",
        "--db",
        "--seed",
        "--script",
        "--field",
        "--schema",
        "--latency",
        "--maintenance",
        "--drop-rate",
        "--error-rate",
        "SIGTERM",
    ):
        assert word in result.output
    bad = runner.invoke(sandbox_command, ["--script", "nokey"])
    assert bad.exit_code == 2 and "expected NAME:KEY" in bad.output
    bad = runner.invoke(sandbox_command, ["--field", "Shot.sg_x:bogus"])
    assert bad.exit_code == 1 and "unknown data type 'bogus'" in bad.output
