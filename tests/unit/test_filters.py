"""``@want``: names, globs, predicates, keyword filters, and errors at decoration time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from evframe import Event, want
from evframe.filters import Want
from evframe.handler import SPEC_ATTR, HandlerSpec, get_spec
from evframe.testing import SimpleEvent, change_event, make_processor, new_event

Handler = Callable[[Any, Event], Any]


def wants(func: Handler, event: Event) -> bool:
    """Ask both the spec and a real Processor (its indexed dispatch) whether func wants event."""
    by_spec = get_spec(func).wants_event(event)
    by_processor = make_processor(func).wanted_by(event) == [func.__name__]
    assert by_spec == by_processor, (by_spec, by_processor)
    return by_spec


def task_status(**record: Any) -> Event:
    return change_event("Task", 1, "sg_status_list", old="ip", new="fin", **record)


def test_names() -> None:
    @want("Shotgun_Task_Change", "Shotgun_Shot_New")
    def h(ctx: Any, event: Event) -> None: ...

    assert wants(h, task_status())
    assert wants(h, new_event("Shot", 1))
    assert not wants(h, new_event("Task", 1))
    assert not wants(h, SimpleEvent("Shotgun_Task_Change_Extra"))


def test_glob() -> None:
    @want("Shotgun_*_Change")
    def h(ctx: Any, event: Event) -> None: ...

    assert wants(h, task_status())
    assert wants(h, change_event("Shot", 1, "code"))
    assert not wants(h, new_event("Shot", 1))
    assert not wants(h, SimpleEvent("Shotgun_Task_Changes"))


def test_glob_question_mark_and_brackets() -> None:
    @want("Shotgun_Sho?_New", "Shotgun_[AT]*_Retirement")
    def h(ctx: Any, event: Event) -> None: ...

    assert wants(h, new_event("Shot", 1))
    assert not wants(h, new_event("Shots", 1))
    assert wants(h, SimpleEvent("Shotgun_Asset_Retirement"))
    assert wants(h, SimpleEvent("Shotgun_Task_Retirement"))
    assert not wants(h, SimpleEvent("Shotgun_Shot_Retirement"))


def test_predicate() -> None:
    @want(lambda ev: ev.new_value == "fin")
    def h(ctx: Any, event: Event) -> None: ...

    assert wants(h, task_status())
    assert not wants(h, change_event("Task", 1, "sg_status_list", new="ip"))


def test_entity_and_field_keywords() -> None:
    @want(entity="Task", field="sg_status_list")
    def one(ctx: Any, event: Event) -> None: ...

    @want(entity={"Task", "Shot"}, field=["sg_status_list", "code"])
    def many(ctx: Any, event: Event) -> None: ...

    assert wants(one, task_status())
    assert not wants(one, change_event("Task", 1, "content"))
    assert not wants(one, change_event("Shot", 1, "sg_status_list"))
    assert wants(many, change_event("Shot", 1, "code"))
    assert wants(many, task_status())
    assert not wants(many, change_event("Asset", 1, "code"))
    assert not wants(many, change_event("Shot", 1, "description"))


def test_entity_keyword_matches_retired_entity_via_meta() -> None:
    from evframe.testing import retirement_event

    @want(entity="Shot")
    def h(ctx: Any, event: Event) -> None: ...

    assert wants(h, retirement_event("Shot", 3))
    assert not wants(h, retirement_event("Asset", 3))


@pytest.mark.parametrize(
    ("project", "expected"),
    [
        (70, True),
        ("Demo Project", True),
        ({70, 71}, True),
        (["Other", "Demo Project"], True),
        ((71, "Demo Project"), True),
        (71, False),
        ("Other", False),
        (frozenset({1, "x"}), False),
    ],
)
def test_project_keyword(project: Any, expected: bool) -> None:
    @want(project=project)
    def h(ctx: Any, event: Event) -> None: ...

    assert wants(h, task_status()) is expected


def test_project_keyword_on_event_without_project() -> None:
    @want(project=70)
    def h(ctx: Any, event: Event) -> None: ...

    assert not wants(h, task_status(project=None))
    assert not wants(h, SimpleEvent("login"))


def test_everything_in_one_want_must_match() -> None:
    @want("Shotgun_*_Change", lambda ev: ev.new_value == "fin", entity="Task", project=70)
    def h(ctx: Any, event: Event) -> None: ...

    assert wants(h, task_status())
    assert not wants(h, change_event("Shot", 1, "sg_status_list", new="fin"))
    assert not wants(h, change_event("Task", 1, "sg_status_list", new="ip"))
    assert not wants(h, task_status(project={"type": "Project", "id": 71, "name": "Other"}))
    assert not wants(h, new_event("Task", 1))


def test_all_predicates_must_match() -> None:
    calls: list[str] = []

    def first(ev: Event) -> bool:
        calls.append("first")
        return True

    def second(ev: Event) -> bool:
        calls.append("second")
        return False

    @want(first, second)
    def h(ctx: Any, event: Event) -> None: ...

    assert not get_spec(h).wants_event(task_status())
    assert calls == ["first", "second"]


def test_several_wants_are_alternatives() -> None:
    @want("Shotgun_Shot_New")
    @want(entity="Task", field="sg_status_list")
    def h(ctx: Any, event: Event) -> None: ...

    assert wants(h, new_event("Shot", 1))
    assert wants(h, task_status())
    assert not wants(h, new_event("Task", 1))
    # Wants read top-down in the spec.
    assert [w.describe() for w in get_spec(h).wants] == [
        "want('Shotgun_Shot_New')",
        "want(entity='Task', field='sg_status_list')",
    ]


def test_alternative_with_predicate_and_static_one() -> None:
    @want("Shotgun_Task_Change", lambda ev: False)
    @want("Shotgun_Task_Change", field="sg_status_list")
    def h(ctx: Any, event: Event) -> None: ...

    assert wants(h, task_status())
    assert not wants(h, change_event("Task", 1, "content"))


def test_no_want_means_every_event() -> None:
    def h(ctx: Any, event: Event) -> None: ...

    assert wants(h, task_status())
    assert wants(h, SimpleEvent("anything"))
    assert wants(h, SimpleEvent(""))


def test_decorator_returns_the_same_function_still_callable() -> None:
    def h(ctx: Any, event: Event) -> str:
        return f"called with {ctx} {event.name}"

    decorated = want("a")(h)
    assert decorated is h
    assert h("ctx", SimpleEvent("ev")) == "called with ctx ev"
    assert isinstance(getattr(h, SPEC_ATTR), HandlerSpec)


def test_get_spec_without_create_does_not_mark() -> None:
    def h(ctx: Any, event: Event) -> None: ...

    spec = get_spec(h)
    assert spec == HandlerSpec()
    assert not hasattr(h, SPEC_ATTR)


def test_decorating_something_unmarkable_fails_clearly() -> None:
    with pytest.raises(TypeError, match="evframe decorators need a function they can mark"):
        want("a")(len)


def test_describe() -> None:
    def pred(ev: Event) -> bool:
        return True

    w = Want(names=frozenset({"b", "a"}), globs=("x*",), predicates=(pred,), project=frozenset({7}))
    assert w.describe() == "want('a', 'b', 'x*', test_describe.<locals>.pred, project=7)"


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, "@want() needs at least one event name, predicate or keyword filter"),
        (("x",), {"entitty": "Shot"}, "unknown keyword argument(s) entitty"),
        ((3,), {}, "takes event names (str) or predicates (callables taking the event), not 3"),
        ((None,), {}, "not None of type NoneType"),
        (("",), {}, "@want() got an empty event name"),
        ((), {"entity": 3}, "@want(entity=...) expects a str or a collection of them, got 3"),
        ((), {"entity": [3]}, "@want(entity=...) expects str values, got 3"),
        ((), {"field": b"code"}, "@want(field=...) expects a str or a collection"),
        ((), {"entity": []}, "@want(entity=...) got an empty collection"),
        ((), {"field": set()}, "@want(field=...) got an empty collection"),
        ((), {"project": ()}, "@want(project=...) got an empty collection"),
        ((), {"project": 1.5}, "@want(project=...) expects a int or str or a collection"),
        ((), {"project": True}, "@want(project=...) expects a int or str"),
        ((), {"project": [70, None]}, "expects int or str values, got None"),
    ],
)
def test_wrong_use_fails_at_decoration_time(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(TypeError) as info:
        want(*args, **kwargs)
    assert message in str(info.value)


def test_unknown_keyword_lists_the_valid_ones() -> None:
    with pytest.raises(TypeError) as info:
        want("x", entitty="Shot", feild="code")
    message = str(info.value)
    assert "entitty, feild" in message
    assert "entity=, field=, project=" in message


def test_duplicate_globs_and_names_collapse() -> None:
    @want("a", "a", "b*", "b*")
    def h(ctx: Any, event: Event) -> None: ...

    (w,) = get_spec(h).wants
    assert w.names == frozenset({"a"})
    assert w.globs == ("b*",)


def test_matches_static_and_dynamic_parts() -> None:
    @want("Shotgun_Task_Change", entity="Task", field="content")
    def static(ctx: Any, event: Event) -> None: ...

    @want(lambda ev: True, project=70)
    def dynamic(ctx: Any, event: Event) -> None: ...

    (s,) = get_spec(static).wants
    (d,) = get_spec(dynamic).wants
    assert not s.dynamic and d.dynamic
    assert s.matches_static("Shotgun_Task_Change", "Task", "content")
    assert not s.matches_static("Shotgun_Task_Change", "Task", None)
    assert not s.matches_static("Shotgun_Task_Change", None, "content")
    assert d.matches_static("anything", None, None)
