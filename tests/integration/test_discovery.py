"""Loading handlers through real entry points of installed distributions."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

import evframe
from evframe import DuplicateHandlerError, HandlerLoadError, Processor, discovery
from evframe.testing import change_event, install_distribution, new_event

DISTS_DIR = Path(__file__).resolve().parent.parent / "dists"

GOOD = "evframe.test_handlers"
BROKEN = "evframe.test_broken_handlers"
DUP = "evframe.test_dup_handlers"


@pytest.fixture
def dists(test_dists: dict[str, str]) -> dict[str, str]:
    return test_dists


def test_good_and_dependent_load_in_one_order(dists: dict[str, str]) -> None:
    processor = Processor()
    loaded = processor.load_from(GOOD)
    assert sorted(loaded) == [
        "dependent_enrich",
        "dependent_rollup",
        "good_audit",
        "good_prepare",
        "good_report",
    ]
    assert processor.names == [
        "dependent_enrich",
        "good_audit",
        "good_prepare",
        "dependent_rollup",
        "good_report",
    ]
    assert processor.load_errors == []
    source = processor.source("dependent_rollup")
    assert "dependent_rollup = evframe_test_dependent:dependent_rollup" in source
    assert "evframe-test-dependent 1.0.0" in source
    import evframe_test_good  # installed by the fixture

    assert processor.handler("good_prepare") is evframe_test_good.good_prepare


def test_handlers_of_two_distributions_pass_scratchpad_data(dists: dict[str, str]) -> None:
    processor = Processor()
    processor.load_from(GOOD)
    event = change_event("Task", 42, "sg_status_list", old="ip", new="fin", id=900)
    assert processor.process(event) is None
    assert event.proc.trace.calls == [
        "dependent_enrich",
        "good_audit",
        "good_prepare",
        "dependent_rollup",
        "good_report",
    ]
    assert event.proc.good.x == "Task 42 -> fin"
    assert event.proc.dependent.rollup == "rollup of Task 42 -> fin"
    assert event.proc.good.report == ("Task 42 -> fin", "enriched #900")


def test_requirement_that_does_not_want_the_event_is_only_an_order(
    dists: dict[str, str],
) -> None:
    processor = Processor()
    processor.load_from(GOOD)
    # good_prepare wants only sg_status_list: the handlers requiring it still run.
    event = change_event("Task", 42, "content", new="Comp", id=901)
    report = processor.run(event)
    assert event.proc.trace.calls == [
        "dependent_enrich",
        "good_audit",
        "dependent_rollup",
        "good_report",
    ]
    assert event.proc.good.report == (None, "enriched #901")
    assert report.outcome("good_prepare") == "not_wanted"
    assert report.outcome("good_report") == "ok"
    # dependent_rollup reads good_prepare's data unguarded: its own error says what is missing.
    assert report.outcome("dependent_rollup") == "failed"
    error = report.failures[0].error
    assert isinstance(error, AttributeError)
    assert str(error) == "scratchpad namespace 'good' has no attribute 'x'"
    with pytest.raises(AttributeError, match="has no attribute 'x'"):
        processor.process(change_event("Task", 42, "content", new="Comp"))
    assert processor.wanted_by(new_event("Shot", 3)) == ["good_audit"]


def test_strict_loading_names_distribution_entry_point_and_error(dists: dict[str, str]) -> None:
    processor = Processor()
    with pytest.raises(HandlerLoadError) as info:
        processor.load_from(BROKEN)
    message = str(info.value)
    assert "'broken_import'" in message
    assert "broken_import = evframe_test_broken.missing:handler" in message
    assert "evframe-test-broken 1.0.0" in message
    assert "ModuleNotFoundError: No module named 'evframe_no_such_module'" in message
    assert info.value.handler == "broken_import"
    assert info.value.distribution == "evframe-test-broken"
    assert info.value.entry_point == "broken_import = evframe_test_broken.missing:handler"
    assert isinstance(info.value.cause, ModuleNotFoundError)


def test_lenient_loading_loads_the_rest_and_keeps_the_errors(
    dists: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    processor = Processor()
    with caplog.at_level(logging.DEBUG):
        loaded = processor.load_from(BROKEN, strict=False)
    # The errors are values; logging them is the caller's choice.
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert loaded == ["broken_dist_ok"]
    assert processor.names == ["broken_dist_ok"]
    by_ep = {e.handler: e for e in processor.load_errors}
    assert sorted(by_ep) == ["broken_import", "broken_not_callable", "broken_signature"]
    assert all(e.distribution == "evframe-test-broken" for e in processor.load_errors)
    for name, error in by_ep.items():
        assert error.entry_point.startswith(f"{name} = evframe_test_broken.")
        assert f"'{name}'" in str(error) and "evframe-test-broken 1.0.0" in str(error)
    assert "is not callable" in str(by_ep["broken_not_callable"])
    assert "'this': 'is a dict, not a function'" in str(by_ep["broken_not_callable"])
    assert "cannot be called as handler(ctx, event)" in str(by_ep["broken_signature"])
    assert "evframe_no_such_module" in str(by_ep["broken_import"])
    assert isinstance(by_ep["broken_import"].cause, ModuleNotFoundError)
    event = change_event("Task", 1, "sg_status_list", new="fin")
    processor.process(event)
    assert event.proc.broken.ok is True


def test_duplicate_name_across_groups_names_both_sources(dists: dict[str, str]) -> None:
    processor = Processor()
    processor.load_from(GOOD)
    with pytest.raises(DuplicateHandlerError) as info:
        processor.load_from(DUP)
    message = str(info.value)
    assert "'good_prepare'" in message
    assert "good_prepare = evframe_test_good:good_prepare" in message
    assert "good_prepare = evframe_test_broken.ok:impostor_prepare" in message


def test_duplicate_name_in_one_group_across_distributions(dists: dict[str, str]) -> None:
    processor = Processor()
    with pytest.raises(DuplicateHandlerError) as info:
        processor.load_from(DUP)
    message = str(info.value)
    assert "evframe-test-good 1.0.0" in message
    assert "evframe-test-broken 1.0.0" in message


def test_duplicate_name_lenient_is_a_load_error(dists: dict[str, str]) -> None:
    processor = Processor()
    processor.load_from(GOOD)
    processor.load_from(DUP, strict=False)
    assert len(processor.load_errors) == 2
    assert all("two handlers are named 'good_prepare'" in str(e) for e in processor.load_errors)
    assert [e.handler for e in processor.load_errors] == ["good_prepare", "good_prepare"]
    assert processor.handler("good_prepare").__module__ == "evframe_test_good"


def test_unknown_group_loads_nothing(dists: dict[str, str]) -> None:
    processor = Processor()
    assert processor.load_from("evframe.test_no_such_group") == []
    assert processor.names == []


def test_python_m_evframe_version() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "evframe", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"evframe, version {evframe.__version__}"


# -- evframe.discovery --------------------------------------------------------


@pytest.fixture
def cli_dist() -> None:
    """tests/dists/evframe-test-cli: its group evframe.test_cli_unknown is an invalid set."""
    install_distribution(DISTS_DIR / "evframe-test-cli")


def test_entry_points_are_sorted_and_read_afresh(dists: dict[str, str]) -> None:
    eps = discovery.entry_points(GOOD)
    assert [(ep.name, ep.value) for ep in eps] == sorted((ep.name, ep.value) for ep in eps)
    assert discovery.entry_points("evframe.test_no_such_group") == []
    assert discovery.distributions(GOOD)["good_prepare"] == "evframe-test-good 1.0.0"
    assert sorted(discovery.fingerprints(GOOD)) == sorted(ep.name for ep in eps)


def test_discover_errors_carry_the_handler_name(dists: dict[str, str]) -> None:
    found = discovery.discover(BROKEN)
    assert sorted(found.handlers) == ["broken_dist_ok"]
    func, source = found.handlers["broken_dist_ok"]
    assert callable(func) and "evframe-test-broken 1.0.0" in source
    assert [e.handler for e in found.errors] == [
        "broken_import",
        "broken_not_callable",
        "broken_signature",
    ]
    for error in found.errors:
        assert isinstance(error, HandlerLoadError)
        assert error.entry_point.startswith(f"{error.handler} = ")


def test_discover_a_name_claimed_twice_is_an_error_not_a_choice(dists: dict[str, str]) -> None:
    found = discovery.discover(DUP)
    assert list(found.handlers) == ["good_prepare"]
    (error,) = found.errors
    assert error.handler == "good_prepare"
    assert isinstance(error.cause, DuplicateHandlerError)


def test_validate_in_subprocess_good_group(dists: dict[str, str]) -> None:
    verdict = discovery.validate_in_subprocess(GOOD)
    assert verdict.ok, verdict.error
    assert verdict.error is None
    assert verdict.names == [
        "dependent_enrich",
        "good_audit",
        "good_prepare",
        "dependent_rollup",
        "good_report",
    ]
    assert verdict.fingerprints == discovery.fingerprints(GOOD)
    assert verdict.load_errors == []


def test_validate_in_subprocess_broken_packages_are_listed(dists: dict[str, str]) -> None:
    verdict = discovery.validate_in_subprocess(BROKEN)
    # The daemon serves the handlers that load, so the set itself is valid.
    assert verdict.ok, verdict.error
    assert verdict.names == ["broken_dist_ok"]
    assert len(verdict.load_errors) == 3
    assert "'broken_import'" in verdict.load_errors[0]


def test_validate_in_subprocess_invalid_sets(dists: dict[str, str], cli_dist: None) -> None:
    verdict = discovery.validate_in_subprocess("evframe.test_cli_unknown")
    assert verdict.ok, "a missing requirement quarantines; the others would run"
    assert verdict.names == []
    assert "@requires 'cli_no_such_handler'" in verdict.quarantined["cli_needs_missing"]
    verdict = discovery.validate_in_subprocess(DUP)
    assert not verdict.ok
    assert verdict.error is not None and "two handlers are named 'good_prepare'" in verdict.error


def test_validate_in_subprocess_child_that_dies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", sys.executable + "-no-such-python")
    verdict = discovery.validate_in_subprocess(GOOD)
    assert not verdict.ok
    assert verdict.error is not None and "cannot start" in verdict.error


def test_validate_in_subprocess_timeout(dists: dict[str, str]) -> None:
    verdict = discovery.validate_in_subprocess(GOOD, timeout=0.001)
    assert not verdict.ok
    assert verdict.error is not None and "took more than" in verdict.error


def test_python_m_evframe_discovery_usage() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "evframe.discovery"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "usage: python -m evframe.discovery GROUP" in proc.stderr
