"""The classic ``reg`` surface and the classic ``matchEvents`` rule, quirks included."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from evframe.classic.matching import event_types, match_warnings, matches
from evframe.classic.registrar import Registrar, _Plugin


def make_reg() -> tuple[Registrar, _Plugin]:
    plugin = _Plugin("demo", logging.getLogger("plugin.demo"))
    return Registrar(plugin), plugin


def cb(sg: Any, logger: Any, event: Any, args: Any) -> None:
    pass


def test_registrar_offers_exactly_the_classic_surface() -> None:
    reg, plugin = make_reg()
    assert reg.logger is plugin.logger is reg.getLogger()
    assert reg.logger.name == "plugin.demo"
    reg.registerCallback("script", "key", cb, {"Shotgun_Task_Change": None}, {"n": 1}, False)
    reg.registerCallback("other", "key2", cb, matchEvents=None, args=None, stopOnError=True)
    first, second = plugin.callbacks
    assert (first.name, first.script_name, first.script_key, first.args) == (
        "cb",
        "script",
        "key",
        {"n": 1},
    )
    assert first.stop_on_error is False
    # One function registered twice is two handlers; the second is numbered.
    assert second.name == "cb.2" and second.stop_on_error is True
    for missing in ("engine", "registerCallbacks", "config", "_allowed"):
        with pytest.raises(AttributeError, match="has no attribute"):
            getattr(reg, missing)


def test_set_emails_has_the_classic_meanings() -> None:
    reg, plugin = make_reg()
    assert plugin.emails is True  # the default recipients, as classically
    reg.setEmails(False)
    assert plugin.emails is False
    reg.setEmails(True)
    assert plugin.emails is True
    reg.setEmails("a@studio.example", "b@studio.example")
    assert plugin.emails == ("a@studio.example", "b@studio.example")


def test_register_callback_refuses_what_cannot_be_called() -> None:
    reg, _ = make_reg()
    with pytest.raises(TypeError, match="callable"):
        reg.registerCallback("s", "k", "not a function")


def test_a_callable_instance_is_named_by_its_class() -> None:
    class Rollup:
        def __call__(self, *a: Any) -> None:
            pass

    reg, plugin = make_reg()
    reg.registerCallback("s", "k", Rollup())
    assert plugin.callbacks[0].name == "Rollup"


TASK_STATUS = {"event_type": "Shotgun_Task_Change", "attribute_name": "sg_status_list"}
TASK_NEW = {"event_type": "Shotgun_Task_New", "attribute_name": None}
SHOT_CODE = {"event_type": "Shotgun_Shot_Change", "attribute_name": "code"}


@pytest.mark.parametrize(
    ("match_events", "record", "expected"),
    [
        (None, TASK_STATUS, True),
        ({}, TASK_NEW, True),
        ({"*": None}, SHOT_CODE, True),
        ({"*": ["code"]}, SHOT_CODE, True),
        ({"*": ["code"]}, TASK_STATUS, False),
        # Quirk: with a "*" key the other keys are ignored.
        ({"*": ["code"], "Shotgun_Task_New": None}, TASK_NEW, False),
        ({"Shotgun_Task_Change": None}, TASK_STATUS, True),
        ({"Shotgun_Task_Change": None}, SHOT_CODE, False),
        ({"Shotgun_Task_Change": "*"}, TASK_STATUS, True),
        ({"Shotgun_Task_Change": ["sg_status_list"]}, TASK_STATUS, True),
        ({"Shotgun_Task_Change": ["content", "*"]}, TASK_STATUS, True),
        ({"Shotgun_Task_Change": ["content"]}, TASK_STATUS, False),
        ({"Shotgun_Task_New": ["content"]}, TASK_NEW, False),  # no attribute: no match
        # Quirk: a plain string is tested by substring.
        ({"Shotgun_Task_Change": "sg_status_list"}, TASK_STATUS, True),
        (
            {"Shotgun_Task_Change": "sg_status_list"},
            {"event_type": "Shotgun_Task_Change", "attribute_name": "status"},
            True,
        ),
        ({"Shotgun_Task_Change": []}, TASK_STATUS, False),
    ],
)
def test_match_events_as_the_classic_daemon_applies_it(
    match_events: Any, record: dict[str, Any], expected: bool
) -> None:
    assert matches(match_events, record) is expected


def test_odd_match_events_fail_as_classically() -> None:
    with pytest.raises(TypeError):
        matches({"Shotgun_Task_Change": 5}, TASK_STATUS)


def test_event_types_narrow_the_index_only_when_safe() -> None:
    assert event_types(None) is None
    assert event_types({"*": None, "Shotgun_Task_New": None}) is None
    assert event_types({"Shotgun_Task_New": None, "Shotgun_Shot_New": ["x"]}) == [
        "Shotgun_Task_New",
        "Shotgun_Shot_New",
    ]


def test_match_warnings_name_each_quirk() -> None:
    assert match_warnings(None) == []
    assert match_warnings({"Shotgun_Task_Change": ["sg_status_list"]}) == []
    (substring,) = match_warnings({"Shotgun_Task_Change": "sg_status_list"})
    assert "substring" in substring and "['sg_status_list']" in substring
    (star,) = match_warnings({"*": None, "Shotgun_Task_New": None})
    assert "other keys are ignored" in star and "Shotgun_Task_New" in star
    (empty,) = match_warnings({"Shotgun_Task_New": []})
    assert "never matches" in empty
    (bad,) = match_warnings(["Shotgun_Task_New"])
    assert "not a dict" in bad
    (odd,) = match_warnings({"Shotgun_Task_New": 5})
    assert "TypeError" in odd
