"""Handlers for evframe's tests of concurrent executors (group ``evframe.parallel_handlers``).

Every call appends one JSON line to the file named by the handler's ``out`` option:
``{"handler", "event_id", "entity", "pid", "start", "end"}`` (wall-clock nanoseconds,
comparable between processes on one machine), written with one ``write`` on a file
opened for appending, so a test can check which events ran, in which process, and
that events of one entity never overlapped.

Options: ``delay`` (seconds each call takes: an API call's wait); on ``par_trouble``,
``crash_on`` / ``hang_on`` / ``kill_on`` (event ids) make the process exit at once, sleep
for an hour, or (with a ``begin`` line first) take ``delay`` seconds — each only the
first time, remembered by a marker file beside ``out``, so a retry succeeds.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from evframe import ShotgunEvent, order, requires


def _record(ctx: Any, event: ShotgunEvent, start: int, **extra: Any) -> None:
    line = {
        "handler": ctx.name,
        "event_id": event.id,
        "entity": f"{event.entity_type}:{event.entity_id}",
        "pid": os.getpid(),
        "start": start,
        "end": time.time_ns(),
        **extra,
    }
    with open(ctx.config["out"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


def _call(ctx: Any, event: ShotgunEvent) -> None:
    start = time.time_ns()
    delay = float(ctx.config.get("delay", 0))
    if delay > 0:
        time.sleep(delay)  # an API call's wait
    _record(ctx, event, start)


def par_first(ctx: Any, event: ShotgunEvent) -> None:
    """Every event."""
    _call(ctx, event)


@requires("par_first")
def par_second(ctx: Any, event: ShotgunEvent) -> None:
    """Every event, after par_first."""
    _call(ctx, event)


@order("global")
def par_global(ctx: Any, event: ShotgunEvent) -> None:
    """Every event, all of them in id order."""
    _call(ctx, event)


def _first_time(ctx: Any, what: str, event_id: int) -> bool:
    marker = Path(ctx.config["out"]).with_name(f"{what}-{event_id}.marker")
    try:
        marker.touch(exist_ok=False)
    except FileExistsError:
        return False
    return True


def par_trouble(ctx: Any, event: ShotgunEvent) -> None:
    """Every event; crashes, hangs or dawdles where its options say."""
    start = time.time_ns()
    if event.id in ctx.config.get("crash_on", ()) and _first_time(ctx, "crash", event.id):
        os._exit(3)  # a segfault, as far as the daemon can tell
    if event.id in ctx.config.get("hang_on", ()) and _first_time(ctx, "hang", event.id):
        time.sleep(3600)
    if event.id in ctx.config.get("kill_on", ()) and _first_time(ctx, "kill", event.id):
        _record(ctx, event, start, phase="begin")
        time.sleep(float(ctx.config.get("kill_delay", 30)))
    _record(ctx, event, start)
