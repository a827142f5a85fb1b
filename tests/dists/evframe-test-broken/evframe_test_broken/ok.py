"""Valid and invalid objects the broken distribution's entry points name."""

from __future__ import annotations

from typing import Any

from evframe import want

NOT_A_HANDLER = {"this": "is a dict, not a function"}


def takes_one_argument(event: Any) -> None:
    """Cannot be called as handler(ctx, event)."""


@want("Shotgun_Task_Change")
def broken_dist_ok(ctx: Any, event: Any) -> None:
    """The one valid handler: lenient loading must still load it."""
    event.proc.broken.ok = True


def impostor_prepare(ctx: Any, event: Any) -> None:
    """Registered as ``good_prepare`` too, to clash with evframe-test-good."""
