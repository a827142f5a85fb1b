"""``@want``: which events a handler is called for, and the handler spec it builds."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from evframe.event import Event

__all__ = ["HandlerSpec", "Want", "get_spec", "want"]

F = TypeVar("F", bound=Callable[..., Any])
Predicate = Callable[["Event"], Any]

SPEC_ATTR = "__evframe_spec__"
ON_ERROR_POLICIES = ("stop", "skip", "retry")


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


@dataclass
class HandlerSpec:
    """Everything the decorators attached to one handler function."""

    wants: list[Want] = field(default_factory=list)
    requires: set[str] = field(default_factory=set)
    required_by: set[str] = field(default_factory=set)
    on_error: str | None = None

    def wants_event(self, event: Event) -> bool:
        """No ``@want`` means every event; several are alternatives."""
        return not self.wants or any(w.matches(event) for w in self.wants)


def get_spec(func: Callable[..., Any], *, create: bool = False) -> HandlerSpec:
    """The spec attached to ``func`` (a fresh empty one if it has none)."""
    spec = getattr(func, SPEC_ATTR, None)
    if isinstance(spec, HandlerSpec):
        return spec
    spec = HandlerSpec()
    if create:
        try:
            setattr(func, SPEC_ATTR, spec)
        except (AttributeError, TypeError) as exc:
            raise TypeError(
                f"evframe decorators need a function they can mark; got {func!r}"
            ) from exc
    return spec


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


def want(
    *names_or_predicates: str | Predicate,
    entity: str | Collection[str] | None = None,
    field: str | Collection[str] | None = None,
    project: int | str | Collection[int | str] | None = None,
    **unknown: Any,
) -> Callable[[F], F]:
    """Call the decorated handler only for the events this filter matches.

    Strings are event names (``"Shotgun_Task_Change"``); a string with ``*``,
    ``?`` or ``[`` is a glob (``"Shotgun_*_Change"``).  Callables are predicates
    ``f(event) -> bool``.  ``entity=``, ``field=`` and ``project=`` (an id or a
    name) each take one value or a collection.  Everything in one ``@want``
    must match (any one of the names); several ``@want`` on a handler are
    alternatives.  The function is returned unchanged.
    """
    if unknown:
        bad = ", ".join(sorted(unknown))
        raise TypeError(
            f"@want() got unknown keyword argument(s) {bad}; it takes event names, "
            "predicates and the keywords entity=, field=, project="
        )
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
    spec_want = Want(
        names=frozenset(names),
        globs=tuple(globs),
        predicates=tuple(predicates),
        entity=_collection("entity", entity, (str,)),
        field=_collection("field", field, (str,)),
        project=_collection("project", project, (int, str)),
        _glob_re=glob_re,
    )

    def mark(func: F) -> F:
        # Decorators apply bottom-up; insert first so wants read top-down.
        get_spec(func, create=True).wants.insert(0, spec_want)
        return func

    return mark
