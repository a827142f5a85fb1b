"""ShotgunEvent over every EventLogEntry row shape, and the abstract Event."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from evframe import Event, ShotgunEvent
from evframe.testing import (
    SimpleEvent,
    change_event,
    make_record,
    multi_entity_event,
    new_event,
    retirement_event,
    revival_event,
)

UTC = dt.timezone.utc
PROJECT = {"type": "Project", "id": 70, "name": "Demo Project"}
USER = {"type": "HumanUser", "id": 5, "name": "Ann"}

PUBLIC_PROPERTIES = sorted(
    name
    for name in dir(ShotgunEvent)
    if not name.startswith("_") and isinstance(getattr(ShotgunEvent, name), property)
)


def test_every_documented_property_is_public() -> None:
    documented = {
        "id", "event_type", "entity_type", "entity_id", "entity", "field", "attribute_name",
        "meta", "old_value", "new_value", "added", "removed", "project", "project_id",
        "project_name", "user", "created_at", "session_uuid", "operation", "name", "proc",
        "in_create", "description",
    }  # fmt: skip
    assert documented <= set(PUBLIC_PROPERTIES)


def test_new_row() -> None:
    record = {
        "type": "EventLogEntry",
        "id": 101,
        "event_type": "Shotgun_Shot_New",
        "attribute_name": None,
        "meta": {"type": "new_entity", "entity_type": "Shot", "entity_id": 12},
        "entity": {"type": "Shot", "id": 12, "name": "sh010"},
        "project": PROJECT,
        "user": USER,
        "created_at": "2026-11-21T10:00:00Z",
        "session_uuid": "abc-123",
        "description": "Ann created new Shot sh010",
    }
    event = ShotgunEvent(record)
    assert event.name == event.event_type == "Shotgun_Shot_New"
    assert event.id == 101
    assert event.operation == "new"
    assert event.entity == {"type": "Shot", "id": 12, "name": "sh010"}
    assert (event.entity_type, event.entity_id) == ("Shot", 12)
    assert event.field is None
    assert event.old_value is None and event.new_value is None
    assert event.added == [] and event.removed == []
    assert event.in_create is False
    assert event.project == PROJECT
    assert (event.project_id, event.project_name) == (70, "Demo Project")
    assert event.user == USER
    assert event.created_at == dt.datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    assert event.session_uuid == "abc-123"
    assert event.description == "Ann created new Shot sh010"
    assert event.record is record
    assert repr(event) == "<ShotgunEvent #101 Shotgun_Shot_New>"


def test_plain_change_row() -> None:
    meta = {
        "type": "attribute_change",
        "attribute_name": "sg_status_list",
        "entity_type": "Task",
        "entity_id": 42,
        "field_data_type": "status_list",
        "old_value": "ip",
        "new_value": "fin",
    }
    event = ShotgunEvent(
        make_record(
            "Shotgun_Task_Change",
            id=7,
            entity={"type": "Task", "id": 42, "name": "Comp"},
            attribute_name="sg_status_list",
            meta=meta,
        )
    )
    assert event.operation == "change"
    assert event.field == event.attribute_name == "sg_status_list"
    assert (event.old_value, event.new_value) == ("ip", "fin")
    assert (event.entity_type, event.entity_id) == ("Task", 42)
    assert event.in_create is False
    assert event.meta == meta


def test_field_falls_back_to_meta() -> None:
    event = ShotgunEvent(
        {"id": 1, "event_type": "Shotgun_Task_Change", "meta": {"attribute_name": "content"}}
    )
    assert event.field == "content"


def test_change_in_create_row() -> None:
    event = change_event("Shot", 12, "code", new="sh010", in_create=True)
    assert event.in_create is True
    assert event.old_value is None
    assert event.new_value == "sh010"
    assert event.operation == "change"


def test_multi_entity_change_row() -> None:
    a = {"type": "Asset", "id": 1, "name": "tree"}
    b = {"type": "Asset", "id": 2, "name": "rock"}
    event = multi_entity_event("Shot", 12, "assets", added=[a], removed=[b])
    assert event.added == [a]
    assert event.removed == [b]
    assert event.old_value is None and event.new_value is None
    assert event.field == "assets"
    # added/removed are copies: a handler cannot edit the record through them.
    event.added.append(b)
    assert event.added == [a]


def test_retirement_row_takes_entity_from_meta() -> None:
    event = retirement_event("Shot", 12, display_name="sh010")
    assert event.record["entity"] is None
    assert event.entity is None
    assert (event.entity_type, event.entity_id) == ("Shot", 12)
    assert event.operation == "retirement"
    assert event.name == "Shotgun_Shot_Retirement"
    assert event.meta is not None and event.meta["display_name"] == "sh010"


def test_row_of_deleted_entity_change_takes_entity_from_meta() -> None:
    event = ShotgunEvent(
        {
            "id": 3,
            "event_type": "Shotgun_Shot_Change",
            "entity": None,
            "attribute_name": "retirement_date",
            "meta": {"type": "attribute_change", "entity_type": "Shot", "entity_id": 9},
        }
    )
    assert (event.entity_type, event.entity_id, event.field) == ("Shot", 9, "retirement_date")


def test_revival_row() -> None:
    event = revival_event("Asset", 5)
    assert event.operation == "revival"
    assert event.name == "Shotgun_Asset_Revival"
    assert (event.entity_type, event.entity_id) == ("Asset", 5)


def test_login_row_without_meta_or_project() -> None:
    record = make_record(
        "Shotgun_User_Login",
        id=55,
        entity={"type": "HumanUser", "id": 5, "name": "Ann"},
        project=None,
        description="Ann logged in",
    )
    event = ShotgunEvent(record)
    assert event.meta is None
    assert event.operation is None
    assert event.project is None
    assert (event.project_id, event.project_name) == (None, None)
    assert event.field is None
    assert (event.old_value, event.new_value, event.added, event.removed) == (None, None, [], [])
    assert (event.entity_type, event.entity_id) == ("HumanUser", 5)


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"id": 1, "event_type": "Shotgun_Task_Change"},
        {"id": 1, "event_type": None, "meta": None, "entity": None, "project": None},
        # Malformed values must not crash either.
        {"id": 1, "event_type": "X", "meta": "not a dict", "entity": 3, "project": [1], "user": 2},
        {"id": 1, "event_type": "X", "created_at": "not a date"},
        {"id": 1, "event_type": "X", "created_at": 1234},
    ],
)
def test_sparse_record_never_crashes_a_property(record: dict[str, Any]) -> None:
    event = ShotgunEvent(record)
    values = {name: getattr(event, name) for name in PUBLIC_PROPERTIES}
    assert values["added"] == [] and values["removed"] == []
    assert values["in_create"] is False
    assert values["operation"] is None
    assert values["created_at"] is None
    assert values["entity"] is None
    assert values["entity_type"] is None and values["entity_id"] is None
    assert values["project_id"] is None and values["project_name"] is None
    assert isinstance(values["name"], str)
    repr(event)


def test_empty_record_name_is_empty_string() -> None:
    assert ShotgunEvent({}).name == ""
    assert ShotgunEvent({}).id is None


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-21T10:00:00Z",
        "2026-11-21T10:00:00+00:00",
        "2026-11-21 10:00:00 UTC",
        dt.datetime(2026, 11, 21, 10, 0, tzinfo=UTC),
        dt.datetime(2026, 11, 21, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    ],
)
def test_created_at_is_aware(value: Any) -> None:
    created = ShotgunEvent({"id": 1, "event_type": "X", "created_at": value}).created_at
    assert created is not None
    assert created.tzinfo is not None
    assert created == dt.datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def test_created_at_naive_datetime_is_taken_as_utc() -> None:
    # The wire string without an offset is read as UTC; a naive datetime must be too,
    # since comparing an aware and a naive datetime raises TypeError in handler code.
    naive = dt.datetime(2026, 11, 21, 10, 0)
    created = ShotgunEvent({"id": 1, "event_type": "X", "created_at": naive}).created_at
    assert created is not None
    assert created.tzinfo is not None
    assert created == dt.datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def test_operation_values() -> None:
    def op(kind: Any) -> Any:
        return ShotgunEvent({"id": 1, "event_type": "X", "meta": {"type": kind}}).operation

    assert op("new_entity") == "new"
    assert op("attribute_change") == "change"
    assert op("entity_retirement") == "retirement"
    assert op("entity_revival") == "revival"
    assert op("something_else") is None
    assert op(None) is None


def test_project_id_and_name() -> None:
    event = new_event("Shot", 1, project={"type": "Project", "id": 88, "name": "Big Film"})
    assert (event.project_id, event.project_name) == (88, "Big Film")
    no_name = new_event("Shot", 1, project={"type": "Project", "id": 88})
    assert (no_name.project_id, no_name.project_name) == (88, None)


def test_event_is_abstract() -> None:
    with pytest.raises(TypeError, match="abstract"):
        Event()  # type: ignore[abstract]

    class Nameless(Event):
        pass

    with pytest.raises(TypeError, match="name"):
        Nameless()  # type: ignore[abstract]


def test_plain_event_subclass_and_ctxt() -> None:
    class Hello(Event):
        @property
        def name(self) -> str:
            return "hello"

    ctxt = {"site": "demo"}
    event = Hello(ctxt)
    assert event.ctxt is ctxt
    assert event.name == "hello"
    assert (event.entity_type, event.field, event.project_id, event.project_name) == (None,) * 4
    assert repr(event) == "<Hello hello>"
    assert Hello().ctxt is None


def test_shotgun_event_keeps_ctxt() -> None:
    marker = object()
    event = ShotgunEvent({"id": 1, "event_type": "X"}, ctxt=marker)
    assert event.ctxt is marker
    assert SimpleEvent("x", ctxt=marker).ctxt is marker
