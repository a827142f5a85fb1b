"""The daemon's state: one SQLite file (WAL, mode 0600).

It holds the read cursor, a cursor per handler, the ids still pending (seen
missing between two fetched events), each handler's status with its last
error, and dead letters.  Writes are grouped: they stay in one open
transaction until :meth:`State.commit`, so a crash replays at most what was
done since the last commit.  A state file that cannot be read is an error,
never a silent reset; a second daemon on one state file is refused.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from evframe.handler import Status
from evframe.statefile import (
    StateError,
    StateLockedError,
    create_atomically,
    real_path,
    refuse_empty,
    take_lock,
)

__all__ = [
    "DeadLetter",
    "HandlerState",
    "State",
    "StateError",
    "StateLockedError",
    "format_id_ranges",
    "id_ranges",
]

# 2: why a handler is held (quarantined, disabled in config), and the done table
#    (events done above a handler's cursor, under concurrent executors).
SCHEMA_VERSION = 2

_DONE = """
CREATE TABLE IF NOT EXISTS done (
    handler TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    PRIMARY KEY (handler, event_id)
) WITHOUT ROWID;
"""

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS handlers (
    name TEXT PRIMARY KEY,
    cursor INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'active',
    error TEXT,
    failed_event_id INTEGER,
    fingerprint TEXT,
    updated_at REAL NOT NULL,
    quarantined TEXT,
    config_disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS pending (event_id INTEGER PRIMARY KEY, deadline REAL NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    handler TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    event TEXT NOT NULL,
    error TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_handler ON dead_letters (handler, event_id);
"""
    + _DONE
)

# What brings a file written with schema N-1 to schema N.  Each step only adds, so
# a file is migrated in place, in one transaction, when a daemon opens it.
_MIGRATIONS: dict[int, str] = {
    # Why the daemon holds a handler whatever its status: quarantined (the reason)
    # or disabled in the config; and the events done above a handler's cursor.
    2: """
ALTER TABLE handlers ADD COLUMN quarantined TEXT;
ALTER TABLE handlers ADD COLUMN config_disabled INTEGER NOT NULL DEFAULT 0;
"""
    + _DONE,
}


@dataclass(frozen=True)
class HandlerState:
    """One handler's row: where it is and whether it runs."""

    name: str
    cursor: int
    status: Status
    error: str | None
    failed_event_id: int | None
    fingerprint: str | None
    updated_at: float
    quarantined: str | None = None
    disabled_in_config: bool = False

    @property
    def shown_status(self) -> str:
        """The status as the daemon applies it: ``quarantined`` or ``disabled`` when it
        holds the handler whatever its stored status, else the stored status."""
        if self.quarantined:
            return "quarantined"
        if self.disabled_in_config:
            return str(Status.DISABLED)
        return str(self.status)


@dataclass(frozen=True)
class DeadLetter:
    """An event a handler could not process (``on_error = "skip"``)."""

    id: int
    handler: str
    event_id: int
    event: dict[str, Any]
    error: str
    attempts: int
    created_at: float


def normalize_url(url: str) -> str:
    """A site URL as compared between runs: lower-case scheme and host, no trailing slash."""
    url = url.strip().rstrip("/")
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}"


def id_ranges(ids: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted ids as inclusive (first, last) runs: pending ids are shown this way."""
    out: list[tuple[int, int]] = []
    for i in sorted(ids):
        if out and out[-1][1] == i - 1:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


def format_id_ranges(ranges: Sequence[tuple[int, int]], limit: int = 20) -> str:
    """``3, 7..9, ...`` for at most ``limit`` runs."""
    parts = [str(a) if a == b else f"{a}..{b}" for a, b in ranges[:limit]]
    more = f", ... ({len(ranges) - limit} more)" if len(ranges) > limit else ""
    return ", ".join(parts) + more


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return repr(value)


def dumps(value: Any) -> str:
    """JSON for an event record (datetimes as ISO strings)."""
    return json.dumps(value, default=_json_default, sort_keys=True)


class State:
    """An open state file.  Use :meth:`open`."""

    def __init__(self, conn: sqlite3.Connection, path: Path, lock: IO[str] | None) -> None:
        self._conn = conn
        self.path = path
        self._lock = lock
        self._in_tx = False
        self.last_commit = time.monotonic()
        self.schema = SCHEMA_VERSION

    # -- opening ------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        site_url: str | None,
        *,
        lock: bool = True,
        create: bool = True,
    ) -> State:
        """Open (or create) the state file at ``path`` for ``site_url``.

        ``lock`` takes the daemon lock (refusing a second daemon); tools that
        only read or change a handler's status pass ``lock=False``.  Raises
        :class:`StateError` for a file that is not a usable state file (an empty
        one included: it is never set up afresh).  A new file is created whole
        (:func:`evframe.statefile.create_atomically`).
        """
        path = Path(path)
        # The lock and the connection use the file itself, whatever symlink leads to it.
        real = real_path(path)
        if not create and not real.exists():
            raise StateError(f"state file {path} does not exist (has the daemon run yet?)")
        if real.is_dir():
            raise StateError(f"state file {path} is a directory")
        lock_file = take_lock(path, real) if lock else None
        conn: sqlite3.Connection | None = None
        try:
            # Looked at under the lock: a daemon that just stopped may have created it.
            exists = real.exists()
            if exists:
                refuse_empty(path, real)
            try:
                if not exists:
                    create_atomically(
                        real, lambda c: cls(c, path, None)._check_or_init(site_url, new=True)
                    )
                conn = sqlite3.connect(
                    real, isolation_level=None, timeout=10.0, check_same_thread=False
                )
                state = cls(conn, path, lock_file)
                # Checked before switching to WAL, so a refused file is left as it was.
                state._check_or_init(site_url, new=False, migrate=lock)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.DatabaseError as exc:
                raise StateError(
                    f"state file {path} cannot be read ({exc}); it is not an evframe state "
                    "file or it is damaged. Move it aside to start afresh (all handler "
                    "cursors are then lost), or restore it from a backup."
                ) from exc
            with contextlib.suppress(OSError):
                os.chmod(real, 0o600)
            return state
        except BaseException:
            if conn is not None:
                conn.close()
            if lock_file is not None:
                lock_file.close()
            raise

    def _check_or_init(self, site_url: str | None, *, new: bool, migrate: bool = True) -> None:
        conn = self._conn
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" not in tables:
            if tables or not new:
                listed = ", ".join(sorted(tables)) or "none"
                raise StateError(
                    f"state file {self.path} is an SQLite database but not an evframe state "
                    f"file (tables: {listed})"
                )
            conn.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
            now = str(time.time())
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("schema_version", str(SCHEMA_VERSION)), ("created_at", now)],
            )
            if site_url:
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('site_url', ?)",
                    (normalize_url(site_url),),
                )
            return
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        try:
            version = int(meta.get("schema_version", "0"))
        except ValueError:
            version = -1
        if version > SCHEMA_VERSION:
            raise StateError(
                f"state file {self.path} was written by a newer evframe (schema {version}; "
                f"this evframe reads schema {SCHEMA_VERSION}): upgrade evframe"
            )
        if version < 1:
            raise StateError(f"state file {self.path} has a broken schema version {version!r}")
        if version < SCHEMA_VERSION:
            # The daemon migrates; a tool reading without the lock reads the old schema.
            if migrate:
                self._migrate(version)
            else:
                self.schema = version
        stored = meta.get("site_url")
        if site_url and stored and stored != normalize_url(site_url):
            raise StateError(
                f"state file {self.path} belongs to site {stored}, not {normalize_url(site_url)}; "
                "use a separate state file per site (daemon.state in the config)"
            )
        if site_url and not stored:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('site_url', ?)", (normalize_url(site_url),)
            )

    def _migrate(self, version: int) -> None:
        conn = self._conn
        steps = "".join(_MIGRATIONS[v] for v in range(version + 1, SCHEMA_VERSION + 1))
        conn.executescript(
            "BEGIN IMMEDIATE;"
            + steps
            + f"UPDATE meta SET value = '{SCHEMA_VERSION}' WHERE key = 'schema_version';COMMIT;"
        )

    def close(self) -> None:
        """Commit what is pending and release the file and the lock."""
        try:
            self.commit()
        finally:
            self._conn.close()
            if self._lock is not None:
                self._lock.close()
                self._lock = None

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions -------------------------------------------------

    def _write(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        if not self._in_tx:
            self._conn.execute("BEGIN IMMEDIATE")
            self._in_tx = True
        return self._conn.execute(sql, tuple(params))

    @contextlib.contextmanager
    def _batch(self) -> Iterator[sqlite3.Connection]:
        if not self._in_tx:
            self._conn.execute("BEGIN IMMEDIATE")
            self._in_tx = True
        yield self._conn

    def commit(self) -> None:
        """Make every write so far durable."""
        if self._in_tx:
            self._conn.execute("COMMIT")
            self._in_tx = False
        self.last_commit = time.monotonic()

    def rollback(self) -> None:
        """Forget the writes since the last commit."""
        if self._in_tx:
            self._conn.execute("ROLLBACK")
            self._in_tx = False

    def changed_elsewhere(self) -> bool:
        """True when another connection (``evframe handlers resume``...) committed
        since this was last asked."""
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        previous = getattr(self, "_data_version", version)
        self._data_version = version
        return bool(version != previous)

    # -- cursors ------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    @property
    def site_url(self) -> str | None:
        """The site this state belongs to."""
        return self._meta("site_url")

    @property
    def read_cursor(self) -> int | None:
        """The highest event id read from the site (None before the first run)."""
        value = self._meta("read_cursor")
        return int(value) if value is not None else None

    def set_read_cursor(self, event_id: int) -> None:
        """Move the read cursor."""
        self._write(
            "INSERT INTO meta (key, value) VALUES ('read_cursor', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(event_id),),
        )

    def authenticated(self, script_name: str | None) -> bool:
        """Whether the site ever let the daemon in as ``script_name`` (see
        :meth:`remember_authenticated`)."""
        return self._meta(f"authenticated:{script_name or ''}") is not None

    def remember_authenticated(self, script_name: str | None) -> None:
        """The site let the daemon in as ``script_name``: from now on a refusal is taken
        for a rotated key (retried), not a mistake in the config (an exit)."""
        self._write(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (f"authenticated:{script_name or ''}", str(time.time())),
        )

    # -- handlers -----------------------------------------------------

    def handlers(self) -> dict[str, HandlerState]:
        """Every handler the state knows of, by name."""
        holds = "quarantined, config_disabled" if self.schema >= 2 else "NULL, 0"
        rows = self._conn.execute(
            "SELECT name, cursor, status, error, failed_event_id, fingerprint, updated_at, "
            f"{holds} FROM handlers ORDER BY name"
        ).fetchall()
        return {row[0]: self._handler_state(row) for row in rows}

    def _handler_state(self, row: Sequence[Any]) -> HandlerState:
        name, cursor, _, error, failed_event_id, fingerprint, updated_at, held, off = row
        status = self._status(row)
        return HandlerState(
            name, cursor, status, error, failed_event_id, fingerprint, updated_at, held, bool(off)
        )

    def _status(self, row: Sequence[Any]) -> Status:
        try:
            return Status(row[2])
        except ValueError:
            known = ", ".join(s.value for s in Status)
            raise StateError(
                f"state file {self.path}: handler {row[0]!r} has the unknown status {row[2]!r} "
                f"(known: {known}); was it written by a newer evframe?"
            ) from None

    def handler(self, name: str) -> HandlerState | None:
        """One handler's row, or None."""
        return self.handlers().get(name)

    def ensure_handler(self, name: str, cursor: int) -> HandlerState:
        """The handler's row, created active at ``cursor`` if it is new."""
        self._write(
            "INSERT OR IGNORE INTO handlers (name, cursor, status, updated_at) VALUES (?, ?, ?, ?)",
            (name, cursor, Status.ACTIVE.value, time.time()),
        )
        found = self.handler(name)
        assert found is not None
        return found

    def set_cursor(self, names: Iterable[str], cursor: int) -> None:
        """Move the cursor of every handler in ``names``."""
        now = time.time()
        with self._batch() as conn:
            conn.executemany(
                "UPDATE handlers SET cursor = ?, updated_at = ? WHERE name = ?",
                [(cursor, now, name) for name in names],
            )

    def set_status(
        self,
        name: str,
        status: Status | str,
        *,
        error: str | None = None,
        event_id: int | None = None,
        cursor: int | None = None,
    ) -> None:
        """Set a handler's status (and, when failing, the error and event)."""
        try:
            status = Status(status)
        except ValueError:
            raise ValueError(f"unknown handler status {status!r}") from None
        if self.handler(name) is None:
            raise KeyError(name)
        if status != Status.ACTIVE and error is None:
            # Disabling a failed handler keeps the error that made it fail.
            sets = "status = ?, updated_at = ?"
            params: list[Any] = [status.value, time.time()]
        else:
            sets = "status = ?, error = ?, failed_event_id = ?, updated_at = ?"
            params = [status.value, error, event_id, time.time()]
        if cursor is not None:
            sets += ", cursor = ?"
            params.append(cursor)
        self._write(f"UPDATE handlers SET {sets} WHERE name = ?", (*params, name))

    def set_holds(
        self, quarantined: Mapping[str, str], disabled: Iterable[str], cursor: int
    ) -> None:
        """Record which handlers the daemon holds whatever their status: ``quarantined``
        (name to reason) and ``disabled`` in the config; every other handler is held no
        longer.  A held handler without a row gets one at ``cursor``, so it shows, and
        catches up from there once it runs."""
        off = sorted(disabled)
        for name in [*sorted(quarantined), *off]:
            self.ensure_handler(name, cursor)
        with self._batch() as conn:
            conn.execute(
                "UPDATE handlers SET quarantined = NULL, config_disabled = 0 "
                "WHERE quarantined IS NOT NULL OR config_disabled != 0"
            )
            conn.executemany(
                "UPDATE handlers SET quarantined = ? WHERE name = ?",
                [(reason, name) for name, reason in sorted(quarantined.items())],
            )
            conn.executemany(
                "UPDATE handlers SET config_disabled = 1 WHERE name = ?", [(n,) for n in off]
            )

    def set_fingerprint(self, name: str, fingerprint: str) -> None:
        """Remember which code version of the handler last ran."""
        self._write("UPDATE handlers SET fingerprint = ? WHERE name = ?", (fingerprint, name))

    # -- events done above a handler's cursor ----------------------------

    def done(self) -> dict[str, set[int]]:
        """Per handler, the event ids done above its cursor (concurrent executors
        finish events out of order)."""
        out: dict[str, set[int]] = {}
        if self.schema < 2:  # an older file read by a tool: it has no done table
            return out
        for name, event_id in self._conn.execute("SELECT handler, event_id FROM done"):
            out.setdefault(name, set()).add(event_id)
        return out

    def set_done(self, name: str, ids: Iterable[int]) -> None:
        """Replace the ids done above ``name``'s cursor."""
        with self._batch() as conn:
            conn.execute("DELETE FROM done WHERE handler = ?", (name,))
            conn.executemany(
                "INSERT INTO done (handler, event_id) VALUES (?, ?)", [(name, i) for i in ids]
            )

    # -- pending ids --------------------------------------------------

    def pending(self) -> dict[int, float]:
        """Missing event ids still waited for, with their deadlines (epoch seconds)."""
        rows = self._conn.execute("SELECT event_id, deadline FROM pending ORDER BY event_id")
        return dict(rows.fetchall())

    def add_pending(self, ids: Iterable[int], deadline: float) -> None:
        """Wait for ``ids`` until ``deadline``."""
        with self._batch() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO pending (event_id, deadline) VALUES (?, ?)",
                [(i, deadline) for i in ids],
            )

    def remove_pending(self, ids: Iterable[int]) -> None:
        """Stop waiting for ``ids`` (arrived or given up)."""
        with self._batch() as conn:
            conn.executemany("DELETE FROM pending WHERE event_id = ?", [(i,) for i in ids])

    # -- dead letters -------------------------------------------------

    def add_dead_letter(
        self, handler: str, event_id: int, event: Any, error: str, attempts: int
    ) -> None:
        """Record that ``handler`` gave up on an event."""
        self._write(
            "INSERT INTO dead_letters (handler, event_id, event, error, attempts, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (handler, event_id, dumps(event), error, attempts, time.time()),
        )

    def dead_letters(self, handler: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """The newest dead letters, optionally of one handler."""
        sql = "SELECT id, handler, event_id, event, error, attempts, created_at FROM dead_letters"
        params: tuple[Any, ...] = ()
        if handler is not None:
            sql += " WHERE handler = ?"
            params = (handler,)
        sql += " ORDER BY id DESC LIMIT ?"
        rows = self._conn.execute(sql, (*params, limit)).fetchall()
        return [DeadLetter(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6]) for r in rows]

    def count_dead_letters(self) -> int:
        """How many dead letters are recorded."""
        return int(self._conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0])
