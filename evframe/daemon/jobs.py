"""One event's handler chain as plain JSON, and what came of it.

Executors other than the inline one hand chains to threads, worker processes or
remote Celery workers, so a chain travels as a *job*: a JSON object holding the
EventLogEntry record, the names of the handlers that get it, its order keys, a
sequence number and the retry policies.  What comes back is an *outcome*, JSON
too: per handler its outcome, attempts, traceback text and reason, and whether
a stop interrupted the chain.  Nothing here is pickled.
"""

from __future__ import annotations

import datetime as dt
import threading
import traceback
from collections.abc import Callable, Collection, Mapping
from typing import Any

from evframe.event import Event, ShotgunEvent
from evframe.handler import Outcome, RetryPolicy
from evframe.processor import HandlerResult, Processor, Report

__all__ = [
    "GLOBAL_KEY",
    "decode_record",
    "encode_record",
    "entity_key",
    "failed_outcome",
    "make_job",
    "outcome_of",
    "report_of",
    "run_job",
]

GLOBAL_KEY = "global"
_DATETIME = "__datetime__"

Job = dict[str, Any]
OutcomeData = dict[str, Any]


def encode_record(value: Any) -> Any:
    """``value`` with every ``datetime`` as ``{"__datetime__": ISO}``, so a record
    survives a trip through JSON unchanged (``created_at``, datetime field values)."""
    if isinstance(value, dt.datetime):
        return {_DATETIME: value.isoformat()}
    if isinstance(value, Mapping):
        return {str(k): encode_record(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_record(v) for v in value]
    return value


def decode_record(value: Any) -> Any:
    """The inverse of :func:`encode_record`."""
    if isinstance(value, dict):
        if len(value) == 1 and _DATETIME in value:
            return dt.datetime.fromisoformat(value[_DATETIME])
        return {k: decode_record(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_record(v) for v in value]
    return value


def entity_key(event: ShotgunEvent) -> str:
    """The default order key: the event's entity (type and id), else its event type."""
    entity_type, entity_id = event.entity_type, event.entity_id
    if entity_type and entity_id is not None:
        return f"{entity_type}:{entity_id}"
    return f"type:{event.event_type}"


def make_job(
    seq: int,
    record: Mapping[str, Any],
    names: Collection[str],
    keys: Collection[str],
    retry: Mapping[str, RetryPolicy],
    versions: Mapping[str, str] | None = None,
) -> Job:
    """The job for one chain.  ``versions`` maps each handler to the distribution
    and version the daemon runs (a remote worker refuses a job it would run other
    code for)."""
    ordered = sorted(names)
    job: Job = {
        "seq": seq,
        "event_id": int(record["id"]),
        "record": encode_record(record),
        "names": ordered,
        "keys": sorted(keys),
        "retry": {
            n: [p.attempts, p.backoff, p.max_backoff] for n, p in retry.items() if n in names
        },
    }
    if versions is not None:
        job["versions"] = {n: versions.get(n, "?") for n in ordered}
    return job


def run_job(
    processor: Processor,
    job: Job,
    stop: threading.Event | None,
    *,
    on_call: Callable[[str], object] | None = None,
    before: Callable[[ShotgunEvent], object] | None = None,
) -> OutcomeData:
    """Run one job's chain on ``processor``; never raises for what a handler does."""
    try:
        event = ShotgunEvent(decode_record(job["record"]))
        if before is not None:
            before(event)
        retry = {n: RetryPolicy(*v) for n, v in job.get("retry", {}).items()}
        names = frozenset(job["names"])
        report = processor.run(event, only=names, retry=retry, stop=stop, on_call=on_call)
    except Exception as exc:  # the worker's own trouble: blame the whole chain
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return failed_outcome(job, text)
    return outcome_of(int(job["seq"]), report)


def outcome_of(seq: int, report: Report) -> OutcomeData:
    """A :class:`Report` as JSON."""
    root = report.event
    return {
        "seq": seq,
        "interrupted": report.interrupted,
        "results": [
            {
                "name": r.name,
                "outcome": r.status.value,
                "attempts": r.attempts,
                "traceback": r.traceback,
                "reason": r.reason,
                "followup": None if r.event is root else repr(r.event),
                "duration": r.duration,
            }
            for r in report.results
        ],
    }


def failed_outcome(
    job: Job, text: str, *, blame: str | None = None, done: Collection[str] = ()
) -> OutcomeData:
    """An outcome for a chain that did not run to its end (a worker died or was
    killed): ``blame`` failed with ``text`` (every handler not in ``done`` when
    None); the handlers in ``done`` ran; the others are skipped."""
    results = []
    for name in job["names"]:
        if name in done:
            results.append({"name": name, "outcome": Outcome.OK.value, "attempts": 1})
        elif blame is None or name == blame:
            results.append(
                {"name": name, "outcome": Outcome.FAILED.value, "attempts": 1, "traceback": text}
            )
        else:
            reason = f"handler {blame!r} did not finish: {text.strip().splitlines()[-1]}"
            results.append({"name": name, "outcome": Outcome.SKIPPED.value, "reason": reason})
    return {"seq": job["seq"], "interrupted": False, "results": results}


class _Followup(Event):
    """A follow-up event as a report names it (it ran elsewhere)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    @property
    def name(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return self._text


def report_of(event: ShotgunEvent, data: Mapping[str, Any]) -> Report:
    """An outcome back as a :class:`Report` on ``event`` (what the roster settles)."""
    report = Report(event, interrupted=bool(data.get("interrupted")))
    for r in data.get("results", ()):
        followup = r.get("followup")
        report.results.append(
            HandlerResult(
                r["name"],
                event if followup is None else _Followup(followup),
                Outcome(r["outcome"]),
                traceback=r.get("traceback"),
                attempts=int(r.get("attempts") or 0),
                reason=r.get("reason"),
                duration=float(r.get("duration") or 0.0),
            )
        )
    return report
