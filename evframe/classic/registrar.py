"""The ``reg`` object a classic plugin's ``registerCallbacks(reg)`` is given.

It offers exactly what the classic ``Registrar`` does -- ``registerCallback``,
``logger``, ``getLogger()`` and ``setEmails`` -- and raises ``AttributeError``
for anything else, as the classic one does.  Registering makes no request: each
callback's connection is made when it is first called.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Callback", "Registrar", "callback_name"]


@dataclass
class Callback:
    """One ``registerCallback`` call: everything the classic daemon keeps of it."""

    name: str
    script_name: str
    script_key: str
    function: Callable[..., Any]
    match_events: Any = None
    args: Any = None
    stop_on_error: bool = True


def callback_name(function: Any) -> str:
    """A callback's name as the classic daemon finds it: ``__name__``, else the class
    name of a callable instance (the classic daemon added ``_0x<id>``, which changes at
    every start and so cannot name a handler with a cursor)."""
    name = getattr(function, "__name__", None)
    if isinstance(name, str) and name:
        return name
    return type(function).__name__


@dataclass
class _Plugin:
    """What a registrar writes into: the plugin's callbacks, logger and mail setting."""

    stem: str
    logger: logging.Logger
    callbacks: list[Callback] = field(default_factory=list)
    # True: the default recipients; False: no mail; a tuple: these addresses.
    emails: bool | tuple[str, ...] = True


class Registrar:
    """The classic registrar: ``registerCallback``, ``logger``, ``getLogger``, ``setEmails``."""

    __slots__ = ("_plugin",)

    def __init__(self, plugin: _Plugin) -> None:
        self._plugin = plugin

    @property
    def logger(self) -> logging.Logger:
        """The plugin's logger, ``plugin.<file stem>``."""
        return self._plugin.logger

    def getLogger(self) -> logging.Logger:
        """The plugin's logger (the same as :attr:`logger`)."""
        return self._plugin.logger

    def setEmails(self, *emails: Any) -> None:
        """Where this plugin's error mail goes: ``False`` none, ``True`` the default
        recipients, otherwise these addresses."""
        if emails == (False,):
            self._plugin.emails = False
        elif emails == (True,):
            self._plugin.emails = True
        else:
            for address in emails:
                if not isinstance(address, str):
                    raise TypeError(f"setEmails() takes True, False or addresses, got {address!r}")
            self._plugin.emails = tuple(emails)

    def registerCallback(
        self,
        sgScriptName: str,
        sgScriptKey: str,
        callback: Callable[..., Any],
        matchEvents: Any = None,
        args: Any = None,
        stopOnError: bool = True,
    ) -> None:
        """Call ``callback(sg, logger, event, args)`` for the events ``matchEvents``
        matches, with a connection made from ``sgScriptName`` and ``sgScriptKey``."""
        if not callable(callback):
            raise TypeError(
                "The callback must be a callable object (function, method or callable class "
                "instance)."
            )
        taken = {c.name for c in self._plugin.callbacks}
        base = name = callback_name(callback)
        n = 1
        # One function registered twice (say with other args) is two handlers.
        while name in taken:
            n += 1
            name = f"{base}.{n}"
        self._plugin.callbacks.append(
            Callback(name, sgScriptName, sgScriptKey, callback, matchEvents, args, stopOnError)
        )

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"type object 'Registrar' has no attribute '{name}'")
