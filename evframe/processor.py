"""The :class:`Processor`: registered handlers, their order, and event dispatch."""

from __future__ import annotations

import importlib.metadata
import inspect
import logging
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import stevedore

from evframe.errors import (
    UNSET,
    DuplicateHandlerError,
    FollowupLimitError,
    HandlerLoadError,
    HandlerReturnError,
    RegistrationError,
    StopProcessing,
)
from evframe.event import Event
from evframe.filters import HandlerSpec, Want, get_spec
from evframe.ordering import HandlerGraph

__all__ = [
    "FAILED",
    "NOT_WANTED",
    "OK",
    "SKIPPED",
    "Context",
    "HandlerResult",
    "Processor",
    "Report",
]

log = logging.getLogger(__name__)

OK = "ok"
FAILED = "failed"
SKIPPED = "skipped"
NOT_WANTED = "not_wanted"

Handler = Callable[["Context", Event], Any]
SgFactory = Callable[[str], Any]
RetryHook = Callable[[str, Event, BaseException, int], bool]
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_INDEX_LIMIT = 10_000


class Context:
    """What a handler gets as its first argument.

    ``processor``, ``name``, ``log`` (logger ``evframe.handler.<name>``),
    ``config`` (the handler's options, read-only) and ``sg`` (a
    ``shotgun_api3.Shotgun`` for the handler's credentials, made on first use
    and reused).
    """

    __slots__ = ("_sg", "_sg_made", "config", "log", "name", "processor")

    def __init__(self, processor: Processor, name: str, config: Mapping[str, Any]) -> None:
        self.processor = processor
        self.name = name
        self.log = logging.getLogger(f"evframe.handler.{name}")
        self.config: Mapping[str, Any] = config
        self._sg: Any = None
        self._sg_made = False

    @property
    def sg(self) -> Any:
        """The site connection for this handler (``shotgun_api3.Shotgun``)."""
        if not self._sg_made:
            factory = self.processor.sg_factory
            if factory is None:
                raise RuntimeError(
                    f"handler {self.name!r} used ctx.sg, but this Processor has no site "
                    "connection: pass sg_factory= to Processor (the daemon does), or give "
                    "one in tests with evframe.testing"
                )
            self._sg = factory(self.name)
            self._sg_made = True
        return self._sg

    @sg.setter
    def sg(self, value: Any) -> None:
        self._sg = value
        self._sg_made = True

    def __repr__(self) -> str:
        return f"<Context {self.name}>"


@dataclass
class HandlerResult:
    """What happened when one handler met one event."""

    name: str
    event: Event
    status: str
    error: BaseException | None = None
    traceback: str | None = None
    attempts: int = 1
    reason: str | None = None


@dataclass
class Report:
    """The outcome of :meth:`Processor.run` for one root event and its follow-ups."""

    event: Event
    retval: Any = None
    results: list[HandlerResult] = field(default_factory=list)

    def outcome(self, name: str) -> str:
        """``ok``, ``failed``, ``skipped`` or ``not_wanted`` for one handler."""
        status = NOT_WANTED
        for result in self.results:
            if result.name == name:
                if result.status == FAILED:
                    return FAILED
                if status != SKIPPED:
                    status = result.status
        return status

    @property
    def failures(self) -> list[HandlerResult]:
        """Results of handlers that raised (or returned something wrong)."""
        return [r for r in self.results if r.status == FAILED]

    @property
    def skipped(self) -> list[HandlerResult]:
        """Results of handlers skipped because a requirement failed."""
        return [r for r in self.results if r.status == SKIPPED]

    @property
    def ok(self) -> bool:
        """True when no handler failed or was skipped."""
        return all(r.status == OK for r in self.results)


# One dispatch entry: (name, function, context, extra per-event check or None).
_Entry = tuple[str, Handler, Context, "Callable[[Event], Any] | None"]


def _dynamic_check(wants: list[Want]) -> Callable[[Event], Any] | None:
    """The per-event part of the filters that can match, or None if none is needed."""
    if any(not w.dynamic for w in wants):
        return None
    if len(wants) == 1:
        only = wants[0]
        if only.project is None and len(only.predicates) == 1:
            return only.predicates[0]
        return only.matches_dynamic
    return lambda event: any(w.matches_dynamic(event) for w in wants)


class _FreshExtensionManager(stevedore.ExtensionManager[Any]):
    """An ExtensionManager that reads installed metadata anew each time.

    stevedore caches entry points per process; the daemon must see packages
    installed or upgraded while it runs.
    """

    def list_entry_points(self) -> list[importlib.metadata.EntryPoint]:
        seen: set[tuple[str, str]] = set()
        out = []
        eps = importlib.metadata.entry_points(group=self.namespace)
        for ep in sorted(eps, key=lambda e: (e.name, e.value)):
            if (ep.name, ep.value) not in seen:
                seen.add((ep.name, ep.value))
                out.append(ep)
        return out


def describe_entry_point(ep: importlib.metadata.EntryPoint) -> str:
    """``entry point 'name = module:func' in distribution 'dist 1.0'``."""
    dist = getattr(ep, "dist", None)
    where = f" in distribution '{dist.name} {dist.version}'" if dist is not None else ""
    return f"entry point '{ep.name} = {ep.value}' (group {ep.group}){where}"


class Processor:
    """Registered handlers, the order they run in, and the dispatch of events.

    ``config`` maps a handler name to its options (``ctx.config``);
    ``sg_factory(name)`` makes the handler's site connection (``ctx.sg``);
    ``max_followups`` bounds the follow-up events one root event may spawn.
    """

    def __init__(
        self,
        *,
        config: Mapping[str, Mapping[str, Any]] | Callable[[str], Mapping[str, Any]] | None = None,
        sg_factory: SgFactory | None = None,
        max_followups: int = 1000,
    ) -> None:
        self.sg_factory = sg_factory
        self.max_followups = max_followups
        self._config = config
        self._funcs: dict[str, Handler] = {}
        self._sources: dict[str, str] = {}
        self._contexts: dict[str, Context] = {}
        self._graph: HandlerGraph | None = None
        self._index: dict[tuple[str, str | None, str | None], tuple[_Entry, ...]] = {}
        self.load_errors: list[HandlerLoadError] = []

    # -- registration -------------------------------------------------

    def register(
        self, func: Handler, name: str | None = None, *, source: str | None = None
    ) -> Handler:
        """Register ``func`` as the handler ``name`` (default: its ``__name__``).

        Returns ``func`` unchanged, so this works as a decorator too.
        """
        if not callable(func):
            raise RegistrationError(f"handler {name or func!r} is not callable: {func!r}")
        name = name or getattr(func, "__name__", None)
        if not name:
            raise RegistrationError(f"handler {func!r} has no __name__; pass name=")
        source = source or _describe_func(func)
        if name in self._funcs:
            raise DuplicateHandlerError(
                f"two handlers are named {name!r}: {self._sources[name]} and {source}; "
                "rename one of them (the name is the entry-point name)"
            )
        self._funcs[name] = func
        self._sources[name] = source
        self._invalidate()
        return func

    def unregister(self, name: str) -> None:
        """Remove the handler ``name``."""
        del self._funcs[name]
        del self._sources[name]
        self._invalidate()

    def _invalidate(self) -> None:
        self._graph = None
        self._index = {}
        self._contexts = {}

    def load_from(self, group: str = "evframe.handlers", *, strict: bool = True) -> list[str]:
        """Register every handler of the entry-point ``group`` (loaded with stevedore).

        A handler is named by its entry-point name.  With ``strict`` (the
        default), the first package that fails to load raises
        :class:`HandlerLoadError` naming the distribution, entry point and
        error; otherwise each failure is logged, kept in ``load_errors``, and
        the other handlers are loaded.  The handler set is then validated.
        Returns the names registered.
        """
        errors: list[HandlerLoadError] = []

        def failed(_manager: Any, ep: importlib.metadata.EntryPoint, exc: BaseException) -> None:
            errors.append(
                HandlerLoadError(
                    f"cannot load handler {ep.name!r} from {describe_entry_point(ep)}: "
                    f"{type(exc).__name__}: {exc}",
                    entry_point=f"{ep.name} = {ep.value}",
                    distribution=_dist_name(ep),
                    cause=exc,
                )
            )

        manager = _FreshExtensionManager(
            group, invoke_on_load=False, on_load_failure_callback=failed
        )
        loaded = []
        for ext in manager.extensions:
            ep = ext.entry_point
            try:
                _check_handler(ext.plugin, ext.name)
                self.register(ext.plugin, ext.name, source=describe_entry_point(ep))
            except (RegistrationError, TypeError) as exc:
                if strict and isinstance(exc, RegistrationError):
                    raise
                errors.append(
                    HandlerLoadError(
                        f"cannot load handler {ext.name!r} from {describe_entry_point(ep)}: {exc}",
                        entry_point=f"{ep.name} = {ep.value}",
                        distribution=_dist_name(ep),
                        cause=exc,
                    )
                )
                continue
            loaded.append(ext.name)
        self.load_errors.extend(errors)
        if errors and strict:
            raise errors[0]
        for error in errors:
            log.error("%s", error)
        self.finalize()
        return loaded

    def finalize(self) -> HandlerGraph:
        """Validate the handler set and compute the run order (done once)."""
        if self._graph is None:
            self._graph = HandlerGraph(self._funcs, self._sources)
            self._contexts = {name: self._make_context(name) for name in self._graph.order}
        return self._graph

    def _make_context(self, name: str) -> Context:
        cfg = self._config
        options: Mapping[str, Any]
        if cfg is None:
            options = _EMPTY
        elif callable(cfg):
            options = cfg(name)
        else:
            options = cfg.get(name, _EMPTY)
        if not isinstance(options, MappingProxyType):
            options = MappingProxyType(dict(options))
        return Context(self, name, options)

    # -- introspection ------------------------------------------------

    @property
    def graph(self) -> HandlerGraph:
        """The validated ordering graph."""
        return self.finalize()

    @property
    def names(self) -> list[str]:
        """Handler names in run order."""
        return list(self.finalize().order)

    def handler(self, name: str) -> Handler:
        """The function registered as ``name``."""
        return self._funcs[name]

    def spec(self, name: str) -> HandlerSpec:
        """The ``@want``/``@requires`` spec of handler ``name``."""
        return get_spec(self._funcs[name])

    def source(self, name: str) -> str:
        """Where handler ``name`` came from (entry point and distribution)."""
        return self._sources[name]

    def context(self, name: str) -> Context:
        """The context handler ``name`` is called with."""
        self.finalize()
        return self._contexts[name]

    def wanted_by(self, event: Event) -> list[str]:
        """Names of the handlers that want ``event``, in run order."""
        return [
            name for name, _f, _c, check in self._entries(event) if check is None or check(event)
        ]

    # -- dispatch -----------------------------------------------------

    def _entries(self, event: Event) -> tuple[_Entry, ...]:
        key = (event.name, event.entity_type, event.field)
        entries = self._index.get(key)
        if entries is None:
            entries = self._build_entries(key)
        return entries

    def _build_entries(self, key: tuple[str, str | None, str | None]) -> tuple[_Entry, ...]:
        graph = self.finalize()
        name, entity_type, field_name = key
        entries: list[_Entry] = []
        for handler_name in graph.order:
            func = self._funcs[handler_name]
            wants = get_spec(func).wants
            if not wants:
                entries.append((handler_name, func, self._contexts[handler_name], None))
                continue
            matching = [w for w in wants if w.matches_static(name, entity_type, field_name)]
            if matching:
                check = _dynamic_check(matching)
                entries.append((handler_name, func, self._contexts[handler_name], check))
        if len(self._index) >= _INDEX_LIMIT:
            # Keys come from a site's schema, so this only trips on odd input.
            self._index.clear()
        result = self._index[key] = tuple(entries)
        return result

    def process(self, event: Event, *, isolate: bool = False) -> Any:
        """Run every handler that wants ``event``, then its follow-up events.

        Returns ``None``, or the value given to ``StopProcessing(value)``.  By
        default a handler's exception propagates; with ``isolate=True`` it is
        logged, handlers requiring the failed one are skipped, and the others
        run (see :meth:`run` for the per-handler outcomes).
        """
        if isolate:
            report = self.run(event)
            for failure in report.failures:
                self.context(failure.name).log.error(
                    "handler %s failed on %r:\n%s", failure.name, failure.event, failure.traceback
                )
            return report.retval
        if self._graph is None:
            self.finalize()
        queue: deque[Event] = deque((event,))
        spawned = 0
        index = self._index
        while queue:
            ev = queue.popleft()
            entries = index.get((ev.name, ev.entity_type, ev.field))
            if entries is None:
                entries = self._build_entries((ev.name, ev.entity_type, ev.field))
            for name, func, ctx, check in entries:
                if check is not None and not check(ev):
                    continue
                try:
                    result = func(ctx, ev)
                except StopProcessing as stop:
                    if stop.retval is not UNSET:
                        return stop.retval
                    break
                if result is not None:
                    spawned = self._enqueue(queue, result, name, spawned)
        return None

    def _enqueue(self, queue: deque[Event], result: Any, name: str, spawned: int) -> int:
        if isinstance(result, (str, bytes, Mapping, Event)) or not isinstance(result, Iterable):
            hint = " (return a list: [event])" if isinstance(result, Event) else ""
            raise HandlerReturnError(
                f"handler {name!r} returned {type(result).__name__} {result!r:.80}; a handler "
                f"returns None or an iterable of evframe Event objects{hint}"
            )
        # Check everything before queuing anything: a handler whose return value is
        # refused has failed, and none of its follow-ups may run.
        items = list(result)
        for item in items:
            if not isinstance(item, Event):
                raise HandlerReturnError(
                    f"handler {name!r} returned an iterable containing {type(item).__name__} "
                    f"{item!r:.80}; follow-up events must be evframe Event objects"
                )
        spawned += len(items)
        if spawned > self.max_followups:
            raise FollowupLimitError(
                f"handler {name!r} returned follow-up events beyond the limit of "
                f"{self.max_followups} follow-up events for one root event (a handler that "
                "answers its own events forms a loop); raise Processor(max_followups=...) "
                "if this is intended"
            )
        queue.extend(items)
        return spawned

    def run(
        self,
        event: Event,
        *,
        only: frozenset[str] | set[str] | None = None,
        retry: RetryHook | None = None,
    ) -> Report:
        """Process ``event`` in isolating mode and report each handler's outcome.

        A failing handler does not stop the others; handlers that (transitively)
        require it are skipped for that event.  ``only`` restricts the run to
        those handler names (the others count as not wanting the event).
        ``retry(name, event, exc, attempt)`` is asked after each failure and
        returns True to call the handler again (it may wait first).
        """
        graph = self.finalize()
        report = Report(event)
        results = report.results
        queue: deque[Event] = deque((event,))
        spawned = 0
        while queue:
            ev = queue.popleft()
            skip: set[str] = set()
            blame: dict[str, str] = {}
            stopped = False
            for name, func, ctx, check in self._entries(ev):
                if stopped:
                    break
                if only is not None and name not in only:
                    continue
                attempt = 1
                while True:
                    try:
                        if check is not None and not check(ev):
                            break
                        if name in skip:
                            results.append(
                                HandlerResult(
                                    name, ev, SKIPPED, reason=f"requirement {blame[name]!r} failed"
                                )
                            )
                            break
                        returned = func(ctx, ev)
                        if returned is not None:
                            spawned = self._enqueue(queue, returned, name, spawned)
                    except StopProcessing as stop:
                        results.append(HandlerResult(name, ev, OK, attempts=attempt))
                        if stop.retval is not UNSET:
                            report.retval = stop.retval
                            return report
                        stopped = True
                        break
                    except Exception as exc:
                        if retry is not None and retry(name, ev, exc, attempt):
                            attempt += 1
                            continue
                        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
                        results.append(HandlerResult(name, ev, FAILED, exc, tb, attempt))
                        for dependent in graph.dependents(name):
                            if dependent not in skip:
                                skip.add(dependent)
                                blame[dependent] = name
                        break
                    else:
                        results.append(HandlerResult(name, ev, OK, attempts=attempt))
                        break
        return report

    def __repr__(self) -> str:
        return f"<Processor {len(self._funcs)} handlers>"


def _dist_name(ep: importlib.metadata.EntryPoint) -> str | None:
    dist = getattr(ep, "dist", None)
    return dist.name if dist is not None else None


def _describe_func(func: Any) -> str:
    module = getattr(func, "__module__", "?")
    qualname = getattr(func, "__qualname__", repr(func))
    return f"{module}:{qualname}"


def _check_handler(func: Any, name: str) -> None:
    """Refuse at load time what could only fail on the first event."""
    if not callable(func):
        raise TypeError(
            f"{func!r} is not callable; an evframe handler is a function handler(ctx, event)"
        )
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(None, None)
    except TypeError as exc:
        raise TypeError(
            f"handler {name!r} cannot be called as handler(ctx, event): signature {sig} ({exc})"
        ) from None
