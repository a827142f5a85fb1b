"""The ``evframe`` command line.

Exit codes: 0 success; 1 unexpected error; 2 bad command-line usage; 3 config
error; 4 state file error; 5 state file in use by another daemon; 6 invalid
handler set; 128+N stopped hard by a second signal N.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import click

from evframe import __version__
from evframe._exitcodes import EXIT_CONFIG, EXIT_ERROR, EXIT_HANDLERS, EXIT_LOCKED, EXIT_STATE
from evframe.config import Config, ConfigError, load_config
from evframe.daemon import Daemon, HandlerSetError
from evframe.redact import redact
from evframe.state import StateError, StateLockedError

log = logging.getLogger("evframe.cli")

CONFIG_HELP = (
    "TOML config file. Default: ./evframe.toml if it exists. Site and secrets may come "
    "from EVFRAME_SITE_URL, EVFRAME_SCRIPT_NAME and EVFRAME_API_KEY."
)
DEMO_SCRIPT = ("evframe", "evframe-demo-key")


def fail(message: str, code: int) -> NoReturn:
    """Print ``message`` to stderr and exit with ``code``."""
    click.echo(f"evframe: error: {message}", err=True)
    sys.exit(code)


def get_config(path: Path | None) -> Config:
    """Load the config, or exit 3 with the key named."""
    try:
        return load_config(path, required=path is not None)
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)


def setup_logging(config: Config, verbose: int) -> None:
    """Configure logging from the config (only the CLI does this)."""
    from evframe._logsetup import configure_logging

    try:
        configure_logging(config.logging, secrets=config.secrets(), verbose=verbose)
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)


config_option = click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="EVFRAME_CONFIG",
    help=CONFIG_HELP,
)
verbose_option = click.option(
    "-v", "--verbose", count=True, help="Log more (DEBUG), whatever the config says."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="evframe")
def main() -> None:
    """evframe runs your studio's event handlers against a Flow Production
    Tracking (ShotGrid) site.

    Handlers are functions in pip-installed packages, found through the
    entry-point group "evframe.handlers". `evframe serve` polls the site's event
    log and feeds every event to them; `evframe check` validates config and
    handlers; `evframe sandbox` runs a local site for trying things offline.
    """


@contextmanager
def _signals(daemon: Daemon) -> Iterator[None]:
    """First SIGTERM/SIGINT: finish the event in hand and stop. Second: exit at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    count = {"n": 0}

    def on_stop(signum: int, _frame: FrameType | None) -> None:
        count["n"] += 1
        if count["n"] > 1:
            os.write(2, b"evframe: second signal, exiting at once\n")
            os._exit(128 + signum)
        log.info("%s received: finishing the event in hand", signal.Signals(signum).name)
        daemon.stop()

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        log.info("SIGHUP received: reloading handlers")
        daemon.request_reload()

    previous = {
        sig: signal.signal(sig, handler)
        for sig, handler in ((signal.SIGTERM, on_stop), (signal.SIGINT, on_stop))
    }
    if hasattr(signal, "SIGHUP"):
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hup)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _embedded_site(config: Config, state: Path | None, interval: float) -> tuple[Config, Any]:
    """Start an in-process sandbox with demo data, for when no site is configured."""
    from evframe.sandbox import Sandbox

    sandbox = Sandbox(seed="demo", scripts=dict([DEMO_SCRIPT])).start()
    site = dataclasses.replace(
        config.site, url=sandbox.url, script_name=DEMO_SCRIPT[0], api_key=DEMO_SCRIPT[1]
    )
    daemon_cfg = config.daemon
    if state is None:
        # A fresh sandbox is a fresh site: its state must not outlive it.
        tmp = tempfile.mkdtemp(prefix="evframe-demo-")
        daemon_cfg = dataclasses.replace(daemon_cfg, state=str(Path(tmp) / "state.db"))
    daemon_cfg = dataclasses.replace(daemon_cfg, start="earliest")
    log.warning(
        "no site configured (set EVFRAME_SITE_URL or [site] url): serving an embedded "
        "sandbox with demo data at %s",
        sandbox.url,
    )
    if interval > 0:
        _start_demo_activity(sandbox, interval)
    return dataclasses.replace(config, site=site, daemon=daemon_cfg), sandbox


def _start_demo_activity(sandbox: Any, interval: float) -> None:
    """Change a task's status every ``interval`` seconds, so handlers have work."""
    import random

    stop = threading.Event()
    sandbox_stop = sandbox.stop

    def stop_all() -> None:
        stop.set()
        sandbox_stop()

    sandbox.stop = stop_all

    def loop() -> None:
        sg = sandbox.client(DEMO_SCRIPT[0])
        tasks = sg.find("Task", [], ["id"])
        statuses = ["wtg", "rdy", "ip", "rev", "fin"]
        rng = random.Random()
        while tasks and not stop.wait(interval):
            task = rng.choice(tasks)
            try:
                sg.update("Task", task["id"], {"sg_status_list": rng.choice(statuses)})
            except Exception:  # the demo must never take the daemon down
                log.debug("demo activity failed", exc_info=True)

    threading.Thread(target=loop, name="evframe-demo-activity", daemon=True).start()


@main.command()
@config_option
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    help="State file (cursors, failures, dead letters). Overrides daemon.state.",
)
@click.option(
    "--start",
    help="Where a first run starts: 'latest' (default), 'earliest' or an event id. "
    "Ignored once the state file has a cursor.",
)
@click.option("--once", is_flag=True, help="Run one poll cycle, then exit.")
@click.option(
    "--until-caught-up",
    is_flag=True,
    help="Exit once every handler has processed the newest event (for cron and tests).",
)
@click.option("--max-events", type=click.IntRange(1), help="Exit after reading N events.")
@click.option(
    "--demo-interval",
    type=click.FloatRange(0),
    default=3.0,
    show_default=True,
    help="With no site configured: seconds between demo task changes (0: none).",
)
@verbose_option
def serve(
    config_path: Path | None,
    state: Path | None,
    start: str | None,
    once: bool,
    until_caught_up: bool,
    max_events: int | None,
    demo_interval: float,
    verbose: int,
) -> None:
    """Poll the site's event log and run every installed handler on each event.

    Each handler keeps its own cursor in the state file, so nothing is lost
    across crashes and restarts. With no site configured, an embedded sandbox
    with demo data is served (try it with the example handlers installed).

    Stop with SIGTERM or Ctrl-C: the event in hand is finished and the state
    committed. SIGHUP reloads the handler packages.
    """
    config = get_config(config_path)
    setup_logging(config, verbose)
    daemon_cfg = config.daemon
    if state is not None:
        daemon_cfg = dataclasses.replace(daemon_cfg, state=str(state.absolute()))
    if start is not None:
        parsed: str | int = start
        if start not in ("latest", "earliest"):
            try:
                parsed = int(start)
            except ValueError:
                fail(f"--start: expected latest, earliest or an event id, got {start!r}", 2)
        daemon_cfg = dataclasses.replace(daemon_cfg, start=parsed)
    config = dataclasses.replace(config, daemon=daemon_cfg)
    sandbox = None
    if not config.site.url:
        config, sandbox = _embedded_site(config, state, demo_interval)
    try:
        daemon = Daemon(config, once=once, until_caught_up=until_caught_up, max_events=max_events)
        with _signals(daemon):
            daemon.run()
    except StateLockedError as exc:
        fail(str(exc), EXIT_LOCKED)
    except StateError as exc:
        fail(str(exc), EXIT_STATE)
    except HandlerSetError as exc:
        fail(str(exc), EXIT_HANDLERS)
    except Exception as exc:
        log.critical("daemon crashed: %s", redact(repr(exc), config), exc_info=True)
        sys.exit(EXIT_ERROR)
    finally:
        if sandbox is not None:
            sandbox.stop()


def _register_subcommands() -> None:
    from evframe.sandbox.cli import sandbox_command

    main.add_command(sandbox_command, name="sandbox")

    from evframe.cli_tools import (
        check_command,
        graph_command,
        handlers_command,
        replay_command,
        state_command,
    )

    for command in (check_command, handlers_command, graph_command, state_command, replay_command):
        main.add_command(command)


_register_subcommands()
