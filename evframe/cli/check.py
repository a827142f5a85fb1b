"""``evframe check``: validate the config and the installed handlers, run nothing."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import click

from evframe.cli._common import EXIT_ERROR, EXIT_OK, config_option, get_config, group_option
from evframe.cli._views import Loaded, filters, load_handlers, on_error, requirements
from evframe.config import Config, ConfigError
from evframe.config_names import installed_names, unknown_handler_names
from evframe.daemon.source import SiteSource
from evframe.discovery import distributions
from evframe.errors import HandlerSetError
from evframe.filters import never_co_occur
from evframe.redact import redact

__all__ = ["check_command"]


def _edge_warnings(loaded: Loaded) -> list[str]:
    """An ordering edge between handlers that never want the same event does nothing."""
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


def _run_order(config: Config, loaded: Loaded) -> list[str]:
    processor = loaded.processor
    dists = distributions(loaded.group)
    out = ["", "Run order:" if loaded.ordered else "Handlers (no run order: the set is invalid):"]
    for i, name in enumerate(loaded.names, 1):
        policy, source = on_error(config, processor, name)
        out.append(f"  {i}. {name}  ({dists.get(name, '?')})")
        out.extend(f"       filter:   {line}" for line in filters(processor, name))
        out.append(f"       requires: {', '.join(requirements(loaded, name)) or '-'}")
        if loaded.ordered:
            members = processor.graph.sort(processor.graph.group(name))
            if len(members) > 1:
                out.append(f"       group:    {', '.join(members)}")
        out.append(f"       on_error: {policy} ({source})")
        if not config.handler(name).enabled:
            out.append(f"       disabled in the config ([handlers.{name}] enabled = false)")
    return out


@click.command("check")
@config_option
@group_option
@click.option(
    "--connect",
    is_flag=True,
    help="Also connect to the site and read its event log with the configured script "
    "(checks the URL and the credentials).",
)
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 6), e.g. in a CI job.")
@click.pass_context
def check_command(
    ctx: click.Context, config_path: Path | None, group: str | None, connect: bool, strict: bool
) -> None:
    """Validate the config and the installed handlers, without running anything.

    Loads the config (a bad key exits 3, naming the key), loads every handler
    of the entry-point group and validates the set: import errors, cycles,
    unknown requirements and duplicate names exit 6 (serve quarantines the
    handlers a cycle or an unknown requirement makes unsafe and runs the
    others). A [handlers.NAME] table or a [logging.handlers] key naming a
    handler that is not installed exits 3, as serve refuses it. Prints the run
    order with each handler's filters, requirements and failure policy, and
    warns about @requires edges between handlers that can never want the same
    event.

    With --connect, also asks the site for its info and reads the event log
    with the configured script (exit 1 if that fails).
    """
    config = get_config(config_path)
    group = group or config.daemon.group
    daemon_cfg = dataclasses.replace(config.daemon, group=group)
    loaded = load_handlers(config, group)
    warnings: list[str] = list(loaded.warnings)
    site_errors: list[str] = []
    out = [f"config: {config.path or '(none found; defaults and environment)'}"]
    if config.site.url:
        out.append(f"site: {config.site.url} (script {config.site.script_name})")
    else:
        out.append("site: not set")
        warnings.append(
            "no site URL is set (site.url or EVFRAME_SITE_URL): serve would run an embedded sandbox"
        )
    out.append(f"state file: {config.daemon.state}")
    out.append(f"handlers: {len(loaded.names)} loaded from entry-point group {group!r}")
    if loaded.quarantined:
        out.append(f"quarantined: {', '.join(sorted(loaded.quarantined))}")
    if loaded.names:
        out.extend(_run_order(config, loaded))

    # What serve refuses (exit 3): config naming handlers that are not installed.
    named = dataclasses.replace(config, daemon=daemon_cfg)
    installed = installed_names(named, loaded.processor)
    config_errors = [str(e) for e in unknown_handler_names(named, installed)]
    warnings.extend(_edge_warnings(loaded))

    if connect and config.site.url:
        site_errors.extend(_check_site(config, config.site.url, out))
    elif connect:
        site_errors.append("--connect: no site URL is set, nothing to connect to")

    held = [f"{q.name}: {q.reason}" for q in loaded.quarantined.values()]
    for title, items in (
        ("Config errors (serve refuses to start, exit 3):", config_errors),
        ("Handler errors:", loaded.errors),
        ("Quarantined (serve sets these aside and runs the others):", held),
        ("Site errors:", site_errors),
        ("Warnings:", warnings),
    ):
        if items:
            out += ["", title, *(f"  - {item}" for item in items)]
    errors = len(config_errors) + len(loaded.errors) + len(held) + len(site_errors)
    out.append("")
    if errors or (strict and warnings):
        strict_note = " (--strict: warnings count as errors)" if strict and warnings else ""
        out.append(f"FAILED: {errors} error(s), {len(warnings)} warning(s){strict_note}")
    else:
        out.append(f"OK: {len(loaded.names)} handler(s), {len(warnings)} warning(s)")
    click.echo(redact("\n".join(out), config))
    if config_errors:
        ctx.exit(ConfigError.exit_code)
    if loaded.errors or held or (strict and warnings):
        ctx.exit(HandlerSetError.exit_code)
    ctx.exit(EXIT_ERROR if site_errors else EXIT_OK)


def _check_site(config: Config, url: str, out: list[str]) -> list[str]:
    """Connect with the configured script; append what was found, return errors."""
    from evframe.site import SiteGuard, describe_error, site_shotgun

    # One attempt per request: a wrong URL or bad credentials are reported, not waited out.
    source = SiteSource(
        site_shotgun(config.site, url), url, SiteGuard(threading.Event(), attempts=1)
    )
    try:
        try:
            info = source.sg.info()
        except Exception as exc:  # any failure is reported, not raised
            return [f"cannot reach {url}: {describe_error(exc)}"]
        version = info.get("version") if isinstance(info, dict) else None
        shown = ".".join(str(v) for v in version[:3]) if isinstance(version, list) else "?"
        out.append(f"site answers: server version {shown}")
        try:
            newest = source.newest_id()
        except Exception as exc:  # any failure is reported, not raised
            return [f"reading the event log of {url} failed: {describe_error(exc)}"]
    finally:
        source.close()
    out.append(
        f"credentials work: script {config.site.script_name!r} reads the event log "
        f"(newest {newest or 'none yet'})"
    )
    return []
