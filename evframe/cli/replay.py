"""``evframe replay``: run a range of past events through handlers again.

The events are read through the daemon's own :class:`~evframe.daemon.source.SiteSource`;
nothing is written to the state file, and it is never locked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click

from evframe.cli._common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    config_option,
    console_logging,
    get_config,
    state_option,
    table,
    verbose_option,
)
from evframe.cli._views import Loaded, load_handlers, read_state
from evframe.config import Config, ConfigError
from evframe.daemon.source import SiteSource
from evframe.errors import HandlerSetError
from evframe.event import ShotgunEvent
from evframe.handler import Outcome, Status
from evframe.redact import redact

__all__ = ["replay_command"]

FC = TypeVar("FC", bound=Callable[..., Any])
PAGE = 500
_SHOWN = (Outcome.OK, Outcome.FAILED, Outcome.SKIPPED, Outcome.NOT_WANTED)


def _records(source: SiteSource, first: int, last: int) -> Iterator[dict[str, Any]]:
    """EventLogEntry rows with ids first..last, ascending, read a page at a time."""
    cursor = first - 1
    while cursor < last:
        page = source.read(cursor, upto=last, limit=PAGE)
        yield from page
        if len(page) < PAGE:
            return
        cursor = int(page[-1]["id"])


def _chosen(
    config: Config, loaded: Loaded, handler_names: tuple[str, ...], state_path: Path | None
) -> list[str]:
    """The handlers to replay through, in run order."""
    installed = loaded.names
    if handler_names:
        unknown = [n for n in handler_names if n not in installed]
        if unknown:
            raise CliError(
                f"no installed handler named {', '.join(map(repr, unknown))}; installed "
                f"handlers: {', '.join(installed) or '(none)'}",
                EXIT_USAGE,
            )
        chosen = list(dict.fromkeys(handler_names))
    else:
        view = read_state(state_path or Path(config.daemon.state), missing_ok=True)
        stored = view.handlers if view is not None else {}
        chosen = [
            n
            for n in installed
            if config.handler(n).enabled and (n not in stored or stored[n].status == Status.ACTIVE)
        ]
        if not chosen:
            raise CliError("no active handler to replay through; name some with --handler")
    return loaded.processor.graph.sort(chosen)


def _id_option(flag: str, help: str) -> Callable[[FC], FC]:
    return click.option(flag, type=click.IntRange(1), required=True, metavar="ID", help=help)


@click.command("replay")
@config_option
@_id_option("--from-id", "First event id (EventLogEntry id) to replay.")
@_id_option("--to-id", "Last event id to replay (inclusive).")
@click.option(
    "--handler",
    "handler_names",
    multiple=True,
    metavar="NAME",
    help="Replay through this handler (repeatable). Default: every handler that is "
    "active (enabled in the config, and not failed or disabled in the state file).",
)
@state_option
@verbose_option
@click.pass_context
def replay_command(
    ctx: click.Context,
    config_path: Path | None,
    from_id: int,
    to_id: int,
    handler_names: tuple[str, ...],
    state_path: Path | None,
    verbose: int,
) -> None:
    """Run events FROM-ID..TO-ID of the site's event log through handlers again.

    For re-processing history after fixing a handler. The handlers run exactly
    as in the daemon (same order, filters, config and ctx.sg credentials), but
    their cursors do not move and nothing is written to the state file; it is
    safe beside a running daemon. Handlers that change the site change it
    again: replay only through handlers that can stand it.

    Prints events read and, per handler, how many events went ok, failed or
    were skipped (a requirement failed), then each failure's traceback.
    Exit 1 if any handler failed. --state is only read, to know which
    handlers are active.
    """
    from evframe.site import Connections, SiteGuard, describe_error, site_shotgun

    if to_id < from_id:
        raise CliError(f"--to-id {to_id} is before --from-id {from_id}", EXIT_USAGE)
    config = get_config(config_path)
    url = config.site.url
    if not url:
        raise ConfigError("replay needs a site: set site.url in the config or EVFRAME_SITE_URL")
    connections = Connections(config, url)
    loaded = load_handlers(config, config.daemon.group, connections.for_handler)
    if not loaded.ordered:
        raise HandlerSetError("the handler set is invalid: " + "; ".join(loaded.errors))
    chosen = _chosen(config, loaded, handler_names, state_path)
    for error in loaded.errors:
        click.echo(redact(f"warning: {error}", config), err=True)

    sg = site_shotgun(config.site, url)
    try:
        # First contact without retries: bad credentials or a wrong URL fail at once.
        try:
            SiteSource(sg, url, SiteGuard(threading.Event(), attempts=1)).newest_id()
        except Exception as exc:  # reported, not raised
            message = f"cannot read the event log of {url}: {describe_error(exc)}"
            raise CliError(redact(message, config)) from None
        # Then retries through site trouble, like the daemon; Ctrl-C still stops it.
        guard = SiteGuard(threading.Event(), error_after=config.daemon.site_error_after)
        with console_logging(config, verbose):
            lines, failed = _replay(loaded, chosen, SiteSource(sg, url, guard), from_id, to_id)
    finally:
        sg.close()
        connections.close()
    click.echo(redact("\n".join(lines), config))
    ctx.exit(EXIT_ERROR if failed else EXIT_OK)


def _replay(
    loaded: Loaded, chosen: list[str], source: SiteSource, from_id: int, to_id: int
) -> tuple[list[str], bool]:
    """Run the events through ``chosen``: the summary's lines, and whether any failed."""
    only = frozenset(chosen)
    counts = {name: dict.fromkeys(_SHOWN, 0) for name in chosen}
    failures: list[tuple[int, str, str]] = []
    events = 0
    first_seen: int | None = None
    last_seen: int | None = None
    for record in _records(source, from_id, to_id):
        events += 1
        last_seen = int(record["id"])
        first_seen = first_seen if first_seen is not None else last_seen
        report = loaded.processor.run(ShotgunEvent(record), only=only)
        for name in chosen:
            counts[name][report.outcome(name)] += 1
        failures.extend((last_seen, f.name, f.traceback or "") for f in report.failures)

    span = f" (ids {first_seen}..{last_seen})" if events else ""
    lines = [
        f"replayed {events} event(s){span} of {from_id}..{to_id} through "
        f"{len(chosen)} handler(s); cursors and state file untouched",
        "",
        table(
            ("HANDLER", *(o.value.upper() for o in _SHOWN)),
            ((n, *(c[o] for o in _SHOWN)) for n, c in counts.items()),
        ),
    ]
    for event_id, name, tb in failures:
        lines += ["", f"{name} failed on event {event_id}:", tb.rstrip()]
    return lines, bool(failures)
