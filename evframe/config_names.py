"""Config that names handlers: every ``[handlers.NAME]`` table and every key of
``[logging.handlers]`` must name a handler that is installed.

A typo there silently drops a policy or a log level, so ``serve`` refuses it like
any other config error (exit 3, naming the key and the near name) and ``check``
reports it too.  Which handlers exist is only known once the handler set is
loaded, hence a check of its own after the config loader's.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from evframe.config import Config, ConfigError
from evframe.discovery import entry_points

__all__ = ["installed_names", "unknown_handler_names"]


def installed_names(config: Config, processor: Any) -> set[str]:
    """Every handler name the config may configure: the entry points of ``daemon.group``
    (loaded or not), the handlers registered or quarantined on ``processor``, and
    the callbacks of classic plugin files (``STEM.*``, even if the file fails to load)."""
    names = {ep.name for ep in entry_points(config.daemon.group)}
    names.update(processor.registered)
    names.update(processor.quarantined)
    return names


def _plugin_stems(config: Config) -> set[str]:
    stems: set[str] = set()
    for folder in config.classic.paths:
        stems.update(p.stem for p in Path(folder).glob("*.py"))
    return stems


def unknown_handler_names(config: Config, installed: Iterable[str]) -> list[ConfigError]:
    """One error per ``[handlers.NAME]`` table or ``[logging.handlers]`` key that names
    no installed handler, in key order."""
    known = sorted(set(installed))
    stems = _plugin_stems(config)
    group = config.daemon.group
    errors = []
    for prefix, names, what in (
        ("handlers", config.handlers, "configures"),
        ("logging.handlers", config.logging.handlers, "sets the log level of"),
    ):
        for name in sorted(names):
            if name in known or name.partition(".")[0] in stems:
                continue
            close = difflib.get_close_matches(name, known, n=1)
            hint = (
                f"; did you mean {close[0]!r}?"
                if close
                else f"; installed handlers: {', '.join(known) or '(none)'}"
            )
            detail = (
                f"{what} handler {name!r}, but no handler of that name is installed "
                f"(entry-point group {group!r}){hint}"
            )
            errors.append(ConfigError(detail, key=f"{prefix}.{name}", path=config.path))
    return errors
