"""evframe.cli._common: errors to exit codes in one place, the shared options, tables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from evframe.cli import main
from evframe.cli._common import (
    EXIT_USAGE,
    CliError,
    EvframeGroup,
    config_option,
    error_line,
    get_config,
    original_argv,
    state_file,
    state_option,
    table,
    verbose_option,
)
from evframe.config import ConfigError
from evframe.errors import EvframeError, HandlerSetError, RegistrationError
from evframe.state import StateError, StateLockedError


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Away from any ./evframe.toml or EVFRAME_* of the machine running the tests."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("EVFRAME_"):
            monkeypatch.delenv(name)


def _group(raise_: BaseException | None = None) -> click.Group:
    """A group like evframe's, whose ``fail`` command raises ``raise_``."""

    @click.group(cls=EvframeGroup)
    def cli() -> None:
        pass

    @cli.command()
    def fail() -> None:
        assert raise_ is not None
        raise raise_

    @cli.group()
    def sub() -> None:
        pass

    @sub.command("fail")
    def sub_fail() -> None:
        assert raise_ is not None
        raise raise_

    return cli


# -- errors and exit codes -------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (EvframeError("went wrong"), 1),
        (RegistrationError("a cycle"), 1),
        (ConfigError("expected an integer", key="daemon.batch_size"), 3),
        (StateError("state file x does not exist"), 4),
        (StateLockedError("state file x is in use"), 5),
        (HandlerSetError("the installed handler set is invalid"), 6),
        (CliError("--to-id 1 is before --from-id 2", EXIT_USAGE), 2),
        (CliError("no active handler"), 1),
    ],
)
@pytest.mark.parametrize("where", [["fail"], ["sub", "fail"]])
def test_an_error_ends_the_command_with_its_message_and_exit_code(
    error: Exception, code: int, where: list[str]
) -> None:
    result = CliRunner().invoke(_group(error), where, catch_exceptions=False)
    assert result.exit_code == code
    assert result.stderr == f"evframe: error: {error}\n"
    assert result.stdout == ""


def test_the_exit_codes_are_the_error_classes_own() -> None:
    codes = [EvframeError, ConfigError, StateError, StateLockedError, HandlerSetError]
    assert [c.exit_code for c in codes] == [1, 3, 4, 5, 6]


def test_other_exceptions_are_not_swallowed() -> None:
    with pytest.raises(ZeroDivisionError):
        CliRunner().invoke(_group(ZeroDivisionError()), ["fail"], catch_exceptions=False)


def test_usage_errors_exit_2() -> None:
    result = CliRunner().invoke(main, ["state", "--no-such-option"])
    assert result.exit_code == 2
    assert "No such option" in result.stderr
    result = CliRunner().invoke(main, ["serve", "--start", "yesterday"])
    assert result.exit_code == 2
    assert "expected latest, earliest or an event id, got 'yesterday'" in result.stderr


def test_a_missing_config_file_exits_3(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["graph", "-c", str(tmp_path / "nope.toml")])
    assert result.exit_code == 3
    assert result.stderr.startswith("evframe: error: config file not found")


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("evframe, version ")


# -- the shared options ----------------------------------------------------------------


@click.command()
@config_option
@state_option
@verbose_option
def echo_options(config_path: Path | None, state_path: Path | None, verbose: int) -> None:
    seen.append((config_path, state_path, verbose))


seen: list[tuple[Path | None, Path | None, int]] = []


def _options(*args: str, **env: str) -> Any:
    seen.clear()
    result = CliRunner().invoke(echo_options, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return seen[0]


def test_option_defaults() -> None:
    assert _options() == (None, None, 0)


def test_option_values() -> None:
    got = _options("-c", "a.toml", "--state", "s.db", "-vv")
    assert got == (Path("a.toml"), Path("s.db"), 2)
    assert _options("--config", "b.toml", "--verbose")[::2] == (Path("b.toml"), 1)


def test_config_from_the_environment() -> None:
    assert _options(EVFRAME_CONFIG="env.toml")[0] == Path("env.toml")
    assert _options("-c", "flag.toml", EVFRAME_CONFIG="env.toml")[0] == Path("flag.toml")


def test_every_option_has_help() -> None:
    for param in echo_options.params:
        assert isinstance(param, click.Option) and param.help, param.name


def test_get_config_without_a_file_gives_the_defaults(tmp_path: Path) -> None:
    config = get_config(None)
    assert config.path is None
    (tmp_path / "evframe.toml").write_text('[daemon]\nstate = "here.db"\n')
    assert get_config(None).daemon.state == str(tmp_path / "here.db")
    with pytest.raises(ConfigError, match="config file not found"):
        get_config(tmp_path / "missing.toml")


def test_state_file_does_not_read_the_config_when_given(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[daemon]\nbatch_size = "many"\n')
    assert state_file(bad, tmp_path / "s.db") == tmp_path / "s.db"
    with pytest.raises(ConfigError, match=r"daemon\.batch_size"):
        state_file(bad, None)


def test_the_command_line_is_remembered() -> None:
    seen: list[tuple[str, ...]] = []

    @click.group(cls=EvframeGroup)
    def cli() -> None:
        pass

    @cli.command()
    @click.option("--flag")
    def run(flag: str | None) -> None:
        seen.append(original_argv())

    result = CliRunner().invoke(cli, ["run", "--flag", "x"], catch_exceptions=False)
    assert result.exit_code == 0
    assert seen == [("run", "--flag", "x")]


# -- output ----------------------------------------------------------------------------


def test_table_aligns_columns_and_shows_none_as_a_dash() -> None:
    text = table(("NAME", "CURSOR"), [("alpha", 10), ("b", None)])
    assert text.splitlines() == ["NAME   CURSOR", "alpha  10", "b      -"]


def test_error_line() -> None:
    assert error_line("Traceback (most recent call last):\n  ...\nKeyError: 'x'\n") == (
        "KeyError: 'x'"
    )
    assert error_line("failed on event 3: boom\nmore") == "failed on event 3: boom"
    assert error_line(None) is None
    assert error_line("  \n ") is None
