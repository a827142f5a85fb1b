"""Tests for evframe.state: opening and refusing files, the lock, transactions,
handlers, pending ids, dead letters and the id-range helpers."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from evframe.handler import Status
from evframe.state import (
    SCHEMA_VERSION,
    State,
    StateError,
    StateLockedError,
    dumps,
    format_id_ranges,
    id_ranges,
    normalize_url,
)

SITE = "https://studio.example.com"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "evframe-state.db"


@pytest.fixture
def state(path: Path) -> Iterator[State]:
    st = State.open(path, SITE)
    try:
        yield st
    finally:
        st.close()


def reader(path: Path) -> State:
    """A second connection on the same file, as the command-line tools open it."""
    return State.open(path, SITE, lock=False, create=False)


def make_state_file(path: Path, meta: dict[str, str]) -> None:
    """An SQLite file with a ``meta`` table holding ``meta``."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        conn.commit()
    finally:
        conn.close()


# -- opening ----------------------------------------------------------


def test_create_then_reopen_keeps_the_cursor(path: Path) -> None:
    with State.open(path, SITE) as st:
        assert path.is_file()
        assert st.path == path
        assert st.site_url == SITE
        assert st.read_cursor is None
        st.set_read_cursor(42)
    with State.open(path, SITE) as st:
        assert st.read_cursor == 42
        st.set_read_cursor(43)
    # Closing commits what is pending.
    with State.open(path, SITE) as st:
        assert st.read_cursor == 43


def test_new_file_is_private(path: Path) -> None:
    with State.open(path, SITE):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_existing_file_is_made_private(path: Path) -> None:
    with State.open(path, SITE):
        pass
    path.chmod(0o644)
    with State.open(path, SITE):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_reopen_without_url_and_adopting_a_url(path: Path) -> None:
    with State.open(path, None) as st:
        assert st.site_url is None
    with State.open(path, None) as st:
        assert st.site_url is None
    # The first run that knows the site stamps it on the file.
    with State.open(path, "HTTPS://Studio.Example.com/") as st:
        assert st.site_url == SITE
    with State.open(path, None) as st:
        assert st.site_url == SITE


def test_same_site_spelled_differently_is_accepted(path: Path) -> None:
    with State.open(path, SITE):
        pass
    with State.open(path, "HTTPS://STUDIO.example.com/") as st:
        assert st.site_url == SITE


def test_another_sites_state_is_refused(path: Path) -> None:
    with State.open(path, SITE):
        pass
    with pytest.raises(StateError, match="belongs to site") as info:
        State.open(path, "https://other.example.com")
    assert str(path) in str(info.value)
    assert "https://other.example.com" in str(info.value)
    # The refusal released the lock.
    with State.open(path, SITE):
        pass


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="is a directory") as info:
        State.open(tmp_path, SITE)
    assert str(tmp_path) in str(info.value)


def test_garbage_file_is_refused(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database, just some text\n" * 200)
    with pytest.raises(StateError, match="cannot be read") as info:
        State.open(path, SITE)
    assert str(path) in str(info.value)
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)
    # The file is left as it was and the lock is free again.
    assert path.read_bytes().startswith(b"this is not a database")
    with pytest.raises(StateError):
        State.open(path, SITE)


def test_other_sqlite_database_is_refused(path: Path) -> None:
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE shots (id INTEGER)")
    conn.execute("CREATE TABLE assets (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(StateError, match="not an evframe state file") as info:
        State.open(path, SITE)
    assert str(path) in str(info.value)
    assert "assets, shots" in str(info.value)


def test_newer_schema_is_refused(path: Path) -> None:
    path.parent.mkdir(parents=True)
    make_state_file(path, {"schema_version": str(SCHEMA_VERSION + 1)})
    with pytest.raises(StateError, match="newer evframe") as info:
        State.open(path, SITE)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("meta", [{"schema_version": "one"}, {"schema_version": "0"}, {}])
def test_broken_schema_version_is_refused(path: Path, meta: dict[str, str]) -> None:
    path.parent.mkdir(parents=True)
    make_state_file(path, meta)
    with pytest.raises(StateError, match="broken schema version") as info:
        State.open(path, SITE)
    assert str(path) in str(info.value)


def open_files_under(folder: Path) -> list[str]:
    """The files under ``folder`` this process holds open."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(str(folder)):
                found.append(target)
    return sorted(found)


needs_proc = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="needs /proc to list open files"
)


@needs_proc
def test_refused_files_are_not_left_open(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database" * 500)
    newer = tmp_path / "newer.db"
    make_state_file(newer, {"schema_version": str(SCHEMA_VERSION + 1)})
    errors = []
    for refused in (garbage, newer):
        with pytest.raises(StateError) as info:
            State.open(refused, SITE)
        errors.append(info.value)  # keeps the traceback (and its frames) alive
    with State.open(tmp_path / "ok.db", SITE):
        # A tool refused alongside the daemon leaves only the daemon's files open.
        daemons = open_files_under(tmp_path)
        with pytest.raises(StateError):
            State.open(tmp_path / "ok.db", "https://other.example.com", lock=False)
        assert open_files_under(tmp_path) == daemons
    assert len(errors) == 2
    assert open_files_under(tmp_path) == []


def test_file_sqlite_cannot_open_releases_the_lock(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(sqlite3, "connect", refuse)
    with pytest.raises(StateError, match="unable to open database file") as info:
        State.open(path, SITE)
    assert str(path) in str(info.value)
    # Nothing half made is left behind, not even the temporary file it was built in.
    assert [p.name for p in path.parent.iterdir()] == [path.name + ".lock"]
    monkeypatch.undo()
    with State.open(path, SITE) as st:
        assert st.site_url == SITE


def test_other_sqlite_database_is_left_as_it_was(path: Path) -> None:
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE shots (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(StateError):
        State.open(path, SITE)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        conn.close()
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name)) == [
        path.name,
        path.name + ".lock",
    ]


def test_state_file_is_in_wal_mode(path: Path) -> None:
    with State.open(path, SITE):
        pass
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_create_false_on_a_missing_file(path: Path) -> None:
    with pytest.raises(StateError, match="does not exist") as info:
        State.open(path, SITE, create=False)
    assert str(path) in str(info.value)
    assert not path.exists()
    assert not path.parent.exists()


def test_create_false_opens_an_existing_file(path: Path) -> None:
    with State.open(path, SITE) as st:
        st.set_read_cursor(7)
    with State.open(path, SITE, create=False) as st:
        assert st.read_cursor == 7


# -- the lock ---------------------------------------------------------


def test_second_daemon_is_refused_with_the_holders_pid(path: Path, state: State) -> None:
    with pytest.raises(StateLockedError, match="in use by another evframe daemon") as info:
        State.open(path, SITE)
    assert str(path) in str(info.value)
    assert f"(pid {os.getpid()})" in str(info.value)
    assert isinstance(info.value, StateError)


def test_lock_false_opens_alongside_the_daemon(path: Path, state: State) -> None:
    state.set_read_cursor(5)
    state.commit()
    with reader(path) as other:
        assert other.read_cursor == 5


def test_lock_is_released_on_close(path: Path) -> None:
    first = State.open(path, SITE)
    first.close()
    second = State.open(path, SITE)
    second.close()


def test_lock_is_released_by_the_context_manager(path: Path) -> None:
    with State.open(path, SITE):
        with pytest.raises(StateLockedError):
            State.open(path, SITE)
    with State.open(path, SITE):
        pass


# -- transactions -----------------------------------------------------


def test_writes_are_invisible_elsewhere_until_commit(path: Path, state: State) -> None:
    state.ensure_handler("publish", 10)
    state.set_read_cursor(11)
    with reader(path) as other:
        assert (other.read_cursor, other.handlers()) == (None, {})
        state.commit()
        assert other.read_cursor == 11
        assert set(other.handlers()) == {"publish"}


def test_rollback_forgets_uncommitted_writes(state: State) -> None:
    state.set_read_cursor(1)
    state.commit()
    state.set_read_cursor(2)
    state.ensure_handler("publish", 2)
    state.add_pending([3], deadline=100.0)
    state.rollback()
    assert state.read_cursor == 1
    assert state.handlers() == {}
    assert state.pending() == {}
    # Nothing open: both are harmless.
    state.rollback()
    state.commit()
    assert state.read_cursor == 1


def test_commit_updates_last_commit(state: State) -> None:
    before = state.last_commit
    state.set_read_cursor(1)
    state.commit()
    assert state.last_commit >= before


def test_changed_elsewhere(path: Path, state: State) -> None:
    assert state.changed_elsewhere() is False
    state.set_read_cursor(1)
    state.commit()
    # Its own commits do not count.
    assert state.changed_elsewhere() is False
    with reader(path) as other:
        other.ensure_handler("publish", 1)
        assert state.changed_elsewhere() is False  # not committed yet
        other.commit()
    assert state.changed_elsewhere() is True
    assert state.changed_elsewhere() is False


# -- handlers ---------------------------------------------------------


def test_ensure_handler_is_idempotent(state: State) -> None:
    row = state.ensure_handler("publish", 10)
    assert (row.name, row.cursor, row.status) == ("publish", 10, Status.ACTIVE)
    assert row.error is None
    assert row.failed_event_id is None
    assert row.fingerprint is None
    state.set_cursor(["publish"], 20)
    again = state.ensure_handler("publish", 99)
    assert again.cursor == 20
    assert list(state.handlers()) == ["publish"]


def test_handlers_and_handler(state: State) -> None:
    state.ensure_handler("zeta", 1)
    state.ensure_handler("alpha", 2)
    assert list(state.handlers()) == ["alpha", "zeta"]
    found = state.handler("zeta")
    assert found is not None
    assert found.cursor == 1
    assert state.handler("missing") is None


def test_set_cursor_moves_only_the_named_handlers(state: State) -> None:
    for name in ("a", "b", "c"):
        state.ensure_handler(name, 1)
    state.set_cursor(["a", "c", "unknown"], 50)
    cursors = {name: h.cursor for name, h in state.handlers().items()}
    assert cursors == {"a": 50, "b": 1, "c": 50}


def test_set_status_failed_then_active_clears_the_error(state: State) -> None:
    state.ensure_handler("publish", 1)
    state.set_status("publish", Status.FAILED, error="boom", event_id=7)
    row = state.handler("publish")
    assert row is not None
    assert (row.status, row.error, row.failed_event_id) == (Status.FAILED, "boom", 7)
    state.set_status("publish", Status.ACTIVE, cursor=8)
    row = state.handler("publish")
    assert row is not None
    assert (row.status, row.error, row.failed_event_id, row.cursor) == (
        Status.ACTIVE,
        None,
        None,
        8,
    )


def test_disabling_a_failed_handler_keeps_its_error(state: State) -> None:
    state.ensure_handler("publish", 1)
    state.set_status("publish", Status.FAILED, error="boom", event_id=7)
    state.set_status("publish", Status.DISABLED)
    row = state.handler("publish")
    assert row is not None
    assert (row.status, row.error, row.failed_event_id, row.cursor) == (
        Status.DISABLED,
        "boom",
        7,
        1,
    )


def test_disabling_with_an_error_replaces_it(state: State) -> None:
    state.ensure_handler("publish", 1)
    state.set_status("publish", Status.FAILED, error="boom", event_id=7)
    state.set_status("publish", Status.DISABLED, error="by hand", cursor=3)
    row = state.handler("publish")
    assert row is not None
    assert (row.status, row.error, row.failed_event_id, row.cursor) == (
        Status.DISABLED,
        "by hand",
        None,
        3,
    )


def test_set_status_unknown_status(state: State) -> None:
    state.ensure_handler("publish", 1)
    with pytest.raises(ValueError, match="unknown handler status 'paused'"):
        state.set_status("publish", "paused")


def test_set_status_unknown_handler(state: State) -> None:
    with pytest.raises(KeyError, match="ghost"):
        state.set_status("ghost", Status.DISABLED)


def test_set_fingerprint(path: Path, state: State) -> None:
    state.ensure_handler("publish", 1)
    state.set_fingerprint("publish", "abc123")
    state.commit()
    with reader(path) as other:
        row = other.handler("publish")
    assert row is not None
    assert row.fingerprint == "abc123"


# -- pending ids ------------------------------------------------------


def test_pending_add_and_remove(path: Path, state: State) -> None:
    assert state.pending() == {}
    state.add_pending([5, 3, 4], deadline=100.0)
    state.add_pending([4, 9], deadline=200.0)  # 4 keeps its first deadline
    assert state.pending() == {3: 100.0, 4: 100.0, 5: 100.0, 9: 200.0}
    assert list(state.pending()) == [3, 4, 5, 9]
    state.remove_pending([4, 5, 77])
    assert state.pending() == {3: 100.0, 9: 200.0}
    state.commit()
    with reader(path) as other:
        assert other.pending() == {3: 100.0, 9: 200.0}


# -- dead letters -----------------------------------------------------


def test_dead_letters_newest_first_per_handler_and_limit(state: State) -> None:
    assert state.dead_letters() == []
    assert state.count_dead_letters() == 0
    state.add_dead_letter("a", 1, {"id": 1}, "err 1", 3)
    state.add_dead_letter("b", 2, {"id": 2}, "err 2", 1)
    state.add_dead_letter("a", 3, {"id": 3}, "err 3", 2)
    assert [d.event_id for d in state.dead_letters()] == [3, 2, 1]
    assert [d.event_id for d in state.dead_letters("a")] == [3, 1]
    assert [d.event_id for d in state.dead_letters("b")] == [2]
    assert state.dead_letters("c") == []
    assert [d.event_id for d in state.dead_letters(limit=2)] == [3, 2]
    assert [d.event_id for d in state.dead_letters("a", limit=1)] == [3]
    assert state.count_dead_letters() == 3
    newest = state.dead_letters()[0]
    assert (newest.handler, newest.event, newest.error, newest.attempts) == (
        "a",
        {"id": 3},
        "err 3",
        2,
    )
    assert isinstance(newest.created_at, float)


def test_dead_letter_of_a_record_with_a_datetime(state: State) -> None:
    when = dt.datetime(2024, 5, 17, 9, 30, 5, tzinfo=dt.timezone.utc)
    event = {
        "id": 12,
        "created_at": when,
        "meta": {"day": dt.date(2024, 5, 17)},
        "odd": frozenset({1}),
    }
    state.add_dead_letter("publish", 12, event, "boom", 1)
    (letter,) = state.dead_letters("publish")
    assert letter.event == {
        "id": 12,
        "created_at": "2024-05-17T09:30:05+00:00",
        "meta": {"day": "2024-05-17"},
        "odd": "frozenset({1})",
    }


def test_dumps_is_sorted_json() -> None:
    assert dumps({"b": 1, "a": dt.datetime(2024, 1, 2, 3, 4, 5)}) == (
        '{"a": "2024-01-02T03:04:05", "b": 1}'
    )


# -- helpers ----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://studio.example.com", "https://studio.example.com"),
        ("HTTPS://Studio.Example.COM/", "https://studio.example.com"),
        ("  https://studio.example.com//  ", "https://studio.example.com"),
        ("https://Studio.example.com/Some/Path/", "https://studio.example.com/Some/Path"),
        ("Studio.Example.com/", "Studio.Example.com"),
    ],
)
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        ([], []),
        ([5], [(5, 5)]),
        ([3, 1, 2], [(1, 3)]),
        ([9, 3, 7, 8, 1], [(1, 1), (3, 3), (7, 9)]),
        ({10, 11, 13}, [(10, 11), (13, 13)]),
    ],
)
def test_id_ranges(ids: list[int], expected: list[tuple[int, int]]) -> None:
    assert id_ranges(ids) == expected


def test_format_id_ranges() -> None:
    assert format_id_ranges([]) == ""
    assert format_id_ranges([(3, 3), (7, 9)]) == "3, 7..9"


def test_format_id_ranges_limit_and_more() -> None:
    ranges = [(i * 10, i * 10) for i in range(25)]
    text = format_id_ranges(ranges)
    assert text.startswith("0, 10, 20")
    assert text.endswith(", 190, ... (5 more)")
    assert format_id_ranges(ranges, limit=2) == "0, 10, ... (23 more)"
    assert format_id_ranges(ranges[:3], limit=3) == "0, 10, 20"
