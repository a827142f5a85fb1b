"""The namespaced scratchpad ``event.proc``."""

from __future__ import annotations

import pytest

from evframe import Event
from evframe.testing import SimpleEvent


@pytest.fixture
def event() -> Event:
    return SimpleEvent("something")


def test_namespace_attribute_round_trip(event: Event) -> None:
    event.proc.rollup.shot = {"id": 3}
    event.proc.rollup.count = 2
    assert event.proc.rollup.shot == {"id": 3}
    assert event.proc.rollup.count == 2
    assert event.proc.rollup.as_dict() == {"shot": {"id": 3}, "count": 2}
    assert "shot" in event.proc.rollup
    assert "rollup" in event.proc
    assert dir(event.proc) == ["rollup"]
    assert dir(event.proc.rollup) == ["count", "shot"]


def test_scratchpad_is_per_event(event: Event) -> None:
    event.proc.ns.value = 1
    other = SimpleEvent("something")
    assert "ns" not in other.proc
    assert event.proc is event.proc


def test_setting_on_scratchpad_itself_is_refused(event: Event) -> None:
    with pytest.raises(AttributeError) as info:
        event.proc.shot = 1  # type: ignore[misc]
    message = str(info.value)
    assert "cannot set event.proc.shot directly" in message
    assert "event.proc.shot.value = ..." in message
    assert "shot" not in event.proc


def test_deleting_a_namespace_is_refused(event: Event) -> None:
    event.proc.ns.value = 1
    with pytest.raises(AttributeError, match="cannot delete scratchpad namespace 'ns'"):
        del event.proc.ns  # type: ignore[misc]


@pytest.mark.parametrize("name", ["_private", "__dict__", "_"])
def test_underscore_namespace_refused(event: Event, name: str) -> None:
    with pytest.raises(AttributeError, match="may not start with '_'"):
        getattr(event.proc, name)
    with pytest.raises(AttributeError):
        setattr(event.proc, name, 1)
    assert name not in event.proc


@pytest.mark.parametrize("name", ["_private", "__class_getitem__", "_"])
def test_underscore_attribute_refused(event: Event, name: str) -> None:
    ns = event.proc.ns
    with pytest.raises(AttributeError, match=f"may not start with '_': refused ns.{name}"):
        setattr(ns, name, 1)
    with pytest.raises(AttributeError, match="has no attribute"):
        getattr(ns, name)
    assert ns.as_dict() == {}


def test_reading_unknown_namespace_creates_it(event: Event) -> None:
    assert "fresh" not in event.proc
    ns = event.proc.fresh
    assert "fresh" in event.proc
    assert event.proc.fresh is ns
    assert ns.as_dict() == {}


def test_reading_unknown_attribute_names_it(event: Event) -> None:
    with pytest.raises(AttributeError) as info:
        _ = event.proc.rollup.missing
    assert str(info.value) == "scratchpad namespace 'rollup' has no attribute 'missing'"


def test_getattr_default_and_hasattr_work(event: Event) -> None:
    assert getattr(event.proc.ns, "missing", "dflt") == "dflt"
    assert not hasattr(event.proc.ns, "missing")
    event.proc.ns.there = 0
    assert hasattr(event.proc.ns, "there")


def test_delete_attribute(event: Event) -> None:
    event.proc.ns.value = 1
    del event.proc.ns.value
    assert "value" not in event.proc.ns
    with pytest.raises(AttributeError, match="has no attribute 'value'"):
        del event.proc.ns.value
