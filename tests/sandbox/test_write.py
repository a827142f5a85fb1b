"""create / update / delete / revive / batch, and the EventLogEntry rows they write."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from shotgun_api3 import shotgun

from evframe.sandbox import Sandbox

PROJECT = {"type": "Project", "id": 1, "name": "Demo Project"}


def script_link(sg: shotgun.Shotgun) -> dict[str, Any]:
    row = sg.find_one("ApiUser", [["firstname", "is", sg.config.script_name]], ["firstname"])
    return {"type": "ApiUser", "id": row["id"], "name": sg.config.script_name}


def assert_recent(value: Any) -> None:
    assert isinstance(value, dt.datetime)
    now = dt.datetime.now(dt.timezone.utc)
    assert abs((value - now).total_seconds()) < 120


def test_create_writes_new_and_in_create_changes(sg: shotgun.Shotgun, log: Any) -> None:
    shot = sg.create(
        "Shot",
        {"code": "030_0010", "project": PROJECT, "sg_cut_in": 1001, "description": None},
        return_fields=["sg_status_list", "created_by"],
    )
    me = script_link(sg)
    assert shot["code"] == "030_0010"
    assert shot["project"] == PROJECT
    assert shot["sg_status_list"] == "wtg"  # the field's default
    assert shot["created_by"] == me
    link = {"type": "Shot", "id": shot["id"], "name": "030_0010"}

    rows = log.since()
    assert [(r["event_type"], r["attribute_name"]) for r in rows] == [
        ("Shotgun_Shot_New", None),
        ("Shotgun_Shot_Change", "code"),
        ("Shotgun_Shot_Change", "project"),
        ("Shotgun_Shot_Change", "sg_cut_in"),
        ("Shotgun_Shot_Change", "sg_status_list"),
    ]
    new = rows[0]
    assert new["meta"] == {"type": "new_entity", "entity_type": "Shot", "entity_id": shot["id"]}
    assert new["description"] == "Script test_script created new Shot 030_0010"
    for row in rows:
        assert row["entity"] == link
        assert row["project"] == PROJECT
        assert row["user"] == me
        assert row["session_uuid"] is None
        assert_recent(row["created_at"])
    code = rows[1]
    assert code["meta"] == {
        "type": "attribute_change",
        "attribute_name": "code",
        "entity_type": "Shot",
        "entity_id": shot["id"],
        "field_data_type": "text",
        "old_value": None,
        "new_value": "030_0010",
        "in_create": True,
    }
    assert (
        code["description"] == 'Script test_script set "Shot Code" to "030_0010" on Shot 030_0010'
    )
    assert rows[2]["meta"]["new_value"] == PROJECT
    assert rows[2]["meta"]["field_data_type"] == "entity"
    assert [r["id"] for r in rows] == list(range(rows[0]["id"], rows[0]["id"] + 5))


def test_update_plain_field(sg: shotgun.Shotgun, log: Any) -> None:
    task = sg.find_one("Task", [["entity", "is", {"type": "Shot", "id": 1}]], ["content"])
    result = sg.update("Task", task["id"], {"sg_status_list": "ip"})
    assert result == {"type": "Task", "id": task["id"], "sg_status_list": "ip"}
    (row,) = log.since()
    assert row["event_type"] == "Shotgun_Task_Change"
    assert row["attribute_name"] == "sg_status_list"
    assert row["meta"] == {
        "type": "attribute_change",
        "attribute_name": "sg_status_list",
        "entity_type": "Task",
        "entity_id": task["id"],
        "field_data_type": "status_list",
        "old_value": "wtg",
        "new_value": "ip",
    }
    assert row["entity"] == {"type": "Task", "id": task["id"], "name": "Layout"}
    assert row["project"] == PROJECT
    assert row["user"] == script_link(sg)
    assert row["description"] == (
        'Script test_script changed "Status" from "wtg" to "ip" on Task Layout'
    )
    assert_recent(row["created_at"])
    # writing the same value again changes nothing and logs nothing
    log.mark()
    sg.update("Task", task["id"], {"sg_status_list": "ip"})
    assert log.since() == []
    updated = sg.find_one("Task", [["id", "is", task["id"]]], ["updated_by", "sg_status_list"])
    assert updated["sg_status_list"] == "ip"
    assert updated["updated_by"]["type"] == "ApiUser"


def test_multi_entity_modes(sg: shotgun.Shotgun, log: Any) -> None:
    hero, sidekick, sword = ({"type": "Asset", "id": i} for i in (1, 2, 3))
    named = {1: "Hero", 2: "Sidekick", 3: "Sword", 4: "Forest"}

    def assets() -> list[int]:
        return [a["id"] for a in sg.find_one("Shot", [["id", "is", 4]], ["assets"])["assets"]]

    assert assets() == [1]
    sg.update("Shot", 4, {"assets": [sidekick, sword]}, multi_entity_update_modes={"assets": "add"})
    assert assets() == [1, 2, 3]
    sg.update("Shot", 4, {"assets": [hero]}, multi_entity_update_modes={"assets": "remove"})
    assert assets() == [2, 3]
    sg.update("Shot", 4, {"assets": [{"type": "Asset", "id": 4}, sword]})
    assert assets() == [4, 3]

    # Each change also shows on the Assets' side (Asset.shots, see test_twoway.py).
    rows = [r for r in log.since() if r["entity"]["type"] == "Shot"]
    assert [r["attribute_name"] for r in rows] == ["assets"] * 3

    def links(ids: list[int]) -> list[dict[str, Any]]:
        return [{"type": "Asset", "id": i, "name": named[i]} for i in ids]

    base = {
        "type": "attribute_change",
        "attribute_name": "assets",
        "entity_type": "Shot",
        "entity_id": 4,
        "field_data_type": "multi_entity",
    }
    assert rows[0]["meta"] == {**base, "added": links([2, 3]), "removed": []}
    assert rows[1]["meta"] == {**base, "added": [], "removed": links([1])}
    assert rows[2]["meta"] == {**base, "added": links([4]), "removed": links([2])}
    assert rows[0]["description"] == (
        'Script test_script added "Sidekick, Sword" to "Assets" on Shot 010_0040'
    )
    assert "old_value" not in rows[0]["meta"]


def test_delete_and_revive(sg: shotgun.Shotgun, log: Any) -> None:
    shot = sg.create("Shot", {"code": "gone", "project": PROJECT})
    sg.update("Shot", shot["id"], {"description": "soon retired"})
    assert sg.delete("Shot", shot["id"]) is True
    assert sg.delete("Shot", shot["id"]) is False
    assert sg.find("Shot", [["id", "is", shot["id"]]]) == []

    rows = log.since()
    # Every row about the retired shot, older ones included, now has entity null.
    assert all(r["entity"] is None for r in rows)
    retire, stamp_change = rows[-2:]
    assert retire["event_type"] == "Shotgun_Shot_Retirement"
    meta = retire["meta"]
    stamp = meta.pop("retirement_date")
    assert dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S UTC")
    assert meta == {
        "type": "entity_retirement",
        "entity_type": "Shot",
        "entity_id": shot["id"],
        "class_name": "Shot",
        "display_name": "gone",
    }
    assert retire["project"] == PROJECT
    assert retire["description"] == "Script test_script retired Shot gone"
    assert stamp_change["event_type"] == "Shotgun_Shot_Change"
    assert stamp_change["attribute_name"] == "retirement_date"
    assert stamp_change["meta"]["new_value"] == stamp
    assert stamp_change["meta"]["old_value"] is None

    # Filters on the entity do not see them either, but ids still do.
    assert sg.find("EventLogEntry", [["entity", "is", {"type": "Shot", "id": shot["id"]}]]) == []
    assert len(
        sg.find("EventLogEntry", [["entity", "is", None], ["id", "greater_than", log.cursor]])
    ) == len(rows)

    log.mark()
    assert sg.revive("Shot", shot["id"]) is True
    assert sg.revive("Shot", shot["id"]) is False
    (revival,) = log.since()
    link = {"type": "Shot", "id": shot["id"], "name": "gone"}
    assert revival["event_type"] == "Shotgun_Shot_Revival"
    assert revival["meta"] == {
        "type": "entity_revival",
        "entity_type": "Shot",
        "entity_id": shot["id"],
        "class_name": "Shot",
        "display_name": "gone",
    }
    assert revival["entity"] == link
    older = sg.find("EventLogEntry", [["entity", "is", link]], ["event_type"])
    assert [r["event_type"] for r in older][:2] == ["Shotgun_Shot_New", "Shotgun_Shot_Change"]
    assert sg.find_one("Shot", [["id", "is", shot["id"]]], ["code"])["code"] == "gone"


def test_retired_links_disappear(sg: shotgun.Shotgun) -> None:
    sg.delete("Asset", 1)
    shot = sg.find_one("Shot", [["id", "is", 1]], ["assets"])
    assert shot["assets"] == [{"type": "Asset", "id": 2, "name": "Sidekick"}]
    task = sg.find_one("Task", [["entity", "is", {"type": "Asset", "id": 1}]], ["entity"])
    assert task is None
    with pytest.raises(shotgun.Fault, match="does not exist"):
        sg.update("Shot", 1, {"assets": [{"type": "Asset", "id": 1}]})
    with pytest.raises(shotgun.Fault, match="retired"):
        sg.update("Asset", 1, {"code": "x"})
    with pytest.raises(shotgun.Fault, match="does not exist"):
        sg.delete("Asset", 999)


def test_rename_updates_event_links(sg: shotgun.Shotgun, log: Any) -> None:
    sg.update("Shot", 1, {"code": "010_0010_renamed"})
    rows = sg.find("EventLogEntry", [["entity", "is", {"type": "Shot", "id": 1}]], ["entity"])
    assert rows and all(r["entity"]["name"] == "010_0010_renamed" for r in rows)
    (change,) = log.since()
    assert change["meta"]["old_value"] == "010_0010"


def test_session_uuid_and_sudo(sg: shotgun.Shotgun, sandbox: Sandbox, log: Any) -> None:
    sg.set_session_uuid("5a1d49b0-0c69-11e0-a24c-003048d17544")
    sg.update("Shot", 1, {"description": "with a session"})
    (row,) = log.since()
    assert row["session_uuid"] == "5a1d49b0-0c69-11e0-a24c-003048d17544"
    found = sg.find("EventLogEntry", [["session_uuid", "is", row["session_uuid"]]])
    assert [r["id"] for r in found] == [row["id"]]

    sudo = shotgun.Shotgun(sandbox.url, "test_script", "test-key-123", sudo_as_login="ann")
    log.mark()
    sudo.update("Shot", 1, {"description": "as ann"})
    (row,) = log.since()
    assert row["user"] == {"type": "HumanUser", "id": 1, "name": "Ann Artist"}
    assert row["meta"]["sudo_actual_user"] == script_link(sg)
    assert row["description"].startswith("Ann Artist changed")
    sudo.close()


def test_write_validation(sg: shotgun.Shotgun, log: Any) -> None:
    cases = [
        ("Shot", {"code": 12}, "Bad value for Shot.code"),
        ("Shot", {"sg_status_list": "bogus"}, "is not one of"),
        ("Shot", {"sg_sequence": {"type": "Asset", "id": 1}}, "type Asset is not one of Sequence"),
        ("Shot", {"nope": 1}, "Unknown field 'nope' on entity type Shot"),
        ("Shot", {"id": 3}, "not editable"),
        ("Shot", {"tasks": []}, "not editable"),
        ("Task", {"due_date": "2024-13-45"}, "Bad value for Task.due_date"),
        ("Nope", {"code": "x"}, "Unknown entity type 'Nope'"),
    ]
    for entity_type, data, message in cases:
        with pytest.raises(shotgun.Fault, match=message):
            sg.create(entity_type, data)
    assert log.since() == []


def test_values_round_trip(sg: shotgun.Shotgun) -> None:
    when = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc)
    playlist = sg.create(
        "Playlist",
        {"code": "pl", "sg_date_and_time": when, "locked": True, "project": PROJECT},
    )
    row = sg.find_one(
        "Playlist", [["id", "is", playlist["id"]]], ["sg_date_and_time", "locked", "versions"]
    )
    assert row["sg_date_and_time"] == when
    assert row["locked"] is True
    assert row["versions"] == []
    assert sg.find("Playlist", [["sg_date_and_time", "is", when]])[0]["id"] == playlist["id"]
    version = sg.create("Version", {"code": "v", "frame_count": 10, "project": PROJECT})
    assert (
        sg.find_one("Version", [["id", "is", version["id"]]], ["frame_count"])["frame_count"] == 10
    )


def test_batch_is_all_or_nothing(sg: shotgun.Shotgun, log: Any) -> None:
    results = sg.batch(
        [
            {"request_type": "create", "entity_type": "Shot", "data": {"code": "b1"}},
            {
                "request_type": "update",
                "entity_type": "Shot",
                "entity_id": 1,
                "data": {"description": "batched"},
            },
            {"request_type": "delete", "entity_type": "Shot", "entity_id": 2},
        ]
    )
    assert results[0]["code"] == "b1"
    assert results[1] == {"type": "Shot", "id": 1, "description": "batched"}
    assert results[2] is True
    written = log.mark()
    count = len(sg.find("Shot", []))

    with pytest.raises(shotgun.Fault, match=r"batch request 1 .*Unknown field 'nope'"):
        sg.batch(
            [
                {"request_type": "create", "entity_type": "Shot", "data": {"code": "b2"}},
                {
                    "request_type": "update",
                    "entity_type": "Shot",
                    "entity_id": 1,
                    "data": {"nope": 1},
                },
            ]
        )
    assert len(sg.find("Shot", [])) == count
    assert sg.find("Shot", [["code", "is", "b2"]]) == []
    assert log.last_id() == written
    nxt = sg.create("Shot", {"code": "b3"})
    assert nxt["id"] == results[0]["id"] + 1  # the failed batch's id was given back


def test_event_log_entry_reads_and_creates(sg: shotgun.Shotgun, log: Any) -> None:
    custom = sg.create(
        "EventLogEntry",
        {
            "event_type": "Studio_Custom_Event",
            "description": "hello",
            "entity": {"type": "Shot", "id": 1},
            "meta": {"k": [1, 2]},
        },
    )
    row = sg.find_one(
        "EventLogEntry", [["id", "is", custom["id"]]], ["event_type", "meta", "entity", "user"]
    )
    assert row["event_type"] == "Studio_Custom_Event"
    assert row["meta"] == {"k": [1, 2]}
    assert row["entity"] == {"type": "Shot", "id": 1, "name": "010_0010"}
    assert row["user"] == script_link(sg)
    by_type = sg.find("EventLogEntry", [["event_type", "starts_with", "Studio_"]])
    assert [r["id"] for r in by_type] == [custom["id"]]
    # filters the SQL path does not cover give the same answers as those it does
    fast = sg.find("EventLogEntry", [["entity", "type_is", "Shot"]], ["event_type"])
    slow = sg.find(
        "EventLogEntry",
        [["entity", "type_is", "Shot"], ["entity.Shot.code", "is_not", "no such code"]],
        ["event_type"],
    )
    assert fast == slow and len(fast) > 7
    project_rows = sg.find("EventLogEntry", [["project", "is", PROJECT]])
    assert len(project_rows) > 100
    with pytest.raises(shotgun.Fault, match="cannot be updated"):
        sg.update("EventLogEntry", custom["id"], {"description": "x"})
