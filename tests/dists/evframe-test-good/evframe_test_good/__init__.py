"""Well-behaved handlers for evframe's tests (entry-point group ``evframe.test_handlers``)."""

from __future__ import annotations

from typing import Any

from evframe import Event, ShotgunEvent, requires, want


def _trace(event: Event, name: str) -> None:
    # Every test handler appends its name, so tests can read the run order.
    ns = event.proc.trace
    if "calls" not in ns:
        ns.calls = []
    ns.calls.append(name)


@want("Shotgun_Task_Change", field="sg_status_list")
def good_prepare(ctx: Any, event: ShotgunEvent) -> None:
    """Store the new status for the handlers that require this one."""
    _trace(event, ctx.name)
    event.proc.good.x = f"{event.entity_type} {event.entity_id} -> {event.new_value}"


@want("Shotgun_Task_Change")
@requires("good_prepare")
def good_report(ctx: Any, event: ShotgunEvent) -> None:
    """Combine what good_prepare and (when installed) dependent_enrich stored."""
    _trace(event, ctx.name)
    x = event.proc.good.x if "x" in event.proc.good else None
    note = event.proc.dependent.note if "note" in event.proc.dependent else None
    event.proc.good.report = (x, note)


def good_audit(ctx: Any, event: Event) -> None:
    """No @want: called for every event."""
    _trace(event, ctx.name)
