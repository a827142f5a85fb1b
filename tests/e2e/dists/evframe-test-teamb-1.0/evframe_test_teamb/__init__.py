"""evframe-test-teamb 1.0, broken: ``b_needy`` requires ``b_helper``, which this version
forgot; ``b_dependent`` requires ``b_needy``; ``b_ping`` and ``b_pong`` require each
other.  ``b_fine`` is fine.  Every handler records its calls like the recorders."""

from __future__ import annotations

from typing import Any

from evframe_test_recorder import record

from evframe import ShotgunEvent, requires

VERSION = "1.0"


def b_fine(ctx: Any, event: ShotgunEvent) -> None:
    record(ctx, event, version=VERSION)


@requires("b_helper")
def b_needy(ctx: Any, event: ShotgunEvent) -> None:
    record(ctx, event, version=VERSION)


@requires("b_needy")
def b_dependent(ctx: Any, event: ShotgunEvent) -> None:
    record(ctx, event, version=VERSION)


@requires("b_pong")
def b_ping(ctx: Any, event: ShotgunEvent) -> None:
    record(ctx, event, version=VERSION)


@requires("b_ping")
def b_pong(ctx: Any, event: ShotgunEvent) -> None:
    record(ctx, event, version=VERSION)
