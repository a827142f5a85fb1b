"""Operator commands: ``check``, ``handlers``, ``graph``, ``state`` and ``replay``.

They share the exit codes of :mod:`evframe.cli`.  None of them takes the
daemon's lock, so they are safe to run beside a serving daemon; only
``handlers resume`` / ``handlers disable`` write to the state file (one
status change, which the daemon notices at its next poll).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from evframe._exitcodes import EXIT_CONFIG, EXIT_ERROR, EXIT_HANDLERS, EXIT_OK, EXIT_STATE
from evframe.config import Config
from evframe.discovery import distributions
from evframe.errors import RegistrationError
from evframe.event import EVENT_FIELDS, ShotgunEvent
from evframe.filters import never_co_occur
from evframe.handler import Outcome, Policy, Status
from evframe.processor import Processor
from evframe.redact import redact, redact_secrets
from evframe.state import HandlerState, State, StateError, format_id_ranges, id_ranges

__all__ = [
    "check_command",
    "graph_command",
    "handlers_command",
    "replay_command",
    "state_command",
]

EXIT_USAGE = 2
REPLAY_PAGE = 500
_ORDER_ASC: Any = [{"field_name": "id", "direction": "asc"}]
_ORDER_DESC: Any = [{"field_name": "id", "direction": "desc"}]

# Defined here rather than imported from evframe.cli: that module imports this
# one while it is being initialised (_register_subcommands).
config_option = click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="EVFRAME_CONFIG",
    help="TOML config file. Default: ./evframe.toml if it exists. Site and secrets may "
    "come from EVFRAME_SITE_URL, EVFRAME_SCRIPT_NAME and EVFRAME_API_KEY.",
)
state_option = click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="State file to read. Overrides daemon.state from the config.",
)
group_option = click.option(
    "--group",
    help="Entry-point group to load handlers from. Overrides daemon.group "
    "(default: evframe.handlers).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


# --------------------------------------------------------------------------- helpers


def _fail(message: str, code: int) -> NoReturn:
    from evframe.cli import fail

    fail(message, code)


def _config(path: Path | None) -> Config:
    from evframe.cli import get_config

    return get_config(path)


def _state_file(config_path: Path | None, state_path: Path | None) -> Path:
    """``--state``, else the config's daemon.state (the config is only read when needed)."""
    if state_path is not None:
        return state_path
    return Path(_config(config_path).daemon.state)


@dataclasses.dataclass
class _StateView:
    """What the tools read from a state file."""

    path: Path
    site_url: str | None
    read_cursor: int | None
    handlers: dict[str, HandlerState]


def _read_state(path: Path, *, missing_ok: bool) -> _StateView | None:
    """The state file's content; None if it is missing and ``missing_ok``; else exit 4."""
    if missing_ok and not path.exists():
        return None
    try:
        with State.open(path, None, lock=False, create=False) as state:
            return _StateView(path, state.site_url, state.read_cursor, state.handlers())
    except StateError as exc:
        _fail(str(exc), EXIT_STATE)


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A plain-text table, columns left-aligned."""
    cells = [[str(c) for c in headers]] + [["-" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def _error_line(error: str | None) -> str | None:
    """The line of an error that says what went wrong (a traceback's last line)."""
    if not error:
        return error
    lines = [line for line in error.strip().splitlines() if line.strip()]
    if not lines:
        return None
    return lines[-1].strip() if lines[0].startswith("Traceback") else lines[0].strip()


def _lag(read_cursor: int | None, row: HandlerState | None) -> int | None:
    if read_cursor is None or row is None:
        return None
    return read_cursor - row.cursor


def _make_processor(config: Config, sg_factory: Any = None) -> Processor:
    return Processor(
        config=lambda name: config.handler(name).config,
        sg_factory=sg_factory,
        max_followups=config.daemon.max_followups,
    )


@dataclasses.dataclass
class _Loaded:
    """A handler set loaded for a tool: what loaded, what did not, and why.

    ``failed`` names the handlers that did not load; ``ordered`` is False when
    the set is invalid (``names`` are then in name order).
    """

    processor: Processor
    group: str
    names: list[str]
    errors: list[str]
    ordered: bool
    failed: set[str]


def _load(config: Config, group: str, sg_factory: Any = None) -> _Loaded:
    """Load every handler of ``group``, collecting every problem instead of stopping
    at the first (``check`` then treats any of them as an error)."""
    processor = _make_processor(config, sg_factory)
    invalid: list[str] = []
    try:
        processor.load_from(group, strict=False)
    except RegistrationError as exc:
        invalid.append(str(exc))
    errors = [str(e) for e in processor.load_errors] + invalid
    names = processor.registered if invalid else processor.names
    failed = {e.handler for e in processor.load_errors}
    return _Loaded(processor, group, names, errors, not invalid, failed)


def _on_error(config: Config, processor: Processor, name: str) -> tuple[str, str]:
    """The effective failure policy of ``name`` (as text) and where it comes from."""
    hcfg = config.handler(name)
    declared = processor.spec(name).on_error
    if hcfg.on_error:
        policy, source = Policy(hcfg.on_error), f"[handlers.{name}] on_error"
    elif declared is not None:
        policy, source = declared, "@on_error"
    else:
        policy, source = Policy.STOP, "default"
    if policy == Policy.RETRY:
        return f"retry x{hcfg.retry_attempts}, then {hcfg.retry_fallback}", source
    return policy.value, source


def _filters(processor: Processor, name: str) -> list[str]:
    wants = processor.spec(name).wants
    return [w.describe() for w in wants] if wants else ["(every event)"]


def _requirements(loaded: _Loaded, name: str) -> list[str]:
    if loaded.ordered:
        return loaded.processor.graph.requirements(name)
    spec = loaded.processor.spec(name)
    return sorted(spec.requires)


# --------------------------------------------------------------------------- edges


def _edge_warnings(loaded: _Loaded) -> list[str]:
    if not loaded.ordered:
        return []
    processor = loaded.processor
    out = []
    for before, after in sorted(processor.graph.graph.edges()):
        if not never_co_occur(processor.spec(after).wants, processor.spec(before).wants):
            continue
        if before in processor.spec(after).requires:
            relation = f"{after} requires {before}"
        else:
            relation = f"{before} is required by {after}"
        out.append(f"{relation} but they never both want the same event: the edge has no effect")
    return out


# --------------------------------------------------------------------------- check


@click.command("check")
@config_option
@group_option
@click.option(
    "--connect",
    is_flag=True,
    help="Also connect to the site and check that the script credentials work.",
)
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 6).")
def check_command(config_path: Path | None, group: str | None, connect: bool, strict: bool) -> None:
    """Validate the config and the installed handlers, without running anything.

    Loads the config (a bad key exits 3, naming the key), loads every handler
    of the entry-point group and validates the set: import errors, cycles,
    unknown requirements and duplicate names exit 6. Prints the run order with
    each handler's filters, requirements and failure policy, and warns about
    config sections for handlers that are not installed and about @requires
    edges between handlers that can never want the same event.

    With --connect, also asks the site for its info and reads the event log
    with the configured script (exit 1 if that fails).
    """
    config = _config(config_path)
    group = group or config.daemon.group
    loaded = _load(config, group)
    processor = loaded.processor
    dists = distributions(group)
    warnings: list[str] = []
    site_errors: list[str] = []
    out: list[str] = []

    out.append(f"config: {config.path or '(none found; defaults and environment)'}")
    if config.site.url:
        out.append(f"site: {config.site.url} (script {config.site.script_name})")
    else:
        out.append("site: not set")
        warnings.append(
            "no site URL is set (site.url or EVFRAME_SITE_URL): serve would run an embedded sandbox"
        )
    out.append(f"state file: {config.daemon.state}")
    out.append(f"handlers: {len(loaded.names)} loaded from entry-point group {group!r}")

    if loaded.names:
        out.append("")
        out.append(
            "Run order:" if loaded.ordered else "Handlers (no run order: the set is invalid):"
        )
        for i, name in enumerate(loaded.names, 1):
            hcfg = config.handler(name)
            policy, source = _on_error(config, processor, name)
            out.append(f"  {i}. {name}  ({dists.get(name, '?')})")
            for line in _filters(processor, name):
                out.append(f"       filter:   {line}")
            out.append(f"       requires: {', '.join(_requirements(loaded, name)) or '-'}")
            if loaded.ordered:
                group_members = processor.graph.sort(processor.graph.group(name))
                if len(group_members) > 1:
                    out.append(f"       group:    {', '.join(group_members)}")
            out.append(f"       on_error: {policy} ({source})")
            if not hcfg.enabled:
                out.append(f"       disabled in the config ([handlers.{name}] enabled = false)")

    for name in sorted(config.handlers):
        if name not in loaded.names and name not in loaded.failed:
            warnings.append(
                f"[handlers.{name}] configures a handler that is not installed "
                f"(not in entry-point group {group!r}); check the name"
            )
    warnings.extend(_edge_warnings(loaded))

    if connect and config.site.url:
        site_errors.extend(_check_site(config, out))
    elif connect:
        site_errors.append("--connect: no site URL is set, nothing to connect to")

    if loaded.errors:
        out.append("")
        out.append("Handler errors:")
        out.extend(f"  - {e}" for e in loaded.errors)
    if site_errors:
        out.append("")
        out.append("Site errors:")
        out.extend(f"  - {e}" for e in site_errors)
    if warnings:
        out.append("")
        out.append("Warnings:")
        out.extend(f"  - {w}" for w in warnings)
    errors = len(loaded.errors) + len(site_errors)
    out.append("")
    if errors or (strict and warnings):
        strict_note = " (--strict: warnings count as errors)" if strict and warnings else ""
        out.append(f"FAILED: {errors} error(s), {len(warnings)} warning(s){strict_note}")
    else:
        out.append(f"OK: {len(loaded.names)} handler(s), {len(warnings)} warning(s)")
    click.echo(redact("\n".join(out), config))
    if loaded.errors or (strict and warnings):
        sys.exit(EXIT_HANDLERS)
    if site_errors:
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_OK)


def _check_site(config: Config, out: list[str]) -> list[str]:
    """Connect with the configured script; append what was found, return errors."""
    from evframe.site import describe_error, make_shotgun

    site = config.site
    assert site.url is not None
    sg = make_shotgun(
        site.url,
        site.script_name,
        site.api_key,
        timeout=site.timeout,
        http_proxy=site.http_proxy,
        ca_certs=site.ca_certs,
    )
    try:
        try:
            info = sg.info()
        except Exception as exc:  # any failure is reported, not raised
            return [f"cannot reach {site.url}: {describe_error(exc)}"]
        version = info.get("version") if isinstance(info, dict) else None
        shown = ".".join(str(v) for v in version[:3]) if isinstance(version, list) else "?"
        out.append(f"site answers: server version {shown}")
        try:
            newest = sg.find_one("EventLogEntry", [], ["id"], order=_ORDER_DESC)
        except Exception as exc:  # any failure is reported, not raised
            return [f"reading the event log of {site.url} failed: {describe_error(exc)}"]
    finally:
        sg.close()
    newest_id = newest["id"] if newest else "none yet"
    out.append(
        f"credentials work: script {site.script_name!r} reads the event log (newest {newest_id})"
    )
    return []


# --------------------------------------------------------------------------- handlers


def _handler_rows(config: Config, loaded: _Loaded, view: _StateView | None) -> list[dict[str, Any]]:
    processor = loaded.processor
    dists = distributions(loaded.group)
    read_cursor = view.read_cursor if view is not None else None
    stored = view.handlers if view is not None else {}
    rows = []
    for name in loaded.names:
        row = stored.get(name)
        policy, _source = _on_error(config, processor, name)
        status = row.status if row is not None else "new"
        if not config.handler(name).enabled:
            status = f"{status} (disabled in config)" if row is not None else "disabled in config"
        rows.append(
            {
                "name": name,
                "distribution": dists.get(name),
                "installed": True,
                "filters": _filters(processor, name),
                "requires": _requirements(loaded, name),
                "on_error": policy,
                "status": status,
                "cursor": row.cursor if row is not None else None,
                "lag": _lag(read_cursor, row),
                "error": row.error if row is not None else None,
            }
        )
    for name, row in sorted(stored.items()):
        if name in loaded.names:
            continue
        rows.append(
            {
                "name": name,
                "distribution": dists.get(name),
                "installed": False,
                "filters": [],
                "requires": [],
                "on_error": None,
                "status": f"{row.status} (not installed)",
                "cursor": row.cursor,
                "lag": _lag(read_cursor, row),
                "error": row.error,
            }
        )
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
    the daemon has not run yet show as "new"; packages that fail to load are
    listed below the table.

    \b
    evframe handlers resume NAME    run a failed or disabled handler again
    evframe handlers disable NAME   stop running a handler (keeps its cursor)
    """
    ctx.obj = {"config_path": config_path, "state_path": state_path}
    if ctx.invoked_subcommand is not None:
        return
    config = _config(config_path)
    path = state_path or Path(config.daemon.state)
    group = group or config.daemon.group
    view = _read_state(path, missing_ok=True)
    loaded = _load(config, group)
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
            _table(
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
        lines.extend(f"  {r['name']}: {_error_line(r['error'])}" for r in failed)
    if loaded.errors:
        lines.append("")
        lines.append("Load errors (these handlers do not run):")
        lines.extend(f"  - {e}" for e in loaded.errors)
    click.echo(redact("\n".join(lines), config))


def _linked(config_path: Path | None, name: str) -> list[str]:
    """The other handlers of ``name``'s linked group, if the installed set says."""
    config = _config(config_path)
    loaded = _load(config, config.daemon.group)
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
    path = _state_file(config_path, state_path or parent.get("state_path"))
    # Members of the group paused with it resume too: left failed, they would pause
    # the resumed handler again when a daemon (re)starts.
    linked = _linked(config_path, name) if status == Status.ACTIVE else []
    also: list[HandlerState] = []
    try:
        with State.open(path, None, lock=False, create=False) as state:
            rows = state.handlers()
            row = rows.get(name)
            if row is None:
                known = ", ".join(rows) or "(none)"
                _fail(
                    f"handler {name!r} is not in the state file {path}; handlers it knows: {known}",
                    EXIT_ERROR,
                )
            read_cursor = state.read_cursor
            also = [rows[n] for n in linked if n in rows and rows[n].status == Status.FAILED]
            if row.status == status and not also:
                click.echo(f"{name} is already {status} (cursor {row.cursor}); nothing changed")
                return
            for member in [row, *also]:
                state.set_status(member.name, status)
            state.commit()
    except StateError as exc:
        _fail(str(exc), EXIT_STATE)
    was = f"was {row.status}" + (f": {_error_line(row.error)}" if row.error else "")
    if status == Status.ACTIVE:
        lag = f", {read_cursor - row.cursor} event(s) behind" if read_cursor is not None else ""
        lines = [f"resumed {name} ({was}); it continues after event {row.cursor}{lag}."]
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


# --------------------------------------------------------------------------- graph


@click.command("graph")
@config_option
@group_option
@click.option("--dot", is_flag=True, help="Print Graphviz DOT (pipe it to `dot -Tsvg`).")
def graph_command(config_path: Path | None, group: str | None, dot: bool) -> None:
    """Show the order handlers run in and the @requires edges between them.

    Each handler is listed in run order with the handlers it runs after and its
    linked group: handlers joined by edges are paused and resumed together when
    one of them fails. Exit 6 if the handler set is invalid (e.g. a cycle).
    """
    config = _config(config_path)
    group = group or config.daemon.group
    loaded = _load(config, group)
    if not loaded.ordered:
        _fail("the handler set is invalid: " + "; ".join(loaded.errors), EXIT_HANDLERS)
    graph = loaded.processor.graph
    if dot:
        click.echo(graph.to_dot(), nl=False)
        return
    lines = [f"Run order ({len(graph.order)} handler(s), entry-point group {group!r}):"]
    for i, name in enumerate(graph.order, 1):
        reqs = graph.requirements(name)
        lines.append(f"  {i}. {name}" + (f"  (after {', '.join(reqs)})" if reqs else ""))
    lines.append("")
    lines.append("Linked groups (paused and resumed together):")
    for members in graph.groups():
        lines.append(f"  - {', '.join(members)}")
    if loaded.errors:
        lines.append("")
        lines.append("Not loaded:")
        lines.extend(f"  - {e}" for e in loaded.errors)
    click.echo("\n".join(lines))


# --------------------------------------------------------------------------- state


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
    handler with on_error = "skip" gave up on.

    Exit 4 if the state file is missing or cannot be read.
    """
    path = _state_file(config_path, state_path)
    try:
        with State.open(path, None, lock=False, create=False) as state:
            site_url, read_cursor = state.site_url, state.read_cursor
            handlers = state.handlers()
            pending = state.pending()
            letters = state.dead_letters(handler_name, limit=dead_count) if dead_count else []
            total_letters = state.count_dead_letters()
    except StateError as exc:
        _fail(str(exc), EXIT_STATE)
    ranges = id_ranges(pending)
    if as_json:
        data = {
            "path": str(path),
            "site_url": site_url,
            "read_cursor": read_cursor,
            "handlers": [
                {
                    "name": h.name,
                    "status": h.status,
                    "cursor": h.cursor,
                    "lag": _lag(read_cursor, h),
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
            _table(
                ("HANDLER", "STATUS", "CURSOR", "LAG", "ERROR"),
                (
                    (h.name, h.status, h.cursor, _lag(read_cursor, h), _error_line(h.error))
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
            _table(
                ("  ID", "HANDLER", "EVENT", "ATTEMPTS", "ERROR"),
                (
                    (f"  {d.id}", d.handler, d.event_id, d.attempts, _error_line(d.error))
                    for d in letters
                ),
            )
        )
    click.echo("\n".join(lines))


# --------------------------------------------------------------------------- replay


def _pages(sg: Any, guard: Any, first: int, last: int) -> Iterator[list[dict[str, Any]]]:
    """EventLogEntry rows with ids first..last, ascending, a page at a time."""
    cursor = first - 1
    while cursor < last:
        filters: list[Any] = [["id", "greater_than", cursor], ["id", "less_than", last + 1]]
        page = guard.call(
            f"reading events after {cursor}",
            lambda f=filters: sg.find(
                "EventLogEntry", f, EVENT_FIELDS, order=_ORDER_ASC, limit=REPLAY_PAGE
            ),
        )
        if not page:
            return
        yield page
        if len(page) < REPLAY_PAGE:
            return
        cursor = int(page[-1]["id"])


def _replay_logging(config: Config, verbose: int) -> logging.Handler:
    """Handlers' log lines to stderr (redacted); not the daemon's log sinks."""
    secrets = config.secrets()

    class _Redact(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.msg = redact_secrets(record.getMessage(), secrets)
            record.args = None
            return True

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_Redact())
    root = logging.getLogger("evframe")
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    return handler


@click.command("replay")
@config_option
@click.option(
    "--from-id", "from_id", type=click.IntRange(1), required=True, help="First event id to replay."
)
@click.option(
    "--to-id",
    "to_id",
    type=click.IntRange(1),
    required=True,
    help="Last event id to replay (inclusive).",
)
@click.option(
    "--handler",
    "handler_names",
    multiple=True,
    help="Replay through this handler (repeatable). Default: every handler that is "
    "active (enabled in the config, and not failed or disabled in the state file).",
)
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="State file to read handler statuses from. Overrides daemon.state.",
)
@click.option("-v", "--verbose", count=True, help="Show the handlers' INFO (-vv: DEBUG) logs.")
def replay_command(
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
    Exit 1 if any handler failed.
    """
    from evframe.site import Connections, make_shotgun

    if to_id < from_id:
        _fail(f"--to-id {to_id} is before --from-id {from_id}", EXIT_USAGE)
    config = _config(config_path)
    url = config.site.url
    if not url:
        _fail("replay needs a site: set site.url in the config or EVFRAME_SITE_URL", EXIT_CONFIG)
    connections = Connections(config, url)
    clients: list[Any] = []

    def sg_factory(name: str) -> Any:
        sg = connections.for_handler(name)
        clients.append(sg)
        return sg

    loaded = _load(config, config.daemon.group, sg_factory)
    if not loaded.ordered:
        _fail("the handler set is invalid: " + "; ".join(loaded.errors), EXIT_HANDLERS)
    installed = loaded.names
    if handler_names:
        unknown = [n for n in handler_names if n not in installed]
        if unknown:
            _fail(
                f"no installed handler named {', '.join(map(repr, unknown))}; installed "
                f"handlers: {', '.join(installed) or '(none)'}",
                EXIT_USAGE,
            )
        chosen = list(dict.fromkeys(handler_names))
    else:
        path = state_path or Path(config.daemon.state)
        view = _read_state(path, missing_ok=True)
        stored = view.handlers if view is not None else {}
        chosen = [
            n
            for n in installed
            if config.handler(n).enabled and (n not in stored or stored[n].status == Status.ACTIVE)
        ]
        if not chosen:
            _fail("no active handler to replay through; name some with --handler", EXIT_ERROR)
    chosen = loaded.processor.graph.sort(chosen)
    for error in loaded.errors:
        click.echo(redact(f"warning: {error}", config), err=True)

    site = config.site
    sg = make_shotgun(
        url,
        site.script_name,
        site.api_key,
        timeout=site.timeout,
        http_proxy=site.http_proxy,
        ca_certs=site.ca_certs,
    )
    clients.append(sg)
    try:
        failed = _replay(config, loaded, chosen, sg, from_id, to_id, verbose)
    finally:
        for client in {id(c): c for c in clients}.values():
            client.close()
    sys.exit(EXIT_ERROR if failed else EXIT_OK)


def _replay(
    config: Config,
    loaded: _Loaded,
    chosen: list[str],
    sg: Any,
    from_id: int,
    to_id: int,
    verbose: int,
) -> bool:
    """Run the events through ``chosen``, print the summary; True if any handler failed."""
    from evframe.site import SiteGuard, describe_error

    try:
        # First contact without retries: bad credentials or a wrong URL fail at once.
        sg.find_one("EventLogEntry", [], ["id"])
    except Exception as exc:  # reported, not raised
        message = f"cannot read the event log of {config.site.url}: {describe_error(exc)}"
        _fail(redact(message, config), EXIT_ERROR)
    evframe_log = logging.getLogger("evframe")
    level = evframe_log.level
    log_handler = _replay_logging(config, verbose)
    # Retries through site trouble, like the daemon; Ctrl-C still stops it.
    guard = SiteGuard(threading.Event(), error_after=config.daemon.site_error_after)
    only = frozenset(chosen)
    shown = (Outcome.OK, Outcome.FAILED, Outcome.SKIPPED, Outcome.NOT_WANTED)
    counts = {name: dict.fromkeys(shown, 0) for name in chosen}
    failures: list[tuple[int, str, str]] = []
    events = 0
    first_seen: int | None = None
    last_seen: int | None = None
    try:
        for record in itertools.chain.from_iterable(_pages(sg, guard, from_id, to_id)):
            event = ShotgunEvent(record)
            events += 1
            first_seen = first_seen if first_seen is not None else int(record["id"])
            last_seen = int(record["id"])
            report = loaded.processor.run(event, only=only)
            for name in chosen:
                counts[name][report.outcome(name)] += 1
            for failure in report.failures:
                failures.append((last_seen, failure.name, failure.traceback or ""))
    finally:
        evframe_log.removeHandler(log_handler)
        evframe_log.setLevel(level)

    span = f" (ids {first_seen}..{last_seen})" if events else ""
    lines = [
        f"replayed {events} event(s){span} of {from_id}..{to_id} through "
        f"{len(chosen)} handler(s); cursors and state file untouched",
        "",
        _table(
            ("HANDLER", *(o.value.upper() for o in shown)),
            ((n, *(c[o] for o in shown)) for n, c in counts.items()),
        ),
    ]
    for event_id, name, tb in failures:
        lines.append("")
        lines.append(f"{name} failed on event {event_id}:")
        lines.append(tb.rstrip())
    click.echo(redact("\n".join(lines), config))
    return bool(failures)
