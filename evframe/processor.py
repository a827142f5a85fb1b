"""The :class:`Processor`: registered handlers, their order, and event dispatch.

:class:`Context`, :class:`Report` and :class:`HandlerResult` are defined in
:mod:`evframe.context` and :mod:`evframe.report` and importable from here.
"""

from __future__ import annotations

import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from time import perf_counter
from types import MappingProxyType
from typing import Any

from evframe.context import Context as Context
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
from evframe.filters import Want
from evframe.handler import HandlerSpec, Outcome, RetryPolicy, get_spec
from evframe.ordering import HandlerGraph
from evframe.quarantine import Quarantined, quarantine
from evframe.report import HandlerResult as HandlerResult
from evframe.report import Report as Report
from evframe.runhooks import RunHooks

__all__ = ["Context", "HandlerResult", "Processor", "Report"]

Handler = Callable[["Context", Event], Any]
SgFactory = Callable[[str], Any]
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_INDEX_LIMIT = 10_000


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
        # Handlers set aside by load_from(strict=False) because the set made them unsafe.
        self.quarantined: dict[str, Quarantined] = {}

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
            raise DuplicateHandlerError.between(name, self._sources[name], source)
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
        default), the first handler that fails to load raises: a
        :class:`HandlerLoadError` naming the handler, distribution, entry point
        and error, or the :class:`RegistrationError` for a duplicate name.
        Otherwise each failure is kept in ``load_errors`` (and logged by no
        one: the caller decides) and the other handlers are registered; handlers
        a cycle or a missing requirement makes unsafe are unregistered and kept
        in ``quarantined`` (see :mod:`evframe.quarantine`).  The handler set is
        then validated.  Returns the names registered.
        """
        # Imported here, not at the top: `import evframe` stays free of stevedore, and
        # `python -m evframe.discovery` does not find its module already imported.
        from evframe.discovery import discover, load_error

        found = discover(group)
        errors = found.errors
        if strict and errors:
            cause = errors[0].cause
            raise cause if isinstance(cause, RegistrationError) else errors[0]
        loaded = []
        for name, (func, source) in found.handlers.items():
            try:
                self.register(func, name, source=source)
            except RegistrationError as exc:
                if strict:
                    raise
                errors.append(load_error(found.entry_points[name], exc, str(exc)))
                continue
            loaded.append(name)
        self.load_errors.extend(errors)
        if not strict:
            self.quarantined.update(quarantine(self))
            loaded = [name for name in loaded if name not in self.quarantined]
        self.finalize()
        return loaded

    def finalize(self) -> HandlerGraph:
        """Validate the handler set and compute the run order (done once)."""
        if self._graph is None:
            self._graph = HandlerGraph(self._funcs, self._sources, self.quarantined)
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

    @property
    def registered(self) -> list[str]:
        """Handler names in name order, without validating the set (see :attr:`names`)."""
        return sorted(self._funcs)

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
        retry: Mapping[str, RetryPolicy] | None = None,
        stop: threading.Event | None = None,
        hooks: RunHooks | None = None,
        on_call: Callable[[str], object] | None = None,
    ) -> Report:
        """Process ``event`` in isolating mode and report each handler's outcome.

        A failing handler does not stop the others; handlers that (transitively)
        require it are skipped for that event.  ``only`` restricts the run to
        those handler names (the others count as not wanting the event).

        A failing handler with a policy in ``retry`` is called again after
        ``policy.delay(attempt)`` seconds, each retry logged as a warning.  The
        waits are on ``stop``: if it is set before a failed handler would be
        called again (during the wait, or already before it) the run ends, that
        handler's outcome is ``INTERRUPTED``, no further handler runs and
        ``report.interrupted`` is set.  A stop never cuts a run short otherwise:
        the daemon finishes the event in hand before it exits.

        ``hooks`` hear of each call; an error they call site trouble is not the
        handler's: once they have waited, the handler is called again (no attempt used).
        ``on_call(name)`` is called right before each handler call (a worker
        process reports it, so a hung handler is the one blamed).
        """
        graph = self.finalize()
        report = Report(event)
        results = report.results
        queue: deque[Event] = deque((event,))
        spawned = 0
        waiter = stop
        while queue:
            ev = queue.popleft()
            blame: dict[str, str] = {}  # a skipped handler -> the requirement that failed
            stopped = False
            for name, func, ctx, check in self._entries(ev):
                if stopped:
                    break
                if only is not None and name not in only:
                    continue
                attempt = 1
                while True:
                    started = perf_counter()
                    try:
                        if check is not None and not check(ev):
                            break
                        if name in blame:
                            reason = f"requirement {blame[name]!r} failed"
                            results.append(HandlerResult(name, ev, Outcome.SKIPPED, reason=reason))
                            break
                        if hooks is not None:
                            hooks.begin(name, ev)
                        if on_call is not None:
                            on_call(name)
                        returned = func(ctx, ev)
                        if returned is not None:
                            spawned = self._enqueue(queue, returned, name, spawned)
                    except StopProcessing as stopping:
                        took = perf_counter() - started
                        results.append(
                            HandlerResult(name, ev, Outcome.OK, attempts=attempt, duration=took)
                        )
                        if stopping.retval is not UNSET:
                            report.retval = stopping.retval
                            return report
                        stopped = True
                        break
                    except Exception as exc:
                        if hooks is not None and hooks.site_trouble(exc):
                            if not hooks.wait_for_site(name, ev, exc):
                                return _interrupt(report, name, ev, attempt, exc)
                            continue
                        policy = retry.get(name) if retry else None
                        if policy is not None and attempt < policy.attempts:
                            delay = policy.delay(attempt)
                            ctx.log.warning(
                                "handler %s failed on %r (attempt %d of %d): %s: %s; "
                                "retrying in %.2f s",
                                name,
                                ev,
                                attempt,
                                policy.attempts,
                                type(exc).__name__,
                                exc,
                                delay,
                                extra={"handler": name, "event_id": getattr(ev, "id", None)},
                            )
                            if waiter is None:
                                waiter = threading.Event()  # nothing can set it: a plain wait
                            if waiter.wait(delay):
                                return _interrupt(report, name, ev, attempt, exc)
                            attempt += 1
                            continue
                        took = perf_counter() - started
                        results.append(
                            HandlerResult(
                                name, ev, Outcome.FAILED, exc, _format(exc), attempt, duration=took
                            )
                        )
                        for dependent in graph.dependents(name):
                            blame.setdefault(dependent, name)
                        break
                    else:
                        took = perf_counter() - started
                        results.append(
                            HandlerResult(name, ev, Outcome.OK, attempts=attempt, duration=took)
                        )
                        break
        return report

    def __repr__(self) -> str:
        return f"<Processor {len(self._funcs)} handlers>"


def _describe_func(func: Any) -> str:
    module = getattr(func, "__module__", "?")
    qualname = getattr(func, "__qualname__", repr(func))
    return f"{module}:{qualname}"


def _format(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _interrupt(report: Report, name: str, event: Event, attempts: int, exc: Exception) -> Report:
    """End ``report`` at handler ``name``, which a stop kept from being called again."""
    report.results.append(
        HandlerResult(
            name, event, Outcome.INTERRUPTED, exc, _format(exc), attempts, reason="stopping"
        )
    )
    report.interrupted = True
    return report
