"""End-to-end helpers: the sandbox and ``evframe serve`` as real processes.

:class:`Procs` starts processes and kills them by pid (the ``procs`` fixture in
``tests/e2e/conftest.py`` does so at teardown, whatever the test did).  Nothing
waits a fixed time: :func:`evframe.testing.wait_until` polls a condition (a log
line, the recorded-events file, the state file) against a deadline and fails
saying what it waited for.
"""

from __future__ import annotations

import http.client
import importlib.metadata
import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from shotgun_api3 import shotgun

from evframe.state import State
from evframe.testing import install_distribution, wait_until

E2E_DIR = Path(__file__).resolve().parent.parent / "e2e"
RECORDER_DIST = E2E_DIR.parent / "dists" / "evframe-test-recorder"
FLAKY_V1 = E2E_DIR / "dists" / "evframe-test-flaky-1.0"
FLAKY_V2 = E2E_DIR / "dists" / "evframe-test-flaky-2.0"
GROUP = "evframe.e2e_handlers"
RECORDERS = ("rec_all", "rec_task_status", "rec_after")
HANDLERS = (*RECORDERS, "flaky", "flaky_after")
SCRIPT = ("e2e", "e2e-sandbox-key-5f1c")
# The daemon's own script: the tests write as SCRIPT, and handlers do not get the events
# their own script's writes caused.
DAEMON_SCRIPT = ("evframe-e2e", "e2e-daemon-key-8b2d")


# -- installing the test handler distributions ------------------------------------------


def installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def pip_install(source: Path, build_root: Path) -> None:
    """Install ``source`` into this environment (again, even at the same version)."""
    install_distribution(source, force=True, build_root=str(build_root))


def pip(*args: str) -> None:
    """Run pip in this environment, offline."""
    cmd = [sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "-q"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout}\n{proc.stderr}"
    importlib.invalidate_caches()


# -- processes --------------------------------------------------------------------------


@dataclass
class Proc:
    """A process started by a test, with its output in files."""

    name: str
    popen: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def out(self) -> str:
        return self.stdout.read_text(errors="replace") if self.stdout.exists() else ""

    def err(self) -> str:
        return self.stderr.read_text(errors="replace") if self.stderr.exists() else ""

    def tail(self, lines: int = 40) -> str:
        text = self.err().splitlines()[-lines:]
        return f"--- {self.name} (pid {self.pid}) stderr, last lines:\n" + "\n".join(text)

    def log_lines(self, pattern: str) -> list[str]:
        rx = re.compile(pattern)
        return [line for line in self.err().splitlines() if rx.search(line)]

    def wait_log(self, pattern: str, timeout: float = 20.0, count: int = 1) -> list[str]:
        """Wait until ``pattern`` (a regex) occurs ``count`` times in stderr."""

        def found() -> list[str] | None:
            lines = self.log_lines(pattern)
            if len(lines) >= count:
                return lines
            if not self.alive():
                pytest.fail(
                    f"{self.name} exited ({self.popen.returncode}) before logging "
                    f"{pattern!r}\n{self.tail()}"
                )
            return None

        return wait_until(found, timeout, f"{self.name} to log {pattern!r}", detail=self.tail)

    def wait_exit(self, timeout: float) -> int:
        """The exit code, waited for at most ``timeout`` seconds."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} did not exit within {timeout:.0f} s\n{self.tail()}")

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)


class Procs:
    """Starts processes and kills the ones still running at teardown."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[Proc] = []

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Proc:
        n = len(self.started)
        stdout = self.tmp_path / f"{n:02d}-{name}.out"
        stderr = self.tmp_path / f"{n:02d}-{name}.err"
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        with open(stdout, "wb") as out, open(stderr, "wb") as err:
            popen = subprocess.Popen(
                args,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=full_env,
                cwd=self.tmp_path,
            )
        proc = Proc(name, popen, stdout, stderr)
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            if proc.popen.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            try:
                proc.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a zombie we cannot reap
                pass


# -- the sandbox ------------------------------------------------------------------------


@dataclass
class SandboxProc:
    """``evframe sandbox`` running as a process."""

    proc: Proc
    url: str
    script: tuple[str, str] = SCRIPT

    def client(self) -> shotgun.Shotgun:
        sg = shotgun.Shotgun(self.url, self.script[0], self.script[1])
        return sg

    def faults(self, **changes: Any) -> dict[str, Any]:
        """POST ``changes`` to the fault endpoint (GET when empty); the new settings."""
        data = json.dumps(changes).encode() if changes else None
        req = urllib.request.Request(f"{self.url}/_sandbox/faults", data=data)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())  # type: ignore[no-any-return]

    def events(self) -> list[dict[str, Any]]:
        """Every EventLogEntry row (id, event_type, attribute_name), by id."""
        sg = self.client()
        rows = sg.find(
            "EventLogEntry",
            [],
            ["id", "event_type", "attribute_name", "entity"],
            order=[{"field_name": "id", "direction": "asc"}],
        )
        sg.close()
        return [dict(row) for row in rows]


def start_sandbox(procs: Procs, db: Path | None = None) -> SandboxProc:
    args = [sys.executable, "-m", "evframe", "sandbox", "--port", "0"]
    args += ["--script", f"{SCRIPT[0]}:{SCRIPT[1]}"]
    args += ["--script", f"{DAEMON_SCRIPT[0]}:{DAEMON_SCRIPT[1]}"]
    if db is not None:
        args += ["--db", str(db)]
    proc = procs.start("sandbox", args)

    def url() -> str | None:
        first = proc.out().split("\n", 1)
        if len(first) == 2 and "listening on " in first[0]:
            return first[0].rsplit(" ", 1)[-1].strip()
        if not proc.alive():
            pytest.fail(f"the sandbox exited ({proc.popen.returncode})\n{proc.tail()}")
        return None

    return SandboxProc(proc, wait_until(url, 20, "the sandbox to print its URL"))


# -- evframe serve ----------------------------------------------------------------------


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))


@dataclass
class Daemon:
    """Writes configs for ``evframe serve`` and starts it against one sandbox."""

    procs: Procs
    tmp_path: Path
    sandbox: SandboxProc | None
    records: Path
    state: Path
    url: str
    daemon_options: dict[str, Any] = field(default_factory=dict)
    handler_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The handlers of daemon.group that get a [handlers.NAME.config] section.
    handlers: tuple[str, ...] = HANDLERS

    @classmethod
    def in_dir(cls, procs: Procs, tmp_path: Path, url: str, sandbox: SandboxProc | None) -> Daemon:
        """A set-up keeping its config, records and state file in ``tmp_path``."""
        return cls(procs, tmp_path, sandbox, tmp_path / "records.jsonl", tmp_path / "state.db", url)

    def write_config(self, path: Path | None = None, *, extra: str = "") -> Path:
        daemon = {
            "state": str(self.state),
            "group": GROUP,
            "start": "earliest",
            "poll_interval": 0.1,
            "active_poll_interval": 0.05,
            "reload_interval": 0,
            **self.daemon_options,
        }
        lines = ["[daemon]"] + [f"{k} = {toml_value(v)}" for k, v in daemon.items()]
        for name in self.handlers:
            options = {"out": str(self.records), **self.handler_options.get(name, {})}
            lines.append(f"\n[handlers.{name}.config]")
            lines += [f"{k} = {toml_value(v)}" for k, v in options.items()]
        path = path or self.tmp_path / "evframe.toml"
        path.write_text("\n".join(lines) + "\n" + extra)
        return path

    def env(self) -> dict[str, str]:
        return {
            "EVFRAME_SITE_URL": self.url,
            "EVFRAME_SCRIPT_NAME": DAEMON_SCRIPT[0],
            "EVFRAME_API_KEY": DAEMON_SCRIPT[1],
        }

    def start(self, *args: str, config: Path | None = None, name: str = "serve") -> Proc:
        config = config or self.write_config()
        cmd = [sys.executable, "-m", "evframe", "serve", "--config", str(config), *args]
        return self.procs.start(name, cmd, env=self.env())

    def start_serving(self, *args: str, **kwargs: Any) -> Proc:
        """Start and wait until the daemon serves (handlers loaded, cursors set)."""
        proc = self.start(*args, **kwargs)
        proc.wait_log(r"evframe\.daemon: serving ", timeout=30)
        return proc

    def run(self, *args: str, config: Path | None = None, timeout: float = 60) -> Proc:
        """Run ``evframe serve`` to its end (a burst mode or an error)."""
        proc = self.start(*args, config=config)
        proc.wait_exit(timeout)
        return proc

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run another ``evframe`` command (``handlers``, ``state``...) on this config."""
        config = self.tmp_path / "evframe.toml"
        cmd = [sys.executable, "-m", "evframe", *args, "--config", str(config)]
        return subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            env={**os.environ, **self.env()},
            cwd=self.tmp_path,
        )

    def read_state(self) -> tuple[int | None, dict[str, Any]]:
        """(read cursor, handler rows) as committed in the state file."""
        with State.open(self.state, self.url, lock=False, create=False) as state:
            return state.read_cursor, state.handlers()


# -- records ----------------------------------------------------------------------------


def read_records(path: Path) -> list[dict[str, Any]]:
    """The complete lines of the recorded-calls file, in order."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")[:-1]  # a line still being written has no newline yet
    return [json.loads(line) for line in lines if line]


def ids_by_handler(records: list[dict[str, Any]], *, final: bool = True) -> dict[str, list[int]]:
    """Event ids each handler recorded (``final``: skip ``phase = begin`` lines), in order."""
    out: dict[str, list[int]] = {}
    for rec in records:
        if final and rec.get("phase") == "begin":
            continue
        out.setdefault(rec["handler"], []).append(rec["event_id"])
    return out


def expected_ids(events: list[dict[str, Any]], after: int = 0) -> dict[str, list[int]]:
    """The event ids each recorder handler wants, of ``events`` after id ``after``."""
    evs = [e for e in events if e["id"] > after]
    everything = [e["id"] for e in evs]
    status = [
        e["id"]
        for e in evs
        if e["event_type"] == "Shotgun_Task_Change" and e["attribute_name"] == "sg_status_list"
    ]
    return {"rec_all": everything, "rec_after": everything, "rec_task_status": status}


def concurrent(daemon: Daemon) -> bool:
    """Whether the daemon runs chains concurrently (only each entity keeps id order)."""
    return str(daemon.daemon_options.get("executor", "inline")) != "inline"


def in_id_order(daemon: Daemon, ids: list[int], events: list[dict[str, Any]]) -> list[int]:
    """``ids`` as a handler recorded them, to compare with ids in event order.

    Inline, they are returned as they are.  With a concurrent executor only the
    events of one entity keep their order: that is checked, and the ids sorted.
    """
    if not concurrent(daemon):
        return ids
    key = {
        e["id"]: (e["entity"]["type"], e["entity"]["id"]) if e.get("entity") else e["event_type"]
        for e in events
    }
    per: dict[Any, list[int]] = {}
    for i in ids:
        per.setdefault(key.get(i), []).append(i)
    for entity, seq in per.items():
        assert seq == sorted(seq), f"events of {entity} ran out of id order: {seq}"
    return sorted(ids)


def has_all(path: Path, want: dict[str, list[int]]) -> bool:
    got = ids_by_handler(read_records(path))
    return all(set(ids) <= set(got.get(name, ())) for name, ids in want.items())


def missing_report(path: Path, want: dict[str, list[int]]) -> str:
    got = ids_by_handler(read_records(path))
    parts = []
    for name, ids in want.items():
        missing = sorted(set(ids) - set(got.get(name, ())))
        parts.append(f"{name}: {len(missing)} missing of {len(ids)} {missing[:20]}")
    return "; ".join(parts)


def wait_delivered(
    path: Path,
    want: dict[str, list[int]],
    timeout: float,
    proc: Proc,
    what: str = "every event to reach every handler that wants it",
) -> None:
    """Wait until each handler in ``want`` recorded its ids in ``path``.

    On timeout, say which ids are missing and show ``proc``'s log tail.
    """
    wait_until(
        lambda: has_all(path, want),
        timeout,
        what,
        detail=lambda: missing_report(path, want) + "\n" + proc.tail(),
    )


# -- writing to the site ----------------------------------------------------------------


@dataclass
class Writer:
    """Creates and updates entities through ``shotgun_api3``, as artists would."""

    sg: shotgun.Shotgun
    project: dict[str, Any] = field(default_factory=dict)
    shot: dict[str, Any] = field(default_factory=dict)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    n: int = 0

    STATUSES = ("wtg", "rdy", "ip", "rev", "fin")

    def setup(self, tasks: int = 3) -> None:
        self.project = self.sg.create("Project", {"name": "e2e"})
        self.shot = self.create_shot("sh010")
        for i in range(tasks):
            self.tasks.append(
                self.sg.create(
                    "Task", {"content": f"task{i}", "project": self.project, "entity": self.shot}
                )
            )

    def create_shot(self, code: str) -> dict[str, Any]:
        return dict(self.sg.create("Shot", {"code": code, "project": self.project}))

    def step(self) -> None:
        """One write: a task status change (mostly) or a description change."""
        self.n += 1
        task = self.tasks[self.n % len(self.tasks)]
        if self.n % 4 == 0:
            data = {"sg_description": f"note {self.n}"}
        else:
            data = {"sg_status_list": self.STATUSES[self.n % len(self.STATUSES)]}
        # The sandbox drops a connection before handling the request, so retrying a
        # dropped update never writes twice (shotgun_api3 itself re-sends only once).
        for attempt in range(20):
            try:
                self.sg.update("Task", task["id"], data)
                return
            except (ConnectionError, http.client.HTTPException, OSError):
                if attempt == 19:
                    raise

    def steps(self, count: int) -> None:
        for _ in range(count):
            self.step()

    def last_event_id(self) -> int:
        """The id of the newest EventLogEntry on the site."""
        last = self.sg.find_one(
            "EventLogEntry", [], ["id"], order=[{"field_name": "id", "direction": "desc"}]
        )
        assert last is not None, "the site has no events"
        return int(last["id"])
