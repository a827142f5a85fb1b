"""What :meth:`Processor.run <evframe.processor.Processor.run>` tells: one
:class:`HandlerResult` per handler and event, gathered in a :class:`Report`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evframe.event import Event
from evframe.handler import Outcome

__all__ = ["HandlerResult", "Report"]


@dataclass
class HandlerResult:
    """What happened when one handler met one event."""

    name: str
    event: Event
    status: Outcome
    error: BaseException | None = None
    traceback: str | None = None
    attempts: int = 1
    reason: str | None = None
    # Seconds the handler's last call took (0 when it was not called).
    duration: float = 0.0


@dataclass
class Report:
    """The outcome of :meth:`Processor.run` for one root event and its follow-ups.

    ``interrupted`` is True when a stop ended the run before every handler ran.
    """

    event: Event
    retval: Any = None
    results: list[HandlerResult] = field(default_factory=list)
    interrupted: bool = False

    def outcome(self, name: str) -> Outcome:
        """What happened to one handler over the root event and its follow-ups.

        ``FAILED`` if it failed on any of them, else ``INTERRUPTED`` or
        ``SKIPPED`` if that happened once, else its last outcome;
        ``NOT_WANTED`` if it was never called.
        """
        status = Outcome.NOT_WANTED
        for result in self.results:
            if result.name == name:
                if result.status == Outcome.FAILED:
                    return Outcome.FAILED
                if status not in (Outcome.SKIPPED, Outcome.INTERRUPTED):
                    status = result.status
        return status

    @property
    def failures(self) -> list[HandlerResult]:
        """Results of handlers that raised (or returned something wrong)."""
        return [r for r in self.results if r.status == Outcome.FAILED]

    @property
    def skipped(self) -> list[HandlerResult]:
        """Results of handlers skipped because a requirement failed."""
        return [r for r in self.results if r.status == Outcome.SKIPPED]

    @property
    def ok(self) -> bool:
        """True when every handler that wanted the event ran without failing."""
        return not self.interrupted and all(r.status == Outcome.OK for r in self.results)
