"""The state file on disk: the file a path really names, the daemon lock, atomic creation.

A config may name the state file through a symlink, and two configs may name it
differently; the lock and the SQLite connection both use the resolved file, so
every spelling of one file is the same file to evframe.  A new state file is
built in a temporary file beside it and renamed into place, so a crash while it
is created leaves either no file or a complete one — never an empty file that a
later start could mistake for a new one.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from evframe.errors import EvframeError

__all__ = [
    "StateError",
    "StateLockedError",
    "create_atomically",
    "lock_path",
    "real_path",
    "refuse_empty",
    "take_lock",
]


class StateError(EvframeError):
    """The state file cannot be used (unreadable, newer schema, another site)."""

    exit_code = 4


class StateLockedError(StateError):
    """Another daemon holds the state file."""

    exit_code = 5


def real_path(path: Path) -> Path:
    """``path`` with every symlink resolved (the file itself need not exist yet)."""
    return Path(os.path.realpath(path))


def lock_path(real: Path) -> Path:
    """The daemon lock of the state file ``real`` (a resolved path): ``<file>.lock``."""
    return real.with_name(real.name + ".lock")


def _spelled(path: Path, real: Path) -> str:
    """``path`` for a message, with the file it leads to when that is another name."""
    return str(path) if path.absolute() == real else f"{path} (the file {real})"


def take_lock(path: Path, real: Path) -> IO[str]:
    """Take the single-daemon lock of the state file ``real``, reached as ``path``.

    Raises :class:`StateLockedError` naming the holder's pid if another daemon has it.
    """
    import fcntl

    lock = lock_path(real)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o600)
    handle = os.fdopen(fd, "r+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = handle.read().strip()
        handle.close()
        who = f" (pid {holder})" if holder else ""
        raise StateLockedError(
            f"state file {_spelled(path, real)} is in use by another evframe daemon{who}; "
            "two daemons must not share one state file"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def refuse_empty(path: Path, real: Path) -> None:
    """Raise :class:`StateError` if the state file is empty (zero bytes).

    SQLite takes an empty file for a new database; a daemon that set it up afresh
    would lose every cursor and, with ``start = "latest"``, skip every event since.
    """
    if real.stat().st_size == 0:
        raise StateError(
            f"state file {_spelled(path, real)} is empty (0 bytes): its cursors are lost, so "
            "it is not set up afresh, which would skip or repeat events. Restore it from a "
            "backup, or delete it to start afresh (new handlers then start at `start`)."
        )


def create_atomically(real: Path, init: Callable[[sqlite3.Connection], None]) -> None:
    """Create the state file ``real``: ``init`` fills a temporary file beside it, which
    is then renamed into place.

    The caller holds the daemon lock, so no other process creates the file meanwhile.
    Raises whatever ``init`` or SQLite raises, leaving no file behind.
    """
    real.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file with mode 0600, as the state file must be.
    fd, name = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".new", dir=real.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            init(conn)
        finally:
            conn.close()
        _fsync(tmp)
        os.replace(tmp, real)
    except BaseException:
        for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
            with contextlib.suppress(OSError):
                leftover.unlink()
        raise
    # The rename itself must survive a power cut, or the file would vanish again.
    _fsync(real.parent)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
