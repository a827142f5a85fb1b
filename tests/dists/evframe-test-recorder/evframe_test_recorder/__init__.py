"""Handlers for evframe's end-to-end tests (entry-point group ``evframe.e2e_handlers``).

Each call appends one JSON line ``{"handler", "event_id", "pid"}`` to the file
named by the handler's ``out`` option, so a test can tell what ran, how often,
in which order and in which daemon process.  The line is written with a single
``write`` on a file opened for appending and closed at once: it is in the page
cache (and so survives ``kill -9`` of the daemon) before the handler returns.

Option ``delay`` (seconds): first append a ``"phase": "begin"`` line, then take
that long, so a test can signal a daemon while a handler is busy.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from evframe import ShotgunEvent, requires, want


def record(ctx: Any, event: ShotgunEvent, **extra: Any) -> None:
    """Append this call to ``ctx.config["out"]``."""
    line = {"handler": ctx.name, "event_id": event.id, "pid": os.getpid(), **extra}
    with open(ctx.config["out"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


def _call(ctx: Any, event: ShotgunEvent) -> None:
    delay = float(ctx.config.get("delay", 0))
    if delay > 0:
        record(ctx, event, phase="begin")
        time.sleep(delay)  # a slow handler, on purpose
    record(ctx, event)


def rec_all(ctx: Any, event: ShotgunEvent) -> None:
    """No @want: every event."""
    _call(ctx, event)


@want("Shotgun_Task_Change", field="sg_status_list")
def rec_task_status(ctx: Any, event: ShotgunEvent) -> None:
    """Task status changes only."""
    _call(ctx, event)


@requires("rec_all")
def rec_after(ctx: Any, event: ShotgunEvent) -> None:
    """Every event, always after rec_all."""
    _call(ctx, event)
