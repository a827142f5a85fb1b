"""Dispatch throughput: evframe's Processor against evproc 0.2.0 on the same load.

200 handlers over 20 event names (10 wanting each name, every third with a
predicate), 50 000 ShotgunEvents built from realistic EventLogEntry records.
Both processors run the same handler bodies over the same events in one run.
Prints one JSON line.  Needs the ``bench`` extra (``pip install .[bench]``).

    python benchmarks/dispatch.py [--events N] [--repeat R]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import random
import sys
import time
from typing import Any

import evproc

import evframe
from evframe import ShotgunEvent

ENTITY_FIELDS = {
    "Task": ["sg_status_list", "content", "task_assignees", "due_date"],
    "Shot": ["sg_status_list", "description", "sg_cut_in", "sg_cut_out"],
    "Version": ["sg_status_list", "code", "sg_task", "description"],
    "Asset": ["sg_status_list", "code", "description"],
    "PublishedFile": ["sg_status_list", "path", "version_number"],
    "Note": ["content", "subject", "note_links"],
    "Playlist": ["versions", "code"],
}


def event_names() -> list[str]:
    names = []
    for etype in ENTITY_FIELDS:
        names.append(f"Shotgun_{etype}_Change")
        names.append(f"Shotgun_{etype}_New")
    names += [
        "Shotgun_Task_Retirement",
        "Shotgun_Shot_Retirement",
        "Shotgun_User_Login",
        "Shotgun_Version_Revival",
        "Shotgun_Shot_Revival",
        "Shotgun_Asset_Retirement",
    ]
    return names[:20]


def make_records(count: int, names: list[str], rng: random.Random) -> list[dict[str, Any]]:
    base = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.timezone.utc)
    statuses = ["wtg", "rdy", "ip", "rev", "fin", "omt"]
    records = []
    for i in range(count):
        name = rng.choice(names)
        etype = name.split("_")[1]
        field = None
        meta: dict[str, Any] | None
        entity: dict[str, Any] | None = {
            "type": etype,
            "id": rng.randint(1, 5000),
            "name": f"{etype} {i}",
        }
        if name.endswith("_Change"):
            field = rng.choice(ENTITY_FIELDS[etype])
            meta = {
                "type": "attribute_change",
                "attribute_name": field,
                "entity_type": etype,
                "entity_id": entity["id"],
                "field_data_type": "status_list",
                "old_value": rng.choice(statuses),
                "new_value": rng.choice(statuses),
            }
        elif name.endswith("_New"):
            meta = {"type": "new_entity", "entity_type": etype, "entity_id": entity["id"]}
        elif name.endswith("_Retirement"):
            meta = {
                "type": "entity_retirement",
                "entity_type": etype,
                "entity_id": entity["id"],
                "class_name": etype,
                "display_name": entity["name"],
                "retirement_date": "2026-11-21 09:00:00 UTC",
            }
            entity = None
        elif name.endswith("_Revival"):
            meta = {"type": "entity_revival", "entity_type": etype, "entity_id": entity["id"]}
        else:
            meta, entity = None, None
        records.append(
            {
                "type": "EventLogEntry",
                "id": 1000 + i,
                "event_type": name,
                "attribute_name": field,
                "meta": meta,
                "entity": entity,
                "project": {"type": "Project", "id": rng.choice([70, 71]), "name": "Demo"},
                "user": {"type": "HumanUser", "id": 5, "name": "Artist"},
                "created_at": base + dt.timedelta(seconds=i),
                "session_uuid": None,
                "description": "bench",
            }
        )
    return records


def build_handlers(names: list[str]) -> list[tuple[str, str, Any, Any]]:
    """(handler name, event name, body, predicate or None) for 200 handlers."""
    specs = []
    counter = [0]
    for n, ev_name in enumerate(names):
        for k in range(10):

            def body(_ctx: Any, _event: Any, _c: list[int] = counter) -> None:
                _c[0] += 1

            pred = None
            if k % 3 == 0:

                def pred(event: Any) -> bool:
                    return event.project_id == 70

            specs.append((f"h{n:02d}_{k}", ev_name, body, pred))
    return specs


def evframe_processor(specs: list[tuple[str, str, Any, Any]]) -> evframe.Processor:
    proc = evframe.Processor()
    for hname, ev_name, body, pred in specs:

        def handler(ctx: Any, event: Any, _b: Any = body) -> None:
            _b(ctx, event)

        filters = (ev_name, pred) if pred is not None else (ev_name,)
        proc.register(evframe.want(*filters)(handler), hname)
    proc.finalize()
    return proc


def evproc_processor(specs: list[tuple[str, str, Any, Any]]) -> Any:
    proc = evproc.Processor()
    for hname, ev_name, body, pred in specs:

        def handler(ctx: Any, event: Any, _b: Any = body) -> None:
            _b(ctx, event)

        filters = (ev_name, pred) if pred is not None else (ev_name,)
        proc.register(evproc.want(*filters)(handler), hname)
    return proc


def timed(proc: Any, events: list[ShotgunEvent]) -> float:
    process = proc.process
    start = time.perf_counter()
    for event in events:
        process(event)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of R runs each")
    args = parser.parse_args()
    rng = random.Random(20261121)
    names = event_names()
    records = make_records(args.events, names, rng)
    events = [ShotgunEvent(r) for r in records]
    specs = build_handlers(names)
    ours, theirs = evframe_processor(specs), evproc_processor(specs)
    # The two must agree on who handles what before their speeds are compared.
    probe = events[:2000]
    calls_ours, calls_theirs = [], []
    for proc, sink in ((ours, calls_ours), (theirs, calls_theirs)):
        before = specs[0][2].__defaults__[0][0]
        timed(proc, probe)
        sink.append(specs[0][2].__defaults__[0][0] - before)
    if calls_ours != calls_theirs:
        sys.exit(f"processors disagree on handler calls: {calls_ours} vs {calls_theirs}")
    t_ours = min(timed(ours, events) for _ in range(args.repeat))
    t_theirs = min(timed(theirs, events) for _ in range(args.repeat))
    result = {
        "benchmark": "dispatch",
        "events": len(events),
        "handlers": len(specs),
        "handler_calls_per_2000": calls_ours[0],
        "evframe_events_per_s": round(len(events) / t_ours),
        "evproc_events_per_s": round(len(events) / t_theirs),
        "ratio": round(t_theirs / t_ours, 2),
        "target_ratio": 10,
        "python": platform.python_version(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
