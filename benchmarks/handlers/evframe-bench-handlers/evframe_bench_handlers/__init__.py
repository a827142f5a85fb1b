"""Ten cheap handlers with the filter shapes studios use, for the daemon benchmarks.

``b_latency`` appends "<token> <wall time at handler start>" to the file named by its
``out`` option for each change of a ``description`` to a "lat-..." token, so a
benchmark can tell write-to-handler latency.
"""

from __future__ import annotations

import time
from typing import Any

from evframe import requires, want

COUNTS: dict[str, int] = {}


def _count(ctx: Any) -> None:
    COUNTS[ctx.name] = COUNTS.get(ctx.name, 0) + 1


def b_all(ctx: Any, event: Any) -> None:
    _count(ctx)


@want("Shotgun_*_Change")
def b_changes(ctx: Any, event: Any) -> None:
    _count(ctx)


@want("Shotgun_*_Change", field="sg_status_list")
def b_status(ctx: Any, event: Any) -> None:
    event.proc.bench.status = event.new_value


@want("Shotgun_Task_Change", "Shotgun_Task_New")
def b_task(ctx: Any, event: Any) -> None:
    _count(ctx)


@want(entity="Shot")
def b_shot(ctx: Any, event: Any) -> None:
    _count(ctx)


@want("Shotgun_*_New")
def b_new(ctx: Any, event: Any) -> None:
    _count(ctx)


@want("Shotgun_*_Retirement", "Shotgun_*_Revival")
def b_retire(ctx: Any, event: Any) -> None:
    _count(ctx)


@want(lambda event: event.project_id is not None)
def b_project(ctx: Any, event: Any) -> None:
    _count(ctx)


@want("Shotgun_*_Change", field="sg_status_list")
@requires("b_status")
def b_after(ctx: Any, event: Any) -> None:
    _count(ctx)


def b_latency(ctx: Any, event: Any) -> None:
    started = time.time()
    out = ctx.config.get("out")
    token = event.new_value if event.field == "description" else None
    if out and isinstance(token, str) and token.startswith("lat-"):
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(f"{token} {started:.6f}\n")
