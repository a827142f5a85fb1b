"""Executors run one event's handler chain and report each handler's outcome.

The chain is the unit of work: for one event, the handlers that get it run in
their order, in one place, sharing ``event.proc``.  :class:`InlineExecutor` runs
it in the daemon's thread; other executors (threads, processes, remote workers)
implement the same :class:`Executor` interface.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Protocol

from evframe.daemon.watch import HandlerWatch
from evframe.event import ShotgunEvent
from evframe.handler import RetryPolicy
from evframe.processor import Processor, Report
from evframe.site import Connections

__all__ = ["Executor", "InlineExecutor"]


class Executor(Protocol):
    """Runs handler chains."""

    def run(
        self, event: ShotgunEvent, only: frozenset[str], retry: Mapping[str, RetryPolicy]
    ) -> Report:
        """Run ``event`` through the handlers in ``only``; a stop ends it early
        (``report.interrupted``)."""
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
