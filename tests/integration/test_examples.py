"""The example handlers (handlers/evframe-examples) against a sandbox with demo data."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from typing import Any

import pytest

# Installed by the README's test command, like any handler package.
from evframe_examples import handlers as examples

from evframe import ShotgunEvent
from evframe.event import EVENT_FIELDS
from evframe.sandbox import Sandbox
from evframe.testing import make_processor


@pytest.fixture
def site() -> Iterator[tuple[Sandbox, Any]]:
    with Sandbox(seed="demo", scripts={"examples": "examples-key"}) as sb:
        sg = sb.client("examples")
        yield sb, sg
        sg.close()


def last_event(sg: Any) -> ShotgunEvent:
    order: Any = [{"field_name": "id", "direction": "desc"}]
    return ShotgunEvent(sg.find_one("EventLogEntry", [], EVENT_FIELDS, order=order))


def test_examples_are_installed_as_entry_points() -> None:
    names = {ep.name for ep in importlib.metadata.entry_points(group="evframe.handlers")}
    assert {"log_changes", "task_status_prepare", "shot_status_rollup"} <= names


def test_shot_rolls_up_when_all_tasks_are_final(site: tuple[Sandbox, Any]) -> None:
    _sandbox, sg = site
    shot = sg.find_one(
        "Shot", [], ["code", "sg_status_list"], order=[{"field_name": "id", "direction": "asc"}]
    )
    assert shot is not None
    tasks = sg.find("Task", [["entity", "is", {"type": "Shot", "id": shot["id"]}]], ["id"])
    assert tasks
    processor = make_processor(
        examples.log_changes, examples.task_status_prepare, examples.shot_status_rollup, sg=sg
    )
    for task in tasks:
        sg.update("Task", task["id"], {"sg_status_list": "fin"})
        event = last_event(sg)
        processor.process(event)
    assert event.proc.rollup.shot["id"] == shot["id"]
    assert event.proc.rollup.statuses == ["fin"] * len(tasks)
    after = sg.find_one("Shot", [["id", "is", shot["id"]]], ["sg_status_list"])
    assert after["sg_status_list"] == "fin"

    sg.update("Task", tasks[0]["id"], {"sg_status_list": "ip"})
    processor.process(last_event(sg))
    after = sg.find_one("Shot", [["id", "is", shot["id"]]], ["sg_status_list"])
    assert after["sg_status_list"] == "ip"


def test_dry_run_changes_nothing(site: tuple[Sandbox, Any]) -> None:
    _sandbox, sg = site
    task = sg.find_one("Task", [["entity", "type_is", "Shot"]], ["entity"])
    shot_before = sg.find_one("Shot", [["id", "is", task["entity"]["id"]]], ["sg_status_list"])
    processor = make_processor(
        examples.task_status_prepare,
        examples.shot_status_rollup,
        config={"shot_status_rollup": {"dry_run": True}},
        sg=sg,
    )
    sg.update("Task", task["id"], {"sg_status_list": "ip"})
    processor.process(last_event(sg))
    shot_after = sg.find_one("Shot", [["id", "is", task["entity"]["id"]]], ["sg_status_list"])
    assert shot_after["sg_status_list"] == shot_before["sg_status_list"]


def test_plugin_fixtures_give_a_site_to_run_handlers_against(evframe_sg: Any) -> None:
    from evframe.testing import run_handler

    task = evframe_sg.find_one("Task", [["entity", "type_is", "Shot"]], ["entity"])
    evframe_sg.update("Task", task["id"], {"sg_status_list": "rev"})
    event = last_event(evframe_sg)
    report = run_handler(
        examples.shot_status_rollup,
        event,
        requires=[examples.task_status_prepare],
        sg=evframe_sg,
    )
    assert report.outcome("task_status_prepare") == "ok"
    assert report.outcome("shot_status_rollup") == "ok"
    shot = evframe_sg.find_one("Shot", [["id", "is", task["entity"]["id"]]], ["sg_status_list"])
    assert shot["sg_status_list"] == "ip"
