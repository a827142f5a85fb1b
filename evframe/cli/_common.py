"""What every ``evframe`` command shares: options, config, errors, logging, tables.

Errors end a command in one place, :class:`EvframeGroup`: an
:class:`~evframe.errors.EvframeError` (or a :class:`CliError`, for failures that
belong to the command line alone) prints ``evframe: error: MESSAGE`` on stderr and
exits with the error's ``exit_code``:

====  =====================================================================
0     success
1     unexpected error, or a command's own failure (``EvframeError``)
2     bad command-line usage
3     config error (``ConfigError``; the message names the key)
4     state file missing or unusable (``StateError``)
5     state file in use by another daemon (``StateLockedError``)
6     invalid handler set (``HandlerSetError``; ``check --strict`` with warnings)
7     the site refuses credentials that never worked (``CredentialsError``, ``serve``)
128+N stopped at once by a second signal N (``serve``)
====  =====================================================================
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

import click

from evframe.config import Config, load_config
from evframe.errors import EvframeError

if TYPE_CHECKING:
    from evframe.alerts import Alerter

__all__ = [
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_USAGE",
    "CliError",
    "EvframeGroup",
    "config_option",
    "console_logging",
    "error_line",
    "get_config",
    "group_option",
    "json_option",
    "original_argv",
    "setup_logging",
    "state_file",
    "state_option",
    "table",
    "verbose_option",
]

EXIT_OK: Final = 0
EXIT_ERROR: Final = EvframeError.exit_code
EXIT_USAGE: Final = 2

# Where the root context keeps the arguments it was started with (``serve`` re-executes
# itself with them).
_ARGV_KEY: Final = "evframe.argv"


class CliError(click.ClickException):
    """A command failed for a reason of the command line's own (bad usage, nothing to
    do): ``message`` goes to stderr and the command exits with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        # click declares exit_code a class variable, but reads it from the instance.
        self.exit_code = exit_code  # type: ignore[misc]

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"evframe: error: {self.format_message()}", file=file, err=file is None)


class EvframeGroup(click.Group):
    """The ``evframe`` group: turns any :class:`EvframeError` a command raises into its
    message on stderr and its ``exit_code``, and remembers the command line."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        argv = tuple(args)  # before parsing consumes them
        ctx = super().make_context(info_name, args, parent, **extra)
        if parent is None:
            ctx.meta[_ARGV_KEY] = argv
        return ctx

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EvframeError as exc:
            raise CliError(str(exc), exc.exit_code) from exc


def original_argv() -> tuple[str, ...]:
    """The arguments ``evframe`` was started with (after the program name)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and _ARGV_KEY in ctx.meta:
        return tuple(ctx.meta[_ARGV_KEY])
    return tuple(sys.argv[1:])


# --------------------------------------------------------------------------- options

config_option = click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="EVFRAME_CONFIG",
    metavar="PATH",
    help="TOML config file (also EVFRAME_CONFIG). Default: ./evframe.toml if it exists. "
    "The site and secrets may come from EVFRAME_SITE_URL, EVFRAME_SCRIPT_NAME and "
    "EVFRAME_API_KEY instead.",
)
state_option = click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="State file: where the daemon keeps each handler's cursor, status, failures and "
    "dead letters. Default: daemon.state from the config.",
)
verbose_option = click.option(
    "-v",
    "--verbose",
    count=True,
    help="More log lines on stderr, whatever the config says (repeat for more: serve "
    "-v logs DEBUG; replay -v shows the handlers' INFO lines, -vv DEBUG).",
)
group_option = click.option(
    "--group",
    metavar="GROUP",
    help="Entry-point group the handlers are installed under. Default: daemon.group "
    "from the config (evframe.handlers).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


# --------------------------------------------------------------------------- config


def get_config(path: Path | None) -> Config:
    """The config from ``path`` (which must exist), else ./evframe.toml if it exists, else
    the defaults and the environment.  A problem raises ConfigError (exit 3)."""
    return load_config(path, required=path is not None)


def state_file(config_path: Path | None, state_path: Path | None) -> Path:
    """``--state``, else the config's daemon.state (the config is only read when needed)."""
    if state_path is not None:
        return state_path
    return Path(get_config(config_path).daemon.state)


# --------------------------------------------------------------------------- logging


def setup_logging(config: Config, verbose: int, alerter: Alerter | None = None) -> None:
    """The daemon's logging, from the config's [logging] section (ERROR records go to
    ``alerter`` when there is [logging.email])."""
    from evframe._logsetup import configure_logging

    configure_logging(config.logging, secrets=config.secrets(), verbose=verbose, alerter=alerter)


@contextmanager
def console_logging(config: Config, verbose: int) -> Iterator[None]:
    """While in the block, evframe's (and so the handlers') log lines go to stderr,
    redacted: warnings and errors; -v adds INFO, -vv DEBUG.  The config's log sinks are
    not used (a command's run is not the daemon's)."""
    from evframe._logsetup import RedactingFilter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(config.secrets()))
    root = logging.getLogger("evframe")
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


# --------------------------------------------------------------------------- output


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A plain-text table, columns left-aligned; ``None`` shows as ``-``."""
    cells = [[str(c) for c in headers]] + [["-" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def error_line(error: str | None) -> str | None:
    """The line of an error that says what went wrong (a traceback's last line)."""
    if not error:
        return error
    lines = [line for line in error.strip().splitlines() if line.strip()]
    if not lines:
        return None
    return lines[-1].strip() if lines[0].startswith("Traceback") else lines[0].strip()
