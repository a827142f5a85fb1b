"""What the operator commands read: the installed handler set as a tool loads it, and
the state file as a tool sees it (never locked, never created)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from evframe.config import Config
from evframe.errors import RegistrationError
from evframe.handler import Policy, get_spec
from evframe.processor import Processor
from evframe.quarantine import Quarantined
from evframe.state import HandlerState, State

__all__ = [
    "Loaded",
    "StateView",
    "filters",
    "lag",
    "load_handlers",
    "on_error",
    "read_state",
    "requirements",
]


@dataclasses.dataclass
class StateView:
    """What the tools read from a state file."""

    path: Path
    site_url: str | None
    read_cursor: int | None
    handlers: dict[str, HandlerState]


def read_state(path: Path, *, missing_ok: bool) -> StateView | None:
    """The state file's content; None if it is missing and ``missing_ok``.

    Raises StateError (exit 4) if it is missing otherwise, or unreadable.
    """
    if missing_ok and not path.exists():
        return None
    with State.open(path, None, lock=False, create=False) as state:
        return StateView(path, state.site_url, state.read_cursor, state.handlers())


def lag(read_cursor: int | None, row: HandlerState | None) -> int | None:
    """How many event ids a handler is behind the read cursor (None if unknown)."""
    if read_cursor is None or row is None:
        return None
    return read_cursor - row.cursor


@dataclasses.dataclass
class Loaded:
    """A handler set loaded for a tool: what loaded, what did not, and why.

    ``failed`` names the handlers that did not load; ``ordered`` is False when
    the set is invalid (``names`` are then in name order); ``quarantined`` are
    the handlers a cycle or a missing requirement makes unsafe, which the daemon
    sets aside (they are not in ``names``).
    """

    processor: Processor
    group: str
    names: list[str]
    errors: list[str]
    ordered: bool
    failed: set[str]
    warnings: list[str] = dataclasses.field(default_factory=list)
    quarantined: dict[str, Quarantined] = dataclasses.field(default_factory=dict)


def load_handlers(config: Config, group: str, sg_factory: Any = None) -> Loaded:
    """Load every handler of ``group``, collecting every problem instead of stopping
    at the first (``check`` then treats any of them as an error)."""
    processor = Processor(
        config=lambda name: config.handler(name).config,
        sg_factory=sg_factory,
        max_followups=config.daemon.max_followups,
    )
    invalid: list[str] = []
    plugin_errors: list[str] = []
    warnings: list[str] = []
    try:
        if config.classic.paths:
            # Before the packages, as the daemon does: native handlers may
            # @requires a classic callback.
            from evframe.classic.adapter import register_classic

            plugins = register_classic(processor, config)
            plugin_errors = [str(e) for e in plugins.errors]
            warnings = list(plugins.warnings)
        processor.load_from(group, strict=False)
    except RegistrationError as exc:
        invalid.append(str(exc))
    errors = plugin_errors + [str(e) for e in processor.load_errors] + invalid
    names = processor.registered if invalid else processor.names
    failed = {e.handler for e in processor.load_errors}
    quarantined = dict(processor.quarantined)
    return Loaded(processor, group, names, errors, not invalid, failed, warnings, quarantined)


def on_error(config: Config, processor: Processor, name: str) -> tuple[str, str]:
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


def filters(processor: Processor, name: str) -> list[str]:
    """Each ``@want`` of ``name`` (registered or quarantined), described."""
    held = processor.quarantined.get(name)
    func = held.func if held is not None else None
    wants = get_spec(func).wants if func is not None else processor.spec(name).wants
    return [w.describe() for w in wants] if wants else ["(every event)"]


def requirements(loaded: Loaded, name: str) -> list[str]:
    """The handlers ``name`` runs after (its declared ones when the set is invalid or
    ``name`` is quarantined)."""
    held = loaded.quarantined.get(name)
    if held is not None and held.func is not None:
        return sorted(get_spec(held.func).requires)
    if loaded.ordered:
        return loaded.processor.graph.requirements(name)
    return sorted(loaded.processor.spec(name).requires)
