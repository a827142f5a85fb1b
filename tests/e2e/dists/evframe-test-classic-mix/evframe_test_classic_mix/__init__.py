"""Native handlers ordered against classic plugin callbacks (group ``evframe.classic_e2e``).

Each call appends ``{"handler", "event_id", "pid"}`` to the file named by the
handler's ``out`` option, in the same file the test's classic plugins write to.
"""

from __future__ import annotations

import json
import os
from typing import Any

from evframe import ShotgunEvent, required_by, requires


def _record(ctx: Any, event: ShotgunEvent) -> None:
    line = {"handler": ctx.name, "event_id": event.id, "pid": os.getpid()}
    with open(ctx.config["out"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


@required_by("beta.first")
def mix_before(ctx: Any, event: ShotgunEvent) -> None:
    """Runs before the classic callback beta.first."""
    _record(ctx, event)


@requires("alpha.second")
def mix_after(ctx: Any, event: ShotgunEvent) -> None:
    """Runs after the classic callback alpha.second."""
    _record(ctx, event)
