"""The Processor: handler calls, context, follow-ups, StopProcessing, isolation, dispatch."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import evproc
import pytest

from evframe import (
    Context,
    Event,
    FollowupLimitError,
    HandlerReturnError,
    Processor,
    RegistrationError,
    StopProcessing,
    requires,
    want,
)
from evframe.filters import Want
from evframe.handler import Outcome, RetryPolicy
from evframe.testing import SimpleEvent, change_event, new_event

Handler = Callable[[Any, Event], Any]


def at_once(attempts: int) -> RetryPolicy:
    """A retry policy that calls again at once."""
    return RetryPolicy(attempts=attempts, backoff=0.0, max_backoff=0.0)


@pytest.fixture
def calls() -> list[tuple[str, str]]:
    """(handler name, event name) for every handler call, in order."""
    return []


def recorder(
    calls: list[tuple[str, str]], name: str, *, result: Any = None, raises: Any = None
) -> Handler:
    def func(ctx: Any, event: Event) -> Any:
        calls.append((name, event.name))
        if raises is not None:
            raise raises
        return result() if callable(result) else result

    func.__name__ = func.__qualname__ = name
    return func


def make(*handlers: Handler, **kwargs: Any) -> Processor:
    processor = Processor(**kwargs)
    for h in handlers:
        processor.register(h)
    return processor


# -- the handler call and its context ---------------------------------------


def test_handler_called_with_context_and_event() -> None:
    seen: list[tuple[Any, Event]] = []

    def h(ctx: Any, event: Event) -> None:
        seen.append((ctx, event))

    processor = make(h, config={"h": {"notify": True}})
    event = new_event("Shot", 1)
    assert processor.process(event) is None
    ((ctx, got),) = seen
    assert got is event
    assert isinstance(ctx, Context)
    assert ctx.processor is processor
    assert ctx.name == "h"
    assert isinstance(ctx.log, logging.Logger)
    assert ctx.log.name == "evframe.handler.h"
    assert dict(ctx.config) == {"notify": True}
    assert ctx is processor.context("h")
    assert repr(ctx) == "<Context h>"


def test_registered_name_is_used_for_context() -> None:
    seen: list[str] = []

    def h(ctx: Any, event: Event) -> None:
        seen.append(ctx.name)

    processor = Processor()
    assert processor.register(h, "custom_name") is h
    processor.process(SimpleEvent("e"))
    assert seen == ["custom_name"]
    assert processor.context("custom_name").log.name == "evframe.handler.custom_name"


def test_config_is_read_only() -> None:
    source = {"h": {"level": 1}}

    def h(ctx: Any, event: Event) -> None:
        ctx.config["level"] = 2

    processor = make(h, config=source)
    with pytest.raises(TypeError, match="does not support item assignment"):
        processor.process(SimpleEvent("e"))
    # Changing the caller's dict afterwards does not leak into the handler either.
    source["h"]["level"] = 3
    assert processor.context("h").config["level"] == 1


def test_config_from_callable_and_missing_section() -> None:
    def h(ctx: Any, event: Event) -> None: ...

    def g(ctx: Any, event: Event) -> None: ...

    asked: list[str] = []

    def config(name: str) -> dict[str, Any]:
        asked.append(name)
        return {"who": name}

    processor = make(h, g, config=config)
    assert processor.context("h").config == {"who": "h"}
    assert sorted(asked) == ["g", "h"]
    assert dict(make(h, config={"other": {"x": 1}}).context("h").config) == {}
    assert dict(make(h).context("h").config) == {}


def test_sg_is_lazy_and_reused() -> None:
    made: list[str] = []
    seen: list[Any] = []

    def factory(name: str) -> object:
        made.append(name)
        return object()

    def uses_sg(ctx: Any, event: Event) -> None:
        seen.append(ctx.sg)
        seen.append(ctx.sg)

    def no_sg(ctx: Any, event: Event) -> None: ...

    processor = make(uses_sg, no_sg, sg_factory=factory)
    assert made == []
    for _ in range(3):
        processor.process(SimpleEvent("e"))
    assert made == ["uses_sg"]
    assert len(seen) == 6 and all(s is seen[0] for s in seen)


def test_sg_without_factory_names_the_handler() -> None:
    def needs_site(ctx: Any, event: Event) -> None:
        ctx.sg.find_one("Shot", [])

    processor = make(needs_site)
    with pytest.raises(RuntimeError) as info:
        processor.process(SimpleEvent("e"))
    message = str(info.value)
    assert "handler 'needs_site' used ctx.sg" in message
    assert "sg_factory=" in message


def test_sg_can_be_set() -> None:
    def h(ctx: Any, event: Event) -> None:
        event.proc.h.sg = ctx.sg

    processor = make(h)
    marker = object()
    processor.context("h").sg = marker
    event = SimpleEvent("e")
    processor.process(event)
    assert event.proc.h.sg is marker


def test_register_rejects_non_callable_and_nameless() -> None:
    processor = Processor()
    with pytest.raises(RegistrationError, match="is not callable"):
        processor.register(42)  # type: ignore[arg-type]

    class NoName:
        def __call__(self, ctx: Any, event: Event) -> None: ...

    with pytest.raises(RegistrationError, match="has no __name__; pass name="):
        processor.register(NoName())
    processor.register(NoName(), "named")
    assert processor.names == ["named"]


# -- follow-up events ---------------------------------------------------------


def test_followups_processed_after_current_event_fifo(calls: list[tuple[str, str]]) -> None:
    processor = make(
        want("root")(recorder(calls, "first", result=lambda: [SimpleEvent("f1")])),
        want("root")(recorder(calls, "second", result=lambda: (SimpleEvent("f2"),))),
        want("f1")(recorder(calls, "on_f1", result=lambda: iter([SimpleEvent("f3")]))),
        want("f2", "f3")(recorder(calls, "on_f23")),
    )
    assert processor.process(SimpleEvent("root")) is None
    assert calls == [
        ("first", "root"),
        ("second", "root"),
        ("on_f1", "f1"),
        ("on_f23", "f2"),
        ("on_f23", "f3"),
    ]


def test_generator_and_empty_returns_are_fine(calls: list[tuple[str, str]]) -> None:
    def gen(ctx: Any, event: Event) -> Iterator[Event]:
        calls.append(("gen", event.name))
        if event.name == "root":
            yield SimpleEvent("child")

    processor = make(gen, recorder(calls, "empty", result=lambda: []))
    processor.process(SimpleEvent("root"))
    assert calls == [("empty", "root"), ("gen", "root"), ("empty", "child"), ("gen", "child")]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("not events", "returned str 'not events'"),
        ({"a": 1}, "returned dict {'a': 1}"),
        (3, "returned int 3"),
        (b"bytes", "returned bytes"),
        (SimpleEvent("bare"), "(return a list: [event])"),
        ([SimpleEvent("ok"), "bad"], "returned an iterable containing str 'bad'"),
        ([{"type": "EventLogEntry"}], "returned an iterable containing dict"),
    ],
)
def test_non_event_returns_name_the_handler(value: Any, expected: str) -> None:
    def sloppy(ctx: Any, event: Event) -> Any:
        return value

    processor = make(want("root")(sloppy))
    with pytest.raises(HandlerReturnError) as info:
        processor.process(SimpleEvent("root"))
    message = str(info.value)
    assert "handler 'sloppy'" in message
    assert expected in message
    report = processor.run(SimpleEvent("root"))
    assert report.outcome("sloppy") == "failed"
    assert isinstance(report.failures[0].error, HandlerReturnError)


def test_endless_followups_end_with_followup_limit_error(calls: list[tuple[str, str]]) -> None:
    looper = want("loop")(recorder(calls, "looper", result=lambda: [SimpleEvent("loop")]))
    processor = make(looper, max_followups=50)
    with pytest.raises(FollowupLimitError) as info:
        processor.process(SimpleEvent("loop"))
    message = str(info.value)
    assert "handler 'looper'" in message
    assert "limit of 50 follow-up events" in message
    assert len(calls) == 51
    calls.clear()
    report = processor.run(SimpleEvent("loop"))
    assert len(calls) == 51
    assert [type(f.error) for f in report.failures] == [FollowupLimitError]


def test_followup_limit_counts_per_root_event(calls: list[tuple[str, str]]) -> None:
    fan = want("root")(recorder(calls, "fan", result=lambda: [SimpleEvent("leaf")] * 10))
    processor = make(fan, max_followups=10)
    for _ in range(3):
        processor.process(SimpleEvent("root"))
    assert len(calls) == 3
    processor.max_followups = 9
    with pytest.raises(FollowupLimitError, match="handler 'fan'"):
        processor.process(SimpleEvent("root"))


# -- StopProcessing, compared with evproc 0.2.0 --------------------------------


class EvprocEvent(evproc.Event):  # type: ignore[misc]
    def __init__(self, name: str) -> None:
        super().__init__()
        self._evname = name

    @property
    def name(self) -> str:
        return self._evname


def stop_scenario(lib: str, stop: Callable[[], BaseException]) -> tuple[Any, list[str]]:
    """root: a (returns follow-up f1) -> b (raises stop()) -> c; f1: f."""
    trace: list[str] = []
    if lib == "evframe":
        mod: Any = evframe_api
        make_event: Callable[[str], Any] = SimpleEvent
    else:
        mod = evproc
        make_event = EvprocEvent

    def a(proc: Any, ev: Any) -> Any:
        trace.append(f"a:{ev.name}")
        return [make_event("f1")]

    def b(proc: Any, ev: Any) -> None:
        trace.append(f"b:{ev.name}")
        raise stop()

    def c(proc: Any, ev: Any) -> None:
        trace.append(f"c:{ev.name}")

    def f(proc: Any, ev: Any) -> None:
        trace.append(f"f:{ev.name}")

    mod.want("root")(a)
    mod.want("root")(b)
    mod.requires("a")(b)
    mod.want("root")(c)
    mod.requires("b")(c)
    mod.want("f1")(f)
    processor = mod.Processor()
    for h in (c, f, b, a):
        processor.register(h)
    return processor.process(make_event("root")), trace


class evframe_api:
    want = staticmethod(want)
    requires = staticmethod(requires)
    Processor = Processor


@pytest.mark.parametrize("lib", ["evframe", "evproc"])
def test_stop_without_value_still_runs_queued_followups(lib: str) -> None:
    stop_cls = StopProcessing if lib == "evframe" else evproc.StopProcessing
    retval, trace = stop_scenario(lib, lambda: stop_cls())
    assert retval is None
    assert trace == ["a:root", "b:root", "f:f1"]


@pytest.mark.parametrize("lib", ["evframe", "evproc"])
@pytest.mark.parametrize("value", [None, "done", 0])
def test_stop_with_value_returns_it_and_drops_followups(lib: str, value: Any) -> None:
    stop_cls = StopProcessing if lib == "evframe" else evproc.StopProcessing
    retval, trace = stop_scenario(lib, lambda: stop_cls(value))
    assert retval == value
    assert type(retval) is type(value)
    assert trace == ["a:root", "b:root"]


def test_stop_in_a_followup_handler(calls: list[tuple[str, str]]) -> None:
    def stopper(ctx: Any, event: Event) -> None:
        calls.append(("stopper", event.name))
        raise StopProcessing("from follow-up")

    processor = make(
        want("root")(recorder(calls, "a", result=lambda: [SimpleEvent("f1"), SimpleEvent("f2")])),
        want("f1")(stopper),
        want("f2")(recorder(calls, "on_f2")),
    )
    assert processor.process(SimpleEvent("root")) == "from follow-up"
    assert calls == [("a", "root"), ("stopper", "f1")]


def test_stop_in_run_is_ok_and_sets_retval(calls: list[tuple[str, str]]) -> None:
    def stopper(ctx: Any, event: Event) -> None:
        raise StopProcessing()

    processor = make(
        stopper, requires("stopper")(recorder(calls, "later")), recorder(calls, "a_first")
    )
    report = processor.run(SimpleEvent("e"))
    assert report.outcome("stopper") == "ok"
    assert report.outcome("later") == "not_wanted"
    assert calls == [("a_first", "e")]
    assert report.retval is None

    def valued(ctx: Any, event: Event) -> None:
        raise StopProcessing(None)

    processor = make(valued)
    assert processor.run(SimpleEvent("e")).retval is None

    def seven(ctx: Any, event: Event) -> None:
        raise StopProcessing(7)

    assert make(seven).run(SimpleEvent("e")).retval == 7


# -- an edge means "before, when both run" -------------------------------------


def test_requirement_not_wanting_the_event_does_not_block(calls: list[tuple[str, str]]) -> None:
    prep = want("x")(recorder(calls, "prep"))
    user = want("x", "y")(requires("prep")(recorder(calls, "user")))
    processor = make(user, prep)
    processor.process(SimpleEvent("y"))
    assert calls == [("user", "y")]
    calls.clear()
    processor.process(SimpleEvent("x"))
    assert calls == [("prep", "x"), ("user", "x")]
    assert processor.wanted_by(SimpleEvent("y")) == ["user"]


def test_evproc_blocks_a_handler_whose_requirement_does_not_want_the_event() -> None:
    # The behaviour evframe fixes: evproc refuses to process the event at all.
    trace: list[str] = []

    @evproc.want("x")
    def prep(proc: Any, ev: Any) -> None:
        trace.append("prep")

    @evproc.want("x", "y")
    @evproc.requires("prep")
    def user(proc: Any, ev: Any) -> None:
        trace.append("user")

    processor = evproc.Processor()
    processor.register(prep)
    processor.register(user)
    with pytest.raises(evproc.IncompatibleRequirementsException):
        processor.process(EvprocEvent("y"))
    assert trace == []


# -- errors: re-raise by default, isolation on request ---------------------------


def test_process_reraises_the_handlers_own_exception(calls: list[tuple[str, str]]) -> None:
    boom = ValueError("boom")
    processor = make(recorder(calls, "a"), recorder(calls, "b", raises=boom), recorder(calls, "c"))
    with pytest.raises(ValueError, match="boom") as info:
        processor.process(SimpleEvent("e"))
    assert info.value is boom
    assert calls == [("a", "e"), ("b", "e")]


@pytest.fixture
def failing_set(calls: list[tuple[str, str]]) -> Processor:
    """a ok; b fails; c requires b; d requires c; e unrelated; f wants something else."""
    return make(
        recorder(calls, "a"),
        recorder(calls, "b", raises=ValueError("boom in b")),
        requires("b")(recorder(calls, "c")),
        requires("c")(recorder(calls, "d")),
        recorder(calls, "e"),
        want("other")(recorder(calls, "f")),
    )


def test_run_records_outcomes(failing_set: Processor, calls: list[tuple[str, str]]) -> None:
    event = SimpleEvent("e")
    report = failing_set.run(event)
    assert report.event is event
    assert calls == [("a", "e"), ("b", "e"), ("e", "e")]
    assert [(r.name, r.status) for r in report.results] == [
        ("a", "ok"),
        ("b", "failed"),
        ("c", "skipped"),
        ("d", "skipped"),
        ("e", "ok"),
    ]
    assert {n: report.outcome(n) for n in "abcdef"} == {
        "a": "ok",
        "b": "failed",
        "c": "skipped",
        "d": "skipped",
        "e": "ok",
        "f": "not_wanted",
    }
    (failure,) = report.failures
    assert isinstance(failure.error, ValueError)
    assert str(failure.error) == "boom in b"
    assert failure.traceback is not None
    assert "Traceback (most recent call last)" in failure.traceback
    assert "in func" in failure.traceback
    assert failure.traceback.rstrip().endswith("ValueError: boom in b")
    assert failure.attempts == 1
    assert [(r.name, r.reason) for r in report.skipped] == [
        ("c", "requirement 'b' failed"),
        ("d", "requirement 'b' failed"),
    ]
    assert report.ok is False
    assert report.retval is None


def test_run_only(failing_set: Processor, calls: list[tuple[str, str]]) -> None:
    report = failing_set.run(SimpleEvent("e"), only={"a", "e"})
    assert calls == [("a", "e"), ("e", "e")]
    assert [(r.name, r.status) for r in report.results] == [("a", "ok"), ("e", "ok")]
    assert report.ok is True
    assert report.outcome("b") == "not_wanted"


def test_run_covers_followups(calls: list[tuple[str, str]]) -> None:
    processor = make(
        want("root")(recorder(calls, "spawn", result=lambda: [SimpleEvent("child")])),
        want("child")(recorder(calls, "child_fails", raises=KeyError("k"))),
    )
    report = processor.run(SimpleEvent("root"))
    assert [(r.name, r.event.name, r.status) for r in report.results] == [
        ("spawn", "root", "ok"),
        ("child_fails", "child", "failed"),
    ]


def test_run_retries_with_a_policy(calls: list[tuple[str, str]]) -> None:
    failures = [OSError("first"), OSError("second")]

    def flaky(ctx: Any, event: Event) -> None:
        calls.append(("flaky", event.name))
        if failures:
            raise failures.pop(0)

    report = make(flaky).run(SimpleEvent("e"), retry={"flaky": at_once(attempts=5)})
    assert len(calls) == 3
    (result,) = report.results
    assert (result.status, result.attempts) == (Outcome.OK, 3)


def test_run_retry_gives_up_after_the_attempts(calls: list[tuple[str, str]]) -> None:
    always = recorder(calls, "always", raises=OSError("down"))
    dependent = requires("always")(recorder(calls, "dependent"))
    report = make(always, dependent).run(SimpleEvent("e"), retry={"always": at_once(attempts=3)})
    assert len(calls) == 3
    assert [(r.name, r.status, r.attempts) for r in report.results] == [
        ("always", Outcome.FAILED, 3),
        ("dependent", Outcome.SKIPPED, 1),
    ]


def test_process_isolate_logs_and_goes_on(
    failing_set: Processor, calls: list[tuple[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="evframe"):
        assert failing_set.process(SimpleEvent("e"), isolate=True) is None
    assert calls == [("a", "e"), ("b", "e"), ("e", "e")]
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.name == "evframe.handler.b"
    message = record.getMessage()
    assert "handler b failed on" in message
    assert "ValueError: boom in b" in message


def test_process_isolate_returns_stop_value() -> None:
    def stopper(ctx: Any, event: Event) -> None:
        raise StopProcessing("v")

    assert make(stopper).process(SimpleEvent("e"), isolate=True) == "v"


def test_wanted_by_in_run_order() -> None:
    def a(ctx: Any, event: Event) -> None: ...

    def b_first(ctx: Any, event: Event) -> None: ...

    def c_other(ctx: Any, event: Event) -> None: ...

    want("Shotgun_Task_Change", lambda ev: ev.new_value == "fin")(a)
    requires("a")(want(entity="Task")(b_first))
    want("Shotgun_Shot_New")(c_other)
    processor = make(b_first, c_other, a)
    assert processor.wanted_by(change_event("Task", 1, "sg_status_list", new="fin")) == [
        "a",
        "b_first",
    ]
    assert processor.wanted_by(change_event("Task", 1, "sg_status_list", new="ip")) == ["b_first"]
    assert processor.wanted_by(new_event("Shot", 1)) == ["c_other"]
    assert processor.wanted_by(SimpleEvent("nothing")) == []


# -- indexed dispatch ---------------------------------------------------------


def test_handlers_that_cannot_match_cost_nothing_per_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    predicate_calls: dict[str, int] = {}
    static_calls: list[tuple[str, str | None, str | None]] = []
    original = Want.matches_static

    def spy(self: Want, name: str, entity_type: str | None, field: str | None) -> bool:
        static_calls.append((name, entity_type, field))
        return original(self, name, entity_type, field)

    monkeypatch.setattr(Want, "matches_static", spy)

    def counting(key: str) -> Callable[[Event], bool]:
        def pred(event: Event) -> bool:
            predicate_calls[key] = predicate_calls.get(key, 0) + 1
            return True

        return pred

    processor = Processor()
    for i in range(500):

        def h(ctx: Any, event: Event) -> None: ...

        want(f"Other_{i}_Event", counting("other"))(h)
        processor.register(h, f"other_{i:03d}")

    def glob_match(ctx: Any, event: Event) -> None: ...

    def glob_miss(ctx: Any, event: Event) -> None: ...

    want("Shotgun_*_Change", counting("glob_match"))(glob_match)
    want("Nothing_*", counting("glob_miss"))(glob_miss)
    processor.register(glob_match)
    processor.register(glob_miss)
    wants_total = 502

    for i in range(100):
        processor.process(change_event("Task", i, "sg_status_list", new="fin"))
    assert predicate_calls == {"glob_match": 100}
    key = ("Shotgun_Task_Change", "Task", "sg_status_list")
    assert static_calls == [key] * wants_total

    # A second distinct (name, entity type, field) key is resolved once more, not per event.
    for i in range(100):
        processor.process(change_event("Task", i, "content", new="x"))
        processor.process(change_event("Task", i, "sg_status_list", new="fin"))
    assert predicate_calls == {"glob_match": 300}
    assert len(static_calls) == 2 * wants_total
    assert static_calls[wants_total:] == [("Shotgun_Task_Change", "Task", "content")] * wants_total


def test_index_is_dropped_when_handlers_change(calls: list[tuple[str, str]]) -> None:
    processor = make(want("e")(recorder(calls, "first")))
    processor.process(SimpleEvent("e"))
    processor.register(want("e")(recorder(calls, "second")))
    processor.process(SimpleEvent("e"))
    assert calls == [("first", "e"), ("first", "e"), ("second", "e")]


def test_repr() -> None:
    assert repr(make(lambda ctx, ev: None)) == "<Processor 1 handlers>"


def test_run_drops_followups_of_a_handler_that_failed(calls: list[tuple[str, str]]) -> None:
    # A handler whose return value is refused has failed: none of the events it returned
    # may be processed, and a retried attempt must not queue them a second time.
    def half_good(ctx: Any, event: Event) -> Any:
        calls.append(("half_good", event.name))
        return [SimpleEvent("child"), "not an event"]

    processor = make(want("root")(half_good), want("child")(recorder(calls, "on_child")))
    report = processor.run(SimpleEvent("root"), retry={"half_good": at_once(attempts=2)})
    assert report.outcome("half_good") == "failed"
    assert calls == [("half_good", "root"), ("half_good", "root")]
