"""The api3 calls beyond CRUD, through the unmodified client: logins and session
tokens, follows, note threads, activity streams, text search, work schedules,
preferences and recent projects."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator
from typing import Any

import pytest
import shotgun_api3
from shotgun_api3 import shotgun

from evframe.sandbox import Sandbox


def _user(sg: shotgun.Shotgun, login: str = "jdoe", password: str = "s3cret") -> dict[str, Any]:
    user: dict[str, Any] = sg.create(
        "HumanUser",
        {"firstname": "Jane", "lastname": "Doe", "login": login, "password_proxy": password},
    )
    return {"type": "HumanUser", "id": user["id"]}


_OPEN: list[shotgun.Shotgun] = []


def _login(sb: Sandbox, **kwargs: Any) -> shotgun.Shotgun:
    """A client logged in some other way than as the test script (closed after the test)."""
    sg = shotgun.Shotgun(sb.url, **kwargs)
    sg.config.timeout_secs = 10
    _OPEN.append(sg)
    return sg


@pytest.fixture(autouse=True)
def _close_logins() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


# -- logins and session tokens ------------------------------------------------------


def test_login_password_session_token(sandbox: Sandbox, sg: shotgun.Shotgun) -> None:
    user = _user(sg)
    human = _login(sandbox, login="jdoe", password="s3cret")
    shot = human.find_one("Shot", [], ["code"])
    assert shot is not None
    # Writes are made as the person.
    human.update("Shot", shot["id"], {"description": "by hand"})
    row = sg.find_one("Shot", [["id", "is", shot["id"]]], ["updated_by"])
    assert row["updated_by"]["type"] == "HumanUser" and row["updated_by"]["id"] == user["id"]
    # The password is never returned, and the stored form is not the password.
    assert sg.find_one("HumanUser", [["id", "is", user["id"]]], ["password_proxy"]) == {
        **user,
        "password_proxy": None,
    }
    assert "s3cret" not in str(sandbox.store.get("HumanUser", user["id"]))

    token = human.get_session_token()
    assert isinstance(token, str) and token
    by_token = _login(sandbox, session_token=token)
    assert by_token.find_one("Shot", [["id", "is", shot["id"]]])["id"] == shot["id"]
    assert human.authenticate_human_user("jdoe", "s3cret")["id"] == user["id"]


def test_bad_login_password_token(sandbox: Sandbox, sg: shotgun.Shotgun) -> None:
    _user(sg)
    with pytest.raises(shotgun_api3.AuthenticationFault):
        _login(sandbox, login="jdoe", password="wrong").find_one("Shot", [])
    with pytest.raises(shotgun_api3.AuthenticationFault):
        _login(sandbox, login="nobody", password="s3cret").find_one("Shot", [])
    with pytest.raises(shotgun_api3.AuthenticationFault):
        _login(sandbox, session_token="not-a-token").find_one("Shot", [])
    with pytest.raises(shotgun_api3.AuthenticationFault):
        sg.authenticate_human_user("jdoe", "wrong")


def test_disabled_user_cannot_log_in(sandbox: Sandbox, sg: shotgun.Shotgun) -> None:
    user = _user(sg)
    sg.update("HumanUser", user["id"], {"sg_status_list": "dis"})
    with pytest.raises(shotgun_api3.AuthenticationFault, match="disabled"):
        _login(sandbox, login="jdoe", password="s3cret").find_one("Shot", [])


def test_script_session_token_acts_as_the_script(sandbox: Sandbox, sg: shotgun.Shotgun) -> None:
    by_token = _login(sandbox, session_token=sg.get_session_token())
    shot = by_token.create("Shot", {"code": "tokened"}, ["created_by"])
    assert shot["created_by"]["type"] == "ApiUser"


# -- follows ------------------------------------------------------------------------


def test_follow_unfollow_followers_following(sg: shotgun.Shotgun) -> None:
    user = _user(sg)
    shot = sg.find_one("Shot", [], ["project"])
    task = sg.find_one("Task", [], ["project"])
    assert sg.follow(user, shot)["followed"] is True
    assert sg.follow(user, shot)["followed"] is True  # twice is fine
    followers = sg.followers(shot)
    assert [(f["type"], f["id"], f["status"]) for f in followers] == [
        ("HumanUser", user["id"], "act")
    ]
    sg.follow(user, task)
    assert len(sg.following(user)) == 2
    assert sg.following(user, entity_type="Task") == [{"type": "Task", "id": task["id"]}]
    assert len(sg.following(user, project=shot["project"])) == 2
    other = sg.create("Project", {"name": "Other"})
    assert sg.following(user, project=other) == []
    assert sg.unfollow(user, shot)["unfollowed"] is True
    assert sg.followers(shot) == []
    assert sg.following(user) == [{"type": "Task", "id": task["id"]}]


def test_follow_refuses_what_does_not_exist(sg: shotgun.Shotgun) -> None:
    user = _user(sg)
    with pytest.raises(shotgun_api3.Fault, match="does not exist"):
        sg.follow(user, {"type": "Shot", "id": 99999})
    with pytest.raises(shotgun_api3.Fault, match="HumanUser"):
        sg.follow({"type": "Shot", "id": 1}, {"type": "Shot", "id": 1})


# -- note threads and activity streams ----------------------------------------------


def test_note_thread_read(sg: shotgun.Shotgun) -> None:
    project = sg.find_one("Project", [])
    note = sg.create("Note", {"content": "More grain", "project": project})
    thread = sg.note_thread_read(note["id"])
    assert len(thread) == 1
    fields = ["content", "created_at", "created_by"]
    assert thread[0] == sg.find_one("Note", [["id", "is", note["id"]]], fields)

    user = _user(sg)
    reply = sg.create("Reply", {"content": "Done", "entity": note, "user": user})
    thread = sg.note_thread_read(note["id"], {"Note": ["project"], "Reply": ["entity"]})
    assert [e["type"] for e in thread] == ["Note", "Reply"]
    assert thread[0]["project"]["id"] == project["id"]
    assert set(thread[1]) == {"type", "id", "content", "created_at", "user", "entity"}
    assert thread[1]["id"] == reply["id"] and thread[1]["user"]["id"] == user["id"]
    assert "image" in thread[1]["user"]
    with pytest.raises(shotgun_api3.Fault, match="does not exist"):
        sg.note_thread_read(99999)


def test_activity_stream_read(sg: shotgun.Shotgun) -> None:
    project = sg.find_one("Project", [])
    shot = sg.create("Shot", {"code": "act_010", "project": project})
    sg.create("Note", {"content": "Test!", "project": project, "note_links": [shot]})
    result = sg.activity_stream_read("Shot", shot["id"])
    assert set(result) == {
        "earliest_update_id",
        "entity_id",
        "entity_type",
        "latest_update_id",
        "updates",
    }
    assert (result["entity_type"], result["entity_id"]) == ("Shot", shot["id"])
    updates = result["updates"]
    assert [u["update_type"] for u in updates] == ["create", "create"]
    assert updates[0]["meta"]["entity_type"] == "Note"  # newest first
    assert updates[1]["primary_entity"]["name"] == "act_010"
    assert isinstance(updates[0]["created_at"], _dt.datetime)

    sg.update("Shot", shot["id"], {"sg_status_list": "ip"})
    one = sg.activity_stream_read("Shot", shot["id"], limit=1)["updates"]
    assert one[0]["update_type"] == "update"
    assert one[0]["meta"]["attribute_name"] == "sg_status_list"
    assert one[0]["primary_entity"]["status"] == "ip"

    extra = sg.activity_stream_read(
        "Shot", shot["id"], entity_fields={"Shot": ["code"], "Note": ["content"]}
    )["updates"]
    assert set(extra[-1]["primary_entity"]) == {"type", "id", "name", "status", "code"}
    assert extra[1]["primary_entity"]["content"] == "Test!"
    older = sg.activity_stream_read("Shot", shot["id"], max_id=extra[1]["id"])["updates"]
    assert [u["id"] for u in older] == [u["id"] for u in extra[1:]]
    newer = sg.activity_stream_read("Shot", shot["id"], min_id=extra[0]["id"])["updates"]
    assert [u["id"] for u in newer] == [extra[0]["id"]]


# -- text search --------------------------------------------------------------------


def test_text_search(sg: shotgun.Shotgun) -> None:
    project = sg.find_one("Project", [])
    for i in range(5):
        for etype in ("Shot", "Asset"):
            sg.create(etype, {"code": f"zebra Text Search {i}", "project": project})
    result = sg.text_search("Zebra text search", {"Shot": []})
    assert result["terms"] == ["zebra", "text", "search"]
    assert len(result["matches"]) == 5
    m = result["matches"][0]
    assert (m["type"], m["project_id"], m["image"]) == ("Shot", project["id"], None)
    assert len(sg.text_search("zebra text search", {"Shot": [], "Asset": []})["matches"]) == 10
    assert len(sg.text_search("zebra text search", {"Shot": []}, limit=3)["matches"]) == 3
    both = sg.text_search(
        "zebra text search",
        {
            "Shot": [["code", "ends_with", "3"]],
            "Asset": [{"filter_operator": "any", "filters": [["code", "ends_with", "4"]]}],
        },
    )["matches"]
    assert [(m["type"], m["name"]) for m in both] == [
        ("Shot", "zebra Text Search 3"),
        ("Asset", "zebra Text Search 4"),
    ]
    other = sg.create("Project", {"name": "Elsewhere"})
    assert sg.text_search("zebra", {"Shot": []}, project_ids=[other["id"]])["matches"] == []
    with pytest.raises(shotgun_api3.Fault, match="at least 3"):
        sg.text_search("ab", {"Shot": []})


# -- work schedules, preferences, recent projects -----------------------------------


def test_work_schedule(sg: shotgun.Shotgun, log: Any) -> None:
    # 2024-12-23 is a Monday.
    week = sg.work_schedule_read("2024-12-23", "2024-12-29")
    assert [d["working"] for d in week.values()] == [True] * 5 + [False] * 2
    assert week["2024-12-23"] == {
        "working": True,
        "description": None,
        "reason": "STUDIO_WORK_WEEK",
    }
    reply = sg.work_schedule_update("2024-12-25", False, "Closed for Christmas")
    assert reply == {
        "date": "2024-12-25",
        "working": False,
        "description": "Closed for Christmas",
        "project": None,
        "user": None,
    }
    assert sg.work_schedule_read("2024-12-25", "2024-12-25")["2024-12-25"] == {
        "working": False,
        "description": "Closed for Christmas",
        "reason": "STUDIO_EXCEPTION",
    }
    # Rules are WorkDayRule entities, written with their events.
    assert log.since()[0]["event_type"] == "Shotgun_WorkDayRule_New"
    project = sg.find_one("Project", [])
    user = _user(sg)
    sg.work_schedule_update("2024-12-25", True, "Deadline", project=project)
    sg.work_schedule_update("2024-12-28", True, "Catch-up", user=user)
    assert (
        sg.work_schedule_read("2024-12-25", "2024-12-25", project=project)["2024-12-25"]["reason"]
        == "PROJECT_EXCEPTION"
    )
    assert sg.work_schedule_read("2024-12-28", "2024-12-28", user=user)["2024-12-28"] == {
        "working": True,
        "description": "Catch-up",
        "reason": "USER_EXCEPTION",
    }
    # Updating the same day again changes the rule instead of adding one.
    sg.work_schedule_update("2024-12-25", False, "Christmas Day")
    assert len(sg.find("WorkDayRule", [["date", "is", "2024-12-25"]])) == 2
    with pytest.raises(shotgun_api3.Fault, match="not both"):
        sg.work_schedule_update("2024-12-26", False, project=project, user=user)
    with pytest.raises(shotgun_api3.Fault, match="YYYY-MM-DD"):
        sg.work_schedule_read("2024-13-01", "2024-12-31")


def test_preferences_read(sg: shotgun.Shotgun) -> None:
    prefs = sg.preferences_read()
    assert prefs["date_component_order"] == "month_day"
    assert prefs["hours_per_day"] == 8.0 and "view_master_settings" in prefs
    wanted = ["date_component_order", "support_local_storage", "email_notifications"]
    assert sg.preferences_read(wanted) == {
        "date_component_order": "month_day",
        "support_local_storage": True,
    }


def test_update_project_last_accessed(sandbox: Sandbox, sg: shotgun.Shotgun, log: Any) -> None:
    project = sg.find_one("Project", [], ["last_accessed_by_current_user", "updated_at"])
    assert project["last_accessed_by_current_user"] is None
    user = _user(sg)
    sg.update_project_last_accessed(project, user=user)
    after = sg.find_one("Project", [["id", "is", project["id"]]], ["last_accessed_by_current_user"])
    assert isinstance(after["last_accessed_by_current_user"], _dt.datetime)
    page = sg.find_one("Page", [["project", "is", project]], ["last_accessed", "page_type"])
    assert page["page_type"] == "project_overview"
    assert page["last_accessed"] == after["last_accessed_by_current_user"]
    # As a logged-in person, without naming the user.
    _login(sandbox, login="jdoe", password="s3cret").update_project_last_accessed(project)
    assert len(sg.find("Page", [["project", "is", project]])) == 1
    # Bookkeeping: no events, updated_at untouched.
    assert [e for e in log.since() if e["entity"] and e["entity"]["type"] == "Project"] == []
    with pytest.raises(shotgun_api3.Fault):
        sg.update_project_last_accessed({"type": "Project", "id": 999})
