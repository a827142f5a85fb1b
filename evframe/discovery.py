"""Finding installed handlers: the one place that reads entry points.

Entry points are read afresh on every call (never cached), so a package
installed or upgraded while a daemon runs is seen.  :func:`discover` loads a
group with stevedore and never raises for a broken package: each failure is a
:class:`~evframe.errors.HandlerLoadError` value naming the handler.
:func:`validate_in_subprocess` loads and validates a group in a fresh
interpreter, so a new handler set can be checked without importing it here.

``python -m evframe.discovery GROUP`` is that child: it prints one JSON object.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import inspect
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import stevedore

from evframe.errors import DuplicateHandlerError, HandlerLoadError, RegistrationError

__all__ = [
    "Discovered",
    "Validation",
    "describe_entry_point",
    "discover",
    "distributions",
    "entry_points",
    "fingerprints",
    "load_error",
    "main",
    "validate_in_subprocess",
]


def entry_points(group: str) -> list[importlib.metadata.EntryPoint]:
    """The entry points of ``group`` as installed now, deduplicated, sorted by (name, value).

    Sorting makes the load order independent of install order; one
    distribution seen twice on ``sys.path`` counts once.
    """
    seen: set[tuple[str, str]] = set()
    out = []
    for ep in sorted(importlib.metadata.entry_points(group=group), key=lambda e: (e.name, e.value)):
        if (ep.name, ep.value) not in seen:
            seen.add((ep.name, ep.value))
            out.append(ep)
    return out


def _dist(ep: importlib.metadata.EntryPoint) -> Any:
    return getattr(ep, "dist", None)


def describe_entry_point(ep: importlib.metadata.EntryPoint) -> str:
    """``entry point 'name = module:func' (group G) in distribution 'dist 1.0'``."""
    dist = _dist(ep)
    where = f" in distribution '{dist.name} {dist.version}'" if dist is not None else ""
    return f"entry point '{ep.name} = {ep.value}' (group {ep.group}){where}"


def fingerprints(group: str) -> dict[str, str]:
    """A fingerprint per installed handler: its entry point, distribution, version
    and install time, and for a package whose code lives outside the installed tree
    (``pip install -e``) its source files' sizes and mtimes.  It changes when the
    handler's package is (re)installed, or when an editable one is edited."""
    out: dict[str, str] = {}
    stamps: dict[tuple[str, Path], str] = {}  # one walk per package, however many handlers
    for ep in entry_points(group):
        dist = _dist(ep)
        if dist is not None:
            path = getattr(dist, "_path", None)
            try:
                stamp = str(os.stat(path).st_mtime_ns) if path is not None else ""
            except OSError:
                stamp = ""
            text = f"{ep.value}|{dist.name}=={dist.version}|{stamp}"
            if path is not None:
                key = (ep.module.partition(".")[0], Path(path).parent)
                if key not in stamps:
                    stamps[key] = _source_stamp(*key)
                text += stamps[key]
        else:
            text = ep.value
        out[ep.name] = hashlib.sha1(text.encode()).hexdigest()[:16]
    return out


def _source_stamp(top: str, installed_in: Path) -> str:
    """The sizes and mtimes of the ``.py`` files of top-level package ``top`` when they
    live outside ``installed_in`` (the distribution's site-packages); else "".

    An editable install's metadata stays the same when its sources are edited, so the
    sources are what tell a change.  Finding the package never imports it: a top-level
    name is looked up on the path (or in ``sys.modules``), which runs no package code.
    A regular install costs one look-up; an editable one a walk of its package.
    """
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return ""
    if spec is None:
        return ""
    roots = [Path(p) for p in spec.submodule_search_locations or ()]
    if not roots and spec.origin and spec.has_location:
        roots = [Path(spec.origin)]
    try:
        base = installed_in.resolve()
        if not roots or all(root.resolve().is_relative_to(base) for root in roots):
            return ""
    except OSError:
        return ""
    entries = []
    for root in roots:
        files = [root] if root.is_file() else sorted(root.rglob("*.py"))
        for file in files:
            try:
                st = file.stat()
            except OSError:
                continue  # deleted while we looked: the next look sees the change
            entries.append(f"{file}:{st.st_size}:{st.st_mtime_ns}")
    return "|src:" + hashlib.sha1("\n".join(entries).encode()).hexdigest()


def distributions(group: str) -> dict[str, str]:
    """``{handler name: "dist version"}`` for ``group`` (``"?"`` when unknown)."""
    out: dict[str, str] = {}
    for ep in entry_points(group):
        dist = _dist(ep)
        out.setdefault(ep.name, f"{dist.name} {dist.version}" if dist is not None else "?")
    return out


def load_error(
    ep: importlib.metadata.EntryPoint, exc: BaseException, detail: str | None = None
) -> HandlerLoadError:
    """The error for handler ``ep`` that could not be loaded because of ``exc``."""
    dist = _dist(ep)
    return HandlerLoadError(
        f"cannot load handler {ep.name!r} from {describe_entry_point(ep)}: "
        f"{detail if detail is not None else f'{type(exc).__name__}: {exc}'}",
        handler=ep.name,
        entry_point=f"{ep.name} = {ep.value}",
        distribution=dist.name if dist is not None else None,
        cause=exc,
    )


@dataclass
class Discovered:
    """What :func:`discover` found: the handlers that loaded, and the errors of the rest.

    ``entry_points`` maps each loaded handler to its entry point.
    """

    handlers: dict[str, tuple[Callable[..., Any], str]]
    errors: list[HandlerLoadError]
    entry_points: dict[str, importlib.metadata.EntryPoint] = field(default_factory=dict)


class _FreshExtensionManager(stevedore.ExtensionManager[Any]):
    """An ExtensionManager over :func:`entry_points` (stevedore caches them per process)."""

    def list_entry_points(self) -> list[importlib.metadata.EntryPoint]:
        return entry_points(self.namespace)

    def _load_one_plugin(
        self,
        ep: importlib.metadata.EntryPoint,
        invoke_on_load: bool,
        invoke_args: Any,
        invoke_kwds: dict[str, Any],
    ) -> Any:
        # stevedore lets AssertionError (and any BaseException) out of an import; a
        # package whose module asserts or exits at import is still only a broken package.
        try:
            return super()._load_one_plugin(ep, invoke_on_load, invoke_args, invoke_kwds)
        except (AssertionError, SystemExit) as exc:
            raise _ImportAborted(exc) from exc


class _ImportAborted(Exception):
    """Carries an AssertionError or SystemExit raised while importing a handler."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def discover(group: str) -> Discovered:
    """Load every handler of entry-point ``group`` with stevedore, in name order.

    Never raises for a broken package: an import error, an object that cannot be
    called as ``handler(ctx, event)`` or a second entry point with the same name
    is a :class:`HandlerLoadError` in ``errors``, and the other handlers load.
    """
    found = Discovered({}, [])

    def failed(_manager: Any, ep: importlib.metadata.EntryPoint, exc: BaseException) -> None:
        found.errors.append(load_error(ep, exc.cause if isinstance(exc, _ImportAborted) else exc))

    manager = _FreshExtensionManager(group, invoke_on_load=False, on_load_failure_callback=failed)
    for ext in manager.extensions:
        ep = ext.entry_point
        source = describe_entry_point(ep)
        try:
            _check_handler(ext.plugin, ext.name)
            if ext.name in found.handlers:
                raise DuplicateHandlerError.between(ext.name, found.handlers[ext.name][1], source)
        except (TypeError, RegistrationError) as exc:
            found.errors.append(load_error(ep, exc, str(exc)))
            continue
        found.handlers[ext.name] = (ext.plugin, source)
        found.entry_points[ext.name] = ep
    # Import failures were collected while stevedore loaded; keep the errors in name order.
    found.errors.sort(key=lambda e: e.handler)
    return found


def _check_handler(func: Any, name: str) -> None:
    """Refuse at load time what could only fail on the first event."""
    if not callable(func):
        raise TypeError(
            f"{func!r} is not callable; an evframe handler is a function handler(ctx, event)"
        )
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(None, None)
    except TypeError as exc:
        raise TypeError(
            f"handler {name!r} cannot be called as handler(ctx, event): signature {sig} ({exc})"
        ) from None


# -- validation in a fresh interpreter -------------------------------------------


@dataclass
class Validation:
    """The verdict of :func:`validate_in_subprocess` on a handler set.

    ``ok`` is whether the daemon can serve the set (no duplicate name);
    handlers that failed to load are listed in ``load_errors`` and handlers a
    cycle or a missing requirement makes unsafe in ``quarantined``, without
    making it invalid, as the daemon serves the others.  ``names`` are the
    handlers in run order (in name order when the set is invalid);
    ``fingerprints`` are those of the set the child saw;
    ``error`` says why the set is invalid or the check itself failed;
    ``quarantined`` maps the handlers the set makes unsafe (a cycle, a missing
    requirement, and their dependents), which the daemon sets aside while it
    runs the others, to the reason.
    """

    ok: bool
    names: list[str]
    fingerprints: dict[str, str]
    load_errors: list[str]
    error: str | None
    quarantined: dict[str, str] = field(default_factory=dict)


def validate_in_subprocess(
    group: str, *, timeout: float = 60.0, classic: Sequence[str] = ()
) -> Validation:
    """Load and validate ``group`` in a fresh interpreter; never raises for a bad set.

    The child is ``python -m evframe.discovery GROUP [PLUGIN_FOLDER...]``, which also
    loads the classic plugins of those folders; a child that crashes, prints no
    verdict or outlives ``timeout`` seconds gives ``ok=False``.
    """
    command = [sys.executable, "-m", "evframe.discovery", group, *classic]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return _refused(f"validating handler group {group!r} took more than {timeout:g} s")
    except OSError as exc:
        return _refused(f"cannot start {sys.executable} to validate handler group {group!r}: {exc}")
    lines = proc.stdout.strip().splitlines()
    try:
        data = json.loads(lines[-1])
        return Validation(
            ok=bool(data["ok"]),
            names=[str(n) for n in data["names"]],
            fingerprints={str(k): str(v) for k, v in data["fingerprints"].items()},
            load_errors=[str(e) for e in data["load_errors"]],
            error=None if data["error"] is None else str(data["error"]),
            quarantined={str(k): str(v) for k, v in data.get("quarantined", {}).items()},
        )
    except (IndexError, ValueError, TypeError, KeyError, AttributeError):
        stderr = proc.stderr.strip()
        tail = "\n".join(stderr.splitlines()[-20:]) if stderr else "(no output)"
        return _refused(
            f"validating handler group {group!r} failed (exit status {proc.returncode}):\n{tail}"
        )


def _refused(error: str) -> Validation:
    return Validation(ok=False, names=[], fingerprints={}, load_errors=[], error=error)


def _validate_here(group: str, classic: Sequence[str] = ()) -> Validation:
    # Imported here: the processor loads handlers through this module.
    from evframe.processor import Processor

    processor = Processor()
    error: str | None = None
    plugin_errors: list[str] = []
    found = fingerprints(group)
    try:
        if classic:
            from evframe.classic.adapter import register_plugins
            from evframe.classic.loader import fingerprints as plugin_fingerprints
            from evframe.classic.loader import load_plugins

            plugins = load_plugins(classic)
            plugin_errors = [str(e) for e in plugins.errors]
            found.update(plugin_fingerprints(classic))
            register_plugins(processor, plugins.plugins, lambda _name, _key: None)
        processor.load_from(group, strict=False)
        names = processor.names
    except RegistrationError as exc:
        error = str(exc)
        names = processor.registered
    # A name claimed twice leaves it to chance which handler runs: the set is invalid.
    duplicates = [e for e in processor.load_errors if isinstance(e.cause, DuplicateHandlerError)]
    if error is None and duplicates:
        error = str(duplicates[0].cause)
    return Validation(
        ok=error is None,
        names=names,
        fingerprints=found,
        load_errors=plugin_errors + [str(e) for e in processor.load_errors],
        error=error,
        quarantined={q.name: q.reason for q in processor.quarantined.values()},
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m evframe.discovery GROUP [PLUGIN_FOLDER...]``: print the
    :class:`Validation` of GROUP (and the classic plugins of those folders) as JSON.

    Exit status 0 when the set is valid, 1 when it is not, 2 on bad usage.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m evframe.discovery GROUP [PLUGIN_FOLDER...]", file=sys.stderr)
        return 2
    stdout = sys.stdout
    # Whatever handler modules print while importing must not mix with the verdict.
    with contextlib.redirect_stdout(sys.stderr):
        verdict = _validate_here(args[0], args[1:])
    stdout.write(json.dumps(asdict(verdict)) + "\n")
    stdout.flush()
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
