"""Fault injection: make the sandbox misbehave the way a real site sometimes does.

Everything here is thread-safe and may be changed while the sandbox serves.
Time-based faults use :meth:`Faults.now`, a monotonic clock that tests can move
with :meth:`Faults.advance` instead of sleeping.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

#: What a request hit by a fault gets.
Action = Literal["ok", "maintenance", "drop", "http500", "exception"]

ERROR_KINDS = ("http500", "exception")


class Faults:
    """The faults a sandbox injects into api3 requests (not into the admin endpoint).

    - ``latency``: seconds added before every api3 reply.
    - maintenance: every api3 request answers HTTP 503 (:meth:`maintenance`).
    - ``drop_rate`` / :meth:`drop_next`: close the connection without a reply.
    - ``error_rate`` / :meth:`error_next`: answer an error, ``error_kind``
      ``"http500"`` (HTTP 500) or ``"exception"`` (an api3 exception reply).
    - late-visible event ids (:meth:`hide_next_events`): EventLogEntry rows
      written next get ids at once but stay invisible to every read until
      their time has passed (or :meth:`reveal`), while later rows are visible.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        drop_rate: float = 0.0,
        error_rate: float = 0.0,
        error_kind: str = "http500",
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._offset = 0.0
        self._rng = random.Random(seed)
        self.latency = float(latency)
        self.drop_rate = float(drop_rate)
        self.error_rate = float(error_rate)
        self.error_kind = error_kind
        self._maintenance_until: float | None = None
        self._drop_next = 0
        self._error_next = 0
        self._hide_count = 0
        self._hide_seconds = 0.0
        self._hidden: dict[int, float] = {}
        self.requests_seen = 0
        self._check()

    def _check(self) -> None:
        if self.latency < 0:
            raise ValueError("latency must be >= 0 seconds")
        for name in ("drop_rate", "error_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.error_kind not in ERROR_KINDS:
            raise ValueError(f"error_kind must be one of {', '.join(ERROR_KINDS)}")

    # -- clock ---------------------------------------------------------------------------

    def now(self) -> float:
        """The fault clock: monotonic seconds, plus whatever :meth:`advance` added."""
        return self._clock() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the fault clock forward (ends timed maintenance, reveals hidden ids)."""
        with self._lock:
            self._offset += float(seconds)

    # -- maintenance, drops, errors --------------------------------------------------------

    def maintenance(self, on: bool = True, seconds: float | None = None) -> None:
        """Answer HTTP 503 to every api3 request: until turned off, or for ``seconds``."""
        with self._lock:
            if not on:
                self._maintenance_until = None
            elif seconds is None:
                self._maintenance_until = float("inf")
            else:
                self._maintenance_until = self.now() + float(seconds)

    @property
    def in_maintenance(self) -> bool:
        until = self._maintenance_until
        return until is not None and self.now() < until

    def drop_next(self, count: int = 1) -> None:
        """Drop the connection of the next ``count`` api3 requests without replying.

        Note that ``shotgun_api3`` (its bundled httplib2) silently re-sends a
        request once when the connection drops, so one drop is invisible to it.
        """
        with self._lock:
            self._drop_next = int(count)

    def error_next(self, count: int = 1, kind: str | None = None) -> None:
        """Answer the next ``count`` api3 requests with an error of ``kind``."""
        with self._lock:
            if kind is not None:
                if kind not in ERROR_KINDS:
                    raise ValueError(f"error kind must be one of {', '.join(ERROR_KINDS)}")
                self.error_kind = kind
            self._error_next = int(count)

    def decide(self) -> Action:
        """Pick what happens to one api3 request (called by the server)."""
        with self._lock:
            self.requests_seen += 1
            if self._maintenance_until is not None:
                if self.now() < self._maintenance_until:
                    return "maintenance"
                self._maintenance_until = None
            if self._drop_next > 0:
                self._drop_next -= 1
                return "drop"
            if self.drop_rate and self._rng.random() < self.drop_rate:
                return "drop"
            if self._error_next > 0:
                self._error_next -= 1
                return "http500" if self.error_kind == "http500" else "exception"
            if self.error_rate and self._rng.random() < self.error_rate:
                return "http500" if self.error_kind == "http500" else "exception"
            return "ok"

    # -- late-visible event ids -----------------------------------------------------------

    def hide_next_events(self, count: int = 1, seconds: float = 60.0) -> None:
        """Hide the next ``count`` EventLogEntry rows written, each for ``seconds``."""
        with self._lock:
            self._hide_count = int(count)
            self._hide_seconds = float(seconds)

    def on_event_written(self, event_id: int) -> None:
        """Called by the store for every EventLogEntry id it assigns."""
        if not self._hide_count:
            return
        with self._lock:
            if self._hide_count > 0:
                self._hide_count -= 1
                self._hidden[event_id] = self.now() + self._hide_seconds

    def hidden_ids(self) -> list[int]:
        """Event ids that reads must not return right now."""
        if not self._hidden:
            return []
        with self._lock:
            now = self.now()
            for eid in [e for e, t in self._hidden.items() if t <= now]:
                del self._hidden[eid]
            return sorted(self._hidden)

    def reveal(self) -> None:
        """Make every hidden event id visible now."""
        with self._lock:
            self._hidden.clear()
            self._hide_count = 0

    # -- all at once ---------------------------------------------------------------------

    def reset(self) -> None:
        """Turn every fault off and reveal hidden ids."""
        with self._lock:
            self.latency = 0.0
            self.drop_rate = self.error_rate = 0.0
            self._maintenance_until = None
            self._drop_next = self._error_next = self._hide_count = 0
            self._hidden.clear()

    def snapshot(self) -> dict[str, Any]:
        """The current settings, as ``GET /_sandbox/faults`` answers them."""
        hidden = self.hidden_ids()
        with self._lock:
            until = self._maintenance_until
            now = self.now()
            return {
                "latency": self.latency,
                "maintenance": until is not None and now < until,
                "maintenance_seconds_left": (
                    None if until is None or until == float("inf") else max(0.0, until - now)
                ),
                "drop_rate": self.drop_rate,
                "drop_next": self._drop_next,
                "error_rate": self.error_rate,
                "error_next": self._error_next,
                "error_kind": self.error_kind,
                "hide_next_events": self._hide_count,
                "hide_seconds": self._hide_seconds,
                "hidden_event_ids": hidden,
                "requests_seen": self.requests_seen,
            }

    def apply(self, changes: Mapping[str, Any]) -> None:
        """Apply settings from a JSON object (``POST /_sandbox/faults``).

        Keys: ``reset`` (true), ``latency``, ``maintenance`` (true/false or
        seconds), ``drop_rate``, ``drop_next``, ``error_rate``, ``error_next``,
        ``error_kind``, ``hide_next_events`` (``{"count", "seconds"}``),
        ``reveal`` (true), ``advance`` (seconds).  Unknown keys are an error.
        """
        known = {
            "reset",
            "latency",
            "maintenance",
            "drop_rate",
            "drop_next",
            "error_rate",
            "error_next",
            "error_kind",
            "hide_next_events",
            "reveal",
            "advance",
        }
        unknown = set(changes) - known
        if unknown:
            raise ValueError(
                f"unknown fault setting(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(known))}"
            )
        if changes.get("reset"):
            self.reset()
        old = (self.latency, self.drop_rate, self.error_rate, self.error_kind)
        try:
            if "latency" in changes:
                self.latency = float(changes["latency"])
            if "drop_rate" in changes:
                self.drop_rate = float(changes["drop_rate"])
            if "error_rate" in changes:
                self.error_rate = float(changes["error_rate"])
            if "error_kind" in changes:
                self.error_kind = str(changes["error_kind"])
            self._check()
        except (TypeError, ValueError):
            self.latency, self.drop_rate, self.error_rate, self.error_kind = old
            raise
        if "maintenance" in changes:
            value = changes["maintenance"]
            if isinstance(value, bool) or value is None:
                self.maintenance(bool(value))
            else:
                self.maintenance(True, float(value))
        if "drop_next" in changes:
            self.drop_next(int(changes["drop_next"]))
        if "error_next" in changes:
            self.error_next(int(changes["error_next"]))
        if "hide_next_events" in changes:
            spec = changes["hide_next_events"]
            if isinstance(spec, Mapping):
                self.hide_next_events(int(spec.get("count", 1)), float(spec.get("seconds", 60)))
            else:
                self.hide_next_events(int(spec))
        if changes.get("reveal"):
            self.reveal()
        if "advance" in changes:
            self.advance(float(changes["advance"]))
