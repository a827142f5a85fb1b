"""Plugin folders to plugins to callbacks.

Every ``*.py`` file of a ``[classic] paths`` folder whose name starts with
neither ``.`` nor ``_`` is a candidate, taken alphabetically within a folder and
folder by folder in config order (the classic order).  A candidate without a
``registerCallbacks`` function is skipped with a warning naming it; one that
fails to import or to register is a :class:`PluginError` carrying its path and
traceback, and the others load.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from evframe.classic.registrar import Callback, Registrar, _Plugin

__all__ = ["Plugin", "PluginError", "Plugins", "candidates", "fingerprints", "load_plugins"]

log = logging.getLogger("evframe.classic")

# Plugin modules live under this name in sys.modules, never under their bare stem
# (the classic daemon's imp.load_source let a plugin called json.py replace json).
MODULE_PREFIX = "evframe_classic_plugins"
SOURCE_PREFIX = "classic plugin "


@dataclass
class Plugin:
    """One loaded plugin file and the callbacks it registered, in registration order."""

    path: Path
    stem: str
    module: ModuleType
    logger: logging.Logger
    callbacks: list[Callback]
    emails: bool | tuple[str, ...] = True

    @property
    def source(self) -> str:
        """How the plugin is named wherever a handler's origin is shown."""
        return f"{SOURCE_PREFIX}{self.path}"


@dataclass
class PluginError:
    """A plugin file that could not be loaded: its path, what happened, the traceback."""

    path: Path
    message: str
    traceback: str = ""

    def __str__(self) -> str:
        text = f"classic plugin {self.path}: {self.message}"
        return f"{text}\n{self.traceback.rstrip()}" if self.traceback else text


@dataclass
class Plugins:
    """What :func:`load_plugins` found: the plugins that loaded, errors and warnings."""

    plugins: list[Plugin] = field(default_factory=list)
    errors: list[PluginError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def candidates(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The plugin files of ``paths`` in the classic order."""
    out: list[Path] = []
    for folder in paths:
        directory = Path(folder)
        try:
            names = sorted(os.listdir(directory))
        except OSError as exc:
            log.warning("classic plugin folder %s cannot be read: %s", directory, exc)
            continue
        for name in names:
            if name.endswith(".py") and not name.startswith((".", "_")):
                if (directory / name).is_file():
                    out.append(directory / name)
    return out


def fingerprints(paths: Iterable[str | os.PathLike[str]]) -> dict[str, str]:
    """``{plugin source: fingerprint}`` for every plugin file: path and mtime, so an
    edited, new or deleted file changes the handler set (nothing is imported)."""
    out: dict[str, str] = {}
    for path in candidates(paths):
        try:
            stamp = str(path.stat().st_mtime_ns)
        except OSError:
            stamp = ""
        out[f"{SOURCE_PREFIX}{path}"] = hashlib.sha1(f"{path}|{stamp}".encode()).hexdigest()[:16]
    return out


Prepare = Callable[[logging.Logger, str], None]


def load_plugins(
    paths: Sequence[str | os.PathLike[str]], prepare: Prepare | None = None
) -> Plugins:
    """Import every plugin of ``paths`` and run its ``registerCallbacks``; never raises
    for a broken plugin.  ``prepare(logger, stem)`` readies a plugin's logger before
    its ``registerCallbacks`` runs (which may log)."""
    found = Plugins()
    for folder in paths:
        # Plugins import helper modules from their own folder (the _-prefixed files).
        if str(folder) not in sys.path:
            sys.path.append(str(folder))
    stems: dict[str, Path] = {}
    for path in candidates(paths):
        stem = path.stem
        if stem in stems:
            found.errors.append(
                PluginError(path, f"a plugin named {stem!r} is already loaded from {stems[stem]}")
            )
            continue
        plugin = _load_one(path, found, prepare)
        if plugin is not None:
            stems[stem] = path
            found.plugins.append(plugin)
    return found


def _load_one(path: Path, found: Plugins, prepare: Prepare | None) -> Plugin | None:
    stem = path.stem
    module_name = f"{MODULE_PREFIX}_{stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    try:
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except BaseException as exc:  # a plugin that exits or asserts at import is only broken
        sys.modules.pop(module_name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        found.errors.append(PluginError(path, "cannot import it", traceback.format_exc()))
        return None
    register = getattr(module, "registerCallbacks", None)
    if not callable(register):
        found.warnings.append(f"classic plugin {path} has no registerCallbacks function: skipped")
        return None
    logger = logging.getLogger(f"plugin.{stem}")
    if prepare is not None:
        prepare(logger, stem)
    holder = _Plugin(stem, logger)
    try:
        register(Registrar(holder))
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        found.errors.append(
            PluginError(path, "its registerCallbacks(reg) failed", traceback.format_exc())
        )
        return None
    if not holder.callbacks:
        found.warnings.append(f"classic plugin {path} registered no callback")
    return Plugin(path, stem, module, logger, holder.callbacks, holder.emails)
