"""evframe.testing and the pytest plugin: the helpers handler authors use."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from evframe import Event, Processor, Report, ShotgunEvent, requires, want
from evframe import testing as ev_testing
from evframe.testing import (
    SimpleEvent,
    change_event,
    make_processor,
    make_record,
    multi_entity_event,
    new_event,
    retirement_event,
    revival_event,
    run_handler,
    wait_until,
)

RECORD_KEYS = {
    "type",
    "id",
    "event_type",
    "attribute_name",
    "meta",
    "entity",
    "project",
    "user",
    "created_at",
    "session_uuid",
    "description",
}


def test_make_record_has_every_key_a_site_returns() -> None:
    record = make_record("Shotgun_User_Login", id=5, project=None, description="hi")
    assert set(record) == RECORD_KEYS
    assert record["type"] == "EventLogEntry"
    assert record["id"] == 5
    assert record["event_type"] == "Shotgun_User_Login"
    assert record["project"] is None
    assert record["user"] == {"type": "HumanUser", "id": 1, "name": "Test Artist"}
    assert record["description"] == "hi"
    created = record["created_at"]
    assert isinstance(created, dt.datetime) and created.tzinfo is not None


def test_make_record_ids_are_unique_and_defaults_not_shared() -> None:
    a, b = make_record("X"), make_record("X")
    assert a["id"] != b["id"]
    a["project"]["name"] = "changed"
    assert b["project"]["name"] == "Demo Project"
    assert make_record("X")["project"]["name"] == "Demo Project"


def test_make_record_created_at_passthrough() -> None:
    record = make_record("X", created_at="2026-11-21T10:00:00Z")
    assert record["created_at"] == "2026-11-21T10:00:00Z"
    assert ShotgunEvent(record).created_at == dt.datetime(2026, 11, 21, 10, tzinfo=dt.timezone.utc)


def test_change_event() -> None:
    event = change_event(
        "Task", 42, "sg_status_list", old="ip", new="fin", data_type="status_list", id=77
    )
    assert isinstance(event, ShotgunEvent)
    assert event.id == 77
    assert event.name == "Shotgun_Task_Change"
    assert (event.entity_type, event.entity_id, event.field) == ("Task", 42, "sg_status_list")
    assert (event.old_value, event.new_value) == ("ip", "fin")
    assert event.operation == "change"
    assert event.in_create is False
    assert event.meta is not None
    assert event.meta["field_data_type"] == "status_list"
    assert event.meta["attribute_name"] == "sg_status_list"
    assert event.entity == {"type": "Task", "id": 42, "name": "Task 42"}
    assert set(event.record) == RECORD_KEYS
    named = change_event("Shot", 1, "code", entity_name="sh010", in_create=True)
    assert named.entity is not None and named.entity["name"] == "sh010"
    assert named.in_create is True


def test_new_event() -> None:
    event = new_event("Shot", 12, project={"type": "Project", "id": 3, "name": "P"})
    assert event.name == "Shotgun_Shot_New"
    assert event.operation == "new"
    assert (event.entity_type, event.entity_id) == ("Shot", 12)
    assert (event.project_id, event.project_name) == (3, "P")


def test_retirement_event() -> None:
    event = retirement_event("Asset", 8, display_name="tree")
    assert event.name == "Shotgun_Asset_Retirement"
    assert event.entity is None
    assert (event.entity_type, event.entity_id) == ("Asset", 8)
    assert event.operation == "retirement"
    assert event.meta is not None
    assert event.meta["display_name"] == "tree"
    assert event.meta["class_name"] == "Asset"
    assert event.meta["retirement_date"].endswith(" UTC")
    dt.datetime.strptime(event.meta["retirement_date"], "%Y-%m-%d %H:%M:%S UTC")


def test_revival_event() -> None:
    event = revival_event("Asset", 8)
    assert event.name == "Shotgun_Asset_Revival"
    assert event.operation == "revival"
    assert event.entity == {"type": "Asset", "id": 8, "name": "Asset 8"}


def test_multi_entity_event() -> None:
    added = [{"type": "Asset", "id": 1, "name": "a"}]
    removed = [{"type": "Asset", "id": 2, "name": "b"}]
    event = multi_entity_event("Shot", 4, "assets", added=added, removed=removed)
    assert event.name == "Shotgun_Shot_Change"
    assert event.field == "assets"
    assert event.added == added and event.removed == removed
    assert event.meta is not None and event.meta["field_data_type"] == "multi_entity"
    assert event.added[0] is not added[0]  # copied into the record
    empty = multi_entity_event("Shot", 4, "assets")
    assert (empty.added, empty.removed) == ([], [])


def test_simple_event() -> None:
    event = SimpleEvent("custom", ctxt={"k": 1})
    assert isinstance(event, Event)
    assert event.name == "custom"
    assert event.ctxt == {"k": 1}
    assert event.entity_type is None


@want("Shotgun_Task_Change", field="sg_status_list")
def prepare(ctx: Any, event: ShotgunEvent) -> None:
    event.proc.prepare.status = event.new_value


@want("Shotgun_Task_Change")
@requires("prepare")
def notify(ctx: Any, event: ShotgunEvent) -> None:
    event.proc.notify.message = f"{ctx.config.get('prefix', '')}{event.proc.prepare.status}"
    if ctx.config.get("use_sg"):
        event.proc.notify.found = ctx.sg.find_one("Task", [["id", "is", event.entity_id]])


class FakeSg:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def find_one(self, *args: Any) -> dict[str, Any]:
        self.calls.append(args)
        return {"type": "Task", "id": args[1][0][2]}


def test_run_handler_with_requires_config_and_sg() -> None:
    event = change_event("Task", 42, "sg_status_list", new="fin")
    sg = FakeSg()
    report = run_handler(
        notify, event, requires=[prepare], config={"prefix": "now ", "use_sg": True}, sg=sg
    )
    assert isinstance(report, Report)
    assert report.ok
    assert [(r.name, r.status) for r in report.results] == [("prepare", "ok"), ("notify", "ok")]
    assert event.proc.notify.message == "now fin"
    assert event.proc.notify.found == {"type": "Task", "id": 42}
    assert sg.calls == [("Task", [["id", "is", 42]])]


def test_run_handler_raises_the_handlers_error() -> None:
    event = change_event("Task", 42, "content", new="x")
    # prepare does not want a content change, so notify finds no status.
    with pytest.raises(AttributeError, match="scratchpad namespace 'prepare' has no attribute"):
        run_handler(notify, event, requires=[prepare])


def test_run_handler_not_wanted() -> None:
    report = run_handler(prepare, new_event("Shot", 1))
    assert report.results == []
    assert report.outcome("prepare") == "not_wanted"


def test_make_processor() -> None:
    sg = FakeSg()
    processor = make_processor(notify, prepare, config={"notify": {"prefix": "> "}}, sg=sg)
    assert isinstance(processor, Processor)
    assert processor.names == ["prepare", "notify"]
    assert dict(processor.context("notify").config) == {"prefix": "> "}
    assert processor.context("prepare").sg is sg
    event = change_event("Task", 1, "sg_status_list", new="ip")
    processor.process(event)
    assert event.proc.notify.message == "> ip"
    with pytest.raises(RuntimeError, match=r"handler 'prepare' used ctx\.sg"):
        _ = make_processor(prepare).context("prepare").sg


@pytest.mark.evframe
def test_pytest_plugin_fixtures(
    evframe_processor: Callable[..., Processor], evframe_events: ModuleType
) -> None:
    assert evframe_events is ev_testing
    processor = evframe_processor(prepare, notify, config={"notify": {"prefix": "! "}})
    event = evframe_events.change_event("Task", 9, "sg_status_list", new="rev")
    processor.process(event)
    assert event.proc.notify.message == "! rev"
    assert processor.names == ["prepare", "notify"]


def test_plugin_is_registered_through_pytest11(pytestconfig: pytest.Config) -> None:
    import evframe.pytest_plugin

    assert pytestconfig.pluginmanager.is_registered(evframe.pytest_plugin)


class FakeClock:
    """Stands in for the ``time`` module in evframe.testing: sleeping moves the clock."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(ev_testing, "time", fake)
    return fake


def test_wait_until_returns_the_first_true_value(clock: FakeClock) -> None:
    values = iter([None, 0, [], ["line"], ["later"]])
    assert wait_until(lambda: next(values), 5, "a line", interval=0.5) == ["line"]
    assert clock.sleeps == [0.5, 0.5, 0.5]


def test_wait_until_true_at_once_does_not_sleep(clock: FakeClock) -> None:
    assert wait_until(lambda: True) is True
    assert clock.sleeps == []


def test_wait_until_times_out_naming_what_and_the_detail(clock: FakeClock) -> None:
    calls = itertools.count(1)
    with pytest.raises(AssertionError) as err:
        wait_until(
            lambda: next(calls) < 0,
            timeout=1.2,
            what="the daemon to log 'serving'",
            interval=0.5,
            detail=lambda: "--- log tail",
        )
    assert str(err.value) == (
        "timed out after 1.2 s waiting for the daemon to log 'serving'\n--- log tail"
    )
    # The last sleep is cut to the deadline, where the condition is tried once more.
    assert clock.sleeps == [0.5, 0.5, pytest.approx(0.2)]
    assert next(calls) == 5


def test_wait_until_defaults(clock: FakeClock) -> None:
    with pytest.raises(AssertionError, match=r"^timed out after 20 s waiting for the condition"):
        wait_until(lambda: False)
    assert max(clock.sleeps) == 0.05
    assert sum(clock.sleeps) == pytest.approx(20)


def test_wait_until_zero_timeout_tries_once(clock: FakeClock) -> None:
    calls: list[int] = []
    with pytest.raises(AssertionError, match=r"waiting for nothing$"):
        wait_until(lambda: calls.append(1), 0, "nothing")
    assert calls == [1]
    assert clock.sleeps == []


def test_wait_until_lets_the_conditions_error_through(clock: FakeClock) -> None:
    def exited() -> bool:
        raise RuntimeError("the process exited")

    with pytest.raises(RuntimeError, match="the process exited"):
        wait_until(exited, 5, "the process to log")
    assert clock.sleeps == []


def test_wait_until_refuses_a_busy_loop() -> None:
    with pytest.raises(ValueError, match="interval"):
        wait_until(lambda: True, interval=0)


def test_wait_until_really_waits_for_another_thread() -> None:
    done = threading.Event()
    threading.Timer(0.05, done.set).start()
    assert wait_until(done.is_set, 10, "the timer", interval=0.01) is True
