"""Placeholder; replaced by the sandbox implementation."""

import click


@click.command()
def sandbox_command() -> None:
    """Run a local Flow Production Tracking site (not yet implemented)."""
    raise click.ClickException("not implemented yet")
