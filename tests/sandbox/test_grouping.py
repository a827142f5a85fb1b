"""``summarize`` groupings beyond ``exact``, through the unmodified client."""

from __future__ import annotations

from typing import Any

import pytest
import shotgun_api3
from shotgun_api3 import shotgun


def _groups(sg: shotgun.Shotgun, field: str, kind: str, **extra: Any) -> list[tuple[Any, str, int]]:
    result = sg.summarize(
        "Task",
        [["content", "starts_with", "grp"]],
        [{"field": "id", "type": "count"}],
        grouping=[{"field": field, "type": kind, "direction": extra.get("direction", "asc")}],
    )
    return [(g["group_value"], g["group_name"], g["summaries"]["id"]) for g in result["groups"]]


@pytest.fixture
def tasks(sg: shotgun.Shotgun) -> None:
    project = sg.find_one("Project", [])
    shot = sg.find_one("Shot", [])
    asset = sg.find_one("Asset", [])
    for n, (due, minutes, entity) in enumerate(
        [
            ("2024-01-15", 5, shot),  # Monday
            ("2024-01-17", 12, shot),  # same week
            ("2024-02-29", 15, asset),
            ("2024-04-01", 250, asset),
            ("2025-01-01", None, None),
        ]
    ):
        sg.create(
            "Task",
            {
                "content": f"grp {'abc'[n % 3]}{n}",
                "project": project,
                "due_date": due,
                "est_in_mins": minutes,
                "entity": entity,
            },
        )


@pytest.mark.usefixtures("tasks")
def test_date_groupings(sg: shotgun.Shotgun) -> None:
    assert _groups(sg, "due_date", "day")[0] == ("2024-01-15", "2024-01-15", 1)
    assert _groups(sg, "due_date", "week")[:2] == [
        ("2024-01-15", "Week of 2024-01-15", 2),
        ("2024-02-26", "Week of 2024-02-26", 1),
    ]
    assert _groups(sg, "due_date", "month") == [
        ("2024-01-01", "January 2024", 2),
        ("2024-02-01", "February 2024", 1),
        ("2024-04-01", "April 2024", 1),
        ("2025-01-01", "January 2025", 1),
    ]
    assert _groups(sg, "due_date", "quarter") == [
        ("2024-01-01", "2024 Q1", 3),
        ("2024-04-01", "2024 Q2", 1),
        ("2025-01-01", "2025 Q1", 1),
    ]
    assert _groups(sg, "due_date", "year", direction="desc") == [
        ("2025-01-01", "2025", 1),
        ("2024-01-01", "2024", 4),
    ]
    # Date-times group by the UTC day they fall on.
    assert [g[2] for g in _groups(sg, "created_at", "year")] == [5]


@pytest.mark.usefixtures("tasks")
def test_number_letter_and_type_groupings(sg: shotgun.Shotgun) -> None:
    assert _groups(sg, "est_in_mins", "tens") == [
        (0, "0 - 9", 1),
        (10, "10 - 19", 2),
        (250, "250 - 259", 1),
        (None, "", 1),
    ]
    assert _groups(sg, "est_in_mins", "hundreds")[:2] == [(0, "0 - 99", 3), (200, "200 - 299", 1)]
    assert _groups(sg, "content", "firstletter") == [("G", "G", 5)]
    assert _groups(sg, "entity", "entitytype") == [
        ("Asset", "Asset", 2),
        ("Shot", "Shot", 2),
        (None, "", 1),
    ]


def test_groupings_a_field_does_not_have_are_refused(sg: shotgun.Shotgun) -> None:
    with pytest.raises(shotgun_api3.Fault, match="does not apply"):
        _groups(sg, "content", "month")
    with pytest.raises(shotgun_api3.Fault, match="does not apply"):
        _groups(sg, "due_date", "tens")
    with pytest.raises(shotgun_api3.Fault, match="grouping type"):
        _groups(sg, "due_date", "fortnight")
