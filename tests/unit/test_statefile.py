"""The state file on disk: empty files refused, atomic creation, the lock on the real file."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path
from typing import Any, NoReturn

import pytest

from evframe.state import State, StateError, StateLockedError

SITE = "https://studio.example.com"


def siblings(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- an empty file ------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [{}, {"lock": False, "create": False}], ids=["daemon", "tool"])
def test_an_empty_state_file_is_refused_and_left_as_it_is(
    tmp_path: Path, kwargs: dict[str, Any]
) -> None:
    path = tmp_path / "state.db"
    path.touch()
    with pytest.raises(StateError, match=r"is empty \(0 bytes\)") as info:
        State.open(path, SITE, **kwargs)
    assert info.value.exit_code == 4
    assert str(path) in str(info.value)
    assert path.stat().st_size == 0
    assert [n for n in siblings(tmp_path) if not n.endswith(".lock")] == ["state.db"]
    # The refusal released the lock: the next try meets the same error, not "in use".
    with pytest.raises(StateError, match="is empty"):
        State.open(path, SITE)


def test_an_sqlite_database_without_tables_is_not_taken_for_a_new_state(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 3")  # writes the header: a non-empty, table-less file
    conn.close()
    assert path.stat().st_size > 0
    with pytest.raises(StateError, match=r"not an evframe state file \(tables: none\)"):
        State.open(path, SITE)


# -- creating -------------------------------------------------------------------------


def test_a_new_state_file_appears_only_when_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "sub" / "state.db"
    seen: list[bool] = []
    original = State._check_or_init

    def watch(self: State, site_url: str | None, *, new: bool, migrate: bool = True) -> None:
        if new:
            seen.append(path.exists())
        original(self, site_url, new=new, migrate=migrate)

    monkeypatch.setattr(State, "_check_or_init", watch)
    with State.open(path, SITE) as st:
        assert st.site_url == SITE
        assert st.read_cursor is None
    assert seen == [False]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert siblings(path.parent) == ["state.db", "state.db.lock"]


@pytest.mark.parametrize("where", ["schema", "rename"])
def test_a_crash_while_creating_leaves_no_state_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    path = tmp_path / "state.db"

    def crash(*args: object, **kwargs: object) -> NoReturn:
        raise KeyboardInterrupt  # as abrupt as it gets inside Python

    if where == "schema":

        def half(self: State, site_url: str | None, *, new: bool) -> None:
            self._conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            crash()

        monkeypatch.setattr(State, "_check_or_init", half)
    else:
        monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        State.open(path, SITE)
    assert siblings(tmp_path) == ["state.db.lock"]
    monkeypatch.undo()
    with State.open(path, SITE) as st:
        st.set_read_cursor(9)
    with State.open(path, SITE) as st:
        assert st.read_cursor == 9


# -- symlinks -------------------------------------------------------------------------


@pytest.fixture
def real(tmp_path: Path) -> Path:
    folder = tmp_path / "real"
    folder.mkdir()
    path = folder / "state.db"
    with State.open(path, SITE) as st:
        st.set_read_cursor(5)
    return path


def test_a_symlink_to_the_state_file_meets_the_daemon_lock(tmp_path: Path, real: Path) -> None:
    link = tmp_path / "link.db"
    link.symlink_to(real)
    with State.open(real, SITE):
        with pytest.raises(StateLockedError, match="in use by another evframe daemon") as info:
            State.open(link, SITE)
        assert f"{link} (the file {real})" in str(info.value)
        assert f"pid {os.getpid()}" in str(info.value)
    with State.open(link, SITE) as st:
        assert st.read_cursor == 5
        assert st.path == link
        with pytest.raises(StateLockedError):
            State.open(real, SITE)


def test_a_symlinked_folder_meets_the_daemon_lock(tmp_path: Path, real: Path) -> None:
    folder = tmp_path / "elsewhere"
    folder.symlink_to(real.parent, target_is_directory=True)
    with State.open(folder / "state.db", SITE):
        with pytest.raises(StateLockedError):
            State.open(real, SITE)


def test_a_state_file_reached_through_a_symlink_keeps_its_files_beside_the_real_one(
    tmp_path: Path, real: Path
) -> None:
    link = tmp_path / "link.db"
    link.symlink_to(real)
    with State.open(link, SITE) as st:
        st.set_read_cursor(6)
        st.commit()
        # SQLite's -wal and -shm files, and the lock, belong to the file, not to the link.
        assert not any(p.name.startswith("link.db") and p != link for p in tmp_path.iterdir())
        assert {"state.db-wal", "state.db.lock"} <= set(siblings(real.parent))
    assert link.is_symlink()
    with State.open(real, SITE) as st:
        assert st.read_cursor == 6


def test_a_dangling_symlink_gets_its_file_created(tmp_path: Path) -> None:
    target = tmp_path / "data" / "state.db"
    link = tmp_path / "state.db"
    link.symlink_to(target)
    with State.open(link, SITE) as st:
        st.set_read_cursor(1)
    assert link.is_symlink()
    assert target.is_file()
    with State.open(target, SITE) as st:
        assert st.read_cursor == 1
