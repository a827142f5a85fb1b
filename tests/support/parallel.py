"""Helpers for the tests of concurrent executors: events over many entities, a config
for the ``evframe.parallel_handlers`` group, and the checks of what handlers recorded."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from shotgun_api3 import shotgun

from evframe.state import State
from evframe.testing import order_violations as count_violations
from support.e2e import DAEMON_SCRIPT, Procs, SandboxProc, read_records

PARALLEL_DIST = Path(__file__).resolve().parent.parent / "dists" / "evframe-test-parallel"
PARALLEL_GROUP = "evframe.parallel_handlers"


def write_events(sg: shotgun.Shotgun, shots: int, rounds: int) -> list[int]:
    """``shots`` Shots, then ``rounds`` description changes of each, interleaved;
    returns every event id on the site."""
    project = sg.create("Project", {"name": "parallel"})
    made = [sg.create("Shot", {"code": f"sh{i:03d}", "project": project}) for i in range(shots)]
    for r in range(rounds):
        for shot in made:
            sg.update("Shot", shot["id"], {"description": f"take {r}"})
    rows = sg.find("EventLogEntry", [], ["id"], order=[{"field_name": "id", "direction": "asc"}])
    return [int(row["id"]) for row in rows]


def events_on(sandbox: SandboxProc, shots: int, rounds: int) -> list[int]:
    """:func:`write_events` through a client of its own."""
    sg = sandbox.client()
    try:
        return write_events(sg, shots, rounds)
    finally:
        sg.close()


def cursors(tmp_path: Path, url: str) -> set[int]:
    """The handler cursors committed in the state file of a :func:`write_config` set-up."""
    with State.open(tmp_path / "state.db", url, lock=False, create=False) as state:
        return {r.cursor for r in state.handlers().values()}


def toml(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, bool) else str(value).lower()


def write_config(
    tmp_path: Path,
    *,
    out: Path,
    daemon: dict[str, Any],
    handlers: dict[str, dict[str, Any]] | None = None,
    options: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """A config for the parallel handlers: ``daemon`` keys, per-handler keys
    (``handlers``) and handler options (``options``; every handler gets ``out``)."""
    settings = {
        "state": str(tmp_path / "state.db"),
        "group": PARALLEL_GROUP,
        "start": "earliest",
        "poll_interval": 0.1,
        "active_poll_interval": 0.05,
        "reload_interval": 0,
        **daemon,
    }
    lines = ["[daemon]", *(f"{k} = {toml(v)}" for k, v in settings.items())]
    for name in ("par_first", "par_second", "par_global", "par_trouble"):
        keys = (handlers or {}).get(name, {})
        if keys:
            lines.append(f"\n[handlers.{name}]")
            lines += [f"{k} = {toml(v)}" for k, v in keys.items()]
        lines.append(f"\n[handlers.{name}.config]")
        opts = {"out": str(out), **(options or {}).get(name, {})}
        lines += [f"{k} = {toml(v)}" for k, v in opts.items()]
    path = tmp_path / "evframe.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def env_for(url: str) -> dict[str, str]:
    return {
        "EVFRAME_SITE_URL": url,
        "EVFRAME_SCRIPT_NAME": DAEMON_SCRIPT[0],
        "EVFRAME_API_KEY": DAEMON_SCRIPT[1],
    }


def serve(procs: Procs, config: Path, url: str, *args: str) -> Any:
    cmd = [sys.executable, "-m", "evframe", "serve", "--config", str(config), *args]
    return procs.start("serve", cmd, env=env_for(url))


def final(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get("phase") != "begin"]


def order_violations(records: list[dict[str, Any]], *, by: str = "entity") -> int:
    """Pairs of events with the same key (``entity``, or ``global``: one key) whose
    chains overlapped or ran out of id order."""
    return count_violations(
        (r["entity"] if by == "entity" else "global", r["event_id"], r["start"], r["end"])
        for r in final(records)
    )


def ids_of(path: Path, handler: str) -> list[int]:
    return sorted(r["event_id"] for r in final(read_records(path)) if r["handler"] == handler)
