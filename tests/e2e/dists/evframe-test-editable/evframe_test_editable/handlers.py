"""``edited`` records Shot events and fails on a shot whose code contains "boom" while
FIX is False; ``edited_after`` requires it, so a failure pauses both.  A test rewrites
VERSION and FIX in this file of the editable install and expects the daemon to notice."""

from __future__ import annotations

import json
import os
from typing import Any

from evframe import ShotgunEvent, requires, want

VERSION = "1"
FIX = False


def _record(ctx: Any, event: ShotgunEvent) -> None:
    line = {"handler": ctx.name, "event_id": event.id, "pid": os.getpid(), "version": VERSION}
    with open(ctx.config["out"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


@want("Shotgun_Shot_*")
def edited(ctx: Any, event: ShotgunEvent) -> None:
    """Shot events; raises on a "boom" shot until FIX."""
    name = (event.entity or {}).get("name") or ""
    if "boom" in name and not FIX:
        raise RuntimeError(f"version {VERSION} cannot handle shot {name!r}")
    _record(ctx, event)


@requires("edited")
def edited_after(ctx: Any, event: ShotgunEvent) -> None:
    """Every event, after edited."""
    _record(ctx, event)
