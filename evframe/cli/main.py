"""The ``evframe`` command: the click group and its commands.

``python -m evframe`` and the ``evframe`` console script both run :func:`main`.
"""

from __future__ import annotations

import click

from evframe import __version__
from evframe.cli._common import EvframeGroup
from evframe.cli.check import check_command
from evframe.cli.graph import graph_command
from evframe.cli.handlers import handlers_command
from evframe.cli.migrate import migrate
from evframe.cli.replay import replay_command
from evframe.cli.serve import serve_command
from evframe.cli.state import state_command
from evframe.cli.status import status_command
from evframe.cli.worker import worker_command
from evframe.sandbox.cli import sandbox_command

__all__ = ["main"]


@click.group(cls=EvframeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="evframe")
def main() -> None:
    """evframe runs your studio's event handlers against a Flow Production
    Tracking (ShotGrid) site.

    Handlers are functions in pip-installed packages, found through the
    entry-point group "evframe.handlers". `evframe serve` polls the site's event
    log and feeds every event to them; `evframe check` validates config and
    handlers; `evframe status` tells whether the daemon runs and is healthy;
    `evframe sandbox` runs a local site for trying things offline; `evframe
    worker` runs handler chains for a daemon with executor = "celery".

    Exit codes: 0 ok, 1 error, 2 bad usage, 3 config error, 4 state file
    unusable, 5 state file in use by another daemon, 6 invalid handler set.
    """


for _name, _command in (
    ("serve", serve_command),
    ("sandbox", sandbox_command),
    ("check", check_command),
    ("handlers", handlers_command),
    ("graph", graph_command),
    ("state", state_command),
    ("status", status_command),
    ("replay", replay_command),
    ("migrate", migrate),
    ("worker", worker_command),
):
    main.add_command(_command, name=_name)
