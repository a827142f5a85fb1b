"""``evframe migrate shotgunevents``: a classic config and id file to evframe's."""

from __future__ import annotations

from pathlib import Path

import click

from evframe.cli._common import EXIT_USAGE, CliError
from evframe.config import ConfigError

__all__ = ["migrate"]


@click.group("migrate")
def migrate() -> None:
    """Move to evframe from another event daemon."""


@migrate.command("shotgunevents")
@click.option(
    "--conf",
    "conf",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The classic shotgunEventDaemon.conf.",
)
@click.option(
    "--id-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The classic event id file. Default: [daemon] eventIdFile of the classic config.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("evframe.toml"),
    show_default=True,
    help="The evframe config to write.",
)
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The evframe state file to write. Default: evframe-state.db beside --out.",
)
@click.option("--check", is_flag=True, help="Show the result; write nothing.")
@click.option("--force", is_flag=True, help="Overwrite an existing --out file.")
def shotgunevents(
    conf: Path, id_file: Path | None, out: Path, state: Path | None, check: bool, force: bool
) -> None:
    """Convert a classic shotgunEvents set-up: config, plugin folders, last event ids.

    Writes an evframe.toml equivalent to the classic config (secrets as the
    names of environment variables, never in clear) and imports each plugin's
    last event id and backlog into a new state file, so no event is processed
    twice or skipped at the switch. Prints what maps and what does not.
    """
    from evframe.classic.adapter import match_warnings_of
    from evframe.classic.loader import load_plugins
    from evframe.classic.migrate import convert_config, plan_state, write_state
    from evframe.classic.pickle_reader import read_id_file

    conversion = convert_config(conf)
    echo = click.echo
    echo(f"classic config: {conf}")
    for line in conversion.mapped:
        echo(f"  mapped    {line}")
    for line in conversion.unmapped:
        echo(f"  unmapped  {line}")
    for line in conversion.todo:
        echo(f"  to do     {line}")
    plugins = load_plugins(conversion.plugin_paths)
    for error in plugins.errors:
        echo(f"  plugin error: {error}", err=True)
    for warning in plugins.warnings:
        echo(f"  plugin warning: {warning}")
    for text in match_warnings_of(plugins.plugins):
        echo(f"  warning   {text}")
    ids_path = id_file or (Path(conversion.id_file) if conversion.id_file else None)
    plan = None
    if ids_path is not None and (id_file is not None or ids_path.exists()):
        ids = read_id_file(ids_path)
        plan = plan_state(ids, plugins.plugins, conversion.plugin_paths)
        echo(f"classic id file: {ids_path}")
        for name, cursor in plan.cursors.items():
            echo(f"  cursor    {name} after event {cursor}")
        if plan.pending:
            echo(f"  pending   {', '.join(str(i) for i in sorted(plan.pending))}")
        for note in plan.notes:
            echo(f"  note      {note}")
    else:
        echo("classic id file: none; handlers start where the daemon starts")
    state_path = state or out.absolute().parent / "evframe-state.db"
    if check:
        echo(f"--- {out} (not written: --check)")
        echo(conversion.toml, nl=False)
        return
    if out.exists() and not force:
        raise CliError(f"{out} exists; pass --force to overwrite it", EXIT_USAGE)
    if plan is not None and plan.cursors:
        if not conversion.site_url:
            raise CliError(
                "the classic config has no [shotgun] server: the state file needs it",
                ConfigError.exit_code,
            )
        write_state(plan, state_path, conversion.site_url)
        echo(f"wrote state: {state_path}")
    out.write_text(conversion.toml, encoding="utf-8")
    echo(f"wrote config: {out}")
