"""The status snapshot: a small JSON file beside the state file, for ``evframe status``.

The daemon rewrites ``<state>.status.json`` (atomically, mode 0600) at most once a
second after a commit, while the site is in trouble, and when it stops, so the
status command needs neither the network nor the daemon's lock.  It holds what
the state file does not: whether the site answers, lag in seconds, recent alerts.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from evframe.daemon.observe import Observer

if TYPE_CHECKING:
    from evframe.alerts import Alerter
    from evframe.daemon.core import Daemon
    from evframe.daemon.stats import Stats

__all__ = ["StatusFile", "read_snapshot", "snapshot_path", "write_snapshot"]

VERSION: Final = 1
SITE_TROUBLE_EVERY: Final = 5.0  # seconds between two snapshots while the site is down
RECENT_SHOWN: Final = 10


def snapshot_path(state: str | os.PathLike[str]) -> Path:
    """Where the snapshot of the daemon using state file ``state`` is."""
    path = Path(state)
    return path.with_name(path.name + ".status.json")


def write_snapshot(path: Path, data: dict[str, Any]) -> None:
    """Replace the snapshot at ``path`` in one step (a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=1, default=str)
    os.replace(tmp, path)


def read_snapshot(path: Path) -> dict[str, Any] | None:
    """The snapshot at ``path``; None if there is none or it cannot be read."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("version") == VERSION else None


class StatusFile(Observer):
    """Writes the snapshot of ``stats`` (after :class:`Stats` in the observers)."""

    def __init__(
        self, stats: Stats, path: Path, *, alerter: Alerter | None = None, listen: str | None = None
    ) -> None:
        self.stats = stats
        self.path = path
        self.alerter = alerter
        self.listen = listen
        self.daemon: Daemon | None = None
        self._written: object = None
        self._last_trouble = 0.0

    def started(self, daemon: Daemon) -> None:
        self.daemon = daemon
        previous = read_snapshot(self.path)
        # `serve` restarts in place (same pid) for a new handler set: same uptime, and
        # the alerts it had sent and the handlers it was alerting on carry over.
        if previous is not None and previous.get("pid") == os.getpid():
            self.stats.started_at = float(previous.get("started_at") or self.stats.started_at)
            if self.alerter is not None:
                self.alerter.restore_snapshot(previous.get("alerts") or {})
        self.write(running=True)

    def committed(self) -> None:
        if self.daemon is not None and self.stats.view is not self._written:
            self.write(running=True)

    def site_error(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_trouble >= SITE_TROUBLE_EVERY:
            self._last_trouble = now
            self.write(running=True)

    def stopped(self) -> None:
        self.write(running=False)

    def write(self, *, running: bool) -> None:
        self._written = self.stats.view
        with contextlib.suppress(OSError):  # a full disk must not stop the daemon
            write_snapshot(self.path, self.snapshot(running=running))

    def snapshot(self, *, running: bool) -> dict[str, Any]:
        stats, view, daemon = self.stats, self.stats.view, self.daemon
        now = stats.now()
        rows = daemon.state.handlers() if daemon is not None and daemon.state is not None else {}
        handlers = []
        for h in view.handlers:
            row = rows.get(h.name)
            handlers.append(
                {
                    "name": h.name,
                    "status": h.status,
                    "cursor": h.cursor,
                    "lag_events": h.lag_events,
                    "lag_seconds": round(h.lag_seconds(now), 3),
                    "error": row.error if row is not None else None,
                    "failed_event_id": row.failed_event_id if row is not None else None,
                    "handled": stats.handled.get(h.name, 0),
                    "failed": stats.failed.get(h.name, 0),
                }
            )
        ready, reasons = stats.ready()
        return {
            "version": VERSION,
            "pid": os.getpid(),
            "running": running,
            "started_at": stats.started_at,
            "updated_at": time.time(),
            "site_url": daemon.url if daemon is not None else None,
            "site": {
                "up": stats.site_down_since is None and stats.polls_ok > 0,
                "down_since": stats.site_down_since,
                "error": stats.site_reason,
                "kind": stats.site_kind,
            },
            "ready": ready,
            "not_ready": reasons,
            "read_cursor": view.read_cursor,
            "caught_up": stats.at_head,
            "events_read": stats.events_read,
            "pending_ids": view.pending,
            "dead_letters": view.dead_letters,
            "handlers": handlers,
            "alerts": self.alerter.snapshot() if self.alerter is not None else None,
            "metrics": self.listen,
        }
