"""The daemon's loop: read, deliver, wait for late ids, catch up, commit.

One cycle reads the rows after the read cursor and delivers each to the
handlers :meth:`Roster.recipients` names, fetches pending ids, moves lagging
handlers forward by a page, and commits.  Everything outside — where rows come
from, what time it is, how a handler chain runs — is handed in, so the loop is
tested in memory with a fake clock.  Signal handling lives in the CLI;
:meth:`Daemon.stop` and :meth:`Daemon.request_reload` are all it calls.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from evframe import discovery
from evframe.config import Config
from evframe.daemon.clock import Clock, SystemClock
from evframe.daemon.credentials import CredentialsWatch
from evframe.daemon.executor import Executor, InlineExecutor
from evframe.daemon.flight import Flight, open_flight
from evframe.daemon.gaps import Gaps
from evframe.daemon.hints import Hints
from evframe.daemon.holds import record_holds, refuse_unknown_names, serving_names
from evframe.daemon.ledger import Ledger
from evframe.daemon.observe import Observer
from evframe.daemon.ownwrites import OwnWrites
from evframe.daemon.pacing import Pacing
from evframe.daemon.reload import Reloader, announce, load_handler_set, watching
from evframe.daemon.roster import Roster
from evframe.daemon.source import EventSource, SiteSource
from evframe.daemon.watch import Chain, HandlerWatch
from evframe.daemon.webhook import Intake
from evframe.event import ShotgunEvent
from evframe.processor import Processor
from evframe.site import Connections, SiteGuard, Stopping, site_shotgun
from evframe.state import State

__all__ = ["Daemon", "RunResult"]

log = logging.getLogger("evframe.daemon")

PENDING_CHUNK = 500
HEARTBEAT = 600.0


class RunResult(enum.Enum):
    """Why :meth:`Daemon.run` returned."""

    STOPPED = "stopped"  # stop() was called
    FINISHED = "finished"  # a burst mode (--once, --until-caught-up, --max-events) ended
    RELOAD = "reload"  # a new, valid handler set is installed: start again to load it


class Daemon:
    """Polls a site's event log and feeds every event to the installed handlers.

    ``once``: one cycle, then return.  ``until_caught_up``: return once every
    handler has reached the newest event.  ``max_events``: return after reading
    that many events.  ``site_url`` overrides the config's (the embedded sandbox
    uses it).  ``restarted`` says this process took over from one that returned
    :attr:`RunResult.RELOAD`.

    For tests and embedding: ``source`` replaces the site's event log,
    ``clock`` the real clock, ``processor`` the installed handler set, and
    ``fingerprints``/``validate`` how installed handler packages are noticed and
    checked.  ``on_abandon`` is called (from the watchdog thread) once a stop gave
    up waiting for a stuck handler and the state is committed: it ends the process.
    """

    def __init__(
        self,
        config: Config,
        *,
        site_url: str | None = None,
        once: bool = False,
        until_caught_up: bool = False,
        max_events: int | None = None,
        restarted: bool = False,
        source: EventSource | None = None,
        clock: Clock | None = None,
        processor: Processor | None = None,
        fingerprints: Callable[[str], dict[str, str]] = discovery.fingerprints,
        validate: Callable[[str], discovery.Validation] = discovery.validate_in_subprocess,
        observer: Observer | None = None,
        on_abandon: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.dcfg = config.daemon
        self.once = once
        self.until_caught_up = until_caught_up
        self.max_events = max_events
        self.restarted = restarted
        self.clock: Clock = clock or SystemClock()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._reload_requested = False
        self.observe = observer or Observer()
        self.credentials = CredentialsWatch(config.site.script_name)
        self.on_abandon = on_abandon
        if source is None:
            url = site_url or config.site.url
            if not url:
                raise ValueError("no site URL")
            sg = site_shotgun(config.site, url)
            guard = SiteGuard(
                self._stopping,
                error_after=self.dcfg.site_error_after,
                on_error=self.observe.site_error,
                **self.credentials.hooks(),
            )
            source = SiteSource(sg, url, guard)
        self.source = source
        self.url = source.url
        self.connections = Connections(config, self.url)
        self._processor = processor
        self._fingerprints, self._validate = watching(config, fingerprints, validate)
        self.started = threading.Event()
        self.state: State | None = None
        self.flight: Flight | None = None  # chains in flight on a concurrent executor
        self.ledger = Ledger()
        self.read_cursor = 0
        self.events_read = 0
        self.events_dispatched = 0
        self._lagging_work = False
        self._committed_read: int | None = None
        self.pacing = Pacing(
            self.clock, active=self.dcfg.active_poll_interval, idle=self.dcfg.poll_interval
        )
        self._last_pending_check = -1.0
        self._first_event_at: float | None = None
        self._last_event_at = 0.0
        self._last_heartbeat = self.clock.monotonic()
        hooks = config.webhook
        self.hints = Hints(
            self.clock,
            capacity=hooks.queue_size,
            stale_after=hooks.stale_after,
            backstop=hooks.backstop_interval,
        )
        self.intake: Intake | None = None

    # -- control (thread-safe; the CLI calls these from signal handlers) -------

    def stop(self) -> None:
        """Finish the event in hand, commit and return from :meth:`run`."""
        self._stopping.set()
        self._wake.set()

    def request_reload(self) -> None:
        """Check the installed handler set at once (SIGHUP)."""
        self._reload_requested = True
        self._wake.set()

    def hint(self, ids: Iterable[int]) -> None:
        """Events ``ids`` exist (a webhook delivery said so): read the log at once."""
        self.hints.add(ids)
        self._wake.set()

    @property
    def stopping(self) -> bool:
        """Whether a stop was asked for."""
        return self._stopping.is_set()

    # -- the loop --------------------------------------------------------------

    def run(self) -> RunResult:
        """Serve until stopped, until a burst mode ends, or until a new handler set
        needs a restart (see :class:`RunResult`)."""
        self.state = State.open(self.dcfg.state, self.url)
        self.credentials.attach(self.state)
        result = RunResult.STOPPED
        try:
            self._start()
            hooks = self.config.webhook
            if hooks.listen and hooks.secret:
                self.intake = Intake(hooks, hooks.secret, self.hint).start()
            self.observe.started(self)
            self.started.set()
            result = self._loop()
        except Stopping:
            result = RunResult.STOPPED
        finally:
            try:
                if self.flight is not None:
                    self.flight.drain()
                    self.flight.close()
                self._commit()
                self.observe.stopped()
                self.state.close()
            finally:
                if self.intake is not None:
                    self.intake.stop()
                if hasattr(self, "watch"):
                    self.watch.close()
                self.source.close()
                self.connections.close()
            self._log_summary()
        return result

    def _loop(self) -> RunResult:
        while not self._stopping.is_set():
            assert self.state is not None
            self.observe.turned()
            if self.state.changed_elsewhere():
                self._commit()
                self.roster.apply_operator(self.state.handlers())
                self._commit()
            forced, self._reload_requested = self._reload_requested, False
            new_set = self.reloader.due(forced=forced)
            if new_set is not None:
                announce(new_set, self.roster.members)
                return RunResult.RELOAD
            read = self._cycle()
            if self._finished(read):
                return RunResult.FINISHED
            self._idle_wait(read)
        return RunResult.STOPPED

    def _cycle(self) -> int:
        assert self.state is not None
        clock = self.clock
        started = clock.monotonic()
        if self.hints.take(self.read_cursor, self.gaps):
            self._last_pending_check = float("-inf")  # an announced late id: fetch it now
        records = self.source.read(self.read_cursor, limit=self.dcfg.batch_size)
        self.observe.polled(
            clock.monotonic() - started, records, full=len(records) >= self.dcfg.batch_size
        )
        if records:
            now = clock.monotonic()
            if self._first_event_at is None:
                # Throughput is measured from the first request that returned events.
                self._first_event_at = started
            self._last_event_at = now
            self._deliver(records, after=self.read_cursor)
            self.pacing.saw_events()  # after delivery: slow handlers do not eat the fast window
        self.hints.after_read(records, self.read_cursor)
        self._check_pending()
        self._catch_up()
        if records or clock.monotonic() - self.state.last_commit >= self.dcfg.commit_interval:
            self._commit()
        self._heartbeat()
        return len(records)

    def _finished(self, read: int) -> bool:
        if self.once:
            return True
        if self.max_events is not None and self.events_read >= self.max_events:
            return True
        if self.until_caught_up:
            return read < self.dcfg.batch_size and not self._lagging_work
        return False

    def _idle_wait(self, read: int) -> None:
        if read >= self.dcfg.batch_size or self._lagging_work:
            return  # more is waiting: read on at once
        active = self.dcfg.active_poll_interval
        # Webhook deliveries, when they flow, stretch the wait to the backstop interval.
        interval = self.hints.interval(self.pacing.next_wait(), active)
        self.clock.wait(self._wake, interval)
        self._wake.clear()

    # -- starting --------------------------------------------------------------

    def _start(self) -> None:
        assert self.state is not None
        processor = self._processor or load_handler_set(self.config, self.connections.for_handler)
        if self._processor is None:
            refuse_unknown_names(self.config, processor, refuse=not self.restarted)
        if processor.sg_factory is None:  # a processor handed in: ctx.sg is the daemon's
            processor.sg_factory = self.connections.for_handler
        self.processor = processor
        group = self.dcfg.group
        fingerprints = self._fingerprints(group)
        stored = self.state.read_cursor
        if stored is not None:
            self.read_cursor = stored
        else:
            start = self.dcfg.start
            if start == "earliest":
                self.read_cursor = 0
            elif start == "latest":
                self.read_cursor = self.source.newest_id()
            else:
                self.read_cursor = int(start)  # the given id is done: start after it
            log.info("first run: starting after event %d (start = %r)", self.read_cursor, start)
        self.gaps = Gaps(
            self.clock,
            timeout=self.dcfg.gap_timeout,
            max_gap=self.dcfg.max_gap,
            pending=self.state.pending(),
        )
        self.roster = Roster(processor, self.config)
        rows = self.state.handlers()
        self.roster.sync(rows, fingerprints, self.read_cursor)
        record_holds(self.state, self.roster, rows, processor.quarantined, self.read_cursor)
        self.own_writes = OwnWrites(processor, self.config)
        self.watch = HandlerWatch.for_daemon(
            self._stopping, self.clock, self.roster.timeouts, self.dcfg, self._abandon
        )
        self.executor: Executor = InlineExecutor(
            processor,
            self._stopping,
            self.connections,
            pass_sessions=any(h.pass_session_uuid for h in self.config.handlers.values()),
            watch=self.watch,
        )
        self.watch.start()
        self.ledger = Ledger(self.state.done())
        self.roster.floor = self.ledger.watermark
        self.flight = open_flight(
            self.config,
            processor,
            self._stopping,
            roster=self.roster,
            ledger=self.ledger,
            gaps=self.gaps,
            url=self.url,
            shared=self._processor is not None,
            on_report=self.observe.dispatched,
        )
        self.reloader = Reloader(
            group,
            self.clock,
            interval=self.dcfg.reload_interval,
            current=fingerprints,
            fingerprints=self._fingerprints,
            validate=self._validate,
        )
        self._commit()
        names = processor.names
        if self.restarted:
            log.info("handler set reloaded: %d handler(s)", len(names))
        log.info(
            "serving %s from event %d with %d handler(s): %s",
            self.url,
            self.read_cursor,
            len(names),
            serving_names(self.roster, names, processor.quarantined),
        )

    # -- delivering ------------------------------------------------------------

    def _deliver(self, records: list[dict[str, Any]], *, after: int) -> bool:
        """Give each row, read in id order right after id ``after``, to its recipients.

        Rows past the read cursor move it (noting skipped ids as pending).
        Returns False if a stop cut the delivery short; the row in hand then
        counts as not done.
        """
        roster = self.roster
        prev = after
        who: frozenset[str] = frozenset()
        joiner: int | None = None
        version = -1
        done = True
        try:
            for record in records:
                event_id = int(record["id"])
                if event_id <= prev:
                    continue
                if self._stopping.is_set():
                    done = False
                    break
                # The recipients stay the same along a read until a status changes
                # or a handler's cursor is reached (one that joins mid-read).
                if version != roster.version or (joiner is not None and joiner < event_id):
                    roster.advance(who, prev)
                    who, joiner = roster.recipients(event_id, after=prev)
                    version = roster.version
                new = event_id > self.read_cursor
                if new and event_id > self.read_cursor + 1:
                    created = ShotgunEvent(record).created_at
                    self.gaps.note(self.read_cursor + 1, event_id - 1, created)
                if who and not self._dispatch(record, who):
                    done = False
                    break
                prev = event_id
                if new:
                    self.read_cursor = event_id
                    self.events_read += 1
                    if self.max_events is not None and self.events_read >= self.max_events:
                        break
        finally:
            roster.advance(who, prev)
        return done

    def _dispatch(self, record: dict[str, Any], who: frozenset[str], late: bool = False) -> bool:
        """Run one event's chain (or hand it to the flight); False if a stop interrupted it."""
        who = self.own_writes.exclude(record, who)
        if not who:
            return True
        if self.ledger.done:  # done before a restart, out of order: not again
            who = self.ledger.already_done(int(record["id"]), who)
        if self.flight is not None:
            self.events_dispatched += 1
            return self.flight.submit(record, who, late=late) if who else True
        report = self.executor.run(ShotgunEvent(record), who, self.roster.retry)
        self.events_dispatched += 1
        self.observe.dispatched(record, who, report)
        if report.interrupted:
            return False
        if report.failures or report.skipped:
            self.roster.settle(record, report)
        return True

    def _check_pending(self) -> None:
        gaps = self.gaps
        if not len(gaps):
            return
        now = self.clock.monotonic()
        if now - self._last_pending_check < min(self.dcfg.poll_interval, 1.0):
            return
        self._last_pending_check = now
        gaps.expire()
        ids = sorted(gaps.pending)
        for start in range(0, len(ids), PENDING_CHUNK):
            for record in self.source.fetch(ids[start : start + PENDING_CHUNK]):
                event_id = int(record["id"])
                if event_id not in gaps:
                    continue
                who = self.roster.late_recipients(event_id)
                log.info(
                    "late event %d arrived; delivering it to %d handler(s)", event_id, len(who)
                )
                if who and not self._dispatch(record, who, late=True):
                    return
                gaps.resolve([event_id])

    def _catch_up(self) -> None:
        """Move handlers that are behind the read cursor forward by one page."""
        self._lagging_work = False
        lagging = self.roster.lagging(self.read_cursor)
        if not lagging or self._stopping.is_set():
            return
        low = min(m.cursor for m in lagging)
        records = self.source.read(low, upto=self.read_cursor, limit=self.dcfg.batch_size)
        if not self._deliver(records, after=low):
            return
        if len(records) < self.dcfg.batch_size:
            # Nothing more up to the read cursor: whoever is still active caught up.
            names = [m.name for m in lagging]
            self.roster.advance(names, self.read_cursor)
            caught = sorted(m.name for m in lagging if m.cursor == self.read_cursor)
            if caught:
                log.info("caught up: %s", ", ".join(caught))
        else:
            self._lagging_work = True

    # -- committing and reporting ----------------------------------------------

    def _commit(self) -> None:
        state = self.state
        if state is None:
            return
        if self.read_cursor != self._committed_read:
            state.set_read_cursor(self.read_cursor)
            self._committed_read = self.read_cursor
        roster = getattr(self, "roster", None)
        if roster is not None:
            if self.flight is not None:
                self.flight.collect()
            roster.flush(state)
            self.ledger.flush(state, roster.members)
            self.gaps.flush(state)
        # An idle daemon writes nothing: commit() is a no-op without pending writes.
        state.commit()
        self.observe.committed()

    def _abandon(self, chain: Chain) -> None:
        """A stop gave up on a stuck handler (the watchdog thread; the daemon's thread
        is fenced off): commit as before the event in hand, and end."""
        assert self.state is not None
        event_id = getattr(chain.event, "id", None)
        if event_id is not None:
            # Recipients are advanced lazily along a read: up to the event in hand, now.
            self.roster.advance(chain.only, event_id - 1)
        self._commit()
        self.state.close()
        self._log_summary()
        if self.on_abandon is not None:
            self.on_abandon()

    def _heartbeat(self) -> None:
        """A status line every ten minutes, so a quiet daemon is never a silent one."""
        now = self.clock.monotonic()
        if now - self._last_heartbeat < HEARTBEAT:
            return
        self._last_heartbeat = now
        statuses: Mapping[str, list[str]] = self.roster.by_status()
        log.info(
            "at event %d; %d event(s) read so far; handlers: %s; %d id(s) pending",
            self.read_cursor,
            self.events_read,
            "; ".join(f"{k} {', '.join(sorted(v))}" for k, v in sorted(statuses.items())) or "none",
            len(self.gaps),
        )

    def _log_summary(self) -> None:
        first = self._first_event_at
        elapsed = self._last_event_at - first if first is not None else 0.0
        rate = self.events_read / elapsed if elapsed > 0 else 0.0
        log.info(
            "stopped at event %d: read %d event(s) in %.3f s (%.0f events/s)",
            self.read_cursor,
            self.events_read,
            elapsed,
            rate,
        )
