"""Demo data (``--seed demo``) and bulk EventLogEntry rows for benchmarks."""

from __future__ import annotations

import datetime as _dt
import itertools
import random
import secrets
from typing import Any

from evframe.sandbox.auth import Actor, ensure_script
from evframe.sandbox.eventlog import NewEvent
from evframe.sandbox.query import WIRE_DATETIME
from evframe.sandbox.store import Store
from evframe.sandbox.values import link
from evframe.sandbox.writes import create

SEED_SCRIPT = "evframe_seed"

_USERS = [
    ("Ann", "Artist", "ann"),
    ("Bob", "Lead", "bob"),
    ("Cara", "Coordinator", "cara"),
    ("Dan", "Supervisor", "dan"),
]
_SHOT_STEPS = ["Layout", "Animation", "Lighting", "Comp"]
_ASSET_STEPS = ["Model", "Rig", "Surface"]
_ASSETS = [
    ("Hero", "Character"),
    ("Sidekick", "Character"),
    ("Sword", "Prop"),
    ("Forest", "Environment"),
]
_SEQUENCES = {"SEQ010": 4, "SEQ020": 3}


def _fields(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"field_name": k, "value": v} for k, v in data.items()]


def _ref(link: dict[str, Any]) -> dict[str, Any]:
    return {"type": link["type"], "id": link["id"]}


def seed_demo(store: Store) -> bool:
    """Create a small demo project, unless the store already has a Project.

    Written through the normal write path, so it leaves the EventLogEntry rows a
    site would have.  Returns whether anything was created.
    """
    with store.lock:
        if store.table("Project"):
            return False
        script = ensure_script(store, SEED_SCRIPT, secrets.token_hex(16))
        actor = Actor(script, f"Script {SEED_SCRIPT}")

        def make(etype: str, data: dict[str, Any]) -> dict[str, Any]:
            rec = create(store, actor, etype, _fields(data))
            return {"type": etype, "id": rec["id"]}

        users = [
            make(
                "HumanUser",
                {"firstname": f, "lastname": la, "login": lo, "email": f"{lo}@example.com"},
            )
            for f, la, lo in _USERS
        ]
        project = make(
            "Project",
            {"name": "Demo Project", "code": "demo", "sg_status": "Active", "users": users},
        )
        make("Group", {"code": "Artists", "users": users[:2]})
        steps = {}
        for order, name in enumerate(_SHOT_STEPS + _ASSET_STEPS):
            etype = "Shot" if name in _SHOT_STEPS else "Asset"
            steps[name] = make(
                "Step",
                {
                    "code": name,
                    "short_name": name[:4].upper(),
                    "entity_type": etype,
                    "list_order": order,
                },
            )
        assets = []
        for code, kind in _ASSETS:
            asset = make(
                "Asset",
                {
                    "code": code,
                    "sg_asset_type": kind,
                    "project": project,
                    "description": f"The {code.lower()}",
                },
            )
            assets.append(asset)
            for i, step in enumerate(_ASSET_STEPS):
                make(
                    "Task",
                    {
                        "content": step,
                        "entity": asset,
                        "step": steps[step],
                        "project": project,
                        "task_assignees": [users[i % len(users)]],
                        "sg_status_list": ["fin", "ip", "wtg"][i],
                    },
                )
        start = _dt.date(2024, 1, 8)
        versions = []
        for seq_code, count in _SEQUENCES.items():
            seq = make("Sequence", {"code": seq_code, "project": project})
            for n in range(1, count + 1):
                code = f"{seq_code[3:]}_{n * 10:04d}"
                cut_in = 1001
                shot = make(
                    "Shot",
                    {
                        "code": code,
                        "sg_sequence": seq,
                        "project": project,
                        "sg_cut_in": cut_in,
                        "sg_cut_out": cut_in + 24 * n + 47,
                        "assets": assets[: 1 + n % len(assets)],
                        "description": f"Shot {code}",
                    },
                )
                for i, step in enumerate(_SHOT_STEPS):
                    task = make(
                        "Task",
                        {
                            "content": step,
                            "entity": shot,
                            "step": steps[step],
                            "project": project,
                            "task_assignees": [users[(n + i) % len(users)]],
                            "start_date": (start + _dt.timedelta(days=7 * i)).isoformat(),
                            "due_date": (start + _dt.timedelta(days=7 * i + 5)).isoformat(),
                        },
                    )
                    if i == 0:
                        versions.append(
                            make(
                                "Version",
                                {
                                    "code": f"{code}_layout_v001",
                                    "entity": shot,
                                    "sg_task": task,
                                    "project": project,
                                    "user": users[n % len(users)],
                                    "sg_path_to_movie": f"/proj/demo/{code}/layout_v001.mov",
                                },
                            )
                        )
        make("Playlist", {"code": "Dailies 2024-01-15", "project": project, "versions": versions})
        make(
            "Note",
            {
                "subject": "Layout notes",
                "content": "Push the camera in a little.",
                "project": project,
                "note_links": versions[:1],
                "user": users[3],
                "addressings_to": users[:1],
            },
        )
        return True


_STATUSES = ["wtg", "rdy", "ip", "rev", "fin"]


def seed_events(
    store: Store,
    count: int,
    *,
    seed: int = 0,
    user: dict[str, Any] | None = None,
) -> range:
    """Insert ``count`` realistic EventLogEntry rows directly (no per-row transaction).

    Rows mimic a busy site: task status changes, new versions (with their
    in-create changes), multi-entity edits, notes, retirements.  They refer to
    the store's entities when it has some, else to made-up ones.  Returns the
    range of ids written.
    """
    rng = random.Random(seed)

    def pool(etype: str, fallback: int) -> list[dict[str, Any]]:
        links = [link(store, etype, i) for i in sorted(store.table(etype))]
        live = [lk for lk in links if lk]
        if live:
            return live
        return [{"type": etype, "id": i, "name": f"{etype} {i}"} for i in range(1, fallback + 1)]

    projects = pool("Project", 1)
    tasks, shots = pool("Task", 200), pool("Shot", 80)
    assets, versions = pool("Asset", 40), pool("Version", 400)
    who = user or {"type": "ApiUser", "id": 1, "name": "evframe"}
    label = f"Script {who.get('name')}" if who["type"] == "ApiUser" else str(who.get("name"))
    start = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(seconds=count)
    tick = itertools.count()
    sessions = [None, None, None, "5a1d49b0-0c69-11e0-a24c-003048d17544"]

    def change(
        entity: dict[str, Any], field: str, dtype: str, old: Any, new: Any
    ) -> tuple[Any, ...]:
        etype = entity["type"]
        meta = {
            "type": "attribute_change",
            "attribute_name": field,
            "entity_type": etype,
            "entity_id": entity["id"],
            "field_data_type": dtype,
        }
        if dtype == "multi_entity":
            meta["added"], meta["removed"] = new, old
            text = f'{label} changed "{field}" on {etype} {entity["name"]}'
        else:
            meta["old_value"], meta["new_value"] = old, new
            text = f'{label} changed "{field}" from "{old}" to "{new}" on {etype} {entity["name"]}'
        return ("Change", field, entity, meta, text)

    def make_row(event_id: int) -> tuple[Any, ...]:
        r = rng.random()
        if r < 0.45:
            t = rng.choice(tasks)
            old, new = rng.sample(_STATUSES, 2)
            kind, attr, entity, meta, text = change(t, "sg_status_list", "status_list", old, new)
        elif r < 0.60:
            v = rng.choice(versions)
            kind, attr, entity = "New", None, v
            meta = {"type": "new_entity", "entity_type": "Version", "entity_id": v["id"]}
            text = f"{label} created new Version {v['name']}"
        elif r < 0.75:
            v = rng.choice(versions)
            kind, attr, entity, meta, text = change(v, "code", "text", None, v["name"])
            meta["in_create"] = True
        elif r < 0.85:
            s = rng.choice(shots)
            a = rng.choice(assets)
            kind, attr, entity, meta, text = change(s, "assets", "multi_entity", [], [a])
        elif r < 0.95:
            s = rng.choice(shots)
            cut = rng.randint(990, 1010)
            kind, attr, entity, meta, text = change(s, "sg_cut_in", "number", cut, cut + 1)
        else:
            v = rng.choice(versions)
            kind, attr, entity = "Retirement", None, v
            meta = {
                "type": "entity_retirement",
                "entity_type": "Version",
                "entity_id": v["id"],
                "class_name": "Version",
                "display_name": v["name"],
                "retirement_date": start.strftime("%Y-%m-%d %H:%M:%S UTC"),
            }
            text = f"{label} retired Version {v['name']}"
        created = start + _dt.timedelta(seconds=next(tick))
        ev = NewEvent(
            event_type=f"Shotgun_{entity['type']}_{kind}",
            attribute_name=attr,
            entity=None if kind == "Retirement" else entity,
            project=rng.choice(projects),
            user=who,
            meta=meta,
            description=text,
            created_at=created.strftime(WIRE_DATETIME),
            session_uuid=rng.choice(sessions),
            entity_type=entity["type"],
            entity_id=entity["id"],
        )
        return ev.row(event_id)

    first = store.insert_event_rows(make_row, count)
    return range(first, first + count)
