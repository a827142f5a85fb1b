"""The daemon core in memory: a MemorySource, a FakeClock, and handlers registered
directly on a Processor (no HTTP, no pip installs, no sleeping)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from evframe import Processor, requires
from evframe.config import Config, DaemonConfig, HandlerConfig, SiteConfig
from evframe.daemon import Daemon
from evframe.discovery import Validation
from evframe.state import State
from evframe.testing import FakeClock, MemorySource, make_record

# Long enough that redacting it from stored errors changes nothing else in them.
API_KEY = "unit-site-key-7d41"


@dataclass
class Harness:
    """Builds daemons over one in-memory event log and one state file."""

    tmp_path: Path
    clock: FakeClock = field(default_factory=FakeClock)
    source: MemorySource = field(default_factory=MemorySource)
    calls: list[tuple[str, int]] = field(default_factory=list)
    next_id: int = 1
    validations: list[Validation] = field(default_factory=list)
    installed: dict[str, str] = field(default_factory=dict)
    executor: str = "inline"

    @property
    def state_path(self) -> Path:
        return self.tmp_path / "state.db"

    def add(self, count: int = 1, *, hidden: bool = False, age: float = 0.0) -> list[int]:
        """Append ``count`` Shot changes to the log; returns their ids."""
        ids = []
        for _ in range(count):
            created = dt.datetime.fromtimestamp(self.clock.time() - age, dt.timezone.utc)
            record = make_record(
                "Shotgun_Shot_Change",
                id=self.next_id,
                entity={"type": "Shot", "id": 1, "name": "sh001"},
                attribute_name="code",
                created_at=created,
            )
            self.source.add(record, hidden=hidden)
            ids.append(self.next_id)
            self.next_id += 1
        return ids

    def skip_ids(self, count: int) -> None:
        """Ids that will never appear (deleted rows, rolled back transactions)."""
        self.next_id += count

    def recorder(self, name: str, fail_on: Iterable[int] = (), fail_times: int = -1) -> Any:
        """A handler that records (name, event id); it raises on ``fail_on`` ids
        (``fail_times`` times per id, or always)."""
        failures: dict[int, int] = {}
        bad = set(fail_on)

        def handler(ctx: Any, event: Any) -> None:
            if event.id in bad and (fail_times < 0 or failures.get(event.id, 0) < fail_times):
                failures[event.id] = failures.get(event.id, 0) + 1
                raise RuntimeError(f"{name} cannot take event {event.id}")
            self.calls.append((name, event.id))

        handler.__name__ = name
        return handler

    def got(self, name: str) -> list[int]:
        return [i for n, i in self.calls if n == name]

    def config(self, handlers: dict[str, dict[str, Any]] | None = None, **daemon: Any) -> Config:
        settings: dict[str, Any] = {
            "state": str(self.state_path),
            "start": "earliest",
            "poll_interval": 0.5,
            "active_poll_interval": 0.05,
            "reload_interval": 0,
            "batch_size": 500,
            "executor": self.executor,
            **daemon,
        }
        return Config(
            site=SiteConfig(url=self.source.url, script_name="s", api_key=API_KEY),
            daemon=DaemonConfig(**settings),
            handlers={n: HandlerConfig(n, **o) for n, o in (handlers or {}).items()},
        )

    def daemon(
        self,
        funcs: Iterable[Callable[..., Any]],
        config: Config,
        *,
        prepare: Callable[[Processor], None] | None = None,
        **kw: Any,
    ) -> Daemon:
        """A daemon over ``funcs``; ``prepare(processor)`` runs once they are registered."""
        processor = Processor(config=lambda name: config.handler(name).config)
        for func in funcs:
            processor.register(func)
        if prepare is not None:
            prepare(processor)
        return Daemon(
            config,
            source=self.source,
            clock=self.clock,
            processor=processor,
            fingerprints=lambda group: dict(self.installed),
            validate=self.validate,
            **kw,
        )

    def validate(self, group: str) -> Validation:
        return self.validations.pop(0)

    def state(self) -> State:
        return State.open(self.state_path, self.source.url, lock=False)

    def chain(self, **failing: Any) -> list[Any]:
        """``first`` <- ``second`` (requires first), and an unrelated ``other``."""
        first = self.recorder("first", **failing.get("first", {}))
        second = requires("first")(self.recorder("second", **failing.get("second", {})))
        other = self.recorder("other", **failing.get("other", {}))
        return [first, second, other]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Every in-memory daemon test runs inline and on threads, except those marked
    # inline_only: they pin down when a change made from inside a handler is seen,
    # which a concurrent executor leaves open (chains handed out already may run).
    if "h" in metafunc.fixturenames:
        inline_only = metafunc.definition.get_closest_marker("inline_only") is not None
        kinds = ["inline"] if inline_only else ["inline", "threads"]
        metafunc.parametrize("h", kinds, indirect=True)


@pytest.fixture
def h(tmp_path: Path, request: pytest.FixtureRequest) -> Harness:
    """A harness for the executor of the test's parameter."""
    return Harness(tmp_path, executor=getattr(request, "param", "inline"))
