"""The handler set: loading it, noticing new code, checking it before a restart.

The daemon never imports a new version of a handler package into its own
process: objects of the old code survive in closures and caches, and C
extensions cannot be unloaded.  Instead it validates the installed set in a
fresh interpreter (:func:`evframe.discovery.validate_in_subprocess`) and, when
it is valid, commits and returns :attr:`RunResult.RELOAD`; the CLI then
re-executes ``evframe serve``, which resumes from the state file.  An invalid
set is refused once and the running set keeps serving.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from evframe import discovery
from evframe.config import Config
from evframe.daemon.clock import Clock
from evframe.errors import HandlerSetError, RegistrationError
from evframe.processor import Processor
from evframe.quarantine import report_quarantine

__all__ = ["Reloader", "announce", "load_handler_set", "watching"]

log = logging.getLogger("evframe.daemon")

# How long the installed handler packages must stay unchanged before a reload.
SETTLE = 1.0

Fingerprints = Callable[[str], dict[str, str]]
Validate = Callable[[str], discovery.Validation]


class Reloader:
    """Watches the fingerprints of the installed handlers of ``group``."""

    def __init__(
        self,
        group: str,
        clock: Clock,
        *,
        interval: float,
        current: Mapping[str, str],
        fingerprints: Fingerprints = discovery.fingerprints,
        validate: Validate = discovery.validate_in_subprocess,
    ) -> None:
        self.group = group
        self.clock = clock
        self.interval = interval
        self.current = dict(current)
        self._fingerprints = fingerprints
        self._validate = validate
        self._refused: dict[str, str] | None = None
        self._changing: tuple[dict[str, str], float] | None = None
        self._last_check = clock.monotonic()

    def due(self, *, forced: bool = False) -> discovery.Validation | None:
        """A validated new handler set to restart onto, or None.

        Looks at most every ``interval`` seconds (never with ``interval <= 0``)
        unless ``forced`` (SIGHUP), which also skips the settling time.
        """
        now = self.clock.monotonic()
        # While a change is settling, look again sooner than the interval.
        wait = min(self.interval, SETTLE / 2) if self._changing is not None else self.interval
        if not forced and (self.interval <= 0 or now - self._last_check < wait):
            return None
        self._last_check = now
        found = self._fingerprints(self.group)
        if not forced:
            if found in (self.current, self._refused):
                self._changing = None
                return None
            # pip removes the old files before it writes the new ones: a set read in
            # the middle of an install can hold old code under the new version's
            # name.  Reload once the installed set has stayed the same for a moment.
            if self._changing is None or self._changing[0] != found:
                self._changing = (found, now)
                return None
            if now - self._changing[1] < SETTLE:
                return None
        self._changing = None
        log.info("handler packages changed: checking the new handler set")
        result = self._validate(self.group)
        if not result.ok:
            reasons = "; ".join([*([result.error] if result.error else []), *result.load_errors])
            log.error("new handler set refused, the previous one keeps running: %s", reasons)
            self._refused = found
            return None
        if result.load_errors:
            for error in result.load_errors:
                log.error("%s", error)
        self._refused = None
        return result


def watching(
    config: Config, fingerprints: Fingerprints, validate: Validate
) -> tuple[Fingerprints, Validate]:
    """``fingerprints`` and ``validate`` extended to the ``[classic] paths`` plugin files,
    so an edited, new or deleted plugin file reloads the handler set like a package."""
    paths = config.classic.paths
    if not paths:
        return fingerprints, validate
    from evframe.classic.loader import fingerprints as plugin_fingerprints

    def with_plugins(group: str) -> dict[str, str]:
        return {**fingerprints(group), **plugin_fingerprints(paths)}

    def validate_with_plugins(group: str) -> discovery.Validation:
        if validate is discovery.validate_in_subprocess:
            return discovery.validate_in_subprocess(group, classic=paths)
        return validate(group)

    return with_plugins, validate_with_plugins


def load_handler_set(config: Config, sg_factory: Callable[[str], Any]) -> Processor:
    """The installed handlers of ``daemon.group`` and the ``[classic]`` plugins, validated;
    packages and plugins that fail to load are logged and left out, handlers a cycle or
    a missing requirement makes unsafe are quarantined (logged at ERROR, left out, kept
    in ``processor.quarantined``); a set that is still invalid raises
    :class:`HandlerSetError`."""
    group = config.daemon.group
    processor = Processor(
        config=lambda name: config.handler(name).config,
        sg_factory=sg_factory,
        max_followups=config.daemon.max_followups,
    )
    try:
        if config.classic.paths:
            # Before the packages: native handlers may @requires a classic callback.
            from evframe.classic.adapter import register_classic

            plugins = register_classic(processor, config, logs=True)
            for warning in plugins.warnings:
                log.warning("%s", warning)
            for plugin_error in plugins.errors:
                log.error("%s", plugin_error)
        processor.load_from(group, strict=False)
    except RegistrationError as exc:
        raise HandlerSetError(f"the installed handler set is invalid: {exc}") from exc
    for error in processor.load_errors:
        log.error("%s", error)
    report_quarantine(processor.quarantined)
    if not processor.names:
        log.warning("no handlers found in entry-point group %r: install a handler package", group)
    return processor


def announce(new_set: discovery.Validation, running: Iterable[str]) -> None:
    """Log what a restart onto ``new_set`` changes."""
    before, after = set(running), set(new_set.names)
    held = sorted(new_set.quarantined)
    added, removed = after - before, before - after - set(held)
    log.info(
        "new handler set is valid: %d handler(s)%s%s%s; restarting to load it",
        len(after),
        f", added {', '.join(sorted(added))}" if added else "",
        f", removed {', '.join(sorted(removed))}" if removed else "",
        f", quarantined {', '.join(held)}" if held else "",
    )
