"""The enums read and store as their plain strings; errors carry their exit codes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from evframe import EvframeError, HandlerSetError, Outcome, Policy, Status, on_error
from evframe.handler import get_spec
from evframe.state import StateError, StateLockedError


@pytest.mark.parametrize("member", [Policy.RETRY, Status.FAILED, Outcome.NOT_WANTED])
def test_members_are_their_values_as_text(member: Any) -> None:
    assert member == member.value
    assert str(member) == f"{member}" == member.value
    assert "%s" % member == member.value  # noqa: UP031 - as log messages format it
    assert json.dumps([member]) == json.dumps([member.value])


def test_status_and_outcome_failed_are_one_string_but_two_meanings() -> None:
    assert Status.FAILED == Outcome.FAILED == "failed"
    assert Status.FAILED is not Outcome.FAILED  # type: ignore[comparison-overlap]


def test_on_error_stores_a_policy() -> None:
    def handler(ctx: Any, event: Any) -> None: ...

    on_error("skip")(handler)
    assert get_spec(handler).on_error is Policy.SKIP
    with pytest.raises(TypeError, match="@on_error\\(\\) takes one of stop, skip, retry"):
        on_error("sometimes")


def test_exit_codes() -> None:
    assert EvframeError.exit_code == 1
    assert HandlerSetError.exit_code == 6
    assert StateError.exit_code == 4
    assert StateLockedError.exit_code == 5
