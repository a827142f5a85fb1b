"""Two-way links change on both sides, with event rows on both, through the client."""

from __future__ import annotations

from typing import Any

from shotgun_api3 import shotgun


def _changes(log: Any) -> list[tuple[str, int, str, list[int], list[int]]]:
    return [
        (
            e["event_type"],
            e["entity"]["id"],
            e["attribute_name"],
            [x["id"] for x in e["meta"]["added"]],
            [x["id"] for x in e["meta"]["removed"]],
        )
        for e in log.since()
        if e["event_type"].endswith("_Change")
        and e["meta"].get("field_data_type") == "multi_entity"
    ]


def test_shot_assets_and_asset_shots(sg: shotgun.Shotgun, log: Any) -> None:
    project = sg.find_one("Project", [])
    shot = sg.create("Shot", {"code": "tw_010", "project": project})
    a1 = sg.create("Asset", {"code": "tw_prop", "project": project})
    a2 = sg.create("Asset", {"code": "tw_char", "project": project})
    log.mark()

    sg.update("Shot", shot["id"], {"assets": [a1, a2]})
    assert [
        x["id"] for x in sg.find_one("Asset", [["id", "is", a1["id"]]], ["shots"])["shots"]
    ] == [shot["id"]]
    assert _changes(log) == [
        ("Shotgun_Shot_Change", shot["id"], "assets", [a1["id"], a2["id"]], []),
        ("Shotgun_Asset_Change", a1["id"], "shots", [shot["id"]], []),
        ("Shotgun_Asset_Change", a2["id"], "shots", [shot["id"]], []),
    ]

    # Writing the other side writes this one, and the rows show both.
    log.mark()
    shot2 = sg.create("Shot", {"code": "tw_020", "project": project})
    log.mark()
    sg.update("Asset", a1["id"], {"shots": [shot2]})
    row = sg.find_one("Shot", [["id", "is", shot["id"]]], ["assets"])
    assert [x["id"] for x in row["assets"]] == [a2["id"]]
    row2 = sg.find_one("Shot", [["id", "is", shot2["id"]]], ["assets"])
    assert [x["id"] for x in row2["assets"]] == [a1["id"]]
    assert sorted(_changes(log)) == sorted(
        [
            ("Shotgun_Asset_Change", a1["id"], "shots", [shot2["id"]], [shot["id"]]),
            ("Shotgun_Shot_Change", shot["id"], "assets", [], [a1["id"]]),
            ("Shotgun_Shot_Change", shot2["id"], "assets", [a1["id"]], []),
        ]
    )

    # Add and remove modes work on either side.
    log.mark()
    sg.update("Asset", a2["id"], {"shots": [shot2]}, multi_entity_update_modes={"shots": "add"})
    a2_shots = sg.find_one("Asset", [["id", "is", a2["id"]]], ["shots"])["shots"]
    assert sorted(x["id"] for x in a2_shots) == sorted([shot["id"], shot2["id"]])
    assert len(_changes(log)) == 2


def test_create_with_either_side(sg: shotgun.Shotgun, log: Any) -> None:
    project = sg.find_one("Project", [])
    version = sg.find_one("Version", [], ["playlists"])
    playlist = sg.create(
        "Playlist", {"code": "tw review", "project": project, "versions": [version]}
    )
    assert playlist["id"] in [
        p["id"]
        for p in sg.find_one("Version", [["id", "is", version["id"]]], ["playlists"])["playlists"]
    ]
    other = sg.create("Version", {"code": "tw_v2", "project": project, "playlists": [playlist]})
    assert other["playlists"][0]["id"] == playlist["id"]
    pl = sg.find_one("Playlist", [["id", "is", playlist["id"]]], ["versions"])
    assert sorted(v["id"] for v in pl["versions"]) == sorted([version["id"], other["id"]])
    rows = _changes(log)
    assert ("Shotgun_Version_Change", version["id"], "playlists", [playlist["id"]], []) in rows
    assert ("Shotgun_Playlist_Change", playlist["id"], "versions", [other["id"]], []) in rows
    in_create = [e for e in log.since() if e["meta"].get("in_create")]
    assert any(e["attribute_name"] == "playlists" for e in in_create)
