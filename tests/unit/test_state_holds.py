"""Holds in the state file (quarantined, disabled in the config) and the migration of a
schema 1 file, which had neither."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from evframe.handler import Status
from evframe.state import SCHEMA_VERSION, State

URL = "https://site.example"

SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE handlers (
    name TEXT PRIMARY KEY, cursor INTEGER NOT NULL, status TEXT NOT NULL DEFAULT 'active',
    error TEXT, failed_event_id INTEGER, fingerprint TEXT, updated_at REAL NOT NULL
);
CREATE TABLE pending (event_id INTEGER PRIMARY KEY, deadline REAL NOT NULL);
CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT, handler TEXT NOT NULL, event_id INTEGER NOT NULL,
    event TEXT NOT NULL, error TEXT NOT NULL, attempts INTEGER NOT NULL, created_at REAL NOT NULL
);
INSERT INTO meta VALUES ('schema_version', '1'), ('site_url', 'https://site.example'),
    ('read_cursor', '42');
INSERT INTO handlers VALUES ('rollup', 40, 'failed', 'boom', 41, 'fp', 1.0);
"""


def schema_1_file(tmp_path: Path) -> Path:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_1)
    conn.close()
    return path


def test_holds_are_written_replaced_and_shown(tmp_path: Path) -> None:
    with State.open(tmp_path / "s.db", URL) as state:
        state.ensure_handler("a", 5)
        state.set_holds({"b": "handlers b form an ordering cycle"}, ["a"], 7)
        state.commit()
        rows = state.handlers()
        assert rows["b"].cursor == 7 and rows["b"].shown_status == "quarantined"
        assert rows["a"].disabled_in_config and rows["a"].shown_status == "disabled"
        assert rows["a"].status is Status.ACTIVE and rows["a"].cursor == 5
        state.set_holds({}, [], 9)
        state.commit()
        rows = state.handlers()
        assert rows["b"].quarantined is None and rows["b"].shown_status == "active"
        assert not rows["a"].disabled_in_config and rows["b"].cursor == 7


def test_a_daemon_migrates_a_schema_1_file_in_place(tmp_path: Path) -> None:
    path = schema_1_file(tmp_path)
    with State.open(path, URL) as state:
        assert state.read_cursor == 42
        row = state.handlers()["rollup"]
        assert (row.status, row.cursor, row.error, row.quarantined) == ("failed", 40, "boom", None)
        state.set_holds({"rollup": "why"}, [], 0)
        state.commit()
    conn = sqlite3.connect(path)
    version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    conn.close()
    assert version == (str(SCHEMA_VERSION),)
    with State.open(path, URL, lock=False) as state:
        assert state.handlers()["rollup"].quarantined == "why"


def test_a_tool_reads_a_schema_1_file_without_changing_it(tmp_path: Path) -> None:
    path = schema_1_file(tmp_path)
    with State.open(path, None, lock=False, create=False) as state:
        row = state.handlers()["rollup"]
        assert row.quarantined is None and not row.disabled_in_config
        assert row.shown_status == "failed"
    conn = sqlite3.connect(path)
    version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    columns = [r[1] for r in conn.execute("PRAGMA table_info(handlers)")]
    conn.close()
    assert version == ("1",) and "quarantined" not in columns
