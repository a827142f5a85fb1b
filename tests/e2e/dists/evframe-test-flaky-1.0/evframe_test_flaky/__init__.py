"""evframe-test-flaky 1.0: ``flaky`` crashes on shots whose code contains "boom".

``flaky_after`` requires it, so a crash pauses both (their ordering group).
Both record their calls like evframe-test-recorder, to ``ctx.config["out"]``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from evframe import ShotgunEvent, requires, want

VERSION = "1.0"


def _record(ctx: Any, event: ShotgunEvent) -> None:
    line = {"handler": ctx.name, "event_id": event.id, "pid": os.getpid(), "version": VERSION}
    with open(ctx.config["out"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


@want("Shotgun_Shot_*")
def flaky(ctx: Any, event: ShotgunEvent) -> None:
    """Shot events; raises on a shot named "...boom..." (the bug 2.0 fixes)."""
    name = (event.entity or {}).get("name") or ""
    if "boom" in name:
        raise RuntimeError(f"flaky {VERSION} cannot handle shot {name!r} (event {event.id})")
    _record(ctx, event)


@requires("flaky")
def flaky_after(ctx: Any, event: ShotgunEvent) -> None:
    """Every event, after flaky."""
    _record(ctx, event)
