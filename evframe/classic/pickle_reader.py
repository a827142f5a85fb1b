"""The classic daemon's event-id file, read without unpickling arbitrary objects.

The classic daemon pickles (protocol 2) ``{plugin folder: {file name:
(last event id, backlog)}}``, the backlog being ``{event id: expiry datetime}``;
older versions wrote a bare id instead of a folder's dict or of a plugin's tuple.
:func:`read_id_file` accepts exactly those shapes.  Its unpickler resolves no
global but ``datetime.datetime``, ``datetime.timedelta``, ``datetime.timezone``
and ``_codecs.encode`` restricted to latin-1 (how Python 3 pickles the bytes
inside a datetime at protocol 2): any other class or function in the file is
refused with an :class:`IdFileError` naming the file, before anything is called.
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evframe.errors import EvframeError

__all__ = ["ClassicIds", "IdFileError", "PluginIds", "read_id_file"]

_MAX_BYTES = 64 * 1024 * 1024


class IdFileError(EvframeError):
    """The classic id file cannot be read, or holds something the classic daemon never writes."""

    exit_code = 4


@dataclass
class PluginIds:
    """One plugin's classic state: its last event id and its backlog of ids not seen yet."""

    last_id: int | None
    backlog: dict[int, dt.datetime] = field(default_factory=dict)


@dataclass
class ClassicIds:
    """``{plugin folder: {file name: PluginIds}}``; ``everywhere`` is a bare id given for
    whole folders (the oldest format), by folder (``""``: every folder)."""

    plugins: dict[str, dict[str, PluginIds]] = field(default_factory=dict)
    everywhere: dict[str, int] = field(default_factory=dict)


def _latin1_encode(text: Any, encoding: Any = "utf-8", *rest: Any) -> bytes:
    if rest or not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode is allowed only as (str, 'latin1')")
    return codecs.encode(text, "latin1")


_ALLOWED: dict[tuple[str, str], Any] = {
    ("datetime", "datetime"): dt.datetime,
    ("datetime", "timedelta"): dt.timedelta,
    ("datetime", "timezone"): dt.timezone,
    ("_codecs", "encode"): _latin1_encode,
}


class _Refused(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals in ``_ALLOWED``; everything else is refused."""

    def find_class(self, module: str, name: str) -> Any:
        found = _ALLOWED.get((module, name))
        if found is None:
            raise _Refused(f"{module}.{name}")
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused("a persistent id")


def read_id_file(path: str | os.PathLike[str]) -> ClassicIds:
    """The classic id file at ``path``, checked shape by shape."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise IdFileError(f"cannot read classic id file {file}: {exc.strerror or exc}") from None
    if len(data) > _MAX_BYTES:
        raise IdFileError(f"classic id file {file} is larger than any the classic daemon writes")
    try:
        # latin1: a file written by the classic daemon under Python 2 holds str datetimes.
        value = _RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except _Refused as exc:
        raise IdFileError(
            f"refused classic id file {file}: it asks for {exc.what}, which the classic daemon "
            "never writes (only dicts, tuples, ints, strings and datetimes); it was not loaded"
        ) from None
    except Exception as exc:
        raise IdFileError(f"classic id file {file} is not a readable pickle: {exc}") from None
    return _shape(value, file)


def _bad(file: Path, where: str, value: Any) -> IdFileError:
    return IdFileError(
        f"refused classic id file {file}: {where} is {type(value).__name__} {value!r:.80}, "
        "not a shape the classic daemon writes"
    )


def _shape(value: Any, file: Path) -> ClassicIds:
    out = ClassicIds()
    if _is_id(value):
        out.everywhere[""] = value
        return out
    if not isinstance(value, dict):
        raise _bad(file, "the file", value)
    for folder, state in value.items():
        if not isinstance(folder, str):
            raise _bad(file, "a plugin folder", folder)
        if _is_id(state):
            out.everywhere[folder] = state
            continue
        if not isinstance(state, dict):
            raise _bad(file, f"the state of {folder}", state)
        plugins = out.plugins.setdefault(folder, {})
        for name, plugin in state.items():
            if not isinstance(name, str):
                raise _bad(file, f"a plugin name in {folder}", name)
            plugins[name] = _plugin(plugin, file, f"the state of {folder}/{name}")
    return out


def _plugin(value: Any, file: Path, where: str) -> PluginIds:
    if _is_id(value):
        return PluginIds(value)
    if not isinstance(value, tuple) or len(value) != 2:
        raise _bad(file, where, value)
    last, backlog = value
    if last is not None and not _is_id(last):
        raise _bad(file, f"{where} (last id)", last)
    if not isinstance(backlog, dict):
        raise _bad(file, f"{where} (backlog)", backlog)
    for event_id, expiry in backlog.items():
        if not _is_id(event_id) or not isinstance(expiry, dt.datetime):
            raise _bad(file, f"{where} (backlog entry)", (event_id, expiry))
    return PluginIds(last, dict(backlog))


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
