"""The ``evframe`` command line: ``serve``, ``check``, ``handlers``, ``sandbox`` and friends."""

from __future__ import annotations

import click

from evframe import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="evframe")
def main() -> None:
    """evframe runs your studio's event handlers against a Flow Production
    Tracking (ShotGrid) site.

    Handlers are functions in pip-installed packages, found through the
    entry-point group ``evframe.handlers``.  Start with ``evframe serve``; try
    things offline with ``evframe sandbox``.
    """


def _register_sandbox() -> None:
    from evframe.sandbox.cli import sandbox_command

    main.add_command(sandbox_command, name="sandbox")


_register_sandbox()
