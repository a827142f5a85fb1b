"""Helpers for testing handlers in isolation (also served as pytest fixtures).

Build realistic EventLogEntry records and events::

    from evframe.testing import change_event, run_handler

    event = change_event("Task", 42, "sg_status_list", old="ip", new="fin")
    result = run_handler(my_handler, event, config={"notify": True})

``make_record`` and friends produce the dict ``shotgun_api3`` returns for an
EventLogEntry, shaped as a site writes it.  ``wait_until`` polls a condition
against a deadline, for tests of anything that runs in another thread or process.

For the daemon core, :class:`MemorySource` is an event log in memory and
:class:`FakeClock` a clock that moves only when told to, or when the daemon
idles: ``Daemon(config, source=MemorySource(...), clock=FakeClock())`` runs
without HTTP and without sleeping.
"""

from __future__ import annotations

import configparser
import datetime as _dt
import importlib
import importlib.metadata
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from evframe.daemon.clock import FakeClock
from evframe.daemon.source import MemorySource
from evframe.event import Event, ShotgunEvent
from evframe.processor import Processor, Report

__all__ = [
    "FakeClock",
    "MemorySource",
    "SimpleEvent",
    "change_event",
    "install_distribution",
    "make_processor",
    "make_record",
    "multi_entity_event",
    "new_event",
    "order_violations",
    "retirement_event",
    "revival_event",
    "run_handler",
    "wait_until",
]

T = TypeVar("T")

_ids = itertools.count(1)
_ids_lock = threading.Lock()
_DEFAULT_USER = {"type": "HumanUser", "id": 1, "name": "Test Artist"}
_DEFAULT_PROJECT = {"type": "Project", "id": 70, "name": "Demo Project"}


def _next_id() -> int:
    with _ids_lock:
        return next(_ids)


class SimpleEvent(Event):
    """An event with just a name (and optional ``ctxt``), for follow-ups and tests."""

    def __init__(self, name: str, ctxt: Any = None) -> None:
        super().__init__(ctxt)
        self._name = name

    @property
    def name(self) -> str:
        return self._name


def _link(entity_type: str, entity_id: int, name: str | None = None) -> dict[str, Any]:
    return {"type": entity_type, "id": entity_id, "name": name or f"{entity_type} {entity_id}"}


def make_record(
    event_type: str,
    *,
    id: int | None = None,
    entity: Mapping[str, Any] | None = None,
    attribute_name: str | None = None,
    meta: Mapping[str, Any] | None = None,
    project: Mapping[str, Any] | None = _DEFAULT_PROJECT,
    user: Mapping[str, Any] | None = _DEFAULT_USER,
    created_at: _dt.datetime | str | None = None,
    session_uuid: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """One EventLogEntry record with every key a site returns."""
    if created_at is None:
        created_at = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    return {
        "type": "EventLogEntry",
        "id": id if id is not None else _next_id(),
        "event_type": event_type,
        "attribute_name": attribute_name,
        "meta": dict(meta) if meta is not None else None,
        "entity": dict(entity) if entity is not None else None,
        "project": dict(project) if project is not None else None,
        "user": dict(user) if user is not None else None,
        "created_at": created_at,
        "session_uuid": session_uuid,
        "description": description,
    }


def change_event(
    entity_type: str,
    entity_id: int,
    field: str,
    *,
    old: Any = None,
    new: Any = None,
    in_create: bool = False,
    data_type: str = "text",
    entity_name: str | None = None,
    **record: Any,
) -> ShotgunEvent:
    """A ``Shotgun_<Type>_Change`` event for a plain field."""
    meta: dict[str, Any] = {
        "type": "attribute_change",
        "attribute_name": field,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "field_data_type": data_type,
        "old_value": old,
        "new_value": new,
    }
    if in_create:
        meta["in_create"] = True
    return ShotgunEvent(
        make_record(
            f"Shotgun_{entity_type}_Change",
            entity=_link(entity_type, entity_id, entity_name),
            attribute_name=field,
            meta=meta,
            **record,
        )
    )


def multi_entity_event(
    entity_type: str,
    entity_id: int,
    field: str,
    *,
    added: Iterable[Mapping[str, Any]] = (),
    removed: Iterable[Mapping[str, Any]] = (),
    **record: Any,
) -> ShotgunEvent:
    """A ``Shotgun_<Type>_Change`` event for a multi-entity field."""
    meta = {
        "type": "attribute_change",
        "attribute_name": field,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "field_data_type": "multi_entity",
        "added": [dict(a) for a in added],
        "removed": [dict(r) for r in removed],
    }
    return ShotgunEvent(
        make_record(
            f"Shotgun_{entity_type}_Change",
            entity=_link(entity_type, entity_id),
            attribute_name=field,
            meta=meta,
            **record,
        )
    )


def new_event(entity_type: str, entity_id: int, **record: Any) -> ShotgunEvent:
    """A ``Shotgun_<Type>_New`` event."""
    meta = {"type": "new_entity", "entity_type": entity_type, "entity_id": entity_id}
    return ShotgunEvent(
        make_record(
            f"Shotgun_{entity_type}_New",
            entity=_link(entity_type, entity_id),
            meta=meta,
            **record,
        )
    )


def retirement_event(
    entity_type: str, entity_id: int, display_name: str = "", **record: Any
) -> ShotgunEvent:
    """A ``Shotgun_<Type>_Retirement`` event (``entity`` is null, as on a site)."""
    now = _dt.datetime.now(_dt.timezone.utc)
    meta = {
        "type": "entity_retirement",
        "entity_type": entity_type,
        "entity_id": entity_id,
        "class_name": entity_type,
        "display_name": display_name,
        "retirement_date": now.strftime("%Y-%m-%d %H:%M:%S UTC"),
    }
    return ShotgunEvent(make_record(f"Shotgun_{entity_type}_Retirement", meta=meta, **record))


def revival_event(entity_type: str, entity_id: int, **record: Any) -> ShotgunEvent:
    """A ``Shotgun_<Type>_Revival`` event."""
    meta = {
        "type": "entity_revival",
        "entity_type": entity_type,
        "entity_id": entity_id,
        "class_name": entity_type,
    }
    return ShotgunEvent(
        make_record(
            f"Shotgun_{entity_type}_Revival",
            entity=_link(entity_type, entity_id),
            meta=meta,
            **record,
        )
    )


def make_processor(
    *handlers: Callable[..., Any],
    config: Mapping[str, Mapping[str, Any]] | None = None,
    sg: Any = None,
) -> Processor:
    """A Processor with ``handlers`` registered under their function names.

    ``sg``, when given, is what every handler gets as ``ctx.sg`` (a
    ``shotgun_api3.Shotgun`` connected to ``evframe sandbox``, or a double).
    """
    processor = Processor(config=config, sg_factory=(lambda _name: sg) if sg is not None else None)
    for handler in handlers:
        processor.register(handler)
    processor.finalize()
    return processor


def run_handler(
    handler: Callable[..., Any],
    event: Event,
    *,
    config: Mapping[str, Any] | None = None,
    sg: Any = None,
    requires: Iterable[Callable[..., Any]] = (),
) -> Report:
    """Run one handler (and the handlers it requires, given in ``requires``) on ``event``.

    Exceptions propagate, so a test sees the handler's own error.  Returns the
    run's :class:`~evframe.processor.Report`; ``event.proc`` holds what the
    handlers stored.
    """
    name = handler.__name__
    processor = make_processor(*requires, handler, config={name: config or {}}, sg=sg)
    report = processor.run(event)
    for failure in report.failures:
        if failure.error is not None:
            raise failure.error
    return report


def _declared(source: Path) -> tuple[str, str]:
    cfg = configparser.ConfigParser()
    cfg.read(source / "setup.cfg")
    try:
        return cfg["metadata"]["name"], cfg["metadata"]["version"]
    except KeyError:
        raise ValueError(f"{source}/setup.cfg declares no [metadata] name and version") from None


def install_distribution(
    source: str | os.PathLike[str], *, force: bool = False, build_root: str | None = None
) -> str:
    """``pip install`` the handler distribution at ``source`` into this environment.

    Entry points exist only in installed metadata, so integration tests of handler
    packages install them for real.  It builds offline (no index, no build isolation:
    setuptools and wheel must be installed) from a copy of ``source``, so the source
    tree gets no build/ or egg-info; it does nothing when the version declared in
    ``setup.cfg`` is installed already, unless ``force``.  Returns that version.
    """
    path = Path(source).resolve()
    name, version = _declared(path)
    try:
        installed: str | None = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        installed = None
    if installed != version or force:
        with tempfile.TemporaryDirectory(prefix="evframe-dist-", dir=build_root) as tmp:
            work = Path(tmp) / path.name
            shutil.copytree(path, work, ignore=shutil.ignore_patterns("build", "*.egg-info"))
            cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation"]
            cmd += ["--no-index", "--disable-pip-version-check", "-q"]
            cmd += ["--force-reinstall", str(work)] if force else [str(work)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(
                f"cannot install {name} {version} from {path} ({' '.join(cmd)}); it must "
                f"build offline, which needs setuptools and wheel here:\n"
                f"{proc.stdout}\n{proc.stderr}"
            )
    importlib.invalidate_caches()
    return version


def wait_until(
    condition: Callable[[], T | None],
    timeout: float = 20.0,
    what: str = "the condition to hold",
    *,
    interval: float = 0.05,
    detail: Callable[[], str] | None = None,
) -> T:
    """Poll ``condition()`` every ``interval`` seconds until it returns a true value.

    Returns that value.  After ``timeout`` seconds (the condition is tried once
    more at the deadline) it raises :class:`AssertionError` saying it timed out
    waiting for ``what``, followed by the text of ``detail()`` when given (a log
    tail, say).  Exceptions from ``condition`` propagate, so a condition may
    fail early itself (e.g. when the process it waits on has exited).
    """
    if interval <= 0:
        raise ValueError("interval must be > 0 seconds")
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            extra = f"\n{detail()}" if detail is not None else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{extra}")
        time.sleep(min(interval, remaining))


def order_violations(runs: Iterable[tuple[Any, int, int, int]]) -> int:
    """Out-of-order pairs among handler calls ``(key, event id, start, end)``: two
    events with the same key (an entity, or one key for a global order) whose calls
    overlapped or ran against id order.  The calls of one event (its chain) count as
    one span from the first start to the last end."""
    spans: dict[tuple[Any, int], tuple[int, int]] = {}
    for key, event_id, start, end in runs:
        first, last = spans.get((key, event_id), (start, end))
        spans[(key, event_id)] = (min(first, start), max(last, end))
    by_key: dict[Any, list[tuple[int, int, int]]] = {}
    for (key, event_id), (start, end) in spans.items():
        by_key.setdefault(key, []).append((event_id, start, end))
    violations = 0
    for chains in by_key.values():
        chains.sort()
        for (_a, _s, end), (_b, start, _e) in itertools.pairwise(chains):
            violations += start < end
    return violations
