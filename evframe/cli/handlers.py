"""``evframe handlers``: list the installed handlers and where each one is;
``handlers resume NAME`` / ``handlers disable NAME`` change one's status.

Only ``resume`` and ``disable`` write to the state file (a status change, which a
running daemon notices at its next poll); none of them takes the daemon's lock.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from evframe.cli._common import (
    CliError,
    config_option,
    error_line,
    get_config,
    group_option,
    json_option,
    state_file,
    state_option,
    table,
)
from evframe.cli._views import (
    Loaded,
    StateView,
    filters,
    lag,
    load_handlers,
    on_error,
    read_state,
    requirements,
)
from evframe.config import Config
from evframe.discovery import distributions
from evframe.handler import Status
from evframe.redact import redact
from evframe.state import State

__all__ = ["handlers_command"]


def _handler_rows(config: Config, loaded: Loaded, view: StateView | None) -> list[dict[str, Any]]:
    processor = loaded.processor
    dists = distributions(loaded.group)
    read_cursor = view.read_cursor if view is not None else None
    stored = view.handlers if view is not None else {}

    def row_of(name: str, installed: bool, status: str, **fields: Any) -> dict[str, Any]:
        row = stored.get(name)
        return {
            "name": name,
            "distribution": dists.get(name),
            "installed": installed,
            "filters": filters(processor, name) if installed else [],
            "requires": requirements(loaded, name) if installed else [],
            "on_error": None,
            "status": status,
            "cursor": row.cursor if row is not None else None,
            "lag": lag(read_cursor, row),
            "error": row.error if row is not None else None,
            **fields,
        }

    rows = []
    for name in loaded.names:
        row = stored.get(name)
        policy, _source = on_error(config, processor, name)
        status = row.status if row is not None else "new"
        if not config.handler(name).enabled:
            status = f"{status} (disabled in config)" if row is not None else "disabled in config"
        rows.append(row_of(name, True, status, on_error=policy))
    for name, held in sorted(loaded.quarantined.items()):
        rows.append(row_of(name, True, "quarantined", error=f"quarantined: {held.reason}"))
    for name, row in sorted(stored.items()):
        if name not in loaded.names and name not in loaded.quarantined:
            rows.append(row_of(name, False, f"{row.status} (not installed)"))
    return rows


@click.group("handlers", invoke_without_command=True)
@config_option
@state_option
@group_option
@json_option
@click.pass_context
def handlers_command(
    ctx: click.Context,
    config_path: Path | None,
    state_path: Path | None,
    group: str | None,
    as_json: bool,
) -> None:
    """List the installed handlers and where each one is, or change their status.

    Bare, it shows each handler's distribution, filters, requirements, failure
    policy, and from the state file its status, cursor (last event id it has
    processed), lag behind the daemon's read cursor and last error. Handlers
    the daemon has not run yet show as "new"; handlers a cycle or a missing
    requirement makes unsafe as "quarantined" (the daemon runs the others);
    packages that fail to load are listed below the table.

    \b
    evframe handlers resume NAME    run a failed or disabled handler again
    evframe handlers disable NAME   stop running a handler (keeps its cursor)
    """
    ctx.obj = {"config_path": config_path, "state_path": state_path}
    if ctx.invoked_subcommand is not None:
        return
    config = get_config(config_path)
    path = state_path or Path(config.daemon.state)
    group = group or config.daemon.group
    view = read_state(path, missing_ok=True)
    loaded = load_handlers(config, group)
    rows = _handler_rows(config, loaded, view)
    if as_json:
        data = {
            "group": group,
            "state": str(path),
            "read_cursor": view.read_cursor if view is not None else None,
            "handlers": rows,
            "load_errors": loaded.errors,
        }
        click.echo(redact(json.dumps(data, indent=2), config))
        return
    lines = []
    if view is None:
        lines.append(f"state file {path} does not exist yet: every handler is new")
    else:
        lines.append(f"state file {path}: read cursor {view.read_cursor}")
    if not rows:
        lines.append(f"no handlers installed in entry-point group {group!r}")
    else:
        lines.append("")
        lines.append(
            table(
                (
                    "NAME",
                    "DISTRIBUTION",
                    "STATUS",
                    "CURSOR",
                    "LAG",
                    "ON_ERROR",
                    "REQUIRES",
                    "FILTERS",
                ),
                (
                    (
                        r["name"],
                        r["distribution"],
                        r["status"],
                        r["cursor"],
                        r["lag"],
                        r["on_error"],
                        ", ".join(r["requires"]) or None,
                        " or ".join(r["filters"]) or None,
                    )
                    for r in rows
                ),
            )
        )
    failed = [r for r in rows if r["error"]]
    if failed:
        lines.append("")
        lines.append("Last errors:")
        lines.extend(f"  {r['name']}: {error_line(r['error'])}" for r in failed)
    if loaded.errors:
        lines.append("")
        lines.append("Load errors (these handlers do not run):")
        lines.extend(f"  - {e}" for e in loaded.errors)
    click.echo(redact("\n".join(lines), config))


def _linked(config_path: Path | None, name: str) -> list[str]:
    """The other handlers of ``name``'s linked group, if the installed set says."""
    config = get_config(config_path)
    loaded = load_handlers(config, config.daemon.group)
    if not loaded.ordered or name not in loaded.names:
        return []
    graph = loaded.processor.graph
    return [n for n in graph.sort(graph.group(name)) if n != name]


def _set_status(
    ctx: click.Context,
    name: str,
    config_path: Path | None,
    state_path: Path | None,
    status: Status,
) -> None:
    parent = ctx.obj or {}
    config_path = config_path or parent.get("config_path")
    path = state_file(config_path, state_path or parent.get("state_path"))
    # Members of the group paused with it resume too: left failed, they would pause
    # the resumed handler again when a daemon (re)starts.
    linked = _linked(config_path, name) if status == Status.ACTIVE else []
    with State.open(path, None, lock=False, create=False) as state:
        rows = state.handlers()
        row = rows.get(name)
        if row is None:
            known = ", ".join(rows) or "(none)"
            raise CliError(
                f"handler {name!r} is not in the state file {path}; handlers it knows: {known}"
            )
        read_cursor = state.read_cursor
        also = [rows[n] for n in linked if n in rows and rows[n].status == Status.FAILED]
        if row.status == status and not also:
            click.echo(f"{name} is already {status} (cursor {row.cursor}); nothing changed")
            return
        for member in [row, *also]:
            state.set_status(member.name, status)
        state.commit()
    was = f"was {row.status}" + (f": {error_line(row.error)}" if row.error else "")
    if status == Status.ACTIVE:
        behind = f", {read_cursor - row.cursor} event(s) behind" if read_cursor is not None else ""
        lines = [f"resumed {name} ({was}); it continues after event {row.cursor}{behind}."]
        lines += [
            f"resumed {m.name} too (linked to {name}); it continues after event {m.cursor}."
            for m in also
        ]
        lines.append(
            "A running daemon notices at its next poll and resumes the handler's whole "
            "linked group from its cursor."
        )
        click.echo("\n".join(lines))
    else:
        click.echo(
            f"disabled {name} ({was}); its cursor stays at event {row.cursor}.\n"
            f"A running daemon stops calling it at its next poll; "
            f"`evframe handlers resume {name}` runs it again from there."
        )


@handlers_command.command("resume")
@click.argument("name")
@config_option
@state_option
@click.pass_context
def resume_command(
    ctx: click.Context, name: str, config_path: Path | None, state_path: Path | None
) -> None:
    """Run handler NAME again after it failed or was disabled.

    Sets its status to active in the state file; it keeps its cursor, so it
    catches up from the event it stopped at. A running daemon notices within a
    poll and resumes the handler's whole linked group (handlers joined to it by
    @requires/@required_by) together, in order.
    """
    _set_status(ctx, name, config_path, state_path, Status.ACTIVE)


@handlers_command.command("disable")
@click.argument("name")
@config_option
@state_option
@click.pass_context
def disable_command(
    ctx: click.Context, name: str, config_path: Path | None, state_path: Path | None
) -> None:
    """Stop running handler NAME (its cursor is kept).

    The daemon skips it from its next poll on. `evframe handlers resume NAME`
    runs it again, catching up from where it was disabled. (To disable a
    handler for good, set enabled = false in its [handlers.NAME] config section.)
    """
    _set_status(ctx, name, config_path, state_path, Status.DISABLED)
