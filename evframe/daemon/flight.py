"""Chains in flight on a concurrent executor: order keys, a bound, completions.

The daemon's loop hands each event's chain to :meth:`Flight.submit` and goes on
reading; it does not wait for the chain.  Every chain has order keys (its
entity, and ``global`` when a handler with ``order = "global"`` wants it).  A
chain starts once it is the oldest one waiting on each of its keys, so events
with a key in common run one after another in id order while the others
overlap.  At most ``limit`` chains are accepted at once (waiting or running);
``submit`` blocks beyond that.

Completions arrive from the executor's threads and are applied in the daemon's
thread (:meth:`Flight.collect`): the ledger learns what is done, the roster
applies failure policies.  A group paused at event E forgets the chains of its
members for events after E (their outcomes are ignored; the group runs them
again when it resumes).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from evframe.config import Config
from evframe.daemon.executor import ChainRunner, make_runner
from evframe.daemon.gaps import Gaps
from evframe.daemon.jobs import GLOBAL_KEY, OutcomeData, entity_key, make_job, report_of
from evframe.daemon.ledger import Ledger
from evframe.daemon.roster import Roster
from evframe.event import ShotgunEvent
from evframe.handler import Status
from evframe.processor import Processor, Report

__all__ = ["Flight", "global_handlers", "open_flight"]

log = logging.getLogger("evframe.daemon")


def global_handlers(processor: Processor, orders: Mapping[str, str | None]) -> frozenset[str]:
    """Handlers whose events run in global id order: those that ask for it
    (``orders``: the config's ``order``, else the ``@order`` decorator), and every
    handler of a group one of them belongs to."""
    asked = {
        name
        for name in processor.names
        if (orders.get(name) or processor.spec(name).order) == GLOBAL_KEY
    }
    out: set[str] = set()
    for name in asked:
        out.update(processor.graph.group(name))
    return frozenset(out)


@dataclass
class _Chain:
    seq: int
    event_id: int
    record: dict[str, Any]
    event: ShotgunEvent
    who: frozenset[str]
    keys: tuple[str, ...]
    late: bool
    started: bool = False
    names: list[str] = field(default_factory=list)


class Flight:
    """The chains handed to ``runner`` and not yet applied."""

    def __init__(
        self,
        runner: ChainRunner,
        *,
        roster: Roster,
        ledger: Ledger,
        gaps: Gaps,
        processor: Processor,
        stop: threading.Event,
        limit: int,
        global_names: Collection[str] = (),
        versions: Mapping[str, str] | None = None,
        on_report: Callable[[dict[str, Any], frozenset[str], Report], None] | None = None,
    ) -> None:
        self.runner = runner
        self.on_report = on_report  # the daemon's observer: metrics see every chain
        self.roster = roster
        self.ledger = ledger
        self.gaps = gaps
        self.processor = processor
        self.stop = stop
        self.limit = max(1, limit)
        self.global_names = frozenset(global_names)
        self.versions = versions
        self.chains: dict[int, _Chain] = {}
        self.queues: dict[str, deque[int]] = {}
        self.completed = 0
        self._seq = 0
        self._arrived: deque[OutcomeData] = deque()
        self._signal = threading.Event()

    def __len__(self) -> int:
        return len(self.chains)

    # -- submitting ------------------------------------------------------

    def submit(self, record: dict[str, Any], who: frozenset[str], *, late: bool = False) -> bool:
        """Accept one event's chain for ``who``; False if a stop came while waiting
        for room (the event then counts as not handed out)."""
        if len(self.chains) >= self.limit:
            version = self.roster.version
            while len(self.chains) >= self.limit:
                if self.stop.is_set():
                    return False
                self.collect(wait=0.05)
            if version != self.roster.version:
                # A completion paused a group meanwhile: ``who`` was named before that.
                members = self.roster.members
                who = frozenset(n for n in who if members[n].status is Status.ACTIVE)
                if not who:
                    return True
        event = ShotgunEvent(record)
        event_id = int(record["id"])
        if late:
            self.gaps.hold(event_id)
        else:
            self.ledger.handed_out(who, event_id)
        self._seq += 1
        chain = _Chain(self._seq, event_id, record, event, who, self._keys(event, who), late)
        self.chains[chain.seq] = chain
        for key in chain.keys:
            self.queues.setdefault(key, deque()).append(chain.seq)
        if all(self.queues[k][0] == chain.seq for k in chain.keys):
            self._start([chain])
        if self._arrived:
            self.collect()
        return True

    def _keys(self, event: ShotgunEvent, who: frozenset[str]) -> tuple[str, ...]:
        key = entity_key(event)
        glob = self.global_names
        if glob and not glob.isdisjoint(who):
            wanted = glob.intersection(who).intersection(self.processor.wanted_by(event))
            if wanted:
                return (key, GLOBAL_KEY)
        return (key,)

    def _start(self, ready: list[_Chain]) -> None:
        """Start the chains in ``ready``, and any that become ready because one of
        them had nothing left to run."""
        while ready:
            if self.stop.is_set():
                return  # finish the chains in hand, start no more (drain drops the rest)
            chain = ready.pop()
            event_id = chain.event_id
            if chain.late:
                members = self.roster.members
                names = [n for n in chain.who if members[n].status is Status.ACTIVE]
            else:
                names = [n for n in chain.who if self.ledger.accepted(n, event_id)]
            chain.started = True
            if not names:  # every recipient was rewound meanwhile: nothing to run
                ready.extend(self._finish(chain, None))
                continue
            chain.names = names
            job = make_job(
                chain.seq, chain.record, names, chain.keys, self.roster.retry, self.versions
            )
            self.runner.start(job, self._arrive)

    def _arrive(self, outcome: OutcomeData) -> None:
        # Called from the executor's threads: only hand over.
        self._arrived.append(outcome)
        self._signal.set()

    # -- completing ------------------------------------------------------

    def collect(self, wait: float | None = None) -> None:
        """Apply the completions that arrived (waiting up to ``wait`` seconds for one)."""
        if wait is not None and not self._arrived:
            self._signal.wait(wait)
        self._signal.clear()
        arrived = self._arrived
        while arrived:
            outcome = arrived.popleft()
            chain = self.chains.get(int(outcome["seq"]))
            if chain is None or not chain.started:
                continue  # a chain sent twice (a remote worker was lost) finished twice
            self._start(self._finish(chain, outcome))

    def _finish(self, chain: _Chain, outcome: OutcomeData | None) -> list[_Chain]:
        """Apply one chain's outcome; returns the chains that may start now."""
        del self.chains[chain.seq]
        self.completed += 1
        if outcome is None or not outcome.get("interrupted"):
            self._apply(chain, outcome)
        # An interrupted chain (a stop) is not done: its ids stay in flight in the
        # ledger (or pending, when late), so the state file keeps them undone.
        ready = []
        for key in chain.keys:
            queue = self.queues[key]
            queue.remove(chain.seq)
            if not queue:
                del self.queues[key]
                continue
            head = self.chains[queue[0]]
            if not head.started and all(self.queues[k][0] == head.seq for k in head.keys):
                ready.append(head)
        return ready

    def _apply(self, chain: _Chain, outcome: OutcomeData | None) -> None:
        event_id = chain.event_id
        if chain.late:
            self.gaps.release(event_id)
            accepted = set(chain.names)
        else:
            accepted = {n for n in chain.names if self.ledger.finished(n, event_id)}
            members = self.roster.members
            for name in [n for n in accepted if members[n].status is Status.FAILED]:
                if event_id > members[name].cursor:  # past where its group paused: not done
                    self.ledger.rewind(name, event_id)
                    accepted.discard(name)
        if outcome is None:
            return
        report = report_of(chain.event, outcome)
        report.results = [r for r in report.results if r.name in accepted]
        if self.on_report is not None:
            self.on_report(chain.record, frozenset(chain.names), report)
        if report.failures or report.skipped:
            self._settle(chain, report)

    def _settle(self, chain: _Chain, report: Report) -> None:
        event_id = chain.event_id
        roster = self.roster
        # A handler already paused at a later event failed on an earlier one that was
        # still in flight: the group goes back to just before this one.
        for failure in report.failures:
            if roster.members[failure.name].status is not Status.ACTIVE:
                for m in roster.group(failure.name):
                    if m.status is Status.FAILED and m.cursor >= event_id:
                        m.cursor = event_id - 1
                        self.ledger.rewind(m.name, event_id)
        for name in roster.settle(chain.record, report):
            self.ledger.rewind(name, event_id)

    # -- ending ----------------------------------------------------------

    def drain(self) -> None:
        """Wait for the chains in flight.  After a stop, chains not started are
        dropped (not done: they come again), and running ones are waited for at
        most the runner's ``stop_wait`` seconds."""
        stopped_at: float | None = None
        while self.chains:
            if self.stop.is_set():
                for chain in [c for c in self.chains.values() if not c.started]:
                    self._drop(chain)
                stopped_at = time.monotonic() if stopped_at is None else stopped_at
                if not self.chains or time.monotonic() - stopped_at >= self.runner.stop_wait:
                    break
            self.collect(wait=0.1)
        if self.chains:
            log.warning(
                "stopping with %d chain(s) still running: their events are delivered again "
                "at the next start",
                len(self.chains),
            )

    def _drop(self, chain: _Chain) -> None:
        del self.chains[chain.seq]
        for key in chain.keys:
            queue = self.queues[key]
            queue.remove(chain.seq)
            if not queue:
                del self.queues[key]

    def close(self) -> None:
        """Stop the runner (after :meth:`drain`)."""
        self.runner.close()


# Chains accepted per worker: enough to keep every worker busy while the loop reads on.
IN_FLIGHT_PER_WORKER = 4


def open_flight(
    config: Config,
    processor: Processor,
    stop: threading.Event,
    *,
    roster: Roster,
    ledger: Ledger,
    gaps: Gaps,
    url: str,
    shared: bool,
    on_report: Callable[[dict[str, Any], frozenset[str], Report], None] | None = None,
) -> Flight | None:
    """The flight for ``daemon.executor``, or None for the inline executor."""
    runner = make_runner(
        config,
        processor,
        stop,
        url=url,
        shared=shared,
        pass_sessions=any(h.pass_session_uuid for h in config.handlers.values()),
    )
    if runner is None:
        return None
    orders = {name: config.handler(name).order for name in processor.names}
    return Flight(
        runner,
        roster=roster,
        ledger=ledger,
        gaps=gaps,
        processor=processor,
        stop=stop,
        limit=config.daemon.workers * IN_FLIGHT_PER_WORKER,
        global_names=global_handlers(processor, orders),
        versions=getattr(runner, "versions", None),
        on_report=on_report,
    )
