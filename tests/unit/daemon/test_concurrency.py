"""Chains running at the same time (executor = "threads"), in memory: order keys,
low-watermark cursors, out-of-order completion across a crash, group pauses."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pytest

from evframe import order, requires
from evframe.daemon.jobs import decode_record, encode_record, entity_key
from evframe.daemon.ledger import Ledger
from evframe.event import ShotgunEvent
from evframe.handler import Status
from evframe.state import SCHEMA_VERSION, State
from evframe.testing import make_record, wait_until

WAIT = 10.0


def add(h: Any, *entities: int) -> list[int]:
    """One Shot change per entry of ``entities`` (the Shot id); returns the ids."""
    ids = []
    for shot in entities:
        h.source.add(
            make_record(
                "Shotgun_Shot_Change",
                id=h.next_id,
                entity={"type": "Shot", "id": shot, "name": f"sh{shot:03d}"},
                attribute_name="code",
            )
        )
        ids.append(h.next_id)
        h.next_id += 1
    return ids


class Spans:
    """What handlers record: (handler, event id, shot, start, end) on one counter."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tick = 0
        self.spans: list[tuple[str, int, int, int, int]] = []

    def now(self) -> int:
        with self.lock:
            self.tick += 1
            return self.tick

    def handler(self, name: str, hold: Any = None) -> Any:
        def handler(ctx: Any, event: Any) -> None:
            start = self.now()
            if hold is not None:
                hold(event)
            end = self.now()
            with self.lock:
                self.spans.append((name, event.id, event.entity_id, start, end))

        handler.__name__ = name
        return handler

    def of(self, name: str) -> list[tuple[int, int, int, int]]:
        return sorted((i, shot, s, e) for n, i, shot, s, e in self.spans if n == name)


def assert_in_order(runs: list[tuple[int, int, int, int]], key: Any) -> None:
    """Runs with the same key never overlap and follow id order."""
    by_key: dict[Any, list[tuple[int, int, int, int]]] = {}
    for run in runs:
        by_key.setdefault(key(run), []).append(run)
    for same in by_key.values():
        same.sort()
        for before, after in itertools.pairwise(same):
            assert before[3] < after[2], f"event {after[0]} started before {before[0]} ended"


@pytest.mark.inline_only
def test_events_of_different_entities_overlap_and_each_entity_keeps_its_order(h):
    h.executor = "threads"
    ids = add(h, *[1, 2, 3, 4] * 5)
    spans = Spans()
    both = threading.Barrier(2, timeout=WAIT)

    def hold(event: Any) -> None:
        # Events 1 (shot 1) and 2 (shot 2) wait for each other: they can only both
        # get past this if they run at the same time.
        if event.id in (1, 2):
            both.wait()

    daemon = h.daemon([spans.handler("rec", hold)], h.config(workers=4), until_caught_up=True)
    daemon.run()
    runs = spans.of("rec")
    assert [r[0] for r in runs] == ids  # each event once
    assert_in_order(runs, key=lambda run: run[1])
    with h.state() as state:
        assert state.handlers()["rec"].cursor == ids[-1]
        assert state.done() == {}


@pytest.mark.inline_only
def test_a_global_handler_gets_every_event_in_id_order_one_at_a_time(h):
    h.executor = "threads"
    ids = add(h, *range(1, 21))
    spans = Spans()
    serial = order("global")(spans.handler("serial"))
    daemon = h.daemon([serial, spans.handler("free")], h.config(workers=4), until_caught_up=True)
    daemon.run()
    runs = spans.of("serial")
    assert [r[0] for r in runs] == ids
    assert_in_order(runs, key=lambda run: "everything")
    assert sorted(r[0] for r in spans.of("free")) == ids


@pytest.mark.inline_only
def test_order_global_in_the_config_orders_the_whole_group(h):
    h.executor = "threads"
    add(h, *range(1, 13))
    spans = Spans()
    first = spans.handler("first")
    second = requires("first")(spans.handler("second"))
    config = h.config({"second": {"order": "global"}}, workers=4)
    h.daemon([first, second], config, until_caught_up=True).run()
    assert_in_order(spans.of("first"), key=lambda run: "everything")


@pytest.mark.inline_only
def test_a_crash_with_an_event_in_flight_redelivers_only_that_event(h, monkeypatch):
    h.executor = "threads"
    add(h, 1, 2, 2, 2, 2)  # event 1 on shot 1 is slow; 2..5 on shot 2 finish first
    release = threading.Event()
    crashed: list[bool] = []
    spans = Spans()
    rec = spans.handler("rec", lambda event: event.id == 1 and release.wait(WAIT))
    daemon = h.daemon([rec], h.config(workers=2))
    real_commit = State.commit

    def commit(self: State) -> None:
        if crashed:
            self.rollback()  # the process died: nothing more reaches the disk
        real_commit(self)

    monkeypatch.setattr(State, "commit", commit)
    original = h.source.read

    def read(after: int, *, upto: int | None = None, limit: int) -> list[dict[str, Any]]:
        # The ledger learns of completions in a commit: once it holds 2..5 done above
        # a watermark kept below event 1, that state is on disk.  Then "crash".
        if not crashed and daemon.ledger.done.get("rec") == {2, 3, 4, 5}:
            crashed.append(True)
            release.set()
            daemon.stop()
        return original(after, upto=upto, limit=limit)

    h.source.read = read
    daemon.run()
    monkeypatch.setattr(State, "commit", real_commit)
    with h.state() as state:
        assert state.handlers()["rec"].cursor == 0
        assert state.done() == {"rec": {2, 3, 4, 5}}
    again = Spans()
    h.executor = "inline"
    h.daemon([again.handler("rec")], h.config(), until_caught_up=True).run()
    assert [r[0] for r in again.of("rec")] == [1]  # only what was not done
    with h.state() as state:
        assert state.handlers()["rec"].cursor == 5
        assert state.done() == {}


@pytest.mark.inline_only
def test_a_group_paused_at_an_event_forgets_its_later_events_in_flight(h):
    h.executor = "threads"
    add(h, 1, 2, 3, 4, 5, 6)
    started = threading.Event()
    spans = Spans()

    def first(ctx: Any, event: Any) -> None:
        if event.id == 3:
            # Let later events of other shots run first, then fail.
            wait_until(lambda: len([s for s in spans.spans if s[1] > 3]) >= 2, WAIT, "later")
            raise RuntimeError("first cannot take event 3")
        spans.handler("first")(ctx, event)
        started.set()

    second = requires("first")(spans.handler("second"))
    other = spans.handler("other")
    h.daemon([first, second, other], h.config(workers=4), until_caught_up=True).run()
    with h.state() as state:
        rows = state.handlers()
        assert (rows["first"].status, rows["first"].cursor) == (Status.FAILED, 2)
        assert (rows["second"].status, rows["second"].cursor) == (Status.FAILED, 2)
        assert rows["other"].cursor == 6
        assert "first" not in state.done() and "second" not in state.done()
        state.set_status("first", Status.ACTIVE)
        state.commit()
    resumed = Spans()
    h.executor = "inline"
    funcs = [resumed.handler("first"), requires("first")(resumed.handler("second")), other]
    h.daemon(funcs, h.config(), until_caught_up=True).run()
    assert [r[0] for r in resumed.of("first")] == [3, 4, 5, 6]  # the group runs 3.. again
    assert [r[0] for r in resumed.of("second")] == [3, 4, 5, 6]


@pytest.mark.inline_only
def test_a_late_event_stays_pending_in_the_state_until_its_chain_is_done(h):
    h.executor = "threads"
    add(h, 1)
    h.skip_ids(0)
    h.source.add(
        make_record("Shotgun_Shot_Change", id=2, entity={"type": "Shot", "id": 2}), hidden=True
    )
    h.next_id = 3
    add(h, 3)
    spans = Spans()
    daemon = h.daemon([spans.handler("rec")], h.config(workers=2))
    original = h.source.read
    reads: list[int] = []

    def read(after: int, *, upto: int | None = None, limit: int) -> list[dict[str, Any]]:
        reads.append(after)
        if len(reads) == 3:
            h.source.reveal(2)
        if any(r[1] == 2 for r in spans.spans) and len(reads) > 50:
            daemon.stop()
        return original(after, upto=upto, limit=limit)

    h.source.read = read
    daemon.run()
    assert sorted(r[0] for r in spans.of("rec")) == [1, 2, 3]
    with h.state() as state:
        assert state.pending() == {}


def test_records_travel_through_json_unchanged():
    record = make_record("Shotgun_Shot_Change", id=7, entity={"type": "Shot", "id": 1})
    assert decode_record(encode_record(record)) == record
    event = ShotgunEvent(record)
    assert entity_key(event) == "Shot:1"
    assert entity_key(ShotgunEvent(make_record("Shotgun_User_Login", id=8))) == (
        "type:Shotgun_User_Login"
    )


def test_the_ledger_keeps_the_watermark_below_what_is_in_flight(tmp_path):
    ledger = Ledger()
    ledger.handed_out(["a"], 5)
    ledger.handed_out(["a"], 6)
    ledger.handed_out(["a"], 7)
    assert ledger.finished("a", 7)
    assert ledger.watermark("a", 7) == 4
    ledger.rewind("a", 6)  # paused at 6: 6 and 7 run again later
    assert not ledger.finished("a", 6)
    assert ledger.done == {}
    assert ledger.finished("a", 5)
    assert ledger.watermark("a", 5) == 5


def test_a_schema_1_state_file_is_upgraded(tmp_path):
    path = tmp_path / "old.db"
    with State.open(path, "memory://events") as state:
        state.ensure_handler("a", 3)
    import sqlite3

    conn = sqlite3.connect(path)
    # What schema 1 was: no done table and no hold columns.
    conn.execute("DROP TABLE done")
    conn.execute("ALTER TABLE handlers DROP COLUMN quarantined")
    conn.execute("ALTER TABLE handlers DROP COLUMN config_disabled")
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with State.open(path, "memory://events") as state:
        assert state.handlers()["a"].cursor == 3
        assert state.done() == {}
        state.set_done("a", [5, 6])
        state.commit()
    with State.open(path, "memory://events") as state:
        assert state.done() == {"a": {5, 6}}
        assert state._meta("schema_version") == str(SCHEMA_VERSION)


@pytest.mark.inline_only
def test_a_pause_seen_while_waiting_for_room_keeps_the_paused_group_off_later_events(h):
    h.executor = "threads"
    ids = add(h, *range(1, 41))  # one shot each: nothing waits on an order key

    def first(ctx: Any, event: Any) -> None:
        if event.id == 1:  # held: an id below the failing one stays in flight
            wait_until(lambda: len(h.got("other")) >= 20, WAIT, "other to go on")
        if event.id == 2:
            raise RuntimeError("first cannot take event 2")
        h.calls.append(("first", event.id))

    # Two workers: at most 8 chains accepted, so the loop waits for room and learns of
    # the failure on event 2 in the middle of handing out a later event.
    h.daemon([first, h.recorder("other")], h.config(workers=2), until_caught_up=True).run()
    with h.state() as state:
        rows = state.handlers()
        assert (rows["first"].status, rows["first"].cursor) == (Status.FAILED, 1)
        assert "first" not in state.done()
        state.set_status("first", Status.ACTIVE)
        state.commit()
    h.calls.clear()
    h.executor = "inline"
    h.daemon([h.recorder("first"), h.recorder("other")], h.config(), until_caught_up=True).run()
    assert h.got("first") == ids[1:]  # nothing it ran while paused counts as done


@pytest.mark.inline_only
def test_celery_without_a_broker_is_a_config_error_naming_the_key(h):
    from evframe.config import ConfigError

    daemon = h.daemon([h.recorder("rec")], h.config(executor="celery"))
    with pytest.raises(ConfigError, match=r"^daemon\.broker: required with executor = \"celery\""):
        daemon.run()
