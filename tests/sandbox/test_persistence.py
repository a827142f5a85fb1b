"""A sandbox restarted on the same database file has the same data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shotgun_api3 import shotgun

from evframe.sandbox import Sandbox, Schema
from evframe.sandbox.schema import parse_field_option


def test_restart_keeps_entities_events_scripts_and_fields(tmp_path: Path) -> None:
    db = tmp_path / "site.sqlite"
    with Sandbox(db, scripts={"s": "k"}, seed="demo", fields=["Shot.sg_note:text"]) as sb:
        sg = sb.client()
        shot = sg.create("Shot", {"code": "kept", "sg_note": "hello"})
        sg.delete("Shot", 2)
        last = sg.find_one("EventLogEntry", [], order=[{"field_name": "id", "direction": "desc"}])
        shots = sg.find("Shot", [], ["code", "assets", "sg_sequence"])
        sg.close()
    # Seeding again is skipped; no new script key is needed.
    with Sandbox(db, seed="demo") as sb:
        sb.scripts["s"] = "k"
        sg = sb.client()
        assert sg.find("Shot", [], ["code", "assets", "sg_sequence"]) == shots
        assert sg.find_one("Shot", [["id", "is", shot["id"]]], ["sg_note"])["sg_note"] == "hello"
        assert [r["id"] for r in sg.find("Shot", [], retired_only=True)] == [2]
        newest = sg.find_one(
            "EventLogEntry", [], ["entity"], order=[{"field_name": "id", "direction": "desc"}]
        )
        assert newest["id"] == last["id"]
        assert newest["entity"] is None  # the retired shot's rows stay null
        nxt = sg.create("Shot", {"code": "after restart"})
        assert nxt["id"] == shot["id"] + 1
        first_new = sg.find("EventLogEntry", [["id", "greater_than", last["id"]]])
        assert first_new[0]["id"] == last["id"] + 1
        sg.close()


def test_custom_fields_from_python_file_and_option(tmp_path: Path) -> None:
    ext = tmp_path / "studio.json"
    ext.write_text(
        json.dumps(
            {
                "entity_types": {
                    "Shot": {
                        "fields": {
                            "sg_vendor": "text",
                            "sg_hero": {
                                "data_type": "entity",
                                "valid_types": ["Asset"],
                                "name": "Hero Asset",
                            },
                        }
                    },
                    "CustomEntity01": {
                        "display_name": "Edit",
                        "name_field": "code",
                        "fields": {
                            "code": "text",
                            "sg_shots": {"data_type": "multi_entity", "valid_types": ["Shot"]},
                        },
                    },
                }
            }
        )
    )
    with Sandbox(
        scripts={"s": "k"}, seed="demo", schema=[ext], fields=["Task.sg_kind:list:a,b"]
    ) as sb:
        sb.add_field("Version", "sg_frames", "number", display_name="Frames")
        sg = sb.client()
        sg.update("Shot", 1, {"sg_vendor": "ACME", "sg_hero": {"type": "Asset", "id": 1}})
        row = sg.find_one("Shot", [["sg_hero.Asset.code", "is", "Hero"]], ["sg_vendor"])
        assert row == {"type": "Shot", "id": 1, "sg_vendor": "ACME"}
        edit = sg.create("CustomEntity01", {"code": "e1", "sg_shots": [{"type": "Shot", "id": 1}]})
        assert edit["sg_shots"] == [{"type": "Shot", "id": 1, "name": "010_0010"}]
        sg.update("Task", 1, {"sg_kind": "a"})
        with pytest.raises(shotgun.Fault, match="is not one of a, b"):
            sg.update("Task", 1, {"sg_kind": "c"})
        field = sg.schema_field_read("Version", "sg_frames")["sg_frames"]
        assert field["name"]["value"] == "Frames"
        assert field["data_type"]["value"] == "number"
        assert sg.schema_field_read("Shot", "sg_hero")["sg_hero"]["name"]["value"] == "Hero Asset"
        sg.close()


def test_field_option_and_schema_errors() -> None:
    assert parse_field_option("Shot.sg_foo:text") == ("Shot", "sg_foo", "text", [])
    assert parse_field_option("Shot.sg_x:entity:Asset,Shot") == (
        "Shot",
        "sg_x",
        "entity",
        ["Asset", "Shot"],
    )
    with pytest.raises(ValueError, match=r"expected Type\.field:data_type"):
        parse_field_option("sg_foo:text")
    schema = Schema.bundled()
    with pytest.raises(ValueError, match="unknown data type 'txt'"):
        schema.add_field("Shot", "sg_foo", "txt")
    with pytest.raises(ValueError, match="unknown entity type 'Shoot'"):
        schema.add_field("Shoot", "sg_foo", "text")
    with pytest.raises(ValueError, match="unknown seed"):
        Sandbox(seed="big")
