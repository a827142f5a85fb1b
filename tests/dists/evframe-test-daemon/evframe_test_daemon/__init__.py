"""Handlers whose behaviour the test's config sets.

Every handler appends ``<handler> <event id> <session uuid or ->`` to the file named by
its ``out`` option.  ``fail_on`` lists event ids the handler raises on; with
``fail_times`` it raises only that many times per event, then succeeds.
"""

from __future__ import annotations

from typing import Any

from evframe import requires

_failures: dict[tuple[str, int], int] = {}


def _run(ctx: Any, event: Any) -> None:
    if event.id in ctx.config.get("fail_on", ()):
        key = (ctx.name, event.id)
        limit = ctx.config.get("fail_times")
        if limit is None or _failures.get(key, 0) < limit:
            _failures[key] = _failures.get(key, 0) + 1
            raise RuntimeError(f"{ctx.name} told to fail on event {event.id}")
    session = "-"
    if ctx.config.get("show_session"):
        session = ctx.sg.config.session_uuid or "none"
    with open(ctx.config["out"], "a", encoding="utf-8") as fh:
        fh.write(f"{ctx.name} {event.id} {session}\n")


def d_record(ctx: Any, event: Any) -> None:
    _run(ctx, event)


@requires("d_record")
def d_after(ctx: Any, event: Any) -> None:
    _run(ctx, event)


def d_other(ctx: Any, event: Any) -> None:
    _run(ctx, event)
