"""evframe-test-flaky 2.0: the fixed ``flaky`` records every shot event."""

from __future__ import annotations

import json
import os
from typing import Any

from evframe import ShotgunEvent, requires, want

VERSION = "2.0"


def _record(ctx: Any, event: ShotgunEvent) -> None:
    line = {"handler": ctx.name, "event_id": event.id, "pid": os.getpid(), "version": VERSION}
    with open(ctx.config["out"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


@want("Shotgun_Shot_*")
def flaky(ctx: Any, event: ShotgunEvent) -> None:
    """Shot events, "boom" shots included."""
    _record(ctx, event)


@requires("flaky")
def flaky_after(ctx: Any, event: ShotgunEvent) -> None:
    """Every event, after flaky."""
    _record(ctx, event)
