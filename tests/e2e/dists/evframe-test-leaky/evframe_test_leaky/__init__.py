"""evframe-test-leaky: handlers that fail with their connection's API key in the message.

Careless code does this (``raise RuntimeError(f"... {key}")``, a library that puts its
credentials in an exception); the daemon must not store or show the key.  Both fail
on every new Shot; ``on_error`` comes from the test's config.
"""

from __future__ import annotations

from typing import Any

from evframe import ShotgunEvent, want


def _fail(ctx: Any, event: ShotgunEvent) -> None:
    sg = ctx.sg
    raise RuntimeError(
        f"{ctx.name}: site {sg.base_url} refused script {sg.config.script_name!r} "
        f"with key {sg.config.api_key!r} on event {event.id}"
    )


@want("Shotgun_Shot_New")
def leaky_stop(ctx: Any, event: ShotgunEvent) -> None:
    """Fails on new shots (run with on_error = "stop")."""
    _fail(ctx, event)


@want("Shotgun_Shot_New")
def leaky_skip(ctx: Any, event: ShotgunEvent) -> None:
    """Fails on new shots (run with on_error = "skip")."""
    _fail(ctx, event)
