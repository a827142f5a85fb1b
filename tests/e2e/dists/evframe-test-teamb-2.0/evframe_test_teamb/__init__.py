"""evframe-test-teamb 2.0, fixed: ``b_helper`` is back and ``b_pong`` no longer
requires ``b_ping``.  Every handler records its calls like the recorders."""

from __future__ import annotations

from typing import Any

from evframe_test_recorder import record

from evframe import ShotgunEvent, requires

VERSION = "2.0"


def b_fine(ctx: Any, event: ShotgunEvent) -> None:
    record(ctx, event, version=VERSION)


def b_helper(ctx: Any, event: ShotgunEvent) -> None:
    """Prepares what b_needy reads (records nothing: it has no config section)."""


@requires("b_helper")
def b_needy(ctx: Any, event: ShotgunEvent) -> None:
    record(ctx, event, version=VERSION)


@requires("b_needy")
def b_dependent(ctx: Any, event: ShotgunEvent) -> None:
    record(ctx, event, version=VERSION)


@requires("b_pong")
def b_ping(ctx: Any, event: ShotgunEvent) -> None:
    record(ctx, event, version=VERSION)


def b_pong(ctx: Any, event: ShotgunEvent) -> None:
    record(ctx, event, version=VERSION)
