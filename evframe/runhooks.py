"""What :meth:`Processor.run <evframe.processor.Processor.run>` tells the one who runs
it about each handler call, so the daemon can time calls and wait out site trouble."""

from __future__ import annotations

from typing import Protocol

from evframe.event import Event

__all__ = ["RunHooks"]


class RunHooks(Protocol):
    """Called by :meth:`Processor.run` around each handler call."""

    def begin(self, name: str, event: Event) -> None:
        """Handler ``name`` is about to be called on ``event`` (again, after a retry)."""
        ...

    def site_trouble(self, exc: Exception) -> bool:
        """Whether ``exc`` is the site's trouble rather than the handler's own error."""
        ...

    def wait_for_site(self, name: str, event: Event, exc: Exception) -> bool:
        """Wait before calling ``name`` on ``event`` again after site trouble ``exc``;
        False if a stop was asked for meanwhile."""
        ...
