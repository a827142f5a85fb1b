"""``evframe worker``: a Celery worker running handler chains for ``executor = "celery"``."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import click

from evframe.cli._common import CliError, config_option, get_config, setup_logging, verbose_option

__all__ = ["worker_command"]


@click.command("worker")
@config_option
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=4,
    show_default=True,
    metavar="N",
    help="Chains this worker runs at once.",
)
@click.option(
    "--pool",
    type=click.Choice(["threads", "solo"]),
    default="threads",
    show_default=True,
    help="threads: N threads in this process (handlers that wait on the site or other "
    "services). solo: one chain at a time (run one worker process per core instead).",
)
@click.option(
    "--name",
    metavar="NAME",
    help="Worker name shown by Celery. Default: evframe-PID@HOST.",
)
@verbose_option
def worker_command(
    config_path: Path | None, concurrency: int, pool: str, name: str | None, verbose: int
) -> None:
    """Run handler chains sent by an `evframe serve` with executor = "celery".

    The worker loads the installed handler packages of daemon.group, as the
    daemon does, and takes chains from the Redis broker of daemon.broker (or
    EVFRAME_BROKER_URL). It refuses a chain whose handler package versions
    differ from the daemon's. Start as many workers, on as many machines, as
    you like; one `evframe serve` stays the single reader of the event log.
    The site and credentials come from the same config and environment as
    the daemon's.
    """
    config = get_config(config_path)
    if not config.daemon.broker:
        raise CliError(
            "daemon.broker: not set: give the Redis URL of the broker (redis://...) or set "
            "EVFRAME_BROKER_URL",
            3,
        )
    setup_logging(config, verbose)
    from evframe.daemon.celeryworker import run_worker

    run_worker(
        config,
        url=config.site.url or "",
        concurrency=concurrency if pool == "threads" else 1,
        pool=pool,
        name=name or f"evframe-{os.getpid()}@{socket.gethostname()}",
    )
