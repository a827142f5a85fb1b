"""read (find / find_one), filters, paths, sorts, paging, summarize, schema."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from shotgun_api3 import shotgun

from evframe.sandbox import Sandbox

PROJECT = {"type": "Project", "id": 1}


def codes(rows: list[dict[str, Any]], field: str = "code") -> list[Any]:
    return [r[field] for r in rows]


def test_info_claims_paging_without_counts(sg: shotgun.Shotgun) -> None:
    assert sg.server_caps.version >= (7, 4, 0)
    assert sg.server_caps.ensure_paging_info_without_counts_support()
    assert sg.server_info["api_max_entities_per_page"] == 500


def test_find_returns_links_with_display_names(sg: shotgun.Shotgun) -> None:
    shot = sg.find_one(
        "Shot", [["code", "is", "010_0010"]], ["code", "sg_sequence", "project", "assets"]
    )
    assert shot == {
        "type": "Shot",
        "id": 1,
        "code": "010_0010",
        "sg_sequence": {"type": "Sequence", "id": 1, "name": "SEQ010"},
        "project": {"type": "Project", "id": 1, "name": "Demo Project"},
        "assets": [
            {"type": "Asset", "id": 1, "name": "Hero"},
            {"type": "Asset", "id": 2, "name": "Sidekick"},
        ],
    }
    task = sg.find_one("Task", [["entity", "is", {"type": "Shot", "id": 1}]], ["entity", "step"])
    assert task["entity"]["name"] == "010_0010"
    assert task["step"] == {"type": "Step", "id": 1, "name": "Layout"}
    user = sg.find_one("HumanUser", [["login", "is", "ann"]], ["name"])
    assert user["name"] == "Ann Artist"


def test_default_fields_are_type_and_id(sg: shotgun.Shotgun) -> None:
    assert sg.find_one("Sequence", [["code", "is", "SEQ020"]]) == {"type": "Sequence", "id": 2}


def test_dotted_paths_in_filters_and_fields(sg: shotgun.Shotgun) -> None:
    tasks = sg.find(
        "Task",
        [["entity.Shot.code", "is", "010_0010"]],
        ["content", "entity.Shot.sg_sequence", "step.Step.code"],
    )
    assert codes(tasks, "content") == ["Layout", "Animation", "Lighting", "Comp"]
    assert tasks[0]["entity.Shot.sg_sequence"] == {"type": "Sequence", "id": 1, "name": "SEQ010"}
    assert codes(tasks, "step.Step.code") == ["Layout", "Animation", "Lighting", "Comp"]
    # two hops, and a path that does not apply to an asset's task reads None
    deep = sg.find("Task", [["entity.Shot.sg_sequence.Sequence.code", "is", "SEQ020"]], ["id"])
    assert len(deep) == 3 * 4
    asset_task = sg.find_one("Task", [["entity", "type_is", "Asset"]], ["entity.Shot.code"])
    assert asset_task["entity.Shot.code"] is None


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([["code", "is", "010_0020"]], ["010_0020"]),
        (
            [["code", "is_not", "010_0020"], ["sg_sequence.Sequence.code", "is", "SEQ010"]],
            ["010_0010", "010_0030", "010_0040"],
        ),
        ([["code", "in", ["010_0010", "020_0030"]]], ["010_0010", "020_0030"]),
        (
            [["code", "not_in", ["010_0010", "010_0020", "010_0030", "010_0040"]]],
            ["020_0010", "020_0020", "020_0030"],
        ),
        ([["sg_cut_out", "less_than", 1090]], ["010_0010", "020_0010"]),
        ([["sg_cut_out", "greater_than", 1130]], ["010_0040"]),
        (
            [["sg_cut_out", "between", [1090, 1120]]],
            ["010_0020", "010_0030", "020_0020", "020_0030"],
        ),
        ([["sg_cut_out", "not_between", [1080, 1130]]], ["010_0010", "010_0040", "020_0010"]),
        ([["code", "contains", "20_00"]], ["020_0010", "020_0020", "020_0030"]),
        ([["code", "not_contains", "0_00"]], []),
        ([["code", "starts_with", "010"]], ["010_0010", "010_0020", "010_0030", "010_0040"]),
        ([["code", "ends_with", "030"]], ["010_0030", "020_0030"]),
        ([["description", "contains", "SHOT 010_004"]], ["010_0040"]),
        (
            [["sg_sequence", "is", {"type": "Sequence", "id": 2}]],
            ["020_0010", "020_0020", "020_0030"],
        ),
        (
            [["sg_sequence", "is_not", {"type": "Sequence", "id": 2}]],
            ["010_0010", "010_0020", "010_0030", "010_0040"],
        ),
        (
            [["sg_sequence", "in", [{"type": "Sequence", "id": 2}]]],
            ["020_0010", "020_0020", "020_0030"],
        ),
        (
            [["sg_sequence", "type_is", "Sequence"], ["code", "ends_with", "10"]],
            ["010_0010", "020_0010"],
        ),
        ([["sg_sequence", "type_is_not", "Sequence"]], []),
        ([["assets", "is", {"type": "Asset", "id": 4}]], ["010_0030", "020_0030"]),
        ([["assets", "not_in", [{"type": "Asset", "id": 2}]]], ["010_0040"]),
        ([["assets", "name_contains", "word"]], ["010_0020", "010_0030", "020_0020", "020_0030"]),
    ],
)
def test_relations(sg: shotgun.Shotgun, filters: list[Any], expected: list[str]) -> None:
    rows = sg.find("Shot", filters, ["code"], order=[{"field_name": "code", "direction": "asc"}])
    assert codes(rows) == expected


def test_nested_logical_operators(sg: shotgun.Shotgun) -> None:
    filters = [
        ["project", "is", PROJECT],
        {
            "filter_operator": "any",
            "filters": [
                ["code", "is", "010_0010"],
                {
                    "filter_operator": "all",
                    "filters": [
                        ["code", "starts_with", "020"],
                        ["sg_cut_out", "greater_than", 1100],
                    ],
                },
            ],
        },
    ]
    rows = sg.find("Shot", filters, ["code"], order=[{"field_name": "code", "direction": "asc"}])
    assert codes(rows) == ["010_0010", "020_0030"]
    anyof = sg.find(
        "Shot",
        [["code", "is", "010_0010"], ["code", "is", "020_0010"]],
        ["code"],
        filter_operator="any",
    )
    assert sorted(codes(anyof)) == ["010_0010", "020_0010"]


def test_null_and_empty_values(sg: shotgun.Shotgun) -> None:
    assert sg.find("Shot", [["sg_sequence", "is", None]]) == []
    assert len(sg.find("Task", [["due_date", "is", None]])) == 12  # asset tasks
    assert sg.find("Shot", [["assets", "is", None]]) == []
    assert len(sg.find("Shot", [["tasks", "is_not", None]])) == 7


def test_dates_and_in_last(sg: shotgun.Shotgun) -> None:
    rows = sg.find("Task", [["due_date", "greater_than", "2024-01-20"]], ["due_date"])
    assert rows and all(r["due_date"] > "2024-01-20" for r in rows)
    assert len(sg.find("Task", [["start_date", "is", dt.date(2024, 1, 8)]])) == 7
    assert len(sg.find("Shot", [["created_at", "in_last", 1, "HOUR"]])) == 7
    assert sg.find("Shot", [["created_at", "not_in_last", 1, "HOUR"]]) == []
    old = sg.find("Shot", [["created_at", "less_than", dt.datetime(2000, 1, 1)]])
    assert old == []


def test_sorts(sg: shotgun.Shotgun) -> None:
    desc = sg.find("Shot", [], ["code"], order=[{"field_name": "code", "direction": "desc"}])
    assert codes(desc) == sorted(codes(desc), reverse=True)
    by_seq = sg.find(
        "Shot",
        [],
        ["code", "sg_cut_out"],
        order=[
            {"field_name": "sg_sequence", "direction": "desc"},
            {"field_name": "sg_cut_out", "direction": "desc"},
        ],
    )
    assert codes(by_seq)[:3] == ["020_0030", "020_0020", "020_0010"]
    assert codes(by_seq)[3] == "010_0040"


def test_paging_across_pages() -> None:
    with Sandbox(scripts={"p": "k"}, seed="demo", page_size=7) as sb:
        sg = shotgun.Shotgun(sb.url, "p", "k")
        assert sg.config.records_per_page == 7
        before = sb.faults.requests_seen
        tasks = sg.find("Task", [], ["content"])
        assert [t["id"] for t in tasks] == list(range(1, 41))
        assert sb.faults.requests_seen - before == 6  # 40 rows, pages of 7
        assert len(sg.find("Task", [], limit=12)) == 12
        page2 = sg.find("Task", [], limit=5, page=2)
        assert [t["id"] for t in page2] == [6, 7, 8, 9, 10]
        assert sg.find("Task", [], limit=5, page=9) == []
        sg.close()


def test_event_log_paging_over_500_rows(sandbox: Sandbox, sg: shotgun.Shotgun) -> None:
    ids = sandbox.seed_events(1200)
    rows = sg.find("EventLogEntry", [["id", "greater_than", ids[0] - 1]], ["event_type"])
    assert [r["id"] for r in rows] == list(ids)


#: Matches no row, and has no SQL form: an "any" group holding it is filtered in Python.
_PYTHON_ONLY = ["meta", "is", "no such meta"]


@pytest.mark.parametrize(
    "filters",
    [
        [["id", "between", 5, 40]],
        [["id", "not_in", 1, 2, 3]],
        [["event_type", "ends_with", "_Change"], ["attribute_name", "is_not", None]],
        [["description", "contains", "LAYOUT"]],
        [["event_type", "less_than", "Shotgun_Shot"]],
        [["entity", "type_is", "Task"]],
        [["entity", "in", [{"type": "Shot", "id": 1}, None]]],
        [["project", "is", PROJECT]],
        [["user", "type_is_not", "HumanUser"]],
        [["created_at", "in_last", 1, "DAY"]],
        [
            {
                "filter_operator": "any",
                "filters": [["id", "less_than", 5], ["id", "greater_than", 60]],
            }
        ],
        [{"filter_operator": "any", "filters": []}],
    ],
)
def test_event_log_sql_and_python_paths_agree(
    sandbox: Sandbox, sg: shotgun.Shotgun, filters: list[Any]
) -> None:
    sandbox.seed_events(50, seed=3)
    fast = sg.find("EventLogEntry", filters, ["id"])
    both = {"filter_operator": "all", "filters": filters}
    slow = sg.find("EventLogEntry", [{"filter_operator": "any", "filters": [both, _PYTHON_ONLY]}])
    assert [r["id"] for r in fast] == [r["id"] for r in slow]


def test_empty_any_group_matches_nothing_on_every_type(sg: shotgun.Shotgun) -> None:
    assert sg.find("EventLogEntry", [], filter_operator="any") == []
    assert sg.find("Shot", [], filter_operator="any") == []


@pytest.mark.parametrize("retired_only", [False, True])
def test_event_log_filters_are_checked_on_every_path(
    sg: shotgun.Shotgun, retired_only: bool
) -> None:
    with pytest.raises(shotgun.Fault, match="unknown relation 'resembles'"):
        sg.find("EventLogEntry", [["id", "resembles", 1]], retired_only=retired_only)
    with pytest.raises(shotgun.Fault, match="only date and date_time fields"):
        sg.summarize("EventLogEntry", [["event_type", "in_last", 1, "DAY"]], [])


def test_return_only_retired(sg: shotgun.Shotgun) -> None:
    sg.delete("Shot", 2)
    assert [r["id"] for r in sg.find("Shot", [], retired_only=True)] == [2]
    assert 2 not in [r["id"] for r in sg.find("Shot", [])]


def test_unknown_return_fields_are_left_out(sg: shotgun.Shotgun) -> None:
    shot = sg.find_one("Shot", [["id", "is", 1]], ["code", "no_such_field"])
    assert shot == {"type": "Shot", "id": 1, "code": "010_0010"}


@pytest.mark.parametrize(
    ("entity_type", "filters", "message"),
    [
        ("Shoot", [], "Unknown entity type 'Shoot'"),
        ("Shot", [["cod", "is", "x"]], "Unknown field 'cod' on entity type Shot"),
        ("Shot", [["code", "resembles", "x"]], "unknown relation 'resembles'"),
        ("Shot", [["code", "between", 1]], "expected two values"),
        ("Shot", [["sg_sequence", "is", 3]], "is not an entity link"),
        ("Shot", [["code.Sequence.code", "is", "x"]], "cannot be followed"),
        ("Shot", [["created_at", "in_last", 1, "FORTNIGHT"]], "takes a count and a unit"),
    ],
)
def test_bad_reads_say_what_is_wrong(
    sg: shotgun.Shotgun, entity_type: str, filters: list[Any], message: str
) -> None:
    with pytest.raises(shotgun.Fault, match=message):
        sg.find(entity_type, filters)


def test_bad_sort_field(sg: shotgun.Shotgun) -> None:
    with pytest.raises(shotgun.Fault, match="Unknown field 'nope'"):
        sg.find("Shot", [], order=[{"field_name": "nope", "direction": "asc"}])


def test_summarize(sg: shotgun.Shotgun) -> None:
    result = sg.summarize(
        "Shot",
        [["project", "is", PROJECT]],
        [{"field": "id", "type": "record_count"}, {"field": "sg_cut_in", "type": "average"}],
        grouping=[{"field": "sg_sequence", "type": "exact", "direction": "asc"}],
    )
    assert result["summaries"] == {"id": 7, "sg_cut_in": 1001}
    groups = [(g["group_name"], g["summaries"]["id"]) for g in result["groups"]]
    assert groups == [("SEQ010", 4), ("SEQ020", 3)]
    assert result["groups"][0]["group_value"] == {"type": "Sequence", "id": 1, "name": "SEQ010"}
    count = sg.summarize(
        "Task", [["sg_status_list", "is", "fin"]], [{"field": "id", "type": "count"}]
    )
    assert count == {"summaries": {"id": 4}, "groups": []}
    totals = sg.summarize(
        "Shot",
        [],
        [{"field": "sg_cut_out", "type": "maximum"}, {"field": "sg_cut_in", "type": "sum"}],
    )
    assert totals["summaries"] == {"sg_cut_out": 1144, "sg_cut_in": 7 * 1001}


def test_schema_reads(sg: shotgun.Shotgun) -> None:
    types = sg.schema_entity_read()
    expected = {
        "Project",
        "Sequence",
        "Shot",
        "Asset",
        "Task",
        "Step",
        "Version",
        "PublishedFile",
        "Note",
        "Playlist",
        "HumanUser",
        "ApiUser",
        "Group",
        "EventLogEntry",
    }
    assert expected <= set(types)
    assert types["ApiUser"]["name"]["value"] == "Script"
    field = sg.schema_field_read("Task", "task_assignees")["task_assignees"]
    assert field["data_type"]["value"] == "multi_entity"
    assert field["properties"]["valid_types"]["value"] == ["HumanUser", "Group"]
    shot_fields = sg.schema_field_read("Shot")
    for name in (
        "id",
        "code",
        "description",
        "sg_status_list",
        "sg_sequence",
        "project",
        "assets",
        "tasks",
        "sg_cut_in",
        "sg_cut_out",
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
    ):
        assert name in shot_fields
    assert sg.schema_read()["Version"]["sg_task"]["data_type"]["value"] == "entity"
    with pytest.raises(shotgun.Fault, match="Unknown field 'nope'"):
        sg.schema_field_read("Shot", "nope")
    with pytest.raises(shotgun.Fault, match="Unknown entity type"):
        sg.schema_field_read("Nope")
