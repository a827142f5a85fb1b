"""Example handlers: a change logger and a task-to-shot status rollup.

Config options (``[handlers.shot_status_rollup.config]`` in evframe.toml):
``final_statuses`` (list, default ``["fin"]``) and ``dry_run`` (bool).
"""

from __future__ import annotations

from typing import Any

from evframe import Context, ShotgunEvent, requires, want


@want("Shotgun_*_Change", field="sg_status_list")
def log_changes(ctx: Context, event: ShotgunEvent) -> None:
    """Log every status change, whatever the entity."""
    ctx.log.info(
        "event %s: %s %s status %s -> %s",
        event.id,
        event.entity_type,
        event.entity_id,
        event.old_value,
        event.new_value,
    )


@want("Shotgun_Task_Change", field="sg_status_list")
def task_status_prepare(ctx: Context, event: ShotgunEvent) -> None:
    """Find the task's shot and its tasks' statuses; leave them in ``event.proc.rollup``."""
    task = ctx.sg.find_one("Task", [["id", "is", event.entity_id]], ["entity"])
    shot = task.get("entity") if task else None
    if not shot or shot.get("type") != "Shot":
        return
    tasks = ctx.sg.find("Task", [["entity", "is", shot]], ["sg_status_list"])
    event.proc.rollup.shot = shot
    event.proc.rollup.statuses = [t["sg_status_list"] for t in tasks]


@want("Shotgun_Task_Change", field="sg_status_list")
@requires("task_status_prepare")
def shot_status_rollup(ctx: Context, event: ShotgunEvent) -> None:
    """Mark the shot final when all its tasks are final, in progress while any is worked on."""
    if "shot" not in event.proc.rollup:
        return
    shot: dict[str, Any] = event.proc.rollup.shot
    statuses: list[str] = event.proc.rollup.statuses
    final = set(ctx.config.get("final_statuses", ["fin"]))
    if statuses and all(s in final for s in statuses):
        wanted = "fin"
    elif any(s in ("ip", "rev") for s in statuses):
        wanted = "ip"
    else:
        return  # nothing started yet: leave the shot as it is
    current = ctx.sg.find_one("Shot", [["id", "is", shot["id"]]], ["sg_status_list"])
    if current is None or current.get("sg_status_list") == wanted:
        return
    if ctx.config.get("dry_run"):
        ctx.log.info("would set %s %s to %s", shot["type"], shot["id"], wanted)
        return
    ctx.sg.update("Shot", shot["id"], {"sg_status_list": wanted})
    ctx.log.info("shot %s status -> %s (tasks: %s)", shot["id"], wanted, ", ".join(statuses))
