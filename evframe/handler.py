"""What a handler is to evframe: its spec, the decorators that build it, and the
enums that name a handler's failure policy, its status and its outcomes.

The decorators attach one :class:`HandlerSpec` to the function and return the
function unchanged, so a handler stays a plain, testable function.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

from evframe.filters import Predicate, Want, parse_want

if TYPE_CHECKING:
    from evframe.event import Event

__all__ = [
    "SPEC_ATTR",
    "HandlerSpec",
    "Outcome",
    "Policy",
    "RetryPolicy",
    "Status",
    "get_spec",
    "on_error",
    "order",
    "own_writes",
    "required_by",
    "requires",
    "want",
]

F = TypeVar("F", bound=Callable[..., Any])

SPEC_ATTR = "__evframe_spec__"


class _Value(str, Enum):
    """An enum whose members are their plain string values wherever text is made.

    ``str()`` and f-strings give the value on every supported Python (3.12
    changed the default ``format()`` of mixed-in enums to the member's name).
    """

    def __str__(self) -> str:
        return str(self.value)


class Policy(_Value):
    """What the daemon does when a handler fails (``@on_error``, ``on_error =``)."""

    STOP = "stop"
    SKIP = "skip"
    RETRY = "retry"


class Status(_Value):
    """A handler's status in the state file."""

    ACTIVE = "active"
    FAILED = "failed"
    DISABLED = "disabled"


class Outcome(_Value):
    """What happened when one handler met one event."""

    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"
    NOT_WANTED = "not_wanted"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failing handler is called again.

    ``attempts`` counts every call, the first included; ``backoff`` is the wait
    in seconds before the second call and doubles each time, up to
    ``max_backoff``.
    """

    attempts: int
    backoff: float
    max_backoff: float

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed call number ``attempt`` (1 for the first).

        Jittered down to half, so handlers failing together do not retry together.
        """
        return backoff(attempt - 1, self.backoff, self.max_backoff)


def backoff(step: int, base: float, cap: float) -> float:
    """The one backoff of evframe (handler retries and site trouble alike):
    ``base`` doubling with each ``step`` (0 for the first wait), capped at ``cap``,
    jittered down to half so that failures that happen together do not retry
    together."""
    wait: float = min(cap, base * 2.0**step)
    return wait * random.uniform(0.5, 1.0)


@dataclass
class HandlerSpec:
    """Everything the decorators attached to one handler function.

    ``follows`` and ``linked`` are set by handler kinds rather than decorators
    (classic plugins): ``follows`` orders only (run after those handlers, with no
    skipping when one fails and no shared pause); ``linked`` only joins groups
    (paused and resumed together, in no particular order).
    """

    wants: list[Want] = field(default_factory=list)
    requires: set[str] = field(default_factory=set)
    required_by: set[str] = field(default_factory=set)
    on_error: Policy | None = None
    follows: set[str] = field(default_factory=set)
    linked: set[str] = field(default_factory=set)
    own_writes: bool | None = None
    order: str | None = None

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
    spec_want = parse_want(names_or_predicates, entity=entity, field=field, project=project)

    def mark(func: F) -> F:
        # Decorators apply bottom-up; insert first so wants read top-down.
        get_spec(func, create=True).wants.insert(0, spec_want)
        return func

    return mark


def _names(decorator: str, names: tuple[str, ...]) -> set[str]:
    if not names:
        raise TypeError(f"@{decorator}() needs at least one handler name")
    for name in names:
        if not isinstance(name, str) or not name:
            raise TypeError(f"@{decorator}() takes handler names (non-empty str), got {name!r}")
    return set(names)


def requires(*handler_names: str) -> Callable[[F], F]:
    """Run the decorated handler after these handlers, whenever both run for an event.

    A required handler that does not want an event does not stop this one from
    running; if a required handler fails, this one is skipped for that event.
    """
    names = _names("requires", handler_names)

    def mark(func: F) -> F:
        get_spec(func, create=True).requires.update(names)
        return func

    return mark


def required_by(*handler_names: str) -> Callable[[F], F]:
    """Run the decorated handler before these handlers, whenever both run for an event."""
    names = _names("required_by", handler_names)

    def mark(func: F) -> F:
        get_spec(func, create=True).required_by.update(names)
        return func

    return mark


def on_error(policy: Policy | str) -> Callable[[F], F]:
    """Set the handler's default failure policy in the daemon: stop, skip or retry.

    The ``on_error`` key of the handler's config section overrides it.
    """
    try:
        chosen = Policy(policy)
    except ValueError:
        choices = ", ".join(p.value for p in Policy)
        raise TypeError(f"@on_error() takes one of {choices}, got {policy!r}") from None

    def mark(func: F) -> F:
        get_spec(func, create=True).on_error = chosen
        return func

    return mark


def own_writes(receive: bool = True) -> Callable[[F], F]:
    """Also deliver to the decorated handler the events its own script's writes caused.

    By default the daemon does not: a handler that updates the entity whose change it
    handles would trigger itself again.  The ``own_writes`` key of the handler's
    config section overrides it.
    """
    if not isinstance(receive, bool):
        raise TypeError(f"@own_writes() takes True or False, got {receive!r}")

    def mark(func: F) -> F:
        get_spec(func, create=True).own_writes = receive
        return func

    return mark


ORDERS = ("entity", "global")


def order(kind: str) -> Callable[[F], F]:
    """How strictly the daemon orders the events the decorated handler wants.

    ``"entity"`` (the default): events of one entity run one after another, in id
    order; events of different entities may run at the same time.  ``"global"``:
    every event it wants runs in id order, one at a time.  The ``order`` key of
    the handler's config section overrides it.
    """
    if kind not in ORDERS:
        raise TypeError(f"@order() takes one of {', '.join(ORDERS)}, got {kind!r}")

    def mark(func: F) -> F:
        get_spec(func, create=True).order = kind
        return func

    return mark
