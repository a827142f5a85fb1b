"""``evframe state``: what the state file holds (read without the daemon's lock)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from evframe.cli._common import (
    config_option,
    error_line,
    json_option,
    state_file,
    state_option,
    table,
)
from evframe.cli._views import lag
from evframe.handler import Status
from evframe.state import HandlerState, State, format_id_ranges, id_ranges

__all__ = ["state_command"]


def _shown(h: HandlerState) -> str:
    """``quarantined`` / ``disabled (config)`` where the daemon holds the handler."""
    if h.quarantined or not h.disabled_in_config:
        return h.shown_status
    return "disabled (config)"


@click.command("state")
@config_option
@state_option
@json_option
@click.option(
    "--dead-letters",
    "dead_count",
    type=click.IntRange(0),
    default=10,
    show_default=True,
    help="Show the N newest dead letters.",
)
@click.option("--handler", "handler_name", help="Show dead letters of this handler only.")
def state_command(
    config_path: Path | None,
    state_path: Path | None,
    as_json: bool,
    dead_count: int,
    handler_name: str | None,
) -> None:
    """Show what the state file holds: cursors, failures, pending ids, dead letters.

    The read cursor is the newest event id the daemon has read; each handler's
    cursor is the last event it has processed. Pending ids are ids seen missing
    in the event log that the daemon still waits for. Dead letters are events a
    handler with on_error = "skip" gave up on. A handler's status is
    "quarantined" while a cycle or a missing requirement keeps it from running,
    and "disabled (config)" while its config section says enabled = false.

    Exit 4 if the state file is missing or cannot be read.
    """
    path = state_file(config_path, state_path)
    with State.open(path, None, lock=False, create=False) as state:
        site_url, read_cursor = state.site_url, state.read_cursor
        handlers = state.handlers()
        pending = state.pending()
        letters = state.dead_letters(handler_name, limit=dead_count) if dead_count else []
        total_letters = state.count_dead_letters()
    ranges = id_ranges(pending)
    if as_json:
        data = {
            "path": str(path),
            "site_url": site_url,
            "read_cursor": read_cursor,
            "handlers": [
                {
                    "name": h.name,
                    "status": h.shown_status,
                    "stored_status": h.status,
                    "quarantined": h.quarantined,
                    "disabled_in_config": h.disabled_in_config,
                    "cursor": h.cursor,
                    "lag": lag(read_cursor, h),
                    "error": h.error,
                    "failed_event_id": h.failed_event_id,
                    "updated_at": h.updated_at,
                }
                for h in handlers.values()
            ],
            "pending": {"count": len(pending), "ranges": [list(r) for r in ranges]},
            "dead_letters": {
                "total": total_letters,
                "shown": [
                    {
                        "id": d.id,
                        "handler": d.handler,
                        "event_id": d.event_id,
                        "attempts": d.attempts,
                        "error": d.error,
                        "created_at": d.created_at,
                    }
                    for d in letters
                ],
            },
        }
        click.echo(json.dumps(data, indent=2))
        return
    lines = [
        f"state file:  {path}",
        f"site:        {site_url or '(not recorded)'}",
        f"read cursor: {read_cursor if read_cursor is not None else '(none: never run)'}",
        "",
    ]
    if handlers:
        lines.append(
            table(
                ("HANDLER", "STATUS", "CURSOR", "LAG", "ERROR"),
                (
                    (h.name, _shown(h), h.cursor, lag(read_cursor, h), error_line(h.error))
                    for h in handlers.values()
                ),
            )
        )
    else:
        lines.append("no handlers recorded")
    lines.append("")
    if pending:
        lines.append(f"pending ids: {len(pending)} ({format_id_ranges(ranges)})")
    else:
        lines.append("pending ids: none")
    held = [h for h in handlers.values() if h.quarantined]
    if held:
        lines.append("")
        lines.append("Quarantined handlers (the daemon runs the others; cursors are kept):")
        lines.extend(f"  {h.name}: {h.quarantined}" for h in held)
        lines.append("  (they resume by themselves once a fixed package is installed)")
    failed = [h for h in handlers.values() if h.status == Status.FAILED]
    if failed:
        lines.append("")
        lines.append("Failed handlers:")
        for h in failed:
            at = f" at event {h.failed_event_id}" if h.failed_event_id is not None else ""
            lines.append(f"  {h.name}{at}: {h.error or '(no error recorded)'}")
        lines.append(
            "  (fix the handler and upgrade its package, or `evframe handlers resume NAME`)"
        )
    lines.append("")
    which = f" of {handler_name}" if handler_name else ""
    lines.append(f"dead letters: {total_letters} in all; newest {len(letters)}{which}:")
    if letters:
        lines.append(
            table(
                ("  ID", "HANDLER", "EVENT", "ATTEMPTS", "ERROR"),
                (
                    (f"  {d.id}", d.handler, d.event_id, d.attempts, error_line(d.error))
                    for d in letters
                ),
            )
        )
    click.echo("\n".join(lines))
