"""The one order handlers run in, from their ``@requires`` / ``@required_by`` edges."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

import networkx as nx

from evframe.errors import CycleError, UnknownRequirementError
from evframe.handler import get_spec

__all__ = ["HandlerGraph"]


class HandlerGraph:
    """The ordering graph of a handler set, validated and sorted once.

    An edge ``a -> b`` means "a runs before b when both run".
    """

    def __init__(
        self,
        funcs: Mapping[str, Callable[..., Any]],
        sources: Mapping[str, str],
        absent: Collection[str] = (),
    ) -> None:
        """``absent`` names handlers set aside (quarantined): edges to them are left out
        instead of being errors."""
        graph: Any = nx.DiGraph()
        graph.add_nodes_from(funcs)
        # Order-only edges (spec.follows) sort but neither skip nor pause; links
        # (spec.linked) group without ordering.
        sequence: Any = nx.DiGraph()
        links: Any = nx.Graph()
        links.add_nodes_from(funcs)
        registered = sorted(funcs)
        # Each spec attribute: the graph its edges go into, and whether the named
        # handler comes before (True) or after the one that names it.
        kinds = (
            ("requires", graph, True),
            ("required_by", graph, False),
            ("follows", sequence, True),
            ("linked", links, False),
        )
        for name, func in funcs.items():
            spec = get_spec(func)
            for kind, edges, named_first in kinds:
                for other in sorted(getattr(spec, kind)):
                    if other in absent:
                        continue
                    self._check_known(name, kind, other, funcs, sources, registered)
                    if named_first:
                        edges.add_edge(other, name)
                    else:
                        edges.add_edge(name, other)
        ordering: Any = nx.compose(graph, sequence)
        try:
            cycle = nx.find_cycle(ordering)
        except nx.NetworkXNoCycle:
            cycle = None
        if cycle:
            names = [edge[0] for edge in cycle]
            path = " -> ".join([*names, names[0]])
            ordered = any(sequence.has_edge(a, b) for a, b, *_ in cycle)
            raise CycleError(
                f"handler ordering has a cycle: {path}; remove one of these "
                f"@requires/@required_by edges"
                + (" (classic plugins keep their folder, file and registration order)" * ordered),
                names,
            )
        self.graph = graph
        self.sequence = sequence
        # Ties are broken by name, so the order never depends on install order
        # or on PYTHONHASHSEED.
        self.order: list[str] = list(nx.lexicographical_topological_sort(ordering, key=str))
        self.position: dict[str, int] = {name: i for i, name in enumerate(self.order)}
        self._descendants: dict[str, frozenset[str]] = {}
        self._group_of: dict[str, frozenset[str]] = {}
        links.add_edges_from(graph.edges())
        for component in nx.connected_components(links):
            group = frozenset(component)
            for name in group:
                self._group_of[name] = group

    @staticmethod
    def _check_known(
        name: str,
        relation: str,
        other: str,
        funcs: Mapping[str, Any],
        sources: Mapping[str, str],
        registered: list[str],
    ) -> None:
        if other in funcs:
            return
        where = f" ({sources[name]})" if name in sources else ""
        listing = ", ".join(registered) if registered else "(none)"
        raise UnknownRequirementError(
            f"handler {name!r}{where} @{relation} {other!r}, but no handler named {other!r} "
            f"is registered; registered handlers: {listing}"
        )

    def dependents(self, name: str) -> frozenset[str]:
        """Handlers that (transitively) require ``name``."""
        found = self._descendants.get(name)
        if found is None:
            found = self._descendants[name] = frozenset(nx.descendants(self.graph, name))
        return found

    def requirements(self, name: str) -> list[str]:
        """Handlers ``name`` directly runs after."""
        return sorted(self.graph.predecessors(name))

    def group(self, name: str) -> frozenset[str]:
        """Every handler linked to ``name`` by ordering edges (itself included)."""
        return self._group_of[name]

    def groups(self) -> list[list[str]]:
        """The linked groups, each in run order, ordered by their first handler."""
        seen: set[frozenset[str]] = set()
        out: list[list[str]] = []
        for name in self.order:
            group = self._group_of[name]
            if group not in seen:
                seen.add(group)
                out.append(sorted(group, key=self.position.__getitem__))
        return out

    def sort(self, names: Iterable[str]) -> list[str]:
        """``names`` in run order."""
        return sorted(names, key=self.position.__getitem__)

    def to_dot(self) -> str:
        """The graph in Graphviz DOT form."""
        lines = ["digraph evframe {", "  rankdir=LR;"]
        for name in self.order:
            lines.append(f'  "{name}";')
        for a, b in sorted(self.graph.edges()):
            lines.append(f'  "{a}" -> "{b}";')
        for a, b in sorted(self.sequence.edges()):
            if not self.graph.has_edge(a, b):
                lines.append(f'  "{a}" -> "{b}" [style=dashed];')
        lines.append("}")
        return "\n".join(lines) + "\n"
