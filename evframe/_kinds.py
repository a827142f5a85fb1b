"""The kinds of TOML value a config key takes: how each is checked, converted and documented.

A kind's :meth:`Kind.convert` turns the TOML value into the dataclass field's value or raises
:class:`Mismatch` saying what was expected; the loader adds the key and the value shown.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from evframe._schema import Place

__all__ = [
    "Choice",
    "ChoiceOrId",
    "EnvOnly",
    "FilePath",
    "Flag",
    "FreeTable",
    "HostPort",
    "Integer",
    "Kind",
    "Level",
    "Mismatch",
    "Number",
    "Paths",
    "Section",
    "Sections",
    "Strings",
    "TableOf",
    "Text",
    "Url",
    "show",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class Mismatch(Exception):
    """A value is not what its key expects: ``expected ...``, then an optional ``hint``."""

    def __init__(self, expected: str, hint: str = "") -> None:
        super().__init__(expected)
        self.expected = expected
        self.hint = hint


def show(value: object) -> str:
    """A value as it would be written in TOML, shortened, for an error message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 80 else text[:76] + '..."'
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"{value!r} ({type(value).__name__})"


def freeze(value: Any) -> Any:
    """A read-only copy of a TOML value: tables become mapping proxies, arrays tuples."""
    if isinstance(value, dict):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    return value


class Kind:
    """A kind of value.  ``doc`` is its Type column in the reference; ``nested`` kinds are
    tables with a heading of their own, left out of their parent's reference table."""

    doc: str = ""
    nested: bool = False

    def convert(self, raw: object, at: Place) -> Any:
        """``raw`` as the field's value, or :class:`Mismatch`; ``at`` says where it is."""
        raise NotImplementedError

    def absent(self, default: Any, at: Place) -> Any:
        """The value when the key is not in the file."""
        return default

    def validate(self, value: Any) -> None:
        """Checks on the final value, after environment variables had their say."""

    def default_note(self) -> str:
        """Words after the default in the reference table."""
        return ""

    def sections(self) -> Iterator[tuple[type[DataclassInstance], str]]:
        """The sections nested here, each with the suffix of its dotted name."""
        return iter(())


class Text(Kind):
    doc = "string"

    def convert(self, raw: object, at: Place) -> Any:
        if not isinstance(raw, str) or not raw:
            raise Mismatch("a non-empty string")
        return raw


class Url(Text):
    """A string starting with one of ``schemes`` (checked after environment overrides)."""

    def __init__(self, *schemes: str) -> None:
        self.schemes = schemes

    def validate(self, value: Any) -> None:
        if value is not None and not value.startswith(self.schemes):
            raise Mismatch("a URL starting with " + " or ".join(self.schemes))


class HostPort(Text):
    """``HOST:PORT`` to listen on (``[::1]:8787`` for IPv6; port 0 picks a free one)."""

    doc = "`HOST:PORT`"

    def convert(self, raw: object, at: Place) -> Any:
        value = super().convert(raw, at)
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise Mismatch("HOST:PORT, e.g. 127.0.0.1:8787")
        return value


class EnvOnly(Text):
    """A secret that is only ever read from an environment variable, never from the file."""

    doc = "(environment only)"

    def convert(self, raw: object, at: Place) -> Any:
        raise Mismatch("no value here", "; name an environment variable holding it instead")


class FilePath(Text):
    """A path, made absolute: relative to the config file's directory, ``~`` expanded."""

    doc = "path"

    def convert(self, raw: object, at: Place) -> Any:
        return self.absent(super().convert(raw, at), at)

    def absent(self, default: Any, at: Place) -> Any:
        if default is None:
            return None
        path = Path(default).expanduser()
        return str(path if path.is_absolute() else at.reader.base / path)


class Flag(Kind):
    doc = "bool"

    def convert(self, raw: object, at: Place) -> Any:
        if not isinstance(raw, bool):
            raise Mismatch("true or false")
        return raw


class Integer(Kind):
    def __init__(self, lo: int | None = None, hi: int | None = None) -> None:
        self.lo, self.hi = lo, hi
        if lo is not None and hi is not None:
            self.doc, self.range = f"integer {lo}..{hi}", f" between {lo} and {hi}"
        elif lo is not None:
            self.doc, self.range = f"integer ≥ {lo}", f" >= {lo}"
        elif hi is not None:
            self.doc, self.range = f"integer ≤ {hi}", f" <= {hi}"
        else:
            self.doc, self.range = "integer", ""

    def convert(self, raw: object, at: Place) -> Any:
        # bool is an int subclass; `batch_size = true` is a mistake, not 1.
        if (
            not isinstance(raw, int)
            or isinstance(raw, bool)
            or (self.lo is not None and raw < self.lo)
            or (self.hi is not None and raw > self.hi)
        ):
            raise Mismatch("an integer" + self.range)
        return raw


class Number(Kind):
    """A number of seconds (ints are fine).  A bound given as a string is the value of that
    field of the section; a default outside such a bound follows the bound."""

    def __init__(
        self,
        *,
        gt: float | None = None,
        ge: float | str | None = None,
        le: float | str | None = None,
    ) -> None:
        self.gt, self.ge, self.le = gt, ge, le
        parts = [
            f"{sign} `{bound}`" if isinstance(bound, str) else f"{sign} {bound:g}"
            for sign, bound in (("≥", ge), ("≤", le), (">", gt))
            if bound is not None
        ]
        self.doc = "number" + (" " + ", ".join(parts) if parts else "")

    @staticmethod
    def _bound(bound: float | str | None, values: Mapping[str, Any]) -> float | None:
        return float(values[bound]) if isinstance(bound, str) else bound

    def convert(self, raw: object, at: Place) -> Any:
        gt, ge, le = self.gt, self._bound(self.ge, at.values), self._bound(self.le, at.values)
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            number = float(raw)
            if (
                math.isfinite(number)
                and (gt is None or number > gt)
                and (ge is None or number >= ge)
                and (le is None or number <= le)
            ):
                return number
        bounds = [
            f"{sign} {bound:g}"
            for sign, bound in ((">", gt), (">=", ge), ("<=", le))
            if bound is not None
        ]
        raise Mismatch("a number" + (" " + " and ".join(bounds) if bounds else "") + " (seconds)")

    def absent(self, default: Any, at: Place) -> Any:
        if default is None:  # an optional number (a handler's timeout)
            return None
        ge, le = self._bound(self.ge, at.values), self._bound(self.le, at.values)
        value = float(default)
        value = min(value, le) if le is not None else value
        return max(value, ge) if ge is not None else value

    def default_note(self) -> str:
        if isinstance(self.ge, str):
            return f" (or `{self.ge}` if larger)"
        if isinstance(self.le, str):
            return f" (or `{self.le}` if smaller)"
        return ""


def _not_one_of(value: str, choices: Sequence[str], expected: str = "") -> Mismatch:
    """``value`` is none of ``choices``; suggests the closest one, ignoring case."""
    expected = expected or " or ".join(json.dumps(c) for c in choices)
    by_lower = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(value.lower(), list(by_lower), n=1)
    return Mismatch(expected, f"; did you mean {by_lower[close[0]]!r}?" if close else "")


class Choice(Text):
    def __init__(self, *choices: str) -> None:
        self.choices = choices
        self.doc = ", ".join(f'`"{c}"`' for c in choices)

    def convert(self, raw: object, at: Place) -> Any:
        value = super().convert(raw, at)
        if value not in self.choices:
            raise _not_one_of(value, self.choices)
        return value


class Level(Kind):
    """A log level name, any case; the value is upper-case."""

    LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
    doc = ", ".join(f"`{level}`" for level in LEVELS) + " (any case)"

    def convert(self, raw: object, at: Place) -> Any:
        if not isinstance(raw, str) or not raw:
            raise Mismatch("a log level (" + ", ".join(self.LEVELS) + ")")
        if raw.upper() not in self.LEVELS:
            raise _not_one_of(raw, self.LEVELS)
        return raw.upper()


class ChoiceOrId(Kind):
    """One of ``choices`` or an integer >= 0 (``noun`` says what the integer is)."""

    def __init__(self, *choices: str, noun: str) -> None:
        self.choice = Choice(*choices)
        self.noun = noun
        self.doc = ", ".join(f'`"{c}"`' for c in choices) + " or integer ≥ 0"

    def convert(self, raw: object, at: Place) -> Any:
        if isinstance(raw, str):
            return self.choice.convert(raw, at)
        if not isinstance(raw, int) or isinstance(raw, bool) or raw < 0:
            options = ", ".join(json.dumps(c) for c in self.choice.choices)
            raise Mismatch(f"{options} or {self.noun} >= 0")
        return raw


class Strings(Kind):
    """A non-empty array of non-empty strings; one string is an array of one."""

    doc = "string or array of strings"

    def __init__(self, noun: str) -> None:
        self.noun = noun

    def convert(self, raw: object, at: Place) -> Any:
        items = [raw] if isinstance(raw, str) else raw
        if (
            not isinstance(items, list)
            or not items
            or not all(isinstance(i, str) and i for i in items)
        ):
            raise Mismatch(f"a non-empty array of {self.noun} strings")
        return tuple(items)


class Paths(Strings):
    """An array of paths (one string is an array of one), each made absolute as by
    :class:`FilePath`; the order is kept."""

    doc = "path or array of paths"

    def __init__(self) -> None:
        super().__init__("path")

    def convert(self, raw: object, at: Place) -> Any:
        return tuple(FilePath().absent(item, at) for item in super().convert(raw, at))


class FreeTable(Kind):
    """A table of anything, unchecked; read-only (tables are mappings, arrays tuples)."""

    doc = "table"

    def convert(self, raw: object, at: Place) -> Any:
        if not isinstance(raw, dict):
            raise Mismatch("a table")
        return freeze(raw)


class TableOf(Kind):
    """A table whose keys are free and whose values are all of kind ``item``."""

    doc = "table"
    nested = True

    def __init__(self, item: Kind) -> None:
        self.item = item

    def convert(self, raw: object, at: Place) -> Any:
        if not isinstance(raw, dict):
            raise Mismatch("a table")
        table = at.reader.child(at.key, raw)
        return MappingProxyType(
            {k: table.convert(self.item, k, v, at.values) for k, v in raw.items()}
        )


class Section(Kind):
    """A nested section ``cls``; when it is absent: ``None`` if ``optional``, else defaults."""

    doc = "table"
    nested = True

    def __init__(self, cls: type[DataclassInstance], optional: bool = False) -> None:
        self.cls, self.optional = cls, optional

    def convert(self, raw: object, at: Place) -> Any:
        if not isinstance(raw, dict):
            raise Mismatch("a table")
        return at.reader.section(self.cls, at.key, raw)

    def absent(self, default: Any, at: Place) -> Any:
        return None if self.optional else at.reader.section(self.cls, at.key, {})

    def sections(self) -> Iterator[tuple[type[DataclassInstance], str]]:
        yield self.cls, ""


class Sections(Kind):
    """A table of sections ``cls`` by name (``[handlers.NAME]``); each gets ``name=NAME``."""

    doc = "table"
    nested = True

    def __init__(self, cls: type[DataclassInstance]) -> None:
        self.cls = cls

    def convert(self, raw: object, at: Place) -> Any:
        if not isinstance(raw, dict):
            raise Mismatch("a table")
        sections = {}
        for name, value in raw.items():
            dotted = f"{at.key}.{name}"
            if not isinstance(value, dict):
                detail = f"expected a table ([{at.reader.dotted(dotted)}]), got {show(value)}"
                raise at.reader.invalid(dotted, detail)
            sections[name] = at.reader.section(self.cls, dotted, value, name)
        return MappingProxyType(sections)

    def sections(self) -> Iterator[tuple[type[DataclassInstance], str]]:
        yield self.cls, ".NAME"
