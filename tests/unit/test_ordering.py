"""``@requires`` / ``@required_by``: one deterministic order, validated at registration."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import pytest

import evframe.ordering
from evframe import (
    CycleError,
    DuplicateHandlerError,
    Event,
    Processor,
    UnknownRequirementError,
    required_by,
    requires,
)
from evframe.handler import get_spec
from evframe.testing import SimpleEvent

Handler = Callable[[Any, Event], Any]


def handler(name: str, *, reqs: tuple[str, ...] = (), req_by: tuple[str, ...] = ()) -> Handler:
    """A handler named ``name`` that records its call in ``event.proc.trace.calls``."""

    def func(ctx: Any, event: Event) -> None:
        ns = event.proc.trace
        if "calls" not in ns:
            ns.calls = []
        ns.calls.append(ctx.name)

    func.__name__ = func.__qualname__ = name
    if reqs:
        requires(*reqs)(func)
    if req_by:
        required_by(*req_by)(func)
    return func


def order_of(*handlers: Handler) -> list[str]:
    processor = Processor()
    for h in handlers:
        processor.register(h)
    event = SimpleEvent("e")
    processor.process(event)
    assert processor.names == event.proc.trace.calls
    return processor.names


def test_requires_edge() -> None:
    assert order_of(handler("a", reqs=("b",)), handler("b")) == ["b", "a"]


def test_required_by_edge() -> None:
    assert order_of(handler("b"), handler("a", req_by=("b",))) == ["a", "b"]


def test_decorators_return_the_function_and_accumulate() -> None:
    def h(ctx: Any, event: Event) -> None: ...

    assert requires("a")(h) is h
    assert requires("b", "c")(h) is h
    assert required_by("d")(h) is h
    spec = get_spec(h)
    assert spec.requires == {"a", "b", "c"}
    assert spec.required_by == {"d"}


@pytest.mark.parametrize("decorator", [requires, required_by])
def test_decorator_wrong_use(decorator: Callable[..., Any]) -> None:
    name = decorator.__name__
    with pytest.raises(TypeError, match=rf"@{name}\(\) needs at least one handler name"):
        decorator()
    with pytest.raises(TypeError, match=rf"@{name}\(\) takes handler names \(non-empty str\)"):
        decorator("")
    with pytest.raises(TypeError, match="got 3"):
        decorator("a", 3)


def test_ties_broken_by_name() -> None:
    names = ["delta", "alpha", "charlie", "bravo"]
    assert order_of(*(handler(n) for n in names)) == sorted(names)
    # With an edge: the earliest available name first, at every step.
    assert order_of(
        handler("z_first", req_by=("a_last",)),
        handler("a_last"),
        handler("m_free"),
    ) == ["m_free", "z_first", "a_last"]


def test_diamond() -> None:
    assert order_of(
        handler("d", reqs=("b", "c")),
        handler("c", reqs=("a",)),
        handler("b", reqs=("a",)),
        handler("a"),
    ) == ["a", "b", "c", "d"]


SCRIPT = textwrap.dedent(
    """
    import random
    from evframe import Processor, requires, required_by

    def make(name):
        def func(ctx, event):
            pass
        func.__name__ = name
        return func

    names = [f"h{i:02d}" for i in range(20)]
    handlers = {n: make(n) for n in names}
    requires("h03", "h17")(handlers["h05"])
    requires("h11")(handlers["h02"])
    required_by("h00")(handlers["h19"])
    required_by("h07", "h08")(handlers["h12"])
    requires("h02")(handlers["h01"])
    random.seed(SEED)
    random.shuffle(names)
    p = Processor()
    for n in names:
        p.register(handlers[n])
    print(" ".join(p.names))
    """
)


def test_order_is_identical_across_hash_seeds_and_registration_orders() -> None:
    outputs = set()
    for seed, hashseed in [(1, "0"), (2, "1"), (3, "2"), (4, "random"), (5, "12345")]:
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        proc = subprocess.run(
            [sys.executable, "-c", SCRIPT.replace("SEED", str(seed))],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        outputs.add(proc.stdout.strip())
    assert len(outputs) == 1
    order = outputs.pop().split()
    assert len(order) == 20
    assert order == [
        "h03", "h04", "h06", "h09", "h10", "h11", "h02", "h01", "h12", "h07", "h08", "h13",
        "h14", "h15", "h16", "h17", "h05", "h18", "h19", "h00",
    ]  # fmt: skip


def test_three_cycle_names_every_handler() -> None:
    processor = Processor()
    processor.register(handler("a", reqs=("c",)))
    processor.register(handler("b", reqs=("a",)))
    processor.register(handler("c", reqs=("b",)))
    processor.register(handler("outside"))
    with pytest.raises(CycleError) as info:
        processor.finalize()
    assert sorted(info.value.cycle) == ["a", "b", "c"]
    message = str(info.value)
    assert "handler ordering has a cycle" in message
    for name in ("a", "b", "c"):
        assert f"{name} -> " in message
    assert "outside" not in message


def test_cycle_through_required_by() -> None:
    processor = Processor()
    processor.register(handler("a", req_by=("b",)))
    processor.register(handler("b", req_by=("a",)))
    with pytest.raises(CycleError) as info:
        processor.finalize()
    assert sorted(info.value.cycle) == ["a", "b"]


def test_self_cycle() -> None:
    processor = Processor()
    processor.register(handler("selfish", reqs=("selfish",)))
    with pytest.raises(CycleError) as info:
        processor.process(SimpleEvent("e"))
    assert info.value.cycle == ["selfish"]
    assert "selfish -> selfish" in str(info.value)


@pytest.mark.parametrize("relation", ["requires", "required_by"])
def test_unknown_requirement_names_both_and_lists_registered(relation: str) -> None:
    processor = Processor()
    kwargs = {"reqs": ("ghost",)} if relation == "requires" else {"req_by": ("ghost",)}
    processor.register(handler("needy", **kwargs), source="the needy source")
    processor.register(handler("other"))
    with pytest.raises(UnknownRequirementError) as info:
        processor.finalize()
    assert str(info.value) == (
        f"handler 'needy' (the needy source) @{relation} 'ghost', but no handler named "
        "'ghost' is registered; registered handlers: needy, other"
    )


def test_duplicate_names_both_sources() -> None:
    processor = Processor()
    processor.register(handler("dup"), source="entry point one")
    with pytest.raises(DuplicateHandlerError) as info:
        processor.register(handler("dup"), source="entry point two")
    message = str(info.value)
    assert "two handlers are named 'dup'" in message
    assert "entry point one and entry point two" in message


def test_duplicate_default_source_is_module_and_qualname() -> None:
    def h(ctx: Any, event: Event) -> None: ...

    def other(ctx: Any, event: Event) -> None: ...

    processor = Processor()
    processor.register(h)
    with pytest.raises(DuplicateHandlerError) as info:
        processor.register(other, "h")
    message = str(info.value)
    assert "test_duplicate_default_source_is_module_and_qualname.<locals>.h and " in message
    assert "test_duplicate_default_source_is_module_and_qualname.<locals>.other" in message


def test_order_computed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[int] = []
    original = evframe.ordering.HandlerGraph.__init__

    def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(evframe.ordering.HandlerGraph, "__init__", counting)
    processor = Processor()
    processor.register(handler("a", reqs=("b",)))
    processor.register(handler("b"))
    assert built == []
    graph = processor.graph
    for i in range(50):
        processor.process(SimpleEvent(f"e{i % 5}"))
        processor.run(SimpleEvent("x"))
        processor.wanted_by(SimpleEvent("y"))
    assert processor.graph is graph
    assert len(built) == 1
    # Registering again invalidates it: the next event computes the new order once.
    processor.register(handler("c", req_by=("b",)))
    processor.process(SimpleEvent("e"))
    processor.process(SimpleEvent("e"))
    assert len(built) == 2
    assert processor.names == ["c", "b", "a"]


def test_graph_helpers() -> None:
    processor = Processor()
    for h in (
        handler("a"),
        handler("b", reqs=("a",)),
        handler("c", reqs=("b",)),
        handler("lone"),
    ):
        processor.register(h)
    graph = processor.graph
    assert graph.dependents("a") == frozenset({"b", "c"})
    assert graph.dependents("c") == frozenset()
    assert graph.requirements("c") == ["b"]
    assert graph.group("a") == frozenset({"a", "b", "c"})
    assert graph.groups() == [["a", "b", "c"], ["lone"]]
    assert graph.sort(["c", "lone", "a"]) == ["a", "c", "lone"]
    dot = graph.to_dot()
    assert '"a" -> "b";' in dot and '"b" -> "c";' in dot and '"lone";' in dot


def test_unregister() -> None:
    processor = Processor()
    processor.register(handler("a"))
    processor.register(handler("b", reqs=("a",)))
    processor.unregister("b")
    assert processor.names == ["a"]
