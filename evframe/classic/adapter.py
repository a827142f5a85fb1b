"""Classic callbacks registered on a :class:`~evframe.Processor` as ordinary handlers.

Each callback becomes the handler ``<file stem>.<callback name>``, a function
``handler(ctx, event)`` that calls ``callback(sg, logger, event.record, args)``
with its own ``shotgun_api3.Shotgun`` (made from the callback's script name and
key on its first call).  Its spec carries:

- a filter: the classic ``matchEvents`` rule (:mod:`evframe.classic.matching`);
- a failure policy: ``stopOnError=True`` is ``stop``, ``False`` is ``skip``;
- the classic order: each callback *follows* the one registered before it, and
  a plugin's first callback follows the previous plugin's last one (folders in
  config order, files alphabetically).  Following orders only: one plugin's
  failure never skips or pauses another.  A callback registered after one with
  ``stopOnError=True`` *requires* it (the classic daemon stops the rest of the
  plugin for that event); the callbacks of one plugin are *linked*, so the plugin
  is paused and resumed as one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from evframe.classic.loader import Plugin, Plugins, load_plugins
from evframe.classic.matching import event_types, match_warnings, matches
from evframe.classic.registrar import Callback
from evframe.filters import Want
from evframe.handler import SPEC_ATTR, HandlerSpec, Policy

if TYPE_CHECKING:
    from evframe.config import Config
    from evframe.context import Context
    from evframe.event import Event
    from evframe.processor import Processor

__all__ = [
    "Connect",
    "classic_handler",
    "match_warnings_of",
    "register_classic",
    "register_plugins",
    "site_connect",
]

Connect = Callable[[str, str], Any]
CLASSIC_ATTR = "__evframe_classic__"


def site_connect(config: Config) -> Connect:
    """``connect(script_name, key)`` making a ``Shotgun`` for the configured site (no request)."""

    def connect(script_name: str, api_key: str) -> Any:
        from evframe.site import make_shotgun

        site = config.site
        if not site.url:
            raise RuntimeError("no site URL configured for classic plugin connections")
        return make_shotgun(
            site.url,
            script_name,
            api_key,
            timeout=site.timeout,
            http_proxy=site.http_proxy,
            ca_certs=site.ca_certs,
            rpc_attempts=3,
        )

    return connect


def classic_handler(plugin: Plugin, callback: Callback, connect: Connect) -> Callable[..., Any]:
    """The handler function of one callback (its spec is attached by the caller)."""
    logger = logging.getLogger(f"{plugin.logger.name}.{callback.name}")
    function, args = callback.function, callback.args
    made: list[Any] = []
    lock = threading.Lock()

    def handler(ctx: Context, event: Event) -> None:
        if not made:
            with lock:
                if not made:
                    made.append(connect(callback.script_name, callback.script_key))
        record = getattr(event, "record", None)
        if record is None:
            return  # classic callbacks only take EventLogEntry rows
        try:
            function(made[0], logger, record, args)
        except Exception:
            # The plugin's own sinks (its log file, its mail) hear of it as they did;
            # the daemon logs and applies the policy when it re-raises.
            logger.critical(
                "An error occured processing an event.", exc_info=True,
                extra={"evframe_classic_own": True},
            )  # fmt: skip
            raise

    handler.__name__ = callback.name
    handler.__qualname__ = f"{plugin.stem}.{callback.name}"
    handler.__module__ = plugin.module.__name__
    setattr(handler, CLASSIC_ATTR, (plugin, callback))
    return handler


def _want(match_events: Any) -> list[Want]:
    if not match_events:
        return []

    def predicate(event: Event) -> bool:
        return matches(match_events, getattr(event, "record", {}))

    predicate.__qualname__ = f"matchEvents={match_events!r:.120}"
    types = event_types(match_events)
    return [Want(names=frozenset(types or ()), predicates=(predicate,))]


def register_plugins(
    processor: Processor, plugins: Sequence[Plugin], connect: Connect
) -> list[str]:
    """Register every callback of ``plugins`` (in the classic order) on ``processor``;
    returns the handler names."""
    names: list[str] = []
    previous: str | None = None
    for plugin in plugins:
        stoppers: list[str] = []
        first = True
        for callback in plugin.callbacks:
            name = f"{plugin.stem}.{callback.name}"
            spec = HandlerSpec(
                wants=_want(callback.match_events),
                on_error=Policy.STOP if callback.stop_on_error else Policy.SKIP,
                requires=set(stoppers),
                follows={previous} if previous else set(),
                linked=set() if first else {previous} if previous else set(),
                # As in shotgunEvents, a plugin sees every event, its own script's too.
                own_writes=True,
            )
            func = classic_handler(plugin, callback, connect)
            setattr(func, SPEC_ATTR, spec)
            processor.register(func, name, source=plugin.source)
            names.append(name)
            if callback.stop_on_error:
                stoppers.append(name)
            previous = name
            first = False
    return names


def register_classic(
    processor: Processor, config: Config, *, connect: Connect | None = None, logs: bool = False
) -> Plugins:
    """Load the plugins of ``[classic] paths`` and register their callbacks on
    ``processor``.  ``logs`` also sets up their loggers (the daemon does)."""
    prepare = None
    if logs:
        from evframe.classic.logs import configure_plugin_logger, configure_plugin_logs

        def prepare(logger: logging.Logger, stem: str) -> None:
            configure_plugin_logger(logger, stem, True, config)

    found = load_plugins(config.classic.paths, prepare)
    register_plugins(processor, found.plugins, connect or site_connect(config))
    if logs:
        configure_plugin_logs(found.plugins, config)
    found.warnings += match_warnings_of(found.plugins)
    return found


def match_warnings_of(plugins: Sequence[Plugin]) -> list[str]:
    """The classic ``matchEvents`` quirks each callback relies on (``evframe check``)."""
    return [
        f"{plugin.stem}.{callback.name}: {text}"
        for plugin in plugins
        for callback in plugin.callbacks
        for text in match_warnings(callback.match_events)
    ]
