"""Handlers ordered against those of evframe-test-good (group ``evframe.test_handlers``)."""

from __future__ import annotations

from typing import Any

from evframe import ShotgunEvent, required_by, requires, want


def _trace(event: ShotgunEvent, name: str) -> None:
    ns = event.proc.trace
    if "calls" not in ns:
        ns.calls = []
    ns.calls.append(name)


@want("Shotgun_Task_Change")
@requires("good_prepare")
def dependent_rollup(ctx: Any, event: ShotgunEvent) -> None:
    """Read what good_prepare (another distribution) stored."""
    _trace(event, ctx.name)
    event.proc.dependent.rollup = f"rollup of {event.proc.good.x}"


@want("Shotgun_Task_Change")
@required_by("good_report")
def dependent_enrich(ctx: Any, event: ShotgunEvent) -> None:
    """Store a note good_report (another distribution) reads."""
    _trace(event, ctx.name)
    event.proc.dependent.note = f"enriched #{event.id}"
