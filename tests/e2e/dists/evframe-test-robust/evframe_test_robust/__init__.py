"""Handlers for evframe's end-to-end tests of a daemon left alone for months
(entry-point group ``evframe.e2e_robust``).

Each call appends a JSON line ``{"handler", "event_id", ...}`` to ``ctx.config["out"]``
(one ``write`` on a file opened for appending, as in evframe-test-recorder).

- ``rec``: every event.
- ``touch``: Task status and description changes; it writes the task's description
  through ``ctx.sg``, so without the own-writes rule it would trigger itself for
  ever.  With option ``gate`` (a directory), it first records ``"phase": "begin"``
  and waits until the file ``<gate>/<event id>`` exists, so a test can break the
  site before the handler's request.
- ``touch_own``: the same writes, but it opted in to its own script's events
  (``@own_writes()``); it writes only when the description is not its own yet.
- ``hang``: Shot changes; on a shot whose code contains "hang" it never returns.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from evframe import ShotgunEvent, own_writes, want

_FOREVER = threading.Event()  # never set


def record(ctx: Any, event: ShotgunEvent, **extra: Any) -> None:
    line = {"handler": ctx.name, "event_id": event.id, "pid": os.getpid(), **extra}
    with open(ctx.config["out"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


def _wait_for_gate(ctx: Any, event: ShotgunEvent) -> None:
    gate = ctx.config.get("gate")
    if not gate:
        return
    record(ctx, event, phase="begin")
    path = Path(gate) / str(event.id)
    deadline = time.monotonic() + 60
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)  # a test opens the gate once the site is broken


def rec(ctx: Any, event: ShotgunEvent) -> None:
    """Every event."""
    record(ctx, event, user=(event.user or {}).get("name"), session=event.session_uuid)


@want("Shotgun_Task_Change", field=("sg_status_list", "sg_description"))
def touch(ctx: Any, event: ShotgunEvent) -> None:
    """Notes on the task which event it saw last (a write to what it handles)."""
    _wait_for_gate(ctx, event)
    ctx.sg.update("Task", event.entity_id, {"sg_description": f"touched after {event.id}"})
    record(ctx, event, field=event.field)


@own_writes()
@want("Shotgun_Task_Change", field=("sg_status_list", "sg_description"))
def touch_own(ctx: Any, event: ShotgunEvent) -> None:
    """Sees its own writes too, so it writes only what is not there yet."""
    record(ctx, event, field=event.field, user=(event.user or {}).get("name"))
    if event.field == "sg_status_list":
        ctx.sg.update("Task", event.entity_id, {"sg_description": "touched by touch_own"})


@want("Shotgun_Shot_Change", field="code")
def hang(ctx: Any, event: ShotgunEvent) -> None:
    """Never returns on a shot named "...hang..."."""
    if "hang" in str(event.new_value or ""):
        record(ctx, event, phase="begin")
        _FOREVER.wait()
    record(ctx, event)
