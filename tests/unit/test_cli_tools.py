"""The operator commands that need no site: state, handlers resume/disable, graph,
and the static co-occurrence check behind ``evframe check``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from evframe import want
from evframe.cli import main
from evframe.filters import Want, never_co_occur, wants_disjoint
from evframe.handler import Status
from evframe.state import State

EXAMPLES = ("log_changes", "task_status_prepare", "shot_status_rollup")


def _want(*args: Any, **kwargs: Any) -> Want:
    def handler(ctx: Any, event: Any) -> None:
        pass

    want(*args, **kwargs)(handler)
    wants: list[Want] = handler.__evframe_spec__.wants  # type: ignore[attr-defined]
    return wants[0]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``cli(*args)``: run ``evframe`` in-process, away from any ./evframe.toml or EVFRAME_*."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("EVFRAME_"):
            monkeypatch.delenv(name)
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    """A state file as a daemon leaves it: three handlers, one failed, pending ids, dead letters."""
    path = tmp_path / "state.db"
    with State.open(path, "https://site.example.com", lock=False) as state:
        state.set_read_cursor(120)
        state.ensure_handler("alpha", 120)
        state.ensure_handler("beta", 90)
        state.ensure_handler("gamma", 100)
        state.set_status(
            "beta", Status.FAILED, error="failed on event 91: KeyError: 'x'", event_id=91
        )
        state.add_pending([5, 6, 7, 10], deadline=2e9)
        traceback = "Traceback (most recent call last):\n  ...\nValueError: bad"
        state.add_dead_letter("gamma", 101, {"id": 101}, traceback, 1)
        state.add_dead_letter("alpha", 102, {"id": 102}, "skipped: requirement 'beta' failed", 0)
    return path


# -- the static check ------------------------------------------------------------------


def test_disjoint_names() -> None:
    shot, task = _want("Shotgun_Shot_Change"), _want("Shotgun_Task_Change")
    assert wants_disjoint(shot, task)
    assert not wants_disjoint(shot, _want("Shotgun_Shot_Change", "Shotgun_Task_Change"))


def test_glob_against_names_and_globs() -> None:
    changes = _want("Shotgun_*_Change")
    assert not wants_disjoint(changes, _want("Shotgun_Task_Change"))
    assert wants_disjoint(changes, _want("Shotgun_Task_New"))
    assert wants_disjoint(changes, _want("Shotgun_*_New"))  # suffixes differ
    assert wants_disjoint(_want("Shotgun_Task_*"), _want("Shotgun_Shot_*"))  # prefixes differ
    assert not wants_disjoint(_want("Shotgun_Task_*"), _want("*_Change"))
    assert not wants_disjoint(_want("Shotgun_[ST]*"), _want("Shotgun_*_New"))


def test_keyword_filters() -> None:
    assert wants_disjoint(_want(entity="Shot"), _want(entity=["Task", "Asset"]))
    assert not wants_disjoint(_want(entity="Shot"), _want(field="code"))
    assert wants_disjoint(
        _want("Shotgun_Task_Change", field="sg_status_list"),
        _want("Shotgun_*_Change", field="description"),
    )
    assert wants_disjoint(_want(project=1), _want(project=[2, 3]))
    # An id and a name may be one project.
    assert not wants_disjoint(_want(project=1), _want(project="Demo"))


def test_predicates_never_prove_anything() -> None:
    never = _want("Shotgun_Task_Change", lambda e: False)
    assert not wants_disjoint(never, _want("Shotgun_Task_Change"))


def test_handlers_never_co_occur_only_when_every_pair_is_disjoint() -> None:
    shot, task, asset = (_want(f"Shotgun_{t}_Change") for t in ("Shot", "Task", "Asset"))
    assert never_co_occur([shot], [task, asset])
    assert not never_co_occur([shot, task], [task])
    assert not never_co_occur([], [task])  # no @want: every event
    assert not never_co_occur([shot], [])


# -- state -----------------------------------------------------------------------------


def test_state_json(cli: Any, state_file: Path) -> None:
    result = cli("state", "--state", str(state_file), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["site_url"] == "https://site.example.com"
    assert data["read_cursor"] == 120
    by_name = {h["name"]: h for h in data["handlers"]}
    assert by_name["beta"]["status"] == Status.FAILED
    assert by_name["beta"]["lag"] == 30
    assert by_name["beta"]["failed_event_id"] == 91
    assert data["pending"] == {"count": 4, "ranges": [[5, 7], [10, 10]]}
    assert data["dead_letters"]["total"] == 2
    assert [d["event_id"] for d in data["dead_letters"]["shown"]] == [102, 101]


def test_state_text(cli: Any, state_file: Path) -> None:
    result = cli("state", "--state", str(state_file))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "read cursor: 120" in out
    assert "pending ids: 4 (5..7, 10)" in out
    assert "beta at event 91: failed on event 91: KeyError: 'x'" in out
    # A traceback's telling line, not "Traceback (most recent call last):".
    assert "ValueError: bad" in out
    assert "Traceback" not in out


def test_state_dead_letters_of_one_handler(cli: Any, state_file: Path) -> None:
    result = cli("state", "--state", str(state_file), "--json", "--handler", "gamma")
    shown = json.loads(result.stdout)["dead_letters"]["shown"]
    assert [(d["handler"], d["event_id"], d["attempts"]) for d in shown] == [("gamma", 101, 1)]
    result = cli("state", "--state", str(state_file), "--json", "--dead-letters", "1")
    assert len(json.loads(result.stdout)["dead_letters"]["shown"]) == 1


def test_state_missing_or_unreadable_exits_4(cli: Any, tmp_path: Path) -> None:
    result = cli("state", "--state", str(tmp_path / "nope.db"))
    assert result.exit_code == 4
    assert "does not exist" in result.stderr
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    result = cli("state", "--state", str(junk))
    assert result.exit_code == 4
    assert "cannot be read" in result.stderr


def test_state_path_from_config(cli: Any, state_file: Path, tmp_path: Path) -> None:
    config = tmp_path / "evframe.toml"
    config.write_text(f'[daemon]\nstate = "{state_file.name}"\n')
    result = cli("state", "-c", str(config), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["read_cursor"] == 120


def test_config_error_exits_3_naming_the_key(cli: Any, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[daemon]\nbatch_size = "many"\n')
    for command in (["state"], ["check"], ["handlers"], ["graph"]):
        result = cli(*command, "--config", str(config))
        assert result.exit_code == 3, (command, result.output)
        assert "daemon.batch_size" in result.stderr


# -- handlers resume / disable ---------------------------------------------------------


def _row(path: Path, name: str) -> Any:
    with State.open(path, None, lock=False, create=False) as state:
        return state.handler(name)


def test_disable_then_resume_keeps_the_cursor(cli: Any, state_file: Path) -> None:
    result = cli("handlers", "disable", "gamma", "--state", str(state_file))
    assert result.exit_code == 0, result.output
    assert "disabled gamma" in result.stdout
    row = _row(state_file, "gamma")
    assert (row.status, row.cursor) == (Status.DISABLED, 100)

    result = cli("handlers", "resume", "gamma", "--state", str(state_file))
    assert result.exit_code == 0, result.output
    assert "continues after event 100, 20 event(s) behind" in result.stdout
    row = _row(state_file, "gamma")
    assert (row.status, row.cursor) == (Status.ACTIVE, 100)


def test_resume_failed_handler_clears_its_error(cli: Any, state_file: Path) -> None:
    # --state given to the group applies to the subcommand too.
    result = cli("handlers", "--state", str(state_file), "resume", "beta")
    assert result.exit_code == 0, result.output
    assert "was failed: failed on event 91" in result.stdout
    row = _row(state_file, "beta")
    assert (row.status, row.cursor, row.error) == (Status.ACTIVE, 90, None)
    again = cli("handlers", "resume", "beta", "--state", str(state_file))
    assert again.exit_code == 0
    assert "already active" in again.stdout


def test_resume_unknown_handler_exits_1(cli: Any, state_file: Path) -> None:
    result = cli("handlers", "resume", "delta", "--state", str(state_file))
    assert result.exit_code == 1
    assert "'delta' is not in the state file" in result.stderr
    assert "alpha, beta, gamma" in result.stderr


def test_resume_without_state_file_exits_4(cli: Any, tmp_path: Path) -> None:
    result = cli("handlers", "resume", "alpha", "--state", str(tmp_path / "none.db"))
    assert result.exit_code == 4


# -- handlers listing and graph (the installed example handlers) -------------------------


def test_handlers_listing_without_state_shows_new(cli: Any, tmp_path: Path) -> None:
    result = cli("handlers", "--json", "--state", str(tmp_path / "none.db"))
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)["handlers"]}
    for name in EXAMPLES:
        assert rows[name]["status"] == "new"
        assert rows[name]["distribution"].startswith("evframe-examples ")
    assert rows["shot_status_rollup"]["requires"] == ["task_status_prepare"]
    assert rows["log_changes"]["filters"] == ["want('Shotgun_*_Change', field='sg_status_list')"]
    assert rows["log_changes"]["on_error"] == "stop"


def test_handlers_listing_with_state(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with State.open(path, None, lock=False) as state:
        state.set_read_cursor(50)
        state.ensure_handler("log_changes", 50)
        state.ensure_handler("task_status_prepare", 40)
        state.set_status("task_status_prepare", Status.FAILED, error="failed on event 41: boom")
        state.ensure_handler("retired_handler", 10)
    config = tmp_path / "evframe.toml"
    config.write_text('[handlers.log_changes]\non_error = "skip"\n')
    result = cli("handlers", "-c", str(config), "--state", str(path))
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert lines["log_changes"].split()[3:7] == ["active", "50", "0", "skip"]
    assert lines["task_status_prepare"].split()[3:6] == ["failed", "40", "10"]
    assert lines["shot_status_rollup"].split()[3] == "new"
    assert "retired_handler" in lines and "(not installed)" in lines["retired_handler"]
    assert "task_status_prepare: failed on event 41: boom" in result.stdout


def test_graph_text_and_dot(cli: Any) -> None:
    result = cli("graph")
    assert result.exit_code == 0, result.output
    assert "shot_status_rollup  (after task_status_prepare)" in result.stdout
    assert "  - task_status_prepare, shot_status_rollup" in result.stdout
    dot = cli("graph", "--dot").stdout
    assert dot.startswith("digraph evframe {")
    assert '"task_status_prepare" -> "shot_status_rollup";' in dot


def test_every_command_explains_itself(cli: Any) -> None:
    for command in ("check", "handlers", "graph", "state", "replay"):
        result = cli(command, "--help")
        assert result.exit_code == 0
        assert "--config" in result.stdout
    assert "resume" in cli("handlers", "--help").stdout
    assert "cursor" in cli("handlers", "resume", "--help").stdout


def test_resume_resumes_the_failed_members_of_the_linked_group(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with State.open(path, None, lock=False) as state:
        state.set_read_cursor(30)
        for name in EXAMPLES:
            state.ensure_handler(name, 20)
        state.set_status("task_status_prepare", Status.FAILED, error="failed on event 21: boom")
        state.set_status("shot_status_rollup", Status.FAILED, error="paused: linked handler failed")
    result = cli("handlers", "resume", "task_status_prepare", "--state", str(path))
    assert result.exit_code == 0, result.output
    assert "resumed shot_status_rollup too (linked to task_status_prepare)" in result.stdout
    assert {_row(path, n).status for n in EXAMPLES} == {Status.ACTIVE}
