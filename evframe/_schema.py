"""Declarative config tables: a :class:`Key` per dataclass field, one loader, one renderer.

A config section is a frozen dataclass whose fields are declared with :func:`key`: the field's
name, Python type and default are the dataclass's own, and the field's metadata holds the rest
(the kind of TOML value, bounds or choices, environment variables, a one-line help text).
:func:`load` walks those fields to read a TOML table and :func:`markdown_table` renders them as
the reference table of ``docs/configuration.md``.

Problems are :class:`Invalid` (a dotted key or variable name and a message); the caller adds
the file.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from evframe._kinds import Kind, Mismatch, Text, show

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "REQUIRED",
    "Invalid",
    "Key",
    "Reader",
    "env_name",
    "key",
    "load",
    "load_root",
    "markdown_table",
    "reference",
    "secret_values",
    "sections",
]

T = TypeVar("T", bound="DataclassInstance")

REQUIRED: Final[Any] = dataclasses.MISSING
"""The default of a key that must be given."""

_SLOT: Final = "evframe.key"
_MISSING: Final = object()


class Invalid(Exception):
    """A config problem: ``key`` is the dotted key (or variable), ``detail`` the message."""

    def __init__(self, key: str, detail: str) -> None:
        super().__init__(f"{key}: {detail}")
        self.key = key
        self.detail = detail


@dataclass(frozen=True)
class Key:
    """How one TOML key is read and documented (kept in the dataclass field's metadata).

    ``env`` is a variable that wins over the file (``<NAME>`` in it stands for the section's
    name); ``env_key`` the extra TOML key naming a variable that holds the value (between the
    two in precedence).  ``required``: the message when the key is missing.  ``required_if``:
    (another field, message) — the key must be set when that field is.  ``excludes``: (another
    field, message) — the two must not both be true.
    """

    kind: Kind
    help: str
    toml: str | None = None
    env: str | None = None
    env_key: str | None = None
    env_key_help: str = ""
    secret: bool = False
    required: str | None = None
    required_if: tuple[str, str] | None = None
    excludes: tuple[str, str] | None = None
    default_doc: str | None = None


def key(
    kind: Kind,
    default: Any = REQUIRED,
    help: str = "",
    *,
    factory: Any = None,
    toml: str | None = None,
    env: str | None = None,
    env_key: str | None = None,
    env_key_help: str = "",
    secret: bool = False,
    required: str | None = None,
    required_if: tuple[str, str] | None = None,
    excludes: tuple[str, str] | None = None,
    default_doc: str | None = None,
) -> Any:
    """A dataclass field read from TOML as described; ``factory`` instead of a ``default``."""
    spec = Key(
        kind, help, toml, env, env_key, env_key_help, secret, required, required_if, excludes,
        default_doc,
    )  # fmt: skip
    metadata = {_SLOT: spec}
    if factory is not None:
        return dataclasses.field(default_factory=factory, repr=not secret, metadata=metadata)
    return dataclasses.field(default=default, repr=not secret, metadata=metadata)


@dataclass(frozen=True)
class _Entry:
    attr: str
    name: str
    key: Key
    default: Any


@cache
def _entries(cls: type[DataclassInstance]) -> tuple[_Entry, ...]:
    entries = []
    for f in dataclasses.fields(cls):
        spec = f.metadata.get(_SLOT)
        if isinstance(spec, Key):
            if f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = f.default
            entries.append(_Entry(f.name, spec.toml or f.name, spec, default))
    return tuple(entries)


def _names(cls: type[DataclassInstance]) -> list[str]:
    """The TOML keys of a section, in the order of its fields."""
    names = []
    for entry in _entries(cls):
        names.append(entry.name)
        if entry.key.env_key:
            names.append(entry.key.env_key)
    return names


def sections(cls: type[DataclassInstance], prefix: str = "") -> dict[str, type[DataclassInstance]]:
    """The sections nested in ``cls`` by dotted name (``logging.email``, ``handlers.NAME``)."""
    found: dict[str, type[DataclassInstance]] = {}
    for entry in _entries(cls):
        for inner, suffix in entry.key.kind.sections():
            where = (f"{prefix}.{entry.name}" if prefix else entry.name) + suffix
            found[where] = inner
            found.update(sections(inner, where))
    return found


def _homes(cls: type[DataclassInstance]) -> dict[str, str]:
    """Where each key of the nested sections lives (the first section wins)."""
    homes: dict[str, str] = {}
    for where, inner in sections(cls).items():
        for name in _names(inner):
            homes.setdefault(name, where)
    return homes


def secret_values(obj: DataclassInstance) -> Iterator[str]:
    """The values of the keys declared secret in ``obj`` and its nested sections."""
    for entry in _entries(type(obj)):
        value = getattr(obj, entry.attr)
        if entry.key.secret and value:
            yield value
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            yield from secret_values(value)
        elif isinstance(value, Mapping):
            for item in value.values():
                if dataclasses.is_dataclass(item) and not isinstance(item, type):
                    yield from secret_values(item)


def env_name(template: str, name: str | None) -> str:
    """``template`` with ``<NAME>`` replaced by ``name`` upper-cased, non-alphanumerics ``_``."""
    if name is None:
        return template
    return template.replace("<NAME>", re.sub(r"[^A-Za-z0-9]", "_", name).upper())


@dataclass(frozen=True)
class Place:
    """Where a kind converts a value: the table, the key, the fields read before it."""

    reader: Reader
    key: str
    values: Mapping[str, Any]


@dataclass(frozen=True)
class Reader:
    """One TOML table being read: its dotted prefix, its file's directory, the environment,
    where each key of the whole config lives, and the section's name (``[handlers.NAME]``)."""

    data: Mapping[str, Any]
    prefix: str
    base: Path
    environ: Mapping[str, str]
    homes: Mapping[str, str]
    name: str | None = None

    def child(self, key: str, data: Mapping[str, Any], name: str | None = None) -> Reader:
        return Reader(data, self.dotted(key), self.base, self.environ, self.homes, name)

    def dotted(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def invalid(self, key: str, detail: str) -> Invalid:
        return Invalid(self.dotted(key), detail)

    def env(self, name: str) -> str | None:
        """Variable ``name``; empty counts as unset."""
        return self.environ.get(name) or None

    def convert(
        self, kind: Kind, key: str, raw: object, values: Mapping[str, Any], secret: bool = False
    ) -> Any:
        """``raw`` (the value of ``key``) converted by ``kind``; a mismatch names the key."""
        try:
            return kind.convert(raw, Place(self, key, values))
        except Mismatch as exc:
            shown = "<hidden>" if secret else show(raw)
            raise self.invalid(key, f"expected {exc.expected}, got {shown}{exc.hint}") from None

    def section(
        self, cls: type[T], key: str, data: Mapping[str, Any], name: str | None = None
    ) -> T:
        """Section ``cls`` read from table ``data`` found at ``key``."""
        given = {} if name is None else {"name": name}
        return load(cls, self.child(key, data, name), **given)

    def check_known(self, allowed: list[str]) -> None:
        for name in self.data:
            if name not in allowed:
                raise self.invalid(name, self._unknown(name, allowed))

    def _unknown(self, name: str, allowed: list[str]) -> str:
        detail = "unknown key"
        close = difflib.get_close_matches(name, allowed, n=1)
        if close:
            detail += f"; did you mean {close[0]!r}?"
        elif name in self.homes:
            detail += f"; it belongs in [{self.homes[name]}]"
        where = f"[{self.prefix}]" if self.prefix else "the top level"
        return f"{detail} (allowed in {where}: {', '.join(allowed)})"


def load_root(
    cls: type[T], data: Mapping[str, Any], base: Path, environ: Mapping[str, str], **given: Any
) -> T:
    """The whole config ``cls`` read from ``data``; paths are relative to ``base``."""
    return load(cls, Reader(data, "", base, environ, _homes(cls)), **given)


def load(cls: type[T], reader: Reader, **given: Any) -> T:
    """Section ``cls`` read from ``reader``'s table; ``given`` are fields not read from TOML."""
    entries = _entries(cls)
    reader.check_known(_names(cls))
    values: dict[str, Any] = dict(given)
    for entry in entries:
        values[entry.attr] = _value(entry, reader, values)
    for entry in entries:
        spec, value = entry.key, values[entry.attr]
        if spec.required_if and value is None and values[spec.required_if[0]] is not None:
            env = env_name(spec.env, reader.name) if spec.env else ""
            raise reader.invalid(entry.name, spec.required_if[1].format(env=env))
        if spec.excludes and value and values[spec.excludes[0]]:
            raise reader.invalid(entry.name, spec.excludes[1])
    return cls(**values)


def _value(entry: _Entry, reader: Reader, values: Mapping[str, Any]) -> Any:
    """One key's value: the file's (or default), then the variables that win over it."""
    spec, name = entry.key, entry.name
    if spec.env_key and name in reader.data and spec.env_key in reader.data:
        raise reader.invalid(name, f"set either {name} or {spec.env_key}, not both")
    raw = reader.data.get(name, _MISSING)
    if raw is not _MISSING:
        value = reader.convert(spec.kind, name, raw, values, spec.secret)
    elif spec.required:
        raise reader.invalid(name, spec.required)
    else:
        value = spec.kind.absent(entry.default, Place(reader, name, values))
    holder = None
    if spec.env_key and spec.env_key in reader.data:
        holder = reader.convert(Text(), spec.env_key, reader.data[spec.env_key], values)
    env = env_name(spec.env, reader.name) if spec.env else None
    direct = reader.env(env) if env is not None else None
    if direct is not None:
        value = direct
    elif holder is not None:
        value = reader.env(holder)
        if value is None:
            detail = f"environment variable {holder} is not set (or empty)"
            raise reader.invalid(spec.env_key or name, detail)
    try:
        spec.kind.validate(value)
    except Mismatch as exc:
        detail = f"expected {exc.expected}, got {show(value)}{exc.hint}"
        if env is not None and direct is not None:
            raise Invalid(env, f"{detail} (from environment variable {env})") from None
        raise reader.invalid(name, detail) from None
    return value


# --------------------------------------------------------------------------- documentation


def markdown_table(cls: type[DataclassInstance]) -> str:
    """The reference table of section ``cls``: key, type, default and meaning, one row each.

    Nested sections are left out (they have their own heading); an ``env_key`` gets its own
    row, before the key it feeds.
    """
    rows = ["| Key | Type | Default | Meaning |", "|---|---|---|---|"]
    for entry in _entries(cls):
        spec = entry.key
        if spec.kind.nested:
            continue
        if spec.env_key:
            rows.append(f"| `{spec.env_key}` | string | none | {spec.env_key_help} |")
        meaning = spec.help
        if spec.env and not spec.env_key:
            meaning += f" Overridden by `{spec.env}`."
        rows.append(f"| `{entry.name}` | {spec.kind.doc} | {_default_doc(entry)} | {meaning} |")
    return "\n".join(rows) + "\n"


def reference(cls: type[DataclassInstance]) -> dict[str, str]:
    """The reference table of each section nested in ``cls``, by heading (``[daemon]``)."""
    return {
        f"[{where}]": markdown_table(inner)
        for where, inner in sections(cls).items()
        if any(not e.key.kind.nested for e in _entries(inner))
    }


def _default_doc(entry: _Entry) -> str:
    spec, default = entry.key, entry.default
    if spec.default_doc is not None:
        return spec.default_doc
    if spec.required or default is dataclasses.MISSING:
        return "required"
    if default is None:
        return "none"
    return f"`{_toml(default)}`{spec.kind.default_note()}"


def _toml(value: object) -> str:
    """``value`` written as in TOML, as short as it reads."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) else repr(value)
    if isinstance(value, Mapping):
        return "{}" if not value else repr(dict(value))
    return repr(value)
