"""Exceptions raised by evframe."""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "CredentialsError",
    "CycleError",
    "DuplicateHandlerError",
    "EvframeError",
    "FollowupLimitError",
    "HandlerError",
    "HandlerLoadError",
    "HandlerReturnError",
    "HandlerSetError",
    "RegistrationError",
    "StopProcessing",
    "UnknownRequirementError",
]


class _Unset:
    """Sentinel type for "no value given" (``None`` is a value for StopProcessing)."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unset>"


UNSET: Final = _Unset()


class EvframeError(Exception):
    """Base class of every error evframe raises.

    ``exit_code`` is the status the command line exits with when this error
    ends a command.
    """

    exit_code: int = 1


class RegistrationError(EvframeError):
    """A handler set is invalid (found when handlers are registered or finalized)."""


class DuplicateHandlerError(RegistrationError):
    """Two handlers were registered under one name."""

    @classmethod
    def between(cls, name: str, first: str, second: str) -> DuplicateHandlerError:
        """The error for ``name`` coming from both sources ``first`` and ``second``."""
        return cls(
            f"two handlers are named {name!r}: {first} and {second}; "
            "rename one of them (the name is the entry-point name)"
        )


class UnknownRequirementError(RegistrationError):
    """A handler requires (or is required by) a name no handler is registered under."""


class CycleError(RegistrationError):
    """The ``@requires``/``@required_by`` edges form a cycle."""

    def __init__(self, message: str, cycle: list[str]) -> None:
        super().__init__(message)
        self.cycle = cycle


class HandlerLoadError(EvframeError):
    """An entry point could not be loaded (import error, not a function, bad spec).

    ``handler`` is the entry-point name, ``entry_point`` its ``name = value``
    line, ``distribution`` the distribution declaring it, ``cause`` the error.
    """

    def __init__(
        self,
        message: str,
        *,
        handler: str,
        entry_point: str,
        distribution: str | None,
        cause: BaseException,
    ) -> None:
        super().__init__(message)
        self.handler = handler
        self.entry_point = entry_point
        self.distribution = distribution
        self.cause = cause


class HandlerSetError(EvframeError):
    """The installed handler set is invalid (a cycle, an unknown requirement...)."""

    exit_code = 6


class CredentialsError(EvframeError):
    """The site refuses the daemon's script credentials, and the daemon has never been
    let in with them: a configuration mistake rather than a rotated key."""

    exit_code = 7


class HandlerError(EvframeError):
    """A handler misbehaved while processing an event (raised in non-isolating mode)."""


class HandlerReturnError(HandlerError):
    """A handler returned something other than ``None`` or an iterable of events."""


class FollowupLimitError(HandlerError):
    """One root event spawned more follow-up events than allowed (a loop, most likely)."""


class StopProcessing(Exception):
    """Raised by a handler to stop processing the current event.

    Without a value, no further handler runs for the current event, but
    follow-up events already queued still run.  With a value (even ``None``),
    ``Processor.process()`` returns that value at once and queued follow-up
    events are dropped.
    """

    def __init__(self, retval: Any = UNSET) -> None:
        super().__init__("Stop processing")
        self.retval = retval
