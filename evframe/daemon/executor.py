"""Executors run event handler chains and report each handler's outcome.

The chain is the unit of work: for one event, the handlers that get it run in
their order, in one place, sharing ``event.proc``.  :class:`InlineExecutor` runs
it in the daemon's thread and returns the :class:`Report` (the default, and the
fastest when handlers are quick).  The concurrent executors are
:class:`ChainRunner` s: they take a JSON job (:mod:`evframe.daemon.jobs`), run it
somewhere — :class:`ThreadRunner` in a thread pool,
:class:`~evframe.daemon.procpool.ProcessRunner` in worker processes,
:class:`~evframe.daemon.remote.CeleryRunner` on Celery workers — and hand the
JSON outcome to a callback; :mod:`evframe.daemon.flight` keeps their order.
"""

from __future__ import annotations

import math
import threading
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from evframe.config import Config, ConfigError
from evframe.daemon.jobs import Job, OutcomeData, failed_outcome, run_job
from evframe.daemon.watch import HandlerWatch
from evframe.event import ShotgunEvent
from evframe.handler import RetryPolicy
from evframe.processor import Processor, Report
from evframe.site import Connections

__all__ = ["ChainRunner", "Executor", "InlineExecutor", "ThreadRunner", "make_runner"]

Done = Callable[[OutcomeData], None]


class Executor(Protocol):
    """Runs handler chains."""

    def run(
        self, event: ShotgunEvent, only: frozenset[str], retry: Mapping[str, RetryPolicy]
    ) -> Report:
        """Run ``event`` through the handlers in ``only``; a stop ends it early
        (``report.interrupted``)."""
        ...


class ChainRunner(Protocol):
    """Runs jobs somewhere else and reports their outcomes, without blocking.

    ``stop_wait``: how long the daemon, when stopped, waits for the chains
    running (``math.inf``: until they end).
    """

    stop_wait: float

    def start(self, job: Job, done: Done) -> None:
        """Start ``job``; ``done(outcome)`` is called once, from any thread."""
        ...

    def close(self) -> None:
        """Release workers (the daemon waited for what it needed)."""
        ...


class InlineExecutor:
    """Runs each chain in the calling thread, one after another.

    ``watch`` hears of each handler call: it times it against the handler's budget,
    waits out site trouble met in it, and fences the thread off at the chain's end
    if a stop abandoned the chain (:mod:`evframe.daemon.watch`).
    """

    def __init__(
        self,
        processor: Processor,
        stop: threading.Event,
        connections: Connections | None = None,
        *,
        pass_sessions: bool = False,
        watch: HandlerWatch | None = None,
    ) -> None:
        self.processor = processor
        self.stop = stop
        self.connections = connections
        self.pass_sessions = pass_sessions and connections is not None
        self.watch = watch

    def run(
        self, event: ShotgunEvent, only: frozenset[str], retry: Mapping[str, RetryPolicy]
    ) -> Report:
        if self.pass_sessions:
            assert self.connections is not None
            self.connections.set_session_uuid(event.session_uuid)
        watch = self.watch
        if watch is None:
            return self.processor.run(event, only=only, retry=retry, stop=self.stop)
        watch.chain(event, only)
        try:
            return self.processor.run(event, only=only, retry=retry, stop=self.stop, hooks=watch)
        finally:
            watch.end()


def clone_processor(processor: Processor, sg_factory: Callable[[str], object]) -> Processor:
    """The same handler functions on a processor of their own (own contexts, so own
    ``ctx.sg``: a ``shotgun_api3`` connection must not be shared between threads)."""
    clone = Processor(
        config=lambda name: processor.context(name).config,
        sg_factory=sg_factory,
        max_followups=processor.max_followups,
    )
    for name in processor.names:
        clone.register(processor.handler(name), name, source=processor.source(name))
    clone.finalize()
    return clone


class ThreadRunner:
    """Chains in a pool of ``workers`` threads, each with its own processor and site
    connections.  For handlers that wait (on the site, on other services)."""

    stop_wait = math.inf

    def __init__(
        self,
        processor: Processor,
        stop: threading.Event,
        workers: int,
        connections: Callable[[], Connections] | None = None,
        *,
        pass_sessions: bool = False,
    ) -> None:
        self.processor = processor
        self.stop = stop
        self._connections = connections
        self.pass_sessions = pass_sessions
        self._local = threading.local()
        self._made: list[Connections] = []
        self._lock = threading.Lock()
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="evframe-chain")

    def _mine(self) -> tuple[Processor, Connections | None]:
        mine: tuple[Processor, Connections | None] | None = getattr(self._local, "mine", None)
        if mine is None:
            if self._connections is None:  # a processor handed in (tests): shared
                mine = (self.processor, None)
            else:
                connections = self._connections()
                with self._lock:
                    self._made.append(connections)
                mine = (clone_processor(self.processor, connections.for_handler), connections)
            self._local.mine = mine
        return mine

    def start(self, job: Job, done: Done) -> None:
        self.pool.submit(self._run, job, done)

    def _run(self, job: Job, done: Done) -> None:
        processor, connections = self._mine()
        before = None
        if self.pass_sessions and connections is not None:
            sessions = connections

            def before(event: ShotgunEvent) -> None:
                sessions.set_session_uuid(event.session_uuid)

        try:
            outcome = run_job(processor, job, self.stop, before=before)
        except BaseException as exc:  # SystemExit from a handler: a failure, not a lost chain
            outcome = failed_outcome(job, "".join(traceback.format_exception(exc)))
        done(outcome)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        for connections in self._made:
            connections.close()


def make_runner(
    config: Config,
    processor: Processor,
    stop: threading.Event,
    *,
    url: str,
    shared: bool,
    pass_sessions: bool,
) -> ChainRunner | None:
    """The runner ``daemon.executor`` names (None: inline).  ``shared``: the processor
    was handed in, so threads share it instead of building their own."""
    dcfg = config.daemon
    if dcfg.executor == "threads":
        connections = None if shared else (lambda: Connections(config, url))
        return ThreadRunner(processor, stop, dcfg.workers, connections, pass_sessions=pass_sessions)
    if dcfg.executor == "processes":
        from evframe.daemon.procpool import ProcessRunner

        return ProcessRunner(config, processor, url=url)
    if dcfg.executor == "celery":
        if not dcfg.broker:
            raise ConfigError(
                'required with executor = "celery" (a redis:// URL, or set EVFRAME_BROKER_URL)',
                key="daemon.broker",
                path=config.path,
            )
        from evframe.daemon.remote import CeleryRunner

        return CeleryRunner(config, processor, url=url)
    return None
