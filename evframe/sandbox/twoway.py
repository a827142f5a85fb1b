"""Two-way links: both sides of a pair like ``Shot.assets``/``Asset.shots`` change together.

Adding Asset A to Shot S's ``assets`` adds S to A's ``shots``, and the other
way round, and the EventLogEntry rows show it on both sides: one ``Change``
of ``assets`` on S and one of ``shots`` on A, each with ``added``/``removed``,
as a site writes them.

A pair is two multi-entity fields where one is the ``reverse_of`` the other
(the reverse side is computed from the stored side, so writing it writes the
stored side of each entity it names), or a pair in :data:`PAIRS` where both
sides are stored (then both are written).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evframe.sandbox.auth import Actor
from evframe.sandbox.eventlog import NewEvent
from evframe.sandbox.eventrows import change_events
from evframe.sandbox.query import Record
from evframe.sandbox.schema import FieldDef, Schema
from evframe.sandbox.store import Store
from evframe.sandbox.values import field_value, link

#: Two-way pairs a site has, for schemas that store both sides.
PAIRS = (
    ("Shot.assets", "Asset.shots"),
    ("Sequence.assets", "Asset.sequences"),
    ("Playlist.versions", "Version.playlists"),
    ("Group.users", "HumanUser.groups"),
)


def _field(schema: Schema, dotted: str) -> FieldDef | None:
    etype, _, name = dotted.partition(".")
    edef = schema.types.get(etype)
    return edef.fields.get(name) if edef else None


def partner(schema: Schema, fdef: FieldDef) -> FieldDef | None:
    """The other side of ``fdef`` when it is one side of a two-way pair."""
    if fdef.data_type != "multi_entity":
        return None
    if fdef.reverse_of is not None:
        other = _field(schema, ".".join(fdef.reverse_of))
        return other if other is not None and other.data_type == "multi_entity" else None
    for vtype in fdef.valid_types:
        for other in schema.types[vtype].fields.values() if vtype in schema.types else ():
            if other.reverse_of == (fdef.entity_type, fdef.name):
                return other if other.data_type == "multi_entity" else None
    me = f"{fdef.entity_type}.{fdef.name}"
    for a, b in PAIRS:
        if me in (a, b):
            other = _field(schema, b if me == a else a)
            if other is not None and other.reverse_of is None:
                return other
    return None


def links(store: Store, etype: str, rec: Record, fdef: FieldDef) -> list[dict[str, Any]]:
    """``fdef``'s value on ``rec`` as stored links ``{type, id}`` (computed ones too)."""
    if fdef.reverse_of is None:
        return list(rec.get(fdef.name) or [])
    return [{"type": x["type"], "id": x["id"]} for x in field_value(store, etype, rec, fdef.name)]


def pop_computed(schema: Schema, etype: str, rec: Record) -> None:
    """Drop from ``rec`` the values of reverse fields: they live on the other side."""
    for name in [n for n in rec if n in schema.types[etype].fields]:
        if schema.types[etype].fields[name].reverse_of is not None:
            del rec[name]


def sync(
    store: Store,
    actor: Actor,
    etype: str,
    eid: int,
    before: Mapping[str, list[dict[str, Any]]],
    after: Mapping[str, list[dict[str, Any]]],
    now: str,
) -> list[NewEvent]:
    """Write the other side of each two-way field that went from ``before`` to ``after``.

    Call it once ``etype`` ``eid`` itself is stored; returns the other side's
    ``Change`` rows (the entity's own come from the caller).
    """
    schema = store.schema
    me = {"type": etype, "id": eid}
    touched: list[tuple[FieldDef, str, int, bool]] = []
    for name, targets in after.items():
        other = partner(schema, schema.types[etype].fields[name])
        if other is None:
            continue
        old = {(x["type"], x["id"]) for x in before.get(name, ())}
        new = {(x["type"], x["id"]) for x in targets}
        for (t, i), added in [(k, True) for k in new - old] + [(k, False) for k in old - new]:
            rec = store.get(t, i)
            if rec is None or store.is_retired(t, i) or t != other.entity_type:
                continue
            if other.reverse_of is None:
                current = [x for x in rec.get(other.name) or [] if x != me]
                store.put(t, {**rec, other.name: [*current, me] if added else current}, False)
            touched.append((other, t, i, added))
    events: list[NewEvent] = []
    me_link = link(store, etype, eid) or me
    for other, t, i, added in sorted(touched, key=lambda x: (x[1], x[2])):
        rec = store.get(t, i)
        assert rec is not None
        now_value = field_value(store, t, rec, other.name)
        if added:
            was = [x for x in now_value if (x["type"], x["id"]) != (etype, eid)]
        else:
            was = [*now_value, me_link]
        events.extend(change_events(store, actor, t, rec, [(other, was, now_value)], now, False))
    return events
