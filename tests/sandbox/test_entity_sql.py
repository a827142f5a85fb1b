"""Entity reads in SQL (evframe.sandbox.entitysql) give the rows the Python engine gives."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from shotgun_api3 import shotgun

from evframe.sandbox import Sandbox
from evframe.sandbox.entitysql import EntityWhere
from evframe.sandbox.eventsql import compile_filters
from evframe.sandbox.query import parse_filters
from support.sandbox import KEY, SCRIPT, make_client

PROJECT = {"type": "Project", "id": 1}
#: A dotted path has no SQL form: an "any" group holding it is filtered in Python.
_PYTHON_ONLY = ["project.Project.name", "is", "no such project"]


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[Sandbox, shotgun.Shotgun]]:
    """The demo site, with odd values: unset links, retired targets, mixed case, nulls."""
    with Sandbox(scripts={SCRIPT: KEY}, seed="demo") as sb:
        sg = make_client(sb)
        sg.update("Shot", 1, {"sg_sequence": None, "description": "MiXeD case Ünïcode"})
        sg.update("Shot", 3, {"sg_cut_in": None, "description": None})
        sg.update("Shot", 4, {"sg_cut_in": 990, "sg_status_list": "ip"})
        sg.update("Shot", 5, {"sg_status_list": "fin", "sg_cut_in": 1100})
        sg.delete("Sequence", 2)  # its shots now read as having no sequence
        sg.delete("Asset", 1)  # gone from every shot's assets
        sg.delete("Shot", 6)
        sg.update("Task", 7, {"sg_status_list": "ip", "task_assignees": []})
        yield sb, sg
        sg.close()


SEQ1, SEQ2 = {"type": "Sequence", "id": 1}, {"type": "Sequence", "id": 2}
ASSET1, ASSET2 = {"type": "Asset", "id": 1}, {"type": "Asset", "id": 2}
USER1 = {"type": "HumanUser", "id": 1}

CASES: list[tuple[str, list[Any]]] = [
    ("Shot", [["project", "is", PROJECT]]),
    ("Shot", [["sg_sequence", "is", SEQ1]]),
    ("Shot", [["sg_sequence", "is", SEQ2]]),
    ("Shot", [["sg_sequence", "is", None]]),
    ("Shot", [["sg_sequence", "is_not", None]]),
    ("Shot", [["sg_sequence", "in", [SEQ2, None]]]),
    ("Shot", [["sg_sequence", "not_in", [SEQ1]]]),
    ("Shot", [["sg_sequence", "type_is", "Sequence"]]),
    ("Shot", [["sg_sequence", "type_is", None]]),
    ("Shot", [["sg_sequence", "type_is_not", "Sequence"]]),
    ("Shot", [["assets", "is", ASSET1]]),
    ("Shot", [["assets", "is", ASSET2]]),
    ("Shot", [["assets", "in", [ASSET1, ASSET2]]]),
    ("Shot", [["assets", "is", None]]),
    ("Shot", [["assets", "not_in", [ASSET2]]]),
    ("Shot", [["assets", "type_is", "Asset"]]),
    ("Shot", [["code", "is", "010_0010"]]),
    ("Shot", [["code", "in", ["010_0010", "020_0020", "nope"]]]),
    ("Shot", [["code", "starts_with", "01"]]),
    ("Shot", [["code", "ends_with", "30"]]),
    ("Shot", [["description", "contains", "mixed"]]),
    ("Shot", [["description", "contains", "ünï"]]),
    ("Shot", [["description", "not_contains", "shot"]]),
    ("Shot", [["description", "is", None]]),
    ("Shot", [["sg_cut_in", "is", 1001]]),
    ("Shot", [["sg_cut_in", "is", "1001"]]),
    ("Shot", [["sg_cut_in", "is_not", None]]),
    ("Shot", [["sg_cut_in", "less_than", 1001]]),
    ("Shot", [["sg_cut_in", "greater_than", 1000.5]]),
    ("Shot", [["sg_cut_in", "greater_than", "1000"]]),
    ("Shot", [["sg_cut_in", "between", 995, 1050]]),
    ("Shot", [["sg_cut_in", "not_between", 995, 1050]]),
    ("Shot", [["sg_cut_in", "in", [990, None]]]),
    ("Shot", [["sg_status_list", "is", "ip"]]),
    ("Shot", [["sg_status_list", "in", ["ip", "fin"]]]),
    ("Shot", [["created_at", "in_last", 1, "DAY"]]),
    ("Shot", [["created_at", "not_in_next", 1, "DAY"]]),
    ("Shot", [["id", "between", 2, 5]]),
    ("Shot", [["type", "is", "Shot"]]),
    ("Shot", [["project", "is", PROJECT], ["sg_status_list", "is_not", "ip"]]),
    (
        "Shot",
        [
            {
                "filter_operator": "any",
                "filters": [["sg_sequence", "is", SEQ1], ["sg_cut_in", "greater_than", 1050]],
            }
        ],
    ),
    ("Shot", [{"filter_operator": "any", "filters": []}]),
    ("Task", [["entity", "type_is", "Asset"]]),
    ("Task", [["entity", "is", {"type": "Shot", "id": 2}]]),
    ("Task", [["entity", "is", {"type": "Asset", "id": 1}]]),
    ("Task", [["task_assignees", "is", USER1], ["sg_status_list", "is", "ip"]]),
    ("Task", [["task_assignees", "is", None]]),
    ("Task", [["start_date", "greater_than", "2024-01-10"]]),
    ("Task", [["due_date", "less_than", "2024-01-20"], ["due_date", "is_not", None]]),
    ("Version", [["entity", "is", {"type": "Shot", "id": 2}], ["sg_status_list", "is", None]]),
    ("Playlist", [["versions", "is", {"type": "Version", "id": 3}]]),
]
SORTS: list[list[dict[str, str]]] = [
    [],
    [{"field_name": "sg_status_list", "direction": "asc"}],
    [{"field_name": "created_at", "direction": "desc"}, {"field_name": "id", "direction": "desc"}],
]


def _sorts(etype: str, i: int) -> list[dict[str, str]]:
    if i == 1 and etype == "Shot":
        return [
            {"field_name": "sg_cut_in", "direction": "desc"},
            {"field_name": "code", "direction": "asc"},
        ]
    return SORTS[i] if etype != "Playlist" or i != 1 else []


@pytest.mark.parametrize("sort", range(len(SORTS)))
@pytest.mark.parametrize(("etype", "filters"), CASES)
def test_entity_sql_and_python_paths_agree(
    site: tuple[Sandbox, shotgun.Shotgun], etype: str, filters: list[Any], sort: int
) -> None:
    sb, sg = site
    # The case really compiles: no residual left to Python.
    conds = {"filter_operator": "all", "filters": filters}
    parsed = parse_filters(sb.store.schema, etype, shotgun._translate_filters(filters, "all"))
    assert compile_filters(parsed, lambda: EntityWhere(sb.store, etype))[2] is None
    order = _sorts(etype, sort)
    fields = ["code", "sg_cut_in"] if etype == "Shot" else ["id"]
    fast = sg.find(etype, filters, fields, order=order)
    slow = sg.find(
        etype, [{"filter_operator": "any", "filters": [conds, _PYTHON_ONLY]}], fields, order=order
    )
    assert fast == slow
    assert len(sg.find(etype, filters, ["id"], order=order, limit=2, page=2)) == len(slow[2:4])


def test_retired_rows_and_counts_through_sql(site: tuple[Sandbox, shotgun.Shotgun]) -> None:
    _, sg = site
    assert [r["id"] for r in sg.find("Shot", [["project", "is", PROJECT]], retired_only=True)] == [
        6
    ]
    found = sg.summarize("Shot", [["sg_sequence", "is", None]], [{"field": "id", "type": "count"}])
    # Shot 1 (unset) and the live shots of the retired SEQ020 (6 is retired).
    assert found["summaries"]["id"] == 3


def test_failed_batch_leaves_no_link_rows(site: tuple[Sandbox, shotgun.Shotgun]) -> None:
    sb, sg = site
    before = sb.store.conn.execute("SELECT count(*) FROM entity_links").fetchone()[0]
    with pytest.raises(shotgun.Fault):
        sg.batch(
            [
                {
                    "request_type": "create",
                    "entity_type": "Shot",
                    "data": {"code": "x", "project": PROJECT},
                },
                {"request_type": "create", "entity_type": "Shot", "data": {"code": 5}},
            ]
        )
    assert sb.store.conn.execute("SELECT count(*) FROM entity_links").fetchone()[0] == before
    assert sg.find("Shot", [["code", "is", "x"]]) == []


def test_links_of_an_older_database_are_indexed_on_open(tmp_path: Path) -> None:
    db = tmp_path / "site.db"
    with Sandbox(scripts={SCRIPT: KEY}, seed="demo", db=db):
        pass
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM entity_links")
    conn.execute("PRAGMA user_version = 0")
    conn.commit()
    conn.close()
    with Sandbox(scripts={SCRIPT: KEY}, db=db) as sb:
        sg = make_client(sb)
        rows = sg.find("Shot", [["sg_sequence", "is", SEQ1]], ["code"])
        assert [r["code"] for r in rows] == ["010_0010", "010_0020", "010_0030", "010_0040"]
        sg.close()


@pytest.mark.parametrize(
    ("etype", "field", "rtype", "rfield"),
    [("Sequence", "shots", "Shot", "sg_sequence"), ("Asset", "shots", "Shot", "assets")],
)
def test_reverse_fields_read_the_link_index(
    site: tuple[Sandbox, shotgun.Shotgun], etype: str, field: str, rtype: str, rfield: str
) -> None:
    _, sg = site
    for row in sg.find(etype, [], [field]):
        target = {"type": etype, "id": row["id"]}
        forward = sg.find(rtype, [[rfield, "is", target]], ["code"])
        assert row[field] == [{"type": rtype, "id": r["id"], "name": r["code"]} for r in forward]
