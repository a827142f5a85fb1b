"""``evframe graph``: the run order and the ordering edges between handlers."""

from __future__ import annotations

from pathlib import Path

import click

from evframe.cli._common import config_option, get_config, group_option
from evframe.cli._views import load_handlers
from evframe.errors import HandlerSetError

__all__ = ["graph_command"]


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
    config = get_config(config_path)
    group = group or config.daemon.group
    loaded = load_handlers(config, group)
    if not loaded.ordered:
        raise HandlerSetError("the handler set is invalid: " + "; ".join(loaded.errors))
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
