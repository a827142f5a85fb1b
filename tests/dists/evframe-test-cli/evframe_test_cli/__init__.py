"""Handlers for the tests of evframe's operator commands."""

from __future__ import annotations

from typing import Any

from evframe import ShotgunEvent, requires, want

#: Event ids each replay handler saw, by handler name (the tests read it in-process).
SEEN: dict[str, list[int]] = {}


def _seen(ctx: Any, event: ShotgunEvent) -> None:
    SEEN.setdefault(ctx.name, []).append(int(event.id or 0))


@want("Shotgun_Shot_Change")
def cli_shot(ctx: Any, event: ShotgunEvent) -> None:
    """Shot changes only."""


@want("Shotgun_Task_Change")
@requires("cli_shot")
def cli_task(ctx: Any, event: ShotgunEvent) -> None:
    """Task changes only, yet after cli_shot: the edge never matters."""


@want("Shotgun_*_Change", field="sg_status_list")
@requires("cli_task")
def cli_glob(ctx: Any, event: ShotgunEvent) -> None:
    """The glob matches Shotgun_Task_Change: this edge can matter."""


@want("Shotgun_Task_Change", field="description")
@requires("cli_glob")
def cli_field(ctx: Any, event: ShotgunEvent) -> None:
    """Same event name as cli_glob can match, but another field: never together."""


@requires("cli_shot")
def cli_every(ctx: Any, event: ShotgunEvent) -> None:
    """No @want: every event, so its edge always can matter."""


@requires("cli_no_such_handler")
def cli_needs_missing(ctx: Any, event: ShotgunEvent) -> None:
    """Requires a handler nobody installed."""


@want("Shotgun_Task_Change", field="sg_status_list")
def cli_count(ctx: Any, event: ShotgunEvent) -> None:
    """Records every Task status change it sees."""
    _seen(ctx, event)


@want("Shotgun_Task_Change", field="sg_status_list")
def cli_fail(ctx: Any, event: ShotgunEvent) -> None:
    """Fails on every Task status change."""
    _seen(ctx, event)
    raise RuntimeError(f"cli_fail refuses event {event.id}")


@want("Shotgun_Task_Change", field="sg_status_list")
@requires("cli_fail")
def cli_after_fail(ctx: Any, event: ShotgunEvent) -> None:
    """Skipped whenever cli_fail fails."""
    _seen(ctx, event)
