"""The default schema of a new site, schema changes over the API, archived projects,
and the filters a site refuses — all through the unmodified shotgun_api3 client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from shotgun_api3 import shotgun

from evframe.sandbox import Sandbox
from support.sandbox import KEY, SCRIPT, EventLog, make_client

PROJECT = {"type": "Project", "id": 1}


def test_default_schema_has_a_new_sites_types_and_fields(sg: shotgun.Shotgun) -> None:
    types = sg.schema_entity_read()
    for name in (
        "LocalStorage",
        "Page",
        "Attachment",
        "Group",
        "Department",
        "PipelineConfiguration",
        "PublishedFile",
        "PublishedFileType",
        "TimeLog",
        "Reply",
        "Ticket",
        "Tag",
        "Status",
    ):
        assert types[name]["visible"]["value"] is True, name
    for name in ("CustomEntity01", "CustomEntity30", "CustomNonProjectEntity30"):
        assert types[name]["visible"]["value"] is False, name
    schema = sg.schema_read()
    expected = {
        ("HumanUser", "password_proxy"): "password",
        ("HumanUser", "locked_until"): "date_time",
        ("HumanUser", "email_notes"): "checkbox",
        ("Task", "color"): "color",
        ("Task", "tag_list"): "tag_list",
        ("Shot", "head_in"): "number",
        ("Shot", "image"): "image",
        ("Version", "image"): "image",
        ("Asset", "filmstrip_image"): "image",
        ("Version", "sg_frames_aspect_ratio"): "float",
        ("Version", "sg_movie_aspect_ratio"): "float",
        ("Step", "entity_type"): "entity_type",
        ("PublishedFile", "published_file_type"): "entity",
        ("Attachment", "this_file"): "url",
    }
    for (etype, fname), data_type in expected.items():
        assert schema[etype][fname]["data_type"]["value"] == data_type, (etype, fname)
    login = sg.schema_field_read("HumanUser", "login")["login"]
    assert login["mandatory"]["value"] is True and login["unique"]["value"] is True
    pinned = sg.schema_field_read("Task", "pinned")["pinned"]
    assert pinned["properties"]["default_value"]["value"] is False
    assert pinned["properties"]["summary_default"] == {"editable": True, "value": "none"}
    # Disabled types are described like the others.
    assert "code" in sg.schema_field_read("CustomEntity05")


def test_new_types_and_fields_read_and_write(sg: shotgun.Shotgun) -> None:
    pft = sg.create("PublishedFileType", {"code": "Maya Scene"})
    storage = sg.create("LocalStorage", {"code": "primary", "linux_path": "/mnt/proj"})
    pf = sg.create(
        "PublishedFile",
        {"code": "a.ma", "project": PROJECT, "published_file_type": pft},
    )
    assert pf["published_file_type"]["name"] == "Maya Scene"
    sg.update("PublishedFile", pf["id"], {"path_cache_storage": storage})
    sg.update("Task", 1, {"color": "255,0,0", "tag_list": ["hero"]})
    sg.update("Version", 1, {"sg_frames_aspect_ratio": 1.85, "sg_movie_aspect_ratio": 2.39})
    sg.update("Shot", 1, {"head_in": 993})
    note = sg.find_one("Note", [], ["id"])
    assert note is not None
    reply = sg.create("Reply", {"entity": note, "content": "Done."})
    assert sg.find_one("Note", [["id", "is", note["id"]]], ["replies"])["replies"] == [
        {"type": "Reply", "id": reply["id"], "name": "Done."}
    ]
    dept = sg.create("Department", {"name": "Animation", "code": "anim"})
    sg.update("HumanUser", 1, {"department": dept})
    ticket = sg.create("Ticket", {"title": "Render farm down", "project": PROJECT})
    assert sg.find_one("Ticket", [["id", "is", ticket["id"]]], ["sg_status_list"]) == {
        "type": "Ticket",
        "id": ticket["id"],
        "sg_status_list": "opn",
    }
    assert sg.find("Step", [["entity_type", "is", "Shot"]], ["code"])
    with pytest.raises(shotgun.Fault, match=r"Step\.entity_type"):
        sg.update("Step", 1, {"entity_type": "NoSuchType"})


def test_disabled_types_are_refused_until_enabled(tmp_path: Path) -> None:
    with Sandbox(scripts={SCRIPT: KEY}) as sb:
        sg = make_client(sb)
        for call in (
            lambda: sg.find("CustomEntity02", [], ["code"]),
            lambda: sg.create("CustomEntity02", {"code": "x"}),
            lambda: sg.summarize(
                "CustomNonProjectEntity01", [], [{"field": "id", "type": "count"}]
            ),
            lambda: sg.find("Shot", [["entity.CustomEntity02.code", "is", "x"]]),
        ):
            with pytest.raises(shotgun.Fault, match=r"CustomEntity02|CustomNonProjectEntity01"):
                call()
        sg.close()
    ext = {"entity_types": {"CustomEntity02": {"display_name": "Edit"}}}
    with Sandbox(scripts={SCRIPT: KEY}, schema=[ext]) as sb:
        sg = make_client(sb)
        assert sg.schema_entity_read()["CustomEntity02"] == {
            "name": {"editable": False, "value": "Edit"},
            "visible": {"editable": False, "value": True},
        }
        row = sg.create("CustomEntity02", {"code": "e1"})
        assert sg.find("CustomEntity02", [], ["code"]) == [
            {"type": "CustomEntity02", "id": row["id"], "code": "e1"}
        ]
        sg.close()


def _column_events(log: EventLog) -> list[dict[str, Any]]:
    return [
        r
        for r in log.since(["event_type", "attribute_name", "meta", "entity"])
        if "DisplayColumn" in r["event_type"]
    ]


def test_schema_field_create_update_delete(sg: shotgun.Shotgun, log: EventLog) -> None:
    name = sg.schema_field_create(
        "Shot", "text", "Cut Notes", {"description": "what editorial said"}
    )
    assert name == "sg_cut_notes"
    # The same display name again gets a suffix, as on a site.
    assert sg.schema_field_create("Shot", "number", "Cut Notes") == "sg_cut_notes_1"
    field = sg.schema_field_read("Shot", name)[name]
    assert field["data_type"]["value"] == "text"
    assert field["name"]["value"] == "Cut Notes"
    assert field["description"]["value"] == "what editorial said"
    sg.update("Shot", 1, {name: "trim the head"})
    assert sg.find("Shot", [[name, "contains", "trim"]], [name]) == [
        {"type": "Shot", "id": 1, name: "trim the head"}
    ]
    link = sg.schema_field_create("Shot", "entity", "Hero", {"valid_types": ["Asset"]})
    sg.update("Shot", 1, {link: {"type": "Asset", "id": 1}})
    kind = sg.schema_field_create("Asset", "list", "Kind", {"valid_values": ["a", "b"]})
    with pytest.raises(shotgun.Fault, match="is not one of a, b"):
        sg.update("Asset", 1, {kind: "c"})

    assert sg.schema_field_update(
        "Shot", name, {"name": "Editorial Notes", "summary_default": "count"}
    )
    field = sg.schema_field_read("Shot", name)[name]
    assert field["name"]["value"] == "Editorial Notes"
    assert field["properties"]["summary_default"]["value"] == "count"
    assert sg.schema_field_update("Asset", kind, {"valid_values": ["a", "b", "c"]})
    sg.update("Asset", 1, {kind: "c"})
    # System fields: display name yes, valid values no.
    assert sg.schema_field_update("Shot", "code", {"name": "Shot Name"})
    with pytest.raises(shotgun.Fault, match="Cannot set property 'valid_values'"):
        sg.schema_field_update("Shot", "sg_status_list", {"valid_values": ["x"]})

    assert sg.schema_field_delete("Shot", name)
    with pytest.raises(shotgun.Fault, match="Unknown field 'sg_cut_notes'"):
        sg.find("Shot", [[name, "is", "x"]])
    assert name not in sg.schema_field_read("Shot")
    # A retired name stays taken: a new field never inherits its values.
    again = sg.schema_field_create("Shot", "text", "Cut Notes")
    assert again == "sg_cut_notes_2"
    assert sg.find_one("Shot", [["id", "is", 1]], [again])[again] is None
    with pytest.raises(shotgun.Fault, match="system field"):
        sg.schema_field_delete("Shot", "code")

    rows = _column_events(log)
    kinds = [(r["event_type"], r["attribute_name"]) for r in rows]
    assert kinds[:3] == [
        ("Shotgun_DisplayColumn_New", None),
        ("Shotgun_DisplayColumn_Change", "name"),
        ("Shotgun_DisplayColumn_Change", "description"),
    ]
    new = rows[0]
    assert new["entity"]["type"] == "DisplayColumn"
    assert new["meta"] == {
        "type": "new_entity",
        "entity_type": "DisplayColumn",
        "entity_id": new["entity"]["id"],
    }
    renamed = [r for r in rows if r["meta"].get("new_value") == "Editorial Notes"]
    assert renamed[0]["meta"]["old_value"] == "Cut Notes"
    retired = [r for r in rows if r["event_type"] == "Shotgun_DisplayColumn_Retirement"]
    assert len(retired) == 1 and retired[0]["entity"] is None
    assert retired[0]["meta"]["entity_id"] == new["entity"]["id"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("Shot", "password", "Secret"), "Bad data_type 'password'"),
        (("Shot", "text", ""), "needs a display name"),
        (("Shot", "entity", "Hero"), "needs valid_types"),
        (("Shot", "text", "X", {"valid_values": ["a"]}), "has no valid_values"),
        (("Shot", "text", "X", {"colour": "red"}), "Cannot set property 'colour'"),
        (("Nope", "text", "X"), "Unknown entity type 'Nope'"),
        (("CustomEntity09", "text", "X"), "not enabled"),
    ],
)
def test_schema_field_create_refusals(
    sg: shotgun.Shotgun, args: tuple[Any, ...], message: str
) -> None:
    with pytest.raises(shotgun.Fault, match=message):
        sg.schema_field_create(*args)


def test_schema_changes_survive_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "site.db"
    with Sandbox(db, scripts={SCRIPT: KEY}, seed="demo") as sb:
        sg = make_client(sb)
        name = sg.schema_field_create("Version", "float", "Gamma")
        gone = sg.schema_field_create("Version", "text", "Scratch")
        sg.update("Version", 1, {name: 2.2, gone: "old"})
        sg.schema_field_update("Version", name, {"description": "display gamma"})
        sg.schema_field_update("Shot", "code", {"name": "Shot Name"})
        sg.schema_field_delete("Version", gone)
        sg.close()
    with Sandbox(db, scripts={SCRIPT: KEY}) as sb:
        sg = make_client(sb)
        field = sg.schema_field_read("Version", name)[name]
        assert field["description"]["value"] == "display gamma"
        assert sg.find_one("Version", [[name, "greater_than", 2]], [name])[name] == 2.2
        assert sg.schema_field_read("Shot", "code")["code"]["name"]["value"] == "Shot Name"
        assert gone not in sg.schema_field_read("Version")
        assert sg.schema_field_create("Version", "text", "Scratch") == "sg_scratch_1"
        sg.close()


def test_include_archived_projects(sg: shotgun.Shotgun) -> None:
    other = sg.create("Project", {"name": "Old Show", "archived": True})
    shot = sg.create("Shot", {"code": "old_0010", "project": other})
    loose = sg.create("HumanUser", {"login": "eve", "firstname": "Eve"})

    def ids(etype: str, **kw: Any) -> set[int]:
        return {r["id"] for r in sg.find(etype, [], ["id"], **kw)}

    assert shot["id"] in ids("Shot")
    assert shot["id"] not in ids("Shot", include_archived_projects=False)
    assert other["id"] in ids("Project")
    assert ids("Project", include_archived_projects=False) == {1}
    # Types without a project are not filtered.
    assert loose["id"] in ids("HumanUser", include_archived_projects=False)
    # Combined with the caller's filters, and in find_one.
    assert (
        sg.find_one("Shot", [["code", "is", "old_0010"]], include_archived_projects=False) is None
    )
    count = [{"field": "id", "type": "record_count"}]
    assert sg.summarize("Shot", [], count)["summaries"]["id"] == 8
    assert sg.summarize("Shot", [], count, include_archived_projects=False)["summaries"]["id"] == 7
    # Event rows of the archived project's entities drop out too.
    events = sg.find(
        "EventLogEntry",
        [["entity", "is", {"type": "Shot", "id": shot["id"]}]],
        ["id"],
        include_archived_projects=False,
    )
    assert events == []
    assert sg.find("EventLogEntry", [["entity", "is", {"type": "Shot", "id": shot["id"]}]])


@pytest.mark.parametrize(
    ("etype", "filters", "message"),
    [
        (
            "HumanUser",
            [["password_proxy", "is", "secret"]],
            "API read\\(\\) HumanUser.password_proxy's 'password' data type cannot be used",
        ),
        ("ApiUser", [["salted_password", "is_not", None]], "'password' data type"),
        ("Shot", [["image", "is", None]], "Shot.image's 'image' data type cannot be used"),
        ("Task", [["entity.Shot.image", "is_not", None]], "Shot.image's 'image' data type"),
        ("Version", [["sg_uploaded_movie", "is", None]], "'url' data type"),
        ("Task", [["entity.Nope.code", "is", "x"]], "unknown entity type 'Nope'"),
        (
            "Task",
            [["entity", "is", {"type": "Nope", "id": 1}]],
            "'Nope' is not a valid entity type",
        ),
        ("Task", [["entity", "type_is", "Nope"]], "'Nope' is not a valid entity type"),
        ("Task", [["entity", "type_is", "CustomEntity03"]], "not a valid entity type"),
        ("Nope", [], "Unknown entity type 'Nope'"),
    ],
)
def test_filters_a_site_refuses(
    sg: shotgun.Shotgun, etype: str, filters: list[Any], message: str
) -> None:
    with pytest.raises(shotgun.Fault, match=message) as info:
        sg.find(etype, filters, ["id"])
    assert type(info.value) is shotgun.Fault  # not an authentication fault
    with pytest.raises(shotgun.Fault, match=message):
        sg.summarize(etype, filters, [{"field": "id", "type": "count"}])
