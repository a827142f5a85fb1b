"""Quarantine: exactly the handlers a cycle or a missing requirement makes unsafe."""

from __future__ import annotations

from typing import Any

import pytest

from evframe import Processor, required_by, requires
from evframe.errors import RegistrationError
from evframe.handler import get_spec
from evframe.quarantine import quarantine, unsafe_handlers
from evframe.testing import change_event


def handler(name: str, calls: list[str] | None = None) -> Any:
    def func(ctx: Any, event: Any) -> None:
        if calls is not None:
            calls.append(name)

    func.__name__ = name
    return func


def funcs(*items: Any) -> dict[str, Any]:
    return {f.__name__: f for f in items}


def test_a_valid_set_has_nothing_unsafe() -> None:
    base = handler("base")
    after = requires("base")(handler("after"))
    assert unsafe_handlers(funcs(base, after)) == {}


def test_a_missing_requirement_sets_aside_the_handler_and_its_dependents_only() -> None:
    base = handler("base")
    needy = requires("base", "gone")(handler("needy"))
    dependent = requires("needy")(handler("dependent"))
    further = requires("dependent")(handler("further"))
    unrelated = handler("unrelated")
    unsafe = unsafe_handlers(funcs(base, needy, dependent, further, unrelated), {"needy": "ep x"})
    assert sorted(unsafe) == ["dependent", "further", "needy"]
    why = "handler 'needy' (ep x) @requires 'gone', which is not installed"
    assert unsafe["needy"].reason == why
    assert unsafe["further"].reason.startswith("depends on quarantined handler 'needy'")
    assert {q.cause for q in unsafe.values()} == {unsafe["needy"].reason}


def test_a_cycle_sets_aside_its_members_and_their_dependents_not_their_requirements() -> None:
    base = handler("base")
    a = requires("base", "b")(handler("a"))
    b = requires("a")(handler("b"))
    c = required_by("a")(handler("c"))  # runs before the cycle: not unsafe
    d = requires("b")(handler("d"))
    unsafe = unsafe_handlers(funcs(base, a, b, c, d))
    assert sorted(unsafe) == ["a", "b", "d"]
    assert unsafe["a"].reason == "handlers a, b form an ordering cycle"
    assert unsafe["d"].cause == "handlers a, b form an ordering cycle"


def test_a_handler_that_requires_itself_is_a_cycle() -> None:
    selfish = requires("selfish")(handler("selfish"))
    assert list(unsafe_handlers(funcs(selfish, handler("other")))) == ["selfish"]


def test_an_unknown_required_by_is_unsafe_too() -> None:
    # A typo in @required_by leaves the real dependent unordered: the declarer is held.
    early = required_by("rollpu")(handler("early"))
    assert list(unsafe_handlers(funcs(early, handler("rollup")))) == ["early"]


def test_order_only_edges_make_cycles_but_no_dependents() -> None:
    a = requires("b")(handler("a"))
    b = handler("b")
    get_spec(b, create=True).follows.add("a")
    c = handler("c")
    get_spec(c, create=True).follows.add("a")  # follows only: runs whatever a did
    assert sorted(unsafe_handlers(funcs(a, b, c))) == ["a", "b"]


def test_the_rest_of_a_processor_validates_and_runs_without_the_quarantined() -> None:
    calls: list[str] = []
    processor = Processor()
    processor.register(required_by("needy")(handler("base", calls)))
    processor.register(requires("gone")(handler("needy", calls)))
    processor.register(handler("other", calls))
    with pytest.raises(RegistrationError):
        processor.finalize()
    processor.quarantined.update(quarantine(processor))
    assert processor.names == ["base", "other"]  # base's edge to needy is left out
    processor.process(change_event("Shot", 1, "code"))
    assert calls == ["base", "other"]
