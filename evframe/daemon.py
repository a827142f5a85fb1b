"""The event daemon behind ``evframe serve``.

One loop, one thread for the handlers: read a batch of EventLogEntry rows after
the read cursor, dispatch each to the handlers that are up to date, wait for
ids seen missing, let paused or new handler groups catch up from their own
cursors, commit.  Signal handling lives in the CLI; :meth:`Daemon.stop` is all
it calls.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from evframe.config import Config, HandlerConfig
from evframe.discovery import entry_points, fingerprints
from evframe.errors import HandlerSetError, RegistrationError
from evframe.event import EVENT_FIELDS, ShotgunEvent
from evframe.handler import Policy, RetryPolicy, Status
from evframe.processor import HandlerResult, Processor
from evframe.site import Connections, SiteGuard, Stopping, make_shotgun
from evframe.state import State, format_id_ranges, id_ranges

ACTIVE, FAILED, DISABLED = Status.ACTIVE, Status.FAILED, Status.DISABLED

__all__ = [
    "EVENT_FIELDS",
    "EXIT_CONFIG",
    "EXIT_ERROR",
    "EXIT_HANDLERS",
    "EXIT_LOCKED",
    "EXIT_OK",
    "EXIT_STATE",
    "Daemon",
    "HandlerSetError",
    "handler_fingerprints",
]

log = logging.getLogger("evframe.daemon")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CONFIG = 3
EXIT_STATE = 4
EXIT_LOCKED = 5
EXIT_HANDLERS = 6

_ORDER: Any = [{"field_name": "id", "direction": "asc"}]
# How long the short poll interval is kept after the last event was seen.
_ACTIVE_WINDOW = 2.0
_PENDING_CHUNK = 500
_HEARTBEAT = 600.0
# How long the installed handler packages must stay unchanged before a reload.
_SETTLE = 1.0


handler_fingerprints = fingerprints


def _top_modules(group: str, extra: Iterable[str] = ()) -> set[str]:
    mods = {ep.module.split(".")[0] for ep in entry_points(group)}
    mods.update(extra)
    mods.discard("evframe")
    return mods


@dataclass
class _Handler:
    name: str
    status: Status
    cursor: int
    policy: Policy
    cfg: HandlerConfig
    fingerprint: str | None


class _Interrupted(BaseException):
    """A stop was asked while a handler waited to be retried."""


def _log_load_errors(processor: Processor) -> None:
    for error in processor.load_errors:
        log.error("%s", error)


class Daemon:
    """Polls a site and feeds every event to the installed handlers.

    ``once``: one cycle then return.  ``until_caught_up``: return once every
    handler has reached the newest event.  ``max_events``: return after that
    many events were read.  ``site_url`` overrides the config's (the embedded
    sandbox uses it).
    """

    def __init__(
        self,
        config: Config,
        *,
        site_url: str | None = None,
        once: bool = False,
        until_caught_up: bool = False,
        max_events: int | None = None,
    ) -> None:
        url = site_url or config.site.url
        if not url:
            raise ValueError("no site URL")
        self.config = config
        self.url = url
        self.dcfg = config.daemon
        self.once = once
        self.until_caught_up = until_caught_up
        self.max_events = max_events
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._reload_requested = False
        self.guard = SiteGuard(self._stopping, error_after=self.dcfg.site_error_after)
        site = config.site
        self.sg = make_shotgun(
            url,
            site.script_name,
            site.api_key,
            timeout=site.timeout,
            http_proxy=site.http_proxy,
            ca_certs=site.ca_certs,
        )
        self.connections = Connections(config, url)
        self._passes_sessions = any(h.pass_session_uuid for h in config.handlers.values())
        self.state: State | None = None
        self.processor: Processor | None = None
        self.handlers: dict[str, _Handler] = {}
        self._retry: dict[str, RetryPolicy] = {}
        self.read_cursor = 0
        self.pending: dict[int, float] = {}
        self.events_read = 0
        self.events_dispatched = 0
        self._fingerprints: dict[str, str] = {}
        self._refused_fingerprints: dict[str, str] | None = None
        self._changing: tuple[dict[str, str], float] | None = None
        self._last_reload_check = time.monotonic()
        self._last_event_seen = 0.0
        self._last_pending_check = 0.0
        self._lagging_work = False
        self.started = threading.Event()
        self._first_event_at: float | None = None
        self._last_event_at = 0.0
        self._last_heartbeat = time.monotonic()
        self._committed: tuple[int, tuple[tuple[str, int], ...]] | None = None

    # -- control (thread-safe, called from signal handlers) -------------

    def stop(self) -> None:
        """Finish the event in hand, commit and return from :meth:`run`."""
        self._stopping.set()
        self._wake.set()

    def request_reload(self) -> None:
        """Rebuild the handler set at the next cycle (SIGHUP)."""
        self._reload_requested = True
        self._wake.set()

    @property
    def stopping(self) -> bool:
        """Whether a stop was asked for."""
        return self._stopping.is_set()

    # -- the loop -------------------------------------------------------

    def run(self) -> None:
        """Serve until stopped (or until the burst mode's end)."""
        self.state = State.open(self.dcfg.state, self.url)
        try:
            self._load_handlers()
            try:
                self._init_cursors()
            except Stopping:
                return
            self.started.set()
            log.info(
                "serving %s from event %d with %d handler(s): %s",
                self.url,
                self.read_cursor,
                len(self.handlers),
                ", ".join(self.processor.names) if self.processor else "",
            )
            while not self._stopping.is_set():
                try:
                    read = self._cycle()
                except Stopping:
                    break
                except _Interrupted:
                    break
                if self._finished(read):
                    break
                self._idle_wait(read)
        finally:
            try:
                self._commit()
                self.state.close()
            finally:
                self.sg.close()
                self.connections.close()
            self._log_summary()

    def _log_summary(self) -> None:
        elapsed = (
            self._last_event_at - self._first_event_at if self._first_event_at is not None else 0.0
        )
        rate = self.events_read / elapsed if elapsed > 0 else 0.0
        log.info(
            "stopped at event %d: read %d event(s) in %.3f s (%.0f events/s)",
            self.read_cursor,
            self.events_read,
            elapsed,
            rate,
        )

    def _cycle(self) -> int:
        assert self.state is not None
        if self.state.changed_elsewhere():
            self._apply_operator_changes()
        self._maybe_reload()
        records = self._read_after(self.read_cursor)
        self._dispatch_main(records)
        if records:
            self._last_event_at = time.monotonic()
        self._check_pending()
        self._catch_up()
        if records or time.monotonic() - self.state.last_commit >= self.dcfg.commit_interval:
            self._commit()
        self._heartbeat()
        return len(records)

    def _heartbeat(self) -> None:
        """A status line every ten minutes, so a quiet daemon is never a silent one."""
        now = time.monotonic()
        if now - self._last_heartbeat < _HEARTBEAT:
            return
        self._last_heartbeat = now
        by_status: dict[str, list[str]] = {}
        for h in self.handlers.values():
            by_status.setdefault(h.status, []).append(h.name)
        log.info(
            "at event %d; %d event(s) read so far; handlers: %s; %d id(s) pending",
            self.read_cursor,
            self.events_read,
            "; ".join(f"{k} {', '.join(sorted(v))}" for k, v in sorted(by_status.items()))
            or "none",
            len(self.pending),
        )

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
        recent = time.monotonic() - self._last_event_seen < _ACTIVE_WINDOW
        interval = self.dcfg.active_poll_interval if recent else self.dcfg.poll_interval
        self._wake.wait(interval)
        self._wake.clear()

    # -- reading --------------------------------------------------------

    def _find(self, filters: list[Any], what: str, limit: int) -> list[dict[str, Any]]:
        def call() -> list[dict[str, Any]]:
            found = self.sg.find(
                "EventLogEntry", filters, list(EVENT_FIELDS), order=_ORDER, limit=limit
            )
            return cast("list[dict[str, Any]]", found)

        return self.guard.call(what, call)

    def _read_after(self, cursor: int, upto: int | None = None) -> list[dict[str, Any]]:
        filters: list[Any] = [["id", "greater_than", cursor]]
        if upto is not None:
            filters.append(["id", "less_than", upto + 1])
        if self._first_event_at is None:
            # Throughput is measured from the first request that returned events.
            started = time.monotonic()
        records = self._find(filters, "reading the event log", self.dcfg.batch_size)
        if records and self._first_event_at is None:
            self._first_event_at = started
        return records

    def _init_cursors(self) -> None:
        assert self.state is not None
        stored = self.state.read_cursor
        if stored is not None:
            self.read_cursor = stored
        else:
            start = self.dcfg.start
            if start == "earliest":
                self.read_cursor = 0
            elif start == "latest":
                newest = self.guard.call(
                    "finding the newest event",
                    lambda: self.sg.find_one(
                        "EventLogEntry",
                        [],
                        ["id"],
                        order=[{"field_name": "id", "direction": "desc"}],
                    ),
                )
                self.read_cursor = int(newest["id"]) if newest else 0
            else:
                self.read_cursor = max(0, int(start) - 1)
            self.state.set_read_cursor(self.read_cursor)
            log.info("first run: starting after event %d (start = %r)", self.read_cursor, start)
        self.pending = self.state.pending()
        self._sync_handlers(initial=True)
        self._commit()

    # -- handlers -------------------------------------------------------

    def _make_processor(self) -> Processor:
        cfg = self.config
        return Processor(
            config=lambda name: cfg.handler(name).config,
            sg_factory=self.connections.for_handler,
            max_followups=self.dcfg.max_followups,
        )

    def _load_handlers(self) -> None:
        processor = self._make_processor()
        fingerprints = handler_fingerprints(self.dcfg.group)
        try:
            processor.load_from(self.dcfg.group, strict=False)
        except RegistrationError as exc:
            raise HandlerSetError(f"the installed handler set is invalid: {exc}") from exc
        _log_load_errors(processor)
        self.processor = processor
        self._fingerprints = fingerprints
        if not processor.names:
            log.warning(
                "no handlers found in entry-point group %r: install a handler package",
                self.dcfg.group,
            )

    def _policy(self, name: str, hcfg: HandlerConfig) -> Policy:
        assert self.processor is not None
        return Policy(hcfg.on_error or self.processor.spec(name).on_error or Policy.STOP)

    def _sync_handlers(self, *, initial: bool = False) -> None:
        """Match the runtime table to the processor's handlers and the state file."""
        assert self.state is not None and self.processor is not None
        stored = self.state.handlers()
        fresh: dict[str, _Handler] = {}
        changed: list[str] = []
        for name in self.processor.names:
            hcfg = self.config.handler(name)
            row = stored.get(name)
            if row is None:
                row = self.state.ensure_handler(name, self.read_cursor)
                if not initial:
                    log.info("new handler %s starts after event %d", name, self.read_cursor)
            status = row.status
            fingerprint = self._fingerprints.get(name)
            if status == FAILED and row.fingerprint and fingerprint != row.fingerprint:
                log.info("handler %s changed since it failed: resuming its group", name)
                changed.append(name)
            if fingerprint is not None and fingerprint != row.fingerprint:
                self.state.set_fingerprint(name, fingerprint)
            if not hcfg.enabled:
                status = DISABLED
            old = self.handlers.get(name)
            cursor = old.cursor if old is not None and old.status == row.status else row.cursor
            fresh[name] = _Handler(
                name, status, cursor, self._policy(name, hcfg), hcfg, fingerprint
            )
        self.handlers = fresh
        # retry_attempts counts every call, the first one included.
        self._retry = {
            n: RetryPolicy(h.cfg.retry_attempts, h.cfg.retry_backoff, h.cfg.retry_max_backoff)
            for n, h in fresh.items()
            if h.policy == Policy.RETRY
        }
        # A group resumes together: a member whose code changed since it failed, or that
        # an operator resumed while the rest of its group is still failed (the daemon
        # pauses a whole group at once, so only `resume` leaves it mixed), resumes them all.
        for name in changed:
            self._resume_group(name)
        for name, h in fresh.items():
            row = stored.get(name)
            if h.status != ACTIVE or row is None:
                continue  # a handler new to the state joins its group as it is
            if row.status == FAILED or any(m.status == FAILED for m in self._group(name)):
                self._resume_group(name)
        self._pause_groups_with_failures()

    def _group(self, name: str) -> list[_Handler]:
        assert self.processor is not None
        return [self.handlers[n] for n in self.processor.graph.group(name) if n in self.handlers]

    def _pause_groups_with_failures(self) -> None:
        assert self.state is not None
        for name, h in self.handlers.items():
            if h.status != FAILED:
                continue
            for member in self._group(name):
                if member.status == ACTIVE:
                    member.status = FAILED
                    self.state.set_status(
                        member.name,
                        FAILED,
                        error=f"paused: linked handler {name!r} has failed",
                        cursor=member.cursor,
                    )

    def _resume_group(self, name: str) -> None:
        assert self.state is not None
        for member in self._group(name):
            if member.status == FAILED:
                member.status = ACTIVE
                self.state.set_status(member.name, ACTIVE, cursor=member.cursor)
                log.info("handler %s resumed from event %d", member.name, member.cursor + 1)

    def _apply_operator_changes(self) -> None:
        """``evframe handlers resume/disable`` wrote to the state file."""
        assert self.state is not None
        self._commit()
        stored = self.state.handlers()
        for name, h in list(self.handlers.items()):
            row = stored.get(name)
            if row is None or row.status == h.status or not h.cfg.enabled:
                continue
            if row.status == ACTIVE:
                log.info("operator resumed handler %s", name)
                h.status = ACTIVE
                h.cursor = row.cursor
                self._resume_group(name)
            elif row.status == DISABLED:
                log.info("operator disabled handler %s at event %d", name, h.cursor)
                h.status = DISABLED
                self.state.set_status(name, DISABLED, cursor=h.cursor)
            elif row.status == FAILED:
                h.status = FAILED
        self._commit()

    def _maybe_reload(self) -> None:
        interval = self.dcfg.reload_interval
        now = time.monotonic()
        forced = self._reload_requested
        # While a change is settling, look again sooner than the interval.
        wait = min(interval, _SETTLE / 2) if self._changing is not None else interval
        if not forced and (interval <= 0 or now - self._last_reload_check < wait):
            return
        self._last_reload_check = now
        self._reload_requested = False
        fingerprints = handler_fingerprints(self.dcfg.group)
        if not forced:
            if fingerprints in (self._fingerprints, self._refused_fingerprints):
                self._changing = None
                return
            # pip removes the old files before it writes the new ones: a set read in the
            # middle of an install can import old code under the new version's name, and
            # then the change would never be seen again.  Reload once the installed set
            # has stayed the same for a moment.
            if self._changing is None or self._changing[0] != fingerprints:
                self._changing = (fingerprints, now)
                return
            if now - self._changing[1] < _SETTLE:
                return
        self._changing = None
        self.reload(fingerprints)

    def reload(self, fingerprints: dict[str, str] | None = None) -> bool:
        """Rebuild the handler set from what is installed now; keep the old one if the
        new one is invalid.  Returns whether the new set is in use."""
        assert self.state is not None
        if fingerprints is None:
            fingerprints = handler_fingerprints(self.dcfg.group)
        log.info("handler packages changed: reloading")
        self._commit()
        current = self.processor
        old_modules: set[str] = set()
        if current is not None:
            old_modules = {
                getattr(current.handler(n), "__module__", "").split(".")[0] for n in current.names
            }
        for top in _top_modules(self.dcfg.group, old_modules):
            for mod in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
                del sys.modules[mod]
        importlib.invalidate_caches()
        processor = self._make_processor()
        try:
            processor.load_from(self.dcfg.group, strict=False)
        except RegistrationError as exc:
            log.error("new handler set refused, the previous one keeps running: %s", exc)
            self._refused_fingerprints = fingerprints
            return False
        _log_load_errors(processor)
        before = set(self.handlers)
        self.processor = processor
        self._fingerprints = fingerprints
        self._refused_fingerprints = None
        self._sync_handlers()
        self._commit()
        added, removed = set(self.handlers) - before, before - set(self.handlers)
        log.info(
            "handler set reloaded: %d handler(s)%s%s",
            len(self.handlers),
            f", added {', '.join(sorted(added))}" if added else "",
            f", removed {', '.join(sorted(removed))}" if removed else "",
        )
        return True

    # -- dispatch -------------------------------------------------------

    def _up_to_date(self) -> set[str]:
        return {
            n
            for n, h in self.handlers.items()
            if h.status == ACTIVE and h.cursor >= self.read_cursor
        }

    def _dispatch_main(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        self._last_event_seen = time.monotonic()
        handlers = self.handlers
        current = frozenset(self._up_to_date())
        stopping = self._stopping
        for record in records:
            if stopping.is_set():
                break
            event_id = int(record["id"])
            if event_id <= self.read_cursor:
                continue
            if event_id > self.read_cursor + 1:
                self._note_gap(self.read_cursor + 1, event_id - 1, record)
            if current and not self._dispatch(ShotgunEvent(record), current):
                # A group was paused at this event: it keeps its own cursor from now on.
                current = frozenset(n for n in current if handlers[n].status == ACTIVE)
            self.read_cursor = event_id
            self.events_read += 1
            if self.max_events is not None and self.events_read >= self.max_events:
                break
        # Whoever stayed up to date has seen every event of the batch.
        for name in current:
            handlers[name].cursor = self.read_cursor

    def _dispatch(self, event: ShotgunEvent, only: frozenset[str]) -> bool:
        """Run ``event`` through the handlers in ``only``; False if any failed."""
        assert self.processor is not None
        if self._passes_sessions:
            self.connections.set_session_uuid(event.session_uuid)
        report = self.processor.run(event, only=only, retry=self._retry, stop=self._stopping)
        if report.interrupted:
            raise _Interrupted()
        self.events_dispatched += 1
        if report.failures or report.skipped:
            self._handle_failures(event, report.failures, report.skipped)
            return False
        return True

    def _handle_failures(
        self, root: ShotgunEvent, failures: list[HandlerResult], skipped: list[HandlerResult]
    ) -> None:
        assert self.state is not None
        event_id = int(root.id or 0)
        paused: set[str] = set()
        for failure in failures:
            h = self.handlers[failure.name]
            logging.getLogger(f"evframe.handler.{failure.name}").error(
                "handler %s failed on event %d%s after %d attempt(s):\n%s",
                failure.name,
                event_id,
                f" (follow-up {failure.event!r})" if failure.event is not root else "",
                failure.attempts,
                failure.traceback,
                extra={"handler": failure.name, "event_id": event_id},
            )
            policy = h.policy if h.policy != Policy.RETRY else Policy(h.cfg.retry_fallback)
            if policy == Policy.SKIP:
                self.state.add_dead_letter(
                    failure.name, event_id, root.record, failure.traceback or "", failure.attempts
                )
                continue
            error = (failure.traceback or "").strip().splitlines()[-1:] or ["failed"]
            for member in self._group(failure.name):
                if member.status != ACTIVE:
                    continue
                member.status = FAILED
                member.cursor = event_id - 1
                paused.add(member.name)
                text = (
                    f"failed on event {event_id}: {error[0]}"
                    if member.name == failure.name
                    else f"paused: linked handler {failure.name!r} failed on event {event_id}"
                )
                self.state.set_status(
                    member.name, FAILED, error=text, event_id=event_id, cursor=event_id - 1
                )
            log.error(
                "paused handler group %s at event %d (on_error = stop); the others carry on. "
                "Fix and upgrade the package, or run `evframe handlers resume %s`",
                ", ".join(sorted(paused)),
                event_id,
                failure.name,
            )
        for skip in skipped:
            if skip.name in paused:
                continue
            self.state.add_dead_letter(
                skip.name, event_id, root.record, f"skipped: {skip.reason}", 0
            )

    # -- gaps -----------------------------------------------------------

    def _note_gap(self, first: int, last: int, after: Mapping[str, Any]) -> None:
        assert self.state is not None
        count = last - first + 1
        if count > self.dcfg.max_gap:
            log.warning(
                "event ids %d..%d (%d ids) are missing: more than daemon.max_gap = %d, "
                "so they are not waited for",
                first,
                last,
                count,
                self.dcfg.max_gap,
            )
            return
        created = ShotgunEvent(after).created_at
        if created is not None:
            age = (dt.datetime.now(dt.timezone.utc) - created).total_seconds()
            if age > self.dcfg.gap_timeout:
                log.debug("ids %d..%d missing among old events; not waited for", first, last)
                return
        deadline = time.time() + self.dcfg.gap_timeout
        ids = range(first, last + 1)
        for i in ids:
            self.pending[i] = deadline
        self.state.add_pending(ids, deadline)
        log.debug(
            "ids %d..%d not visible yet; waiting up to %.0f s", first, last, self.dcfg.gap_timeout
        )

    def _check_pending(self) -> None:
        if not self.pending:
            return
        assert self.state is not None
        now = time.monotonic()
        if now - self._last_pending_check < min(self.dcfg.poll_interval, 1.0):
            return
        self._last_pending_check = now
        wall = time.time()
        expired = [i for i, deadline in self.pending.items() if deadline <= wall]
        if expired:
            log.info(
                "gave up waiting for %d missing event id(s) after %.0f s: %s",
                len(expired),
                self.dcfg.gap_timeout,
                format_id_ranges(id_ranges(expired)),
            )
            for i in expired:
                del self.pending[i]
            self.state.remove_pending(expired)
        ids = sorted(self.pending)
        for start in range(0, len(ids), _PENDING_CHUNK):
            chunk = ids[start : start + _PENDING_CHUNK]
            found = self._find([["id", "in", chunk]], "fetching missing events", len(chunk))
            for record in found:
                event_id = int(record["id"])
                if event_id not in self.pending:
                    continue
                # Handlers already past this id get it now; the others read it on catch-up.
                only = frozenset(
                    n
                    for n, h in self.handlers.items()
                    if h.status == ACTIVE and h.cursor >= event_id
                )
                log.info(
                    "late event %d arrived; delivering it to %d handler(s)", event_id, len(only)
                )
                if only:
                    self._dispatch(ShotgunEvent(record), only)
                del self.pending[event_id]
                self.state.remove_pending([event_id])

    # -- catch-up -------------------------------------------------------

    def _catch_up(self) -> None:
        """Move handlers that are behind the read cursor forward by one batch."""
        lagging = {
            n: h
            for n, h in self.handlers.items()
            if h.status == ACTIVE and h.cursor < self.read_cursor
        }
        self._lagging_work = False
        if not lagging or self._stopping.is_set():
            return
        low = min(h.cursor for h in lagging.values())
        records = self._read_after(low, upto=self.read_cursor)
        for record in records:
            if self._stopping.is_set():
                return
            event_id = int(record["id"])
            only = frozenset(
                n for n, h in lagging.items() if h.status == ACTIVE and h.cursor < event_id
            )
            if only:
                self._dispatch(ShotgunEvent(record), only)
            for name in only:
                if lagging[name].status == ACTIVE:
                    lagging[name].cursor = event_id
        if len(records) < self.dcfg.batch_size:
            # Nothing more up to the read cursor: the rest has caught up.
            for h in lagging.values():
                if h.status == ACTIVE and h.cursor < self.read_cursor:
                    h.cursor = self.read_cursor
            caught = [h.name for h in lagging.values() if h.status == ACTIVE]
            if caught:
                log.info("caught up: %s", ", ".join(sorted(caught)))
        else:
            self._lagging_work = True

    # -- committing -----------------------------------------------------

    def _commit(self) -> None:
        state = self.state
        if state is None:
            return
        cursors = (self.read_cursor, tuple((n, h.cursor) for n, h in self.handlers.items()))
        if cursors != self._committed:
            state.set_read_cursor(self.read_cursor)
            by_cursor: dict[int, list[str]] = {}
            for h in self.handlers.values():
                by_cursor.setdefault(h.cursor, []).append(h.name)
            for cursor, names in by_cursor.items():
                state.set_cursor(names, cursor)
            self._committed = cursors
        # An idle daemon writes nothing: commit() is a no-op without pending writes.
        state.commit()
