"""``evframe check`` and ``evframe replay`` against installed test distributions and a
sandbox site on loopback."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from evframe.cli import main
from evframe.handler import Status
from evframe.sandbox import Sandbox
from evframe.state import State
from evframe.testing import install_distribution

DIST = Path(__file__).resolve().parent.parent / "dists" / "evframe-test-cli"
SCRIPT, KEY = "evframe-cli", "s3cret-cli-key-0123456789"
CLI_GROUP = "evframe.test_cli_handlers"
REPLAY_GROUP = "evframe.test_cli_replay"


@pytest.fixture(scope="module")
def cli_dist() -> None:
    """Install tests/dists/evframe-test-cli (as tests/integration/conftest.py does the others)."""
    install_distribution(DIST)
    assert importlib.metadata.version("evframe-test-cli") == "1.0.0"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A clean environment (no EVFRAME_* from outside), cwd in tmp_path."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("EVFRAME_"):
            monkeypatch.delenv(name)
    return {"EVFRAME_API_KEY": KEY}


@pytest.fixture
def cli(env: dict[str, str]) -> Any:
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)

    return invoke


@pytest.fixture(scope="module")
def site() -> Iterator[Sandbox]:
    """A demo site with three Task status changes after the seed."""
    with Sandbox(scripts={SCRIPT: KEY}, seed="demo") as sandbox:
        sg = sandbox.client(SCRIPT)
        tasks = sg.find("Task", [["entity", "type_is", "Shot"]], ["id"], limit=3)
        for task, status in zip(tasks, ("ip", "fin", "rev"), strict=True):
            sg.update("Task", task["id"], {"sg_status_list": status})
        sg.close()
        yield sandbox


def _config(tmp_path: Path, url: str | None, extra: str = "") -> Path:
    path = tmp_path / "evframe.toml"
    site = f'[site]\nurl = "{url}"\nscript_name = "{SCRIPT}"\n' if url else ""
    path.write_text(f'{site}[daemon]\nstate = "state.db"\n{extra}')
    return path


def _newest(site: Sandbox) -> int:
    sg = site.client(SCRIPT)
    found = sg.find_one(
        "EventLogEntry", [], ["id"], order=[{"field_name": "id", "direction": "desc"}]
    )
    sg.close()
    return int(found["id"])


def _task_status_ids(site: Sandbox) -> list[int]:
    sg = site.client(SCRIPT)
    rows = sg.find(
        "EventLogEntry",
        [["event_type", "is", "Shotgun_Task_Change"], ["attribute_name", "is", "sg_status_list"]],
        ["id"],
    )
    sg.close()
    return sorted(int(r["id"]) for r in rows)


# -- check -----------------------------------------------------------------------------


def test_check_warns_about_requirements_that_never_co_occur(
    cli_dist: None, cli: Any, tmp_path: Path
) -> None:
    config = _config(
        tmp_path,
        None,
        '[handlers.cli_task]\non_error = "skip"\n',
    )
    result = cli("check", "-c", str(config), "--group", CLI_GROUP)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert (
        "cli_task requires cli_shot but they never both want the same event: "
        "the edge has no effect" in out
    )
    assert "cli_field requires cli_glob but they never both want" in out
    assert "cli_glob requires cli_task but" not in out
    assert "cli_every requires cli_shot but" not in out
    assert "serve would run an embedded sandbox" in out
    assert "on_error: skip ([handlers.cli_task] on_error)" in out
    assert "(evframe-test-cli 1.0.0)" in out
    order = [line.split()[1] for line in out.splitlines() if line.strip()[:2] in {"1.", "2."}]
    assert order == ["cli_shot", "cli_every"]
    assert "OK: 5 handler(s), 3 warning(s)" in out

    strict = cli("check", "-c", str(config), "--group", CLI_GROUP, "--strict")
    assert strict.exit_code == 6
    assert "--strict: warnings count as errors" in strict.stdout


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        (
            "evframe.test_broken_handlers",
            [
                "'broken_import'",
                "broken_import = evframe_test_broken.missing:handler",
                "evframe-test-broken 1.0.0",
                "ModuleNotFoundError",
            ],
        ),
        (
            "evframe.test_cli_unknown",
            ["Quarantined (serve sets these aside", "cli_needs_missing", "'cli_no_such_handler'"],
        ),
        ("evframe.test_dup_handlers", ["two handlers are named 'good_prepare'"]),
    ],
)
def test_check_invalid_handler_set_exits_6(
    test_dists: dict[str, str],
    cli_dist: None,
    cli: Any,
    tmp_path: Path,
    group: str,
    expected: list[str],
) -> None:
    result = cli("check", "-c", str(_config(tmp_path, None)), "--group", group)
    assert result.exit_code == 6, result.output
    assert "Handler errors:" in result.stdout or "Quarantined" in result.stdout
    for text in expected:
        assert text in result.stdout


def test_check_connect(cli_dist: None, cli: Any, site: Sandbox, tmp_path: Path) -> None:
    config = _config(tmp_path, site.url)
    result = cli("check", "-c", str(config), "--group", CLI_GROUP, "--connect")
    assert result.exit_code == 0, result.output
    assert f"credentials work: script '{SCRIPT}'" in result.stdout
    assert KEY not in result.output

    wrong = "wrong-" + KEY
    bad = CliRunner().invoke(
        main,
        ["check", "-c", str(config), "--group", CLI_GROUP, "--connect"],
        env={"EVFRAME_API_KEY": wrong},
    )
    assert bad.exit_code == 1, bad.output
    assert "Site errors:" in bad.stdout
    assert wrong not in bad.output


def test_check_in_a_subprocess(
    cli_dist: None, env: dict[str, str], site: Sandbox, tmp_path: Path
) -> None:
    config = _config(tmp_path, site.url)
    proc = subprocess.run(
        [sys.executable, "-m", "evframe", "check", "-c", str(config), "--group", CLI_GROUP],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "cli_task requires cli_shot but they never both want the same event" in proc.stdout
    assert KEY not in proc.stdout + proc.stderr


# -- replay ----------------------------------------------------------------------------


@pytest.fixture
def replay_state(site: Sandbox, tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    with State.open(path, site.url, lock=False) as state:
        state.set_read_cursor(7)
        for name in ("cli_count", "cli_fail", "cli_after_fail"):
            state.ensure_handler(name, 5)
    return path


def _counts(out: str) -> dict[str, list[str]]:
    """The summary table of replay: handler -> [ok, failed, skipped, not_wanted]."""
    rows = (line.split() for line in out.splitlines())
    return {r[0]: r[1:] for r in rows if len(r) == 5 and r[1].isdigit()}


def _snapshot(path: Path) -> Any:
    with State.open(path, None, lock=False, create=False) as state:
        return state.read_cursor, state.handlers(), state.pending(), state.count_dead_letters()


def test_replay_reports_failures_and_leaves_the_state_alone(
    cli_dist: None, cli: Any, site: Sandbox, tmp_path: Path, replay_state: Path
) -> None:
    import evframe_test_cli

    config = _config(tmp_path, site.url, f'group = "{REPLAY_GROUP}"\n')
    before = _snapshot(replay_state)
    newest = _newest(site)
    changes = _task_status_ids(site)
    evframe_test_cli.SEEN.clear()
    # A daemon holding the lock does not stop a replay: it never takes it.
    with State.open(replay_state, site.url, lock=True):
        result = cli("replay", "-c", str(config), "--from-id", "1", "--to-id", str(newest))
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert f"replayed {newest} event(s) (ids 1..{newest})" in out
    rows = _counts(out)
    n = len(changes)
    assert rows["cli_count"] == [str(n), "0", "0", str(newest - n)]
    assert rows["cli_fail"] == ["0", str(n), "0", str(newest - n)]
    assert rows["cli_after_fail"] == ["0", "0", str(n), str(newest - n)]
    assert f"cli_fail failed on event {changes[0]}:" in out
    assert f"RuntimeError: cli_fail refuses event {changes[-1]}" in out
    assert evframe_test_cli.SEEN["cli_count"] == changes
    assert "cli_after_fail" not in evframe_test_cli.SEEN
    assert KEY not in result.output
    assert _snapshot(replay_state) == before


def test_replay_default_skips_handlers_not_active(
    cli_dist: None, cli: Any, site: Sandbox, tmp_path: Path, replay_state: Path
) -> None:
    import evframe_test_cli

    with State.open(replay_state, None, lock=False) as state:
        state.set_status("cli_fail", Status.FAILED, error="failed on event 6: boom", event_id=6)
        state.set_status("cli_after_fail", Status.FAILED, error="paused", event_id=6)
    config = _config(tmp_path, site.url, f'group = "{REPLAY_GROUP}"\n')
    changes = _task_status_ids(site)
    evframe_test_cli.SEEN.clear()
    lo, hi = changes[0], changes[-1]
    result = cli("replay", "-c", str(config), "--from-id", str(lo), "--to-id", str(hi))
    assert result.exit_code == 0, result.output
    assert "through 1 handler(s)" in result.stdout
    assert evframe_test_cli.SEEN == {"cli_count": changes}
    after = _snapshot(replay_state)[1]
    assert after["cli_fail"].status == Status.FAILED and after["cli_count"].status == Status.ACTIVE


def test_replay_unknown_handler_lists_installed(
    cli_dist: None, cli: Any, site: Sandbox, tmp_path: Path
) -> None:
    config = _config(tmp_path, site.url, f'group = "{REPLAY_GROUP}"\n')
    result = cli("replay", "-c", str(config), "--from-id", "1", "--to-id", "2", "--handler", "nope")
    assert result.exit_code == 2
    assert "no installed handler named 'nope'" in result.stderr
    assert "cli_count, cli_fail, cli_after_fail" in result.stderr


def test_replay_needs_a_site(cli: Any, tmp_path: Path) -> None:
    result = cli("replay", "-c", str(_config(tmp_path, None)), "--from-id", "1", "--to-id", "2")
    assert result.exit_code == 3
    assert "replay needs a site" in result.stderr


def test_replay_example_handlers_in_a_subprocess(
    env: dict[str, str], site: Sandbox, tmp_path: Path
) -> None:
    """The example rollup against the sandbox; its state file stays as it was."""
    config = _config(tmp_path, site.url)
    state = tmp_path / "state.db"
    with State.open(state, site.url, lock=False) as st:
        st.set_read_cursor(3)
        st.ensure_handler("task_status_prepare", 3)
        st.ensure_handler("shot_status_rollup", 3)
    before = _snapshot(state)
    changes = _task_status_ids(site)
    cmd = [sys.executable, "-m", "evframe", "replay", "-c", str(config)]
    cmd += ["--from-id", str(changes[0]), "--to-id", str(changes[-1])]
    cmd += ["--handler", "shot_status_rollup", "--handler", "task_status_prepare"]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, **env}, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "through 2 handler(s)" in proc.stdout
    rows = _counts(proc.stdout)
    assert rows["task_status_prepare"][:2] == [str(len(changes)), "0"]
    assert rows["shot_status_rollup"][:2] == [str(len(changes)), "0"]
    assert _snapshot(state) == before


def test_check_refuses_config_for_handlers_that_are_not_installed(
    cli_dist: None, cli: Any, tmp_path: Path
) -> None:
    extra = '[handlers.cli_tsk]\non_error = "skip"\n[logging.handlers]\ncli_shto = "DEBUG"\n'
    result = cli("check", "-c", str(_config(tmp_path, None, extra)), "--group", CLI_GROUP)
    assert result.exit_code == 3, result.output
    out = result.stdout
    assert "Config errors (serve refuses to start, exit 3):" in out
    assert "handlers.cli_tsk: configures handler 'cli_tsk', but no handler" in out
    assert "did you mean 'cli_task'?" in out
    assert "logging.handlers.cli_shto: sets the log level of handler 'cli_shto'" in out
    assert "did you mean 'cli_shot'?" in out
