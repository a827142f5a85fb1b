"""Follows and recent projects: ``follow``, ``unfollow``, ``followers``, ``following``
and ``update_project_last_accessed``.

Follows are kept in their own table (a site writes no EventLogEntry rows for
them).  ``Project.last_accessed_by_current_user`` is one stored value per
project, the time of the last access by anyone: the sandbox does not keep a
value per user.  Each access also stamps the project's overview ``Page``
(``last_accessed``), created on the first access as a site creates it with
the project.
"""

from __future__ import annotations

from typing import Any

from evframe.sandbox.auth import Actor
from evframe.sandbox.errors import ApiError
from evframe.sandbox.lookup import find, get
from evframe.sandbox.query import now_wire
from evframe.sandbox.store import Store

_CREATE_SQL = """
CREATE TABLE IF NOT EXISTS follows (
    user_id INTEGER NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id INTEGER NOT NULL,
    PRIMARY KEY (user_id, entity_type, entity_id)
)
"""


def _ref(value: Any, what: str) -> tuple[str, int]:
    if not (
        isinstance(value, dict)
        and isinstance(value.get("type"), str)
        and type(value.get("id")) is int
    ):
        raise ApiError(f"{what}: expected an entity {{type, id}}, got {value!r}.")
    return value["type"], value["id"]


def _user(store: Store, value: Any) -> int:
    etype, eid = _ref(value, "user")
    if etype != "HumanUser":
        raise ApiError(f"user: only a HumanUser follows entities, not a {etype}.")
    get(store, "HumanUser", eid, ["id"])
    return eid


def _params(params: Any) -> dict[str, Any]:
    if not isinstance(params, dict):
        raise ApiError("Bad request: expected an object of parameters.")
    return params


def follow(store: Store, actor: Actor, params: Any) -> dict[str, Any]:
    """Make ``user`` follow ``entity`` (again is fine)."""
    p = _params(params)
    uid = _user(store, p.get("user"))
    etype, eid = _ref(p.get("entity"), "entity")
    get(store, store.schema.entity(etype).name, eid, ["id"])
    store.conn.execute(_CREATE_SQL)
    store.conn.execute("INSERT OR IGNORE INTO follows VALUES (?, ?, ?)", (uid, etype, eid))
    return {"followed": True, "user": p["user"], "entity": p["entity"]}


def unfollow(store: Store, actor: Actor, params: Any) -> dict[str, Any]:
    """Stop ``user`` following ``entity`` (nothing happens if it did not)."""
    p = _params(params)
    uid = _user(store, p.get("user"))
    etype, eid = _ref(p.get("entity"), "entity")
    store.conn.execute(_CREATE_SQL)
    store.conn.execute(
        "DELETE FROM follows WHERE user_id = ? AND entity_type = ? AND entity_id = ?",
        (uid, etype, eid),
    )
    return {"unfollowed": True, "user": p["user"], "entity": p["entity"]}


def followers(store: Store, actor: Actor, params: Any) -> list[dict[str, Any]]:
    """The live users following ``entity``, as a site lists them."""
    etype, eid = _ref(_params(params).get("entity"), "entity")
    store.conn.execute(_CREATE_SQL)
    ids = [
        r[0]
        for r in store.conn.execute(
            "SELECT user_id FROM follows WHERE entity_type = ? AND entity_id = ?", (etype, eid)
        )
    ]
    if not ids:
        return []
    rows = find(store, "HumanUser", [["id", "in", *ids]], ["name", "sg_status_list"])
    return [
        {
            "type": "HumanUser",
            "id": r["id"],
            "name": r.get("name"),
            "status": r.get("sg_status_list"),
            "valid": "valid",
        }
        for r in rows
    ]


def following(store: Store, actor: Actor, params: Any) -> list[dict[str, Any]]:
    """The live entities ``user`` follows, optionally of one ``project`` and ``entity_type``."""
    p = _params(params)
    uid = _user(store, p.get("user"))
    only_type = p.get("entity_type")
    project = p.get("project")
    if project is not None:
        _ref(project, "project")
    store.conn.execute(_CREATE_SQL)
    by_type: dict[str, list[int]] = {}
    for etype, eid in store.conn.execute(
        "SELECT entity_type, entity_id FROM follows WHERE user_id = ? ORDER BY rowid", (uid,)
    ):
        if only_type is None or etype == only_type:
            by_type.setdefault(etype, []).append(eid)
    out: list[dict[str, Any]] = []
    for etype, ids in by_type.items():
        if etype not in store.schema.types:
            continue
        filters: list[Any] = [["id", "in", *ids]]
        if project is not None:
            if "project" not in store.schema.types[etype].fields:
                continue
            filters.append(["project", "is", {"type": "Project", "id": project["id"]}])
        out.extend({"type": etype, "id": r["id"]} for r in find(store, etype, filters, ["id"]))
    return out


def update_project_last_accessed(store: Store, actor: Actor, params: Any) -> dict[str, Any]:
    """Stamp ``Project.last_accessed_by_current_user`` and the project's overview Page."""
    p = _params(params)
    pid = get(store, "Project", p.get("project_id"), ["id"])["id"]
    user_id = p.get("user_id")
    if user_id is not None:
        get(store, "HumanUser", user_id, ["id"])
    now = now_wire()
    with store.transaction():
        project = store.get("Project", pid)
        assert project is not None
        # Bookkeeping, not an edit: a site logs no event and leaves updated_at alone.
        store.put("Project", {**project, "last_accessed_by_current_user": now}, False)
        link = {"type": "Project", "id": pid}
        pages = find(
            store,
            "Page",
            [["project", "is", link], ["page_type", "is", "project_overview"]],
            ["id"],
        )
        if pages:
            page = dict(store.get("Page", pages[0]["id"]) or {})
        else:
            page = {
                "id": store.new_id("Page"),
                "name": f"{project.get('name')} Overview",
                "project": link,
                "page_type": "project_overview",
                "entity_type": "Project",
                "created_at": now,
                "updated_at": now,
                "created_by": {"type": actor.user["type"], "id": actor.user["id"]},
                "updated_by": {"type": actor.user["type"], "id": actor.user["id"]},
            }
        store.put("Page", {**page, "last_accessed": now}, False)
    return {"type": "Project", "id": pid, "last_accessed_by_current_user": now}
