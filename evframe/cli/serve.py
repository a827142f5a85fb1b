"""``evframe serve``: run the daemon, handle signals, restart in place on a new handler set.

The daemon never loads new handler code into its own process.  When it returns
:attr:`RunResult.RELOAD` (a new, valid handler set is installed; its state is
committed and closed), ``serve`` re-executes itself with the same arguments: the
same pid, a fresh interpreter, resuming from the state file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Final, NoReturn

import click

from evframe.cli._common import (
    EXIT_ERROR,
    config_option,
    get_config,
    original_argv,
    setup_logging,
    state_option,
    verbose_option,
)
from evframe.cli._demo import DemoSite, start_demo
from evframe.cli._ops import alerter_for, operations
from evframe.config import Config
from evframe.daemon import Daemon, RunResult
from evframe.errors import EvframeError
from evframe.redact import redact

__all__ = ["RESTARTED_ENV", "serve_command"]

log = logging.getLogger("evframe.cli")

# Set for the process ``serve`` restarts into; read and removed by it.
RESTARTED_ENV: Final = "EVFRAME_RESTARTED"


def _start(ctx: click.Context, param: click.Parameter, value: str | None) -> str | int | None:
    if value is None or value in ("latest", "earliest"):
        return value
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(
            f"expected latest, earliest or an event id, got {value!r}"
        ) from None


@contextlib.contextmanager
def _signals(daemon: Daemon) -> Iterator[None]:
    """First SIGTERM/SIGINT: finish the event in hand and stop. Second: exit at once.
    SIGHUP: check the installed handler set now."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    count = 0

    def on_stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal count
        count += 1
        if count > 1:
            os.write(2, b"evframe: second signal, exiting at once\n")
            os._exit(128 + signum)
        log.info("%s received: finishing the event in hand", signal.Signals(signum).name)
        daemon.stop()

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        log.info("SIGHUP received: checking the installed handlers")
        daemon.request_reload()

    previous = {sig: signal.signal(sig, on_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    if hasattr(signal, "SIGHUP"):
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hup)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _flush_logs() -> None:
    for handler in logging.getLogger("evframe").handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()


def _abandoned(demo: DemoSite | None) -> NoReturn:
    """The daemon gave up waiting for a stuck handler after a stop and committed: exit.

    The handler's thread cannot be stopped, so the interpreter could not finish
    normally (it would wait for it); the state is already committed and closed.
    """
    log.info("stopped with a handler abandoned; exiting")
    if demo is not None:
        demo.stop(keep=False)
    _flush_logs()
    os._exit(0)


def _restart(environ: dict[str, str]) -> NoReturn:
    """Replace this process with ``python -m evframe`` and the same arguments."""
    argv = [sys.executable, "-m", "evframe", *original_argv()]
    os.environ.update({RESTARTED_ENV: "1", **environ})
    log.info("restarting in place (pid %d) to load the new handler set", os.getpid())
    # exec keeps no Python buffers: whatever is not flushed now is lost.
    _flush_logs()
    os.execv(sys.executable, argv)
    raise AssertionError("unreachable")  # pragma: no cover - execv does not return


def _daemon_config(config: Config, state: Path | None, start: str | int | None) -> Config:
    daemon_cfg = config.daemon
    if state is not None:
        daemon_cfg = dataclasses.replace(daemon_cfg, state=str(state.absolute()))
    if start is not None:
        daemon_cfg = dataclasses.replace(daemon_cfg, start=start)
    return dataclasses.replace(config, daemon=daemon_cfg)


@click.command("serve")
@config_option
@state_option
@click.option(
    "--start",
    callback=_start,
    metavar="latest|earliest|ID",
    help="Where the first run starts reading the event log: after the newest event "
    "('latest', the default), at the oldest ('earliest'), or after the given event id. "
    "Ignored once the state file has a cursor.",
)
@click.option("--once", is_flag=True, help="Run one poll cycle (read, deliver, commit), then exit.")
@click.option(
    "--until-caught-up",
    is_flag=True,
    help="Exit once every handler has processed the newest event (for cron and tests).",
)
@click.option(
    "--max-events",
    type=click.IntRange(1),
    metavar="N",
    help="Exit after reading N events.",
)
@click.option(
    "--demo-interval",
    type=click.FloatRange(0),
    default=3.0,
    show_default=True,
    metavar="SECONDS",
    help="With no site configured: seconds between the demo's task status changes (0: none).",
)
@verbose_option
def serve_command(
    config_path: Path | None,
    state_path: Path | None,
    start: str | int | None,
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
    committed (a second signal exits at once; a handler still running after
    [daemon] stop_timeout is abandoned and its event delivered again at the next
    start). When handler packages are installed or upgraded, or the sources of an
    editable install are edited (or on SIGHUP), the new set is checked and, if
    valid, serve restarts itself in place (same pid) to load it.

    Handlers on an ordering cycle or requiring a handler that is not installed
    (and those that depend on them) are quarantined: logged at ERROR, kept at
    their cursors, and resumed once a fixed package is installed; the others run.
    Config naming a handler that is not installed exits 3; credentials the site
    refuses and that never worked exit 7 (once they have, a refusal is retried).
    """
    restarted = os.environ.pop(RESTARTED_ENV, None) == "1"
    config = get_config(config_path)
    alerter = alerter_for(config)
    setup_logging(config, verbose, alerter)
    config = _daemon_config(config, state_path, start)
    demo: DemoSite | None = None
    if not config.site.url:
        config, demo = start_demo(config, state_path is not None, demo_interval)
    restart = False
    try:
        with operations(config, alerter) as observer:
            daemon = Daemon(
                config,
                once=once,
                until_caught_up=until_caught_up,
                max_events=max_events,
                restarted=restarted,
                observer=observer,
                on_abandon=lambda: _abandoned(demo),
            )
            with _signals(daemon):
                result = daemon.run()
        # A signal that came while the daemon was winding down for the reload wins.
        restart = result is RunResult.RELOAD and not daemon.stopping
    except EvframeError:
        raise
    except Exception as exc:
        log.critical("daemon crashed: %s", redact(repr(exc), config), exc_info=True)
        raise click.exceptions.Exit(EXIT_ERROR) from None
    finally:
        if demo is not None:
            demo.stop(keep=restart)
    if restart:
        _restart(demo.handover() if demo is not None else {})
