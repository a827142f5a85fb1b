"""Quarantine: the handlers a bad handler set makes unsafe to run, set aside.

A handler whose ``@requires`` names a handler that is not installed, or that
sits on an ordering cycle, cannot run as declared.  Rather than refuse the
whole set (one team's broken package would stop every handler), the daemon
sets aside exactly those handlers and every handler that (transitively)
requires them — they would run without the scratchpad data they expect — and
runs the rest.  Quarantined handlers keep their cursors in the state file and
catch up once a fixed package makes the set whole again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from evframe.handler import get_spec

__all__ = ["Quarantined", "by_cause", "quarantine", "report_quarantine", "unsafe_handlers"]

log = logging.getLogger("evframe.daemon")

# The relations a handler declares, each with what it means for an unknown name.
_RELATIONS = ("requires", "required_by", "follows", "linked")


@dataclass(frozen=True)
class Quarantined:
    """One handler set aside: ``reason`` says why, ``cause`` names the fault it
    follows from (the same text for every handler one fault quarantines); ``func``
    is the handler function, for tools that describe it."""

    name: str
    reason: str
    cause: str
    func: Callable[..., Any] | None = field(default=None, compare=False, repr=False)


def unsafe_handlers(
    funcs: Mapping[str, Callable[..., Any]], sources: Mapping[str, str] | None = None
) -> dict[str, Quarantined]:
    """The handlers of ``funcs`` that cannot run safely, by name (empty for a valid set).

    Those that name an unknown handler in an ordering relation, those on a cycle,
    and every handler that (transitively) requires one of them.
    """
    sources = sources or {}
    ordering: Any = nx.DiGraph()
    requiring: Any = nx.DiGraph()  # the edges along which a failure skips dependents
    ordering.add_nodes_from(funcs)
    requiring.add_nodes_from(funcs)
    roots: dict[str, str] = {}
    for name in sorted(funcs):
        spec = get_spec(funcs[name])
        edges = {
            "requires": [(other, name) for other in spec.requires],
            "required_by": [(name, other) for other in spec.required_by],
            "follows": [(other, name) for other in spec.follows],
            "linked": [],
        }
        for relation in _RELATIONS:
            for other in sorted(getattr(spec, relation)):
                if other not in funcs:
                    where = f" ({sources[name]})" if name in sources else ""
                    roots.setdefault(
                        name,
                        f"handler {name!r}{where} @{relation} {other!r}, which is not installed",
                    )
        for a, b in edges["requires"] + edges["required_by"]:
            if a in funcs and b in funcs:
                ordering.add_edge(a, b)
                requiring.add_edge(a, b)
        for a, b in edges["follows"]:
            if a in funcs and b in funcs:
                ordering.add_edge(a, b)
    for component in nx.strongly_connected_components(ordering):
        members = sorted(component)
        if len(members) == 1 and not ordering.has_edge(members[0], members[0]):
            continue
        text = f"handlers {', '.join(members)} form an ordering cycle"
        for name in members:
            roots.setdefault(name, text)
    out: dict[str, Quarantined] = {}
    for name, cause in sorted(roots.items()):
        out[name] = Quarantined(name, cause, cause, funcs[name])
    for name, cause in sorted(roots.items()):
        for dependent in sorted(nx.descendants(requiring, name)):
            if dependent not in out:
                reason = f"depends on quarantined handler {name!r} ({cause})"
                out[dependent] = Quarantined(dependent, reason, cause, funcs[dependent])
    return out


def quarantine(processor: Any) -> dict[str, Quarantined]:
    """Unregister the unsafe handlers of ``processor`` (a :class:`~evframe.Processor`
    whose set may be invalid) so that the rest validates; returns what was set aside."""
    names: Iterable[str] = processor.registered
    funcs = {name: processor.handler(name) for name in names}
    sources = {name: processor.source(name) for name in funcs}
    unsafe = unsafe_handlers(funcs, sources)
    for name in unsafe:
        processor.unregister(name)
    return unsafe


def by_cause(unsafe: Mapping[str, Quarantined]) -> dict[str, list[str]]:
    """Quarantined handler names grouped by the fault that set them aside."""
    out: dict[str, list[str]] = {}
    for q in unsafe.values():
        out.setdefault(q.cause, []).append(q.name)
    return out


def report_quarantine(unsafe: Mapping[str, Quarantined]) -> None:
    """Log each fault at ERROR (so it is alerted too), with every handler it sets aside."""
    for cause, names in by_cause(unsafe).items():
        log.error(
            "quarantined handler(s) %s: %s; they do not run (their cursors are kept) until "
            "a fixed package is installed; the other handlers run",
            ", ".join(names),
            cause,
        )
