"""The handler table: who is active, where each handler is, and who gets event N.

Every handler has a status (active, failed, disabled) and a cursor: the highest
event id it is done with (every event at or below it was delivered, dead-lettered,
or is a pending id).  :meth:`Roster.recipients` is the one rule that decides which
handlers get an event; the rest of the daemon asks it and never decides itself.

Handlers linked by ordering edges form a *group*: the scratchpad data a handler
reads comes from its requirements, so a group is paused together (``on_error =
"stop"``) and resumed together.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from evframe.config import Config
from evframe.handler import Outcome, Policy, RetryPolicy, Status
from evframe.processor import Processor, Report
from evframe.redact import redact_secrets
from evframe.state import HandlerState, State

__all__ = ["Member", "Roster"]

log = logging.getLogger("evframe.daemon")


@dataclass
class Member:
    """One handler as the daemon runs it."""

    name: str
    status: Status
    cursor: int
    policy: Policy
    retry: RetryPolicy | None
    fallback: Policy
    enabled: bool
    fingerprint: str | None = None
    timeout: float = 0.0  # seconds one call may take (0: no budget)


def _handler_log(name: str) -> logging.Logger:
    return logging.getLogger(f"evframe.handler.{name}")


class Roster:
    """The handlers of one processor, their statuses and cursors.

    Changes are kept in memory and written by :meth:`flush`, in the state file's
    open transaction, so statuses, dead letters and cursors become durable together.
    """

    def __init__(self, processor: Processor, config: Config) -> None:
        self.processor = processor
        # Stored errors are read by tools run without the secrets: redacted before storing.
        self._secrets = config.secrets()
        self.members: dict[str, Member] = {}
        for name in processor.names:
            hcfg = config.handler(name)
            policy = Policy(hcfg.on_error or processor.spec(name).on_error or Policy.STOP)
            retry = None
            if policy is Policy.RETRY:
                retry = RetryPolicy(hcfg.retry_attempts, hcfg.retry_backoff, hcfg.retry_max_backoff)
            self.members[name] = Member(
                name=name,
                status=Status.ACTIVE,
                cursor=0,
                policy=policy,
                retry=retry,
                fallback=Policy(hcfg.retry_fallback),
                enabled=hcfg.enabled,
                timeout=hcfg.timeout,
            )
        self.retry: Mapping[str, RetryPolicy] = {
            m.name: m.retry for m in self.members.values() if m.retry is not None
        }
        # Each handler's time budget, for whatever runs handlers (0 or missing: none).
        self.timeouts: Mapping[str, float] = {
            m.name: m.timeout for m in self.members.values() if m.timeout > 0
        }
        # Bumped on every status change: callers that cached a set of recipients
        # compute it again.
        self.version = 0
        self._new: dict[str, int] = {}
        self._statuses: dict[str, tuple[Status, str | None, int | None]] = {}
        self._fingerprints: dict[str, str] = {}
        self._dead: list[tuple[str, int, Any, str, int]] = []
        self._written: dict[str, int] = {}
        # The cursor the state file keeps for a handler, given the in-memory one: a
        # concurrent executor keeps it below the events still in flight (see ledger).
        self.floor: Callable[[str, int], int] = lambda _name, cursor: cursor

    # -- the one rule ----------------------------------------------------

    def recipients(self, event_id: int, *, after: int) -> tuple[frozenset[str], int | None]:
        """The handlers that get ``event_id`` when it is read right after id ``after``.

        That is every active handler whose cursor lies in ``[after, event_id)``:
        it is done with everything up to ``after`` and has not had this event.
        Also returns the lowest cursor of an active handler that could join on a
        later row of the same read (None if none), so callers can cache the set.
        """
        who = []
        joiner: int | None = None
        for m in self.members.values():
            if m.status is not Status.ACTIVE or m.cursor < after:
                continue
            if m.cursor < event_id:
                who.append(m.name)
            elif joiner is None or m.cursor < joiner:
                joiner = m.cursor
        return frozenset(who), joiner

    def late_recipients(self, event_id: int) -> frozenset[str]:
        """The handlers that get a pending id that became visible late: the active
        ones already past it.  Handlers behind it read it in order when they get there."""
        return frozenset(
            m.name
            for m in self.members.values()
            if m.status is Status.ACTIVE and m.cursor >= event_id
        )

    def lagging(self, read_cursor: int) -> list[Member]:
        """Active handlers behind the read cursor (paused ones that were resumed, or
        handlers that joined behind it)."""
        return [
            m for m in self.members.values() if m.status is Status.ACTIVE and m.cursor < read_cursor
        ]

    def advance(self, names: Iterable[str], upto: int) -> None:
        """The active handlers among ``names`` are done with every event up to ``upto``."""
        members = self.members
        for name in names:
            m = members[name]
            if m.status is Status.ACTIVE and m.cursor < upto:
                m.cursor = upto

    # -- starting ------------------------------------------------------------

    def sync(
        self, stored: Mapping[str, HandlerState], fingerprints: Mapping[str, str], read_cursor: int
    ) -> None:
        """Take statuses and cursors from the state file; place new handlers at the
        read cursor; resume a failed group whose code changed since it failed."""
        changed: list[str] = []
        for name, m in self.members.items():
            row = stored.get(name)
            # Keyed by handler name, or by source for handlers that share a file (classic).
            m.fingerprint = fingerprints.get(name) or fingerprints.get(self.processor.source(name))
            if row is None:
                m.cursor = read_cursor
                self._new[name] = read_cursor
                if stored:
                    log.info("new handler %s starts after event %d", name, read_cursor)
            else:
                m.cursor = row.cursor
                m.status = Status(row.status)
                if (
                    m.status is Status.FAILED
                    and row.fingerprint
                    and m.fingerprint != row.fingerprint
                ):
                    log.info("handler %s changed since it failed: resuming its group", name)
                    changed.append(name)
            if m.fingerprint is not None and (row is None or row.fingerprint != m.fingerprint):
                self._fingerprints[name] = m.fingerprint
            if not m.enabled:
                m.status = Status.DISABLED
            self._written[name] = m.cursor
        for name in changed:
            self.resume_group(name)
        # A group resumes as one: a member that an operator resumed while the daemon
        # was down resumes the rest of its group (the daemon only pauses whole groups).
        for name, m in self.members.items():
            row = stored.get(name)
            if row is not None and m.status is Status.ACTIVE:
                if any(o.status is Status.FAILED for o in self.group(name)):
                    self.resume_group(name)
        # A handler new to a group that is paused is paused with it.
        for name, m in self.members.items():
            if m.status is Status.FAILED:
                for other in self.group(name):
                    if other.status is Status.ACTIVE:
                        self._set(
                            other, Status.FAILED, f"paused: linked handler {name!r} has failed"
                        )
        self.version += 1

    # -- groups and statuses -----------------------------------------------

    def group(self, name: str) -> list[Member]:
        """``name`` and every handler linked to it by ordering edges."""
        return [self.members[n] for n in self.processor.graph.group(name) if n in self.members]

    def _set(
        self, m: Member, status: Status, error: str | None = None, event_id: int | None = None
    ) -> None:
        m.status = status
        self._statuses[m.name] = (status, error, event_id)
        self.version += 1

    def resume_group(self, name: str) -> None:
        """Resume every failed member of ``name``'s group from its own cursor."""
        for m in self.group(name):
            if m.status is Status.FAILED:
                self._set(m, Status.ACTIVE)
                log.info("handler %s resumed from event %d", m.name, m.cursor + 1)

    def pause_group(self, name: str, event_id: int, error: str) -> list[str]:
        """Pause ``name``'s group at ``event_id``: each active member goes back to just
        before it, so the whole group runs it again when resumed."""
        paused = []
        for m in self.group(name):
            if m.status is not Status.ACTIVE:
                continue
            m.cursor = event_id - 1
            text = (
                f"failed on event {event_id}: {error}"
                if m.name == name
                else f"paused: linked handler {name!r} failed on event {event_id}"
            )
            self._set(m, Status.FAILED, text, event_id)
            paused.append(m.name)
        return paused

    def apply_operator(self, stored: Mapping[str, HandlerState]) -> None:
        """Take in what ``evframe handlers resume/disable`` wrote to the state file."""
        for name, m in self.members.items():
            row = stored.get(name)
            if row is None or row.status == m.status or not m.enabled:
                continue
            if row.status == Status.ACTIVE:
                log.info("operator resumed handler %s", name)
                m.status = Status.ACTIVE
                m.cursor = self._written[name] = row.cursor
                self.version += 1
                self.resume_group(name)
            elif row.status == Status.DISABLED:
                log.info("operator disabled handler %s at event %d", name, m.cursor)
                self._set(m, Status.DISABLED)
            elif row.status == Status.FAILED:
                m.status = Status.FAILED
                self.version += 1

    # -- outcomes ------------------------------------------------------------

    def settle(self, record: Mapping[str, Any], report: Report) -> set[str]:
        """Apply each handler's failure policy to what went wrong with one event;
        returns the handlers it paused."""
        event_id = int(record["id"])
        paused: set[str] = set()
        for failure in report.failures:
            m = self.members[failure.name]
            _handler_log(failure.name).error(
                "handler %s failed on event %d%s after %d attempt(s):\n%s",
                failure.name,
                event_id,
                f" (follow-up {failure.event!r})" if failure.event is not report.event else "",
                failure.attempts,
                failure.traceback,
                extra={"handler": failure.name, "event_id": event_id},
            )
            policy = m.fallback if m.policy is Policy.RETRY else m.policy
            traceback = redact_secrets(failure.traceback or "", self._secrets)
            if policy is Policy.SKIP:
                self._dead.append(
                    (
                        failure.name,
                        event_id,
                        dict(record),
                        traceback,
                        failure.attempts,
                    )
                )
                continue
            error = traceback.strip().splitlines()[-1:] or ["failed"]
            group = self.pause_group(failure.name, event_id, error[0])
            paused.update(group)
            if group:
                log.error(
                    "paused handler group %s at event %d (on_error = stop); the others carry "
                    "on. Fix and upgrade the package, or run `evframe handlers resume %s`",
                    ", ".join(sorted(group)),
                    event_id,
                    failure.name,
                    # Alerts group this line with the failure it follows.
                    extra={"handler": failure.name, "event_id": event_id},
                )
        for result in report.results:
            if result.status is Outcome.SKIPPED and result.name not in paused:
                self._dead.append(
                    (result.name, event_id, dict(record), f"skipped: {result.reason}", 0)
                )
        return paused

    # -- writing -------------------------------------------------------------

    def flush(self, state: State) -> None:
        """Write every change since the last flush to the state file's open transaction."""
        for name, cursor in self._new.items():
            state.ensure_handler(name, cursor)
        self._new.clear()
        for name, fingerprint in self._fingerprints.items():
            state.set_fingerprint(name, fingerprint)
        self._fingerprints.clear()
        floor = self.floor
        for name, (status, error, event_id) in self._statuses.items():
            cursor = floor(name, self.members[name].cursor)
            state.set_status(name, status, error=error, event_id=event_id, cursor=cursor)
            self._written[name] = cursor
        self._statuses.clear()
        for dead in self._dead:
            state.add_dead_letter(*dead)
        self._dead.clear()
        by_cursor: dict[int, list[str]] = {}
        for name, m in self.members.items():
            cursor = floor(name, m.cursor)
            if self._written.get(name) != cursor:
                by_cursor.setdefault(cursor, []).append(name)
                self._written[name] = cursor
        for cursor, names in by_cursor.items():
            state.set_cursor(names, cursor)

    def by_status(self) -> dict[str, list[str]]:
        """Handler names by status, for the heartbeat line."""
        out: dict[str, list[str]] = {}
        for m in self.members.values():
            out.setdefault(m.status.value, []).append(m.name)
        return out
