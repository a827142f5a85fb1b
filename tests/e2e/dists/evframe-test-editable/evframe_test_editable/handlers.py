"""``edited`` records Shot events and fails on a shot whose code contains "boom" while
FIX is False; ``edited_after`` requires it, so a failure pauses both.  A test rewrites
VERSION and FIX in this file of the editable install and expects the daemon to notice."""

from __future__ import annotations

from typing import Any

from evframe_test_recorder import record

from evframe import ShotgunEvent, requires, want

VERSION = "1"
FIX = False


@want("Shotgun_Shot_*")
def edited(ctx: Any, event: ShotgunEvent) -> None:
    """Shot events; raises on a "boom" shot until FIX."""
    name = (event.entity or {}).get("name") or ""
    if "boom" in name and not FIX:
        raise RuntimeError(f"version {VERSION} cannot handle shot {name!r}")
    record(ctx, event, version=VERSION)


@requires("edited")
def edited_after(ctx: Any, event: ShotgunEvent) -> None:
    """Every event, after edited."""
    record(ctx, event, version=VERSION)
