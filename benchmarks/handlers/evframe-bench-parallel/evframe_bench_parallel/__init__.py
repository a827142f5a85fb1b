"""Handlers for ``benchmarks/parallel.py``: each waits ``delay`` seconds (an API call),
then appends ``{"handler", "event_id", "entity", "start", "end"}`` (wall-clock ns) to
the file named by its ``out`` option, so the benchmark can time the run and check
that the events of one entity never overlapped."""

from __future__ import annotations

import json
import time
from typing import Any

from evframe import requires


def _call(ctx: Any, event: Any) -> None:
    start = time.time_ns()
    delay = float(ctx.config.get("delay", 0))
    if delay:
        time.sleep(delay)
    line = {
        "handler": ctx.name,
        "event_id": event.id,
        "entity": f"{event.entity_type}:{event.entity_id}",
        "start": start,
        "end": time.time_ns(),
    }
    with open(ctx.config["out"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


def p_first(ctx: Any, event: Any) -> None:
    _call(ctx, event)


@requires("p_first")
def p_second(ctx: Any, event: Any) -> None:
    _call(ctx, event)


def p_third(ctx: Any, event: Any) -> None:
    _call(ctx, event)
