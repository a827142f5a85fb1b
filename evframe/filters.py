"""Which events a handler wants: ``Want`` filters, their matching, and their overlap.

A :class:`Want` is one ``@want(...)`` (the decorator lives in
:mod:`evframe.handler`).  Matching is split in a static part, known from the
event's (name, entity type, field) and resolved once per distinct key, and a
dynamic part (project, predicates) checked per event.  :func:`never_co_occur`
tells whether two handlers' filters can ever match one event.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evframe.event import Event

__all__ = ["Predicate", "Want", "never_co_occur", "parse_want", "wants_disjoint"]

Predicate = Callable[["Event"], Any]


@dataclass(frozen=True)
class Want:
    """One ``@want(...)``: everything in it must match."""

    names: frozenset[str] = frozenset()
    globs: tuple[str, ...] = ()
    predicates: tuple[Predicate, ...] = ()
    entity: frozenset[str] | None = None
    field: frozenset[str] | None = None
    project: frozenset[int | str] | None = None
    _glob_re: re.Pattern[str] | None = None

    def matches_static(self, name: str, entity_type: str | None, field: str | None) -> bool:
        """Whether the parts known from (name, entity type, field) can match."""
        if self.names or self.globs:
            if name not in self.names and (
                self._glob_re is None or self._glob_re.match(name) is None
            ):
                return False
        if self.entity is not None and entity_type not in self.entity:
            return False
        return not (self.field is not None and field not in self.field)

    @property
    def dynamic(self) -> bool:
        """Whether matching also needs the event itself (project, predicates)."""
        return bool(self.predicates) or self.project is not None

    def matches_dynamic(self, event: Event) -> bool:
        """The per-event part: project and predicates (static part assumed to match)."""
        if self.project is not None:
            if event.project_id not in self.project and event.project_name not in self.project:
                return False
        return all(pred(event) for pred in self.predicates)

    def matches(self, event: Event) -> bool:
        """Whether this filter wants ``event``."""
        return self.matches_static(
            event.name, event.entity_type, event.field
        ) and self.matches_dynamic(event)

    def describe(self) -> str:
        """A short human-readable form, for ``evframe handlers`` and errors."""
        parts = [repr(n) for n in sorted(self.names)] + [repr(g) for g in self.globs]
        parts += [getattr(p, "__qualname__", repr(p)) for p in self.predicates]
        for key in ("entity", "field", "project"):
            value = getattr(self, key)
            if value is not None:
                items = sorted(value, key=str)
                parts.append(f"{key}={items[0]!r}" if len(items) == 1 else f"{key}={items!r}")
        return f"want({', '.join(parts)})"


def _collection(key: str, value: Any, kinds: tuple[type, ...]) -> frozenset[Any] | None:
    if value is None:
        return None
    items: Iterable[Any]
    if isinstance(value, kinds) and not isinstance(value, bool):
        items = (value,)
    elif isinstance(value, Collection) and not isinstance(value, (str, bytes)):
        items = value
    else:
        names = " or ".join(k.__name__ for k in kinds)
        raise TypeError(
            f"@want({key}=...) expects a {names} or a collection of them, got {value!r}"
        )
    out = frozenset(items)
    if not out:
        raise TypeError(f"@want({key}=...) got an empty collection; leave it out to match all")
    for item in out:
        if not isinstance(item, kinds) or isinstance(item, bool):
            names = " or ".join(k.__name__ for k in kinds)
            raise TypeError(f"@want({key}=...) expects {names} values, got {item!r}")
    return out


def parse_want(
    names_or_predicates: Sequence[str | Predicate],
    *,
    entity: str | Collection[str] | None = None,
    field: str | Collection[str] | None = None,
    project: int | str | Collection[int | str] | None = None,
) -> Want:
    """The :class:`Want` for the arguments of one ``@want(...)``, checked.

    Bad arguments raise ``TypeError`` saying what ``@want`` takes.
    """
    if not names_or_predicates and entity is None and field is None and project is None:
        raise TypeError(
            "@want() needs at least one event name, predicate or keyword filter "
            "(entity=, field=, project=); leave @want out to receive every event"
        )
    names: set[str] = set()
    globs: list[str] = []
    predicates: list[Predicate] = []
    for item in names_or_predicates:
        if isinstance(item, str):
            if not item:
                raise TypeError("@want() got an empty event name")
            if any(c in item for c in "*?["):
                if item not in globs:
                    globs.append(item)
            else:
                names.add(item)
        elif callable(item):
            predicates.append(item)
        else:
            raise TypeError(
                f"@want() takes event names (str) or predicates (callables taking the "
                f"event), not {item!r} of type {type(item).__name__}"
            )
    glob_re = re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs)) if globs else None
    return Want(
        names=frozenset(names),
        globs=tuple(globs),
        predicates=tuple(predicates),
        entity=_collection("entity", entity, (str,)),
        field=_collection("field", field, (str,)),
        project=_collection("project", project, (int, str)),
        _glob_re=glob_re,
    )


# -- can two filters ever match one event? ------------------------------------


def _literal_ends(glob: str) -> tuple[str, str]:
    """The literal prefix and suffix every match of ``glob`` has."""
    specials = [i for i, c in enumerate(glob) if c in "*?["]
    prefix = glob[: specials[0]]
    # After a "[...]" class the rest may start with "]": keep no suffix then.
    suffix = "" if "[" in glob else glob[specials[-1] + 1 :]
    return prefix, suffix


def _globs_disjoint(a: str, b: str) -> bool:
    """True only when no string can match both globs (checked on literal ends)."""
    pa, sa = _literal_ends(a)
    pb, sb = _literal_ends(b)
    if not (pa.startswith(pb) or pb.startswith(pa)):
        return True
    return not (sa.endswith(sb) or sb.endswith(sa))


def _names_disjoint(a: Want, b: Want) -> bool:
    if not (a.names or a.globs) or not (b.names or b.globs):
        return False  # one side accepts any event name
    if a.names & b.names:
        return False
    for name in a.names:
        if any(fnmatch.fnmatchcase(name, g) for g in b.globs):
            return False
    for name in b.names:
        if any(fnmatch.fnmatchcase(name, g) for g in a.globs):
            return False
    return all(_globs_disjoint(ga, gb) for ga in a.globs for gb in b.globs)


def _projects_disjoint(a: frozenset[int | str] | None, b: frozenset[int | str] | None) -> bool:
    if a is None or b is None or a & b:
        return False
    # An id and a name may be the same project: only same-kind sets prove anything.
    kinds = {type(v) for v in a | b}
    return len(kinds) == 1


def wants_disjoint(a: Want, b: Want) -> bool:
    """True when no event can match both filters, judging only their static parts.

    Conservative: predicates are ignored (they only narrow), and ``False`` means
    "they may overlap", not "they do".
    """
    if _names_disjoint(a, b):
        return True
    if a.entity is not None and b.entity is not None and not (a.entity & b.entity):
        return True
    if a.field is not None and b.field is not None and not (a.field & b.field):
        return True
    return _projects_disjoint(a.project, b.project)


def never_co_occur(a: Sequence[Want], b: Sequence[Want]) -> bool:
    """True when two handlers' ``@want`` lists provably never match one event.

    No ``@want`` means every event; several are alternatives, so every pair
    must be disjoint.
    """
    if not a or not b:
        return False
    return all(wants_disjoint(wa, wb) for wa in a for wb in b)
