"""``evframe status``: the one screen to read at 3 a.m.

Is the daemon running (the pid in the state file's lock file, alive), does the
site answer, how far behind is each handler, which handlers are failing and why,
what was alerted.  It reads the state file (never locked) and the snapshot the
daemon writes beside it, so it needs no network and works with the metrics
listener off.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from evframe.cli._common import (
    config_option,
    error_line,
    json_option,
    state_file,
    state_option,
    table,
)
from evframe.daemon.status import read_snapshot, snapshot_path
from evframe.handler import Status
from evframe.state import State

__all__ = ["status_command"]

# A running daemon rewrites its snapshot every second or so; older than this, it is stuck.
STALE = 30.0
EXIT_NOT_RUNNING = 1


def _lock_pid(state: Path) -> int | None:
    try:
        text = state.with_name(state.name + ".lock").read_text().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, alive
    return True


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _clock(at: float | None) -> str:
    return datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S") if at else "-"


def gather(path: Path) -> dict[str, Any]:
    """Everything ``status`` shows, as one dict (also the ``--json`` output)."""
    with State.open(path, None, lock=False, create=False) as state:
        site_url, read_cursor = state.site_url, state.read_cursor
        rows = state.handlers()
        pending = len(state.pending())
        dead = state.count_dead_letters()
    snap = read_snapshot(snapshot_path(path)) or {}
    now = time.time()
    pid = _lock_pid(path)
    running = _alive(pid) and (not snap or (snap.get("pid") == pid and bool(snap.get("running"))))
    live = {h["name"]: h for h in snap.get("handlers") or () if isinstance(h, dict)}
    handlers = []
    for row in rows.values():
        seen = live.get(row.name, {})
        lag = (read_cursor - row.cursor) if read_cursor is not None else None
        handlers.append(
            {
                "name": row.name,
                "status": row.status.value,
                "cursor": row.cursor,
                "lag_events": max(0, lag) if lag is not None else None,
                "lag_seconds": seen.get("lag_seconds") if running else None,
                "error": error_line(row.error) if row.status != Status.ACTIVE else None,
                "failed_event_id": row.failed_event_id,
            }
        )
    updated = snap.get("updated_at")
    started = snap.get("started_at")
    return {
        "state": str(path),
        "running": running,
        "pid": pid if running else None,
        "started_at": started if running else None,
        "uptime_seconds": round(now - started, 1) if running and started else None,
        "snapshot_age_seconds": round(now - updated, 1) if updated else None,
        "stale": bool(running and updated and now - updated > STALE),
        "site_url": site_url,
        "site": snap.get("site") if running else None,
        "ready": snap.get("ready") if running else None,
        "not_ready": snap.get("not_ready") or [] if running else [],
        "read_cursor": read_cursor,
        "caught_up": snap.get("caught_up") if running else None,
        "pending_ids": pending,
        "dead_letters": dead,
        "handlers": handlers,
        "alerts": snap.get("alerts"),
        "metrics": snap.get("metrics") if running else None,
    }


def render(data: dict[str, Any]) -> str:
    """The text screen."""
    now = time.time()
    lines = []
    if data["running"]:
        up = f", up {_ago(data['uptime_seconds'])}" if data["uptime_seconds"] is not None else ""
        lines.append(f"evframe serve: RUNNING (pid {data['pid']}{up})")
        if data["stale"]:
            lines.append(
                f"  STALE: no word from the daemon for {_ago(data['snapshot_age_seconds'])}; "
                "its loop may be stuck in a handler (check /livez, or the log)"
            )
    else:
        age = data["snapshot_age_seconds"]
        last = f" (last seen {_ago(age)} ago)" if age is not None else ""
        lines.append(f"evframe serve: NOT RUNNING{last}")
    site = data["site"] or {}
    if not data["running"]:
        lines.append(f"site:     {data['site_url'] or '-'} (unknown while the daemon is down)")
    elif site.get("up"):
        lines.append(f"site:     {data['site_url']} answers")
    elif site.get("down_since"):
        since = _ago(now - float(site["down_since"]))
        lines.append(f"site:     {data['site_url']} DOWN for {since}: {site.get('error')}")
    else:
        lines.append(f"site:     {data['site_url']} not read yet")
    where = "caught up" if data["caught_up"] else "reading a backlog" if data["running"] else ""
    lines.append(
        f"events:   read up to {data['read_cursor']}{'; ' + where if where else ''}; "
        f"{data['pending_ids']} pending id(s); {data['dead_letters']} dead letter(s)"
    )
    if data["running"]:
        ready = "yes" if data["ready"] else "NO: " + "; ".join(data["not_ready"])
        lines.append(f"ready:    {ready}")
    if data["metrics"]:
        lines.append(f"metrics:  {data['metrics']} (/metrics, /livez, /readyz)")
    lines.append("")
    rows = data["handlers"]
    if rows:
        lines.append(
            table(
                ("HANDLER", "STATUS", "CURSOR", "LAG", "LAG (S)", "ERROR"),
                (
                    (
                        h["name"],
                        h["status"],
                        h["cursor"],
                        h["lag_events"],
                        f"{h['lag_seconds']:.0f}" if h["lag_seconds"] is not None else None,
                        h["error"],
                    )
                    for h in rows
                ),
            )
        )
    else:
        lines.append("no handlers recorded")
    troubled = [h for h in rows if h["status"] not in (Status.ACTIVE.value, Status.DISABLED.value)]
    if troubled:
        lines += ["", "Not running:"]
        for h in troubled:
            at = f" at event {h['failed_event_id']}" if h["failed_event_id"] is not None else ""
            lines.append(f"  {h['name']} ({h['status']}{at}): {h['error'] or '-'}")
        lines.append(
            "  (fix the handler and upgrade its package, or `evframe handlers resume NAME`)"
        )
    alerts = data["alerts"]
    if alerts:
        lines += [
            "",
            f"Alerts: {alerts.get('sent', 0)} mail(s) sent, {alerts.get('suppressed', 0)} "
            f"gathered into digests, {alerts.get('failed', 0)} failed to send",
        ]
        failing = alerts.get("failing") or {}
        if failing:
            lines.append("  failing, not recovered yet: " + ", ".join(sorted(failing)))
        for mail in list(alerts.get("recent") or ())[-10:]:
            lines.append(f"  {_clock(mail.get('at'))}  {mail.get('subject')}")
    return "\n".join(lines)


@click.command("status")
@config_option
@state_option
@json_option
def status_command(config_path: Path | None, state_path: Path | None, as_json: bool) -> None:
    """Is the daemon running and healthy? The one screen to read first.

    Shows whether `evframe serve` runs on this state file (pid, uptime), whether
    the site answers, how far behind each handler is (in events and seconds),
    the handlers that are paused and why, and the alerts sent recently. Reads
    the state file and the snapshot the daemon keeps beside it
    (STATE.status.json): no network needed.

    Exit 0 when the daemon runs, 1 when it does not, 4 if the state file is
    missing or cannot be read.
    """
    path = state_file(config_path, state_path)
    data = gather(path)
    click.echo(json.dumps(data, indent=2) if as_json else render(data))
    if not data["running"]:
        # The screen says so already; the exit code is for scripts and monitors.
        raise click.exceptions.Exit(EXIT_NOT_RUNNING)
