"""Telling a wrong API key from a rotated one.

A daemon that the site has never let in with its script credentials is
misconfigured: retrying cannot help, so it exits with a message and its own exit
code (:class:`~evframe.errors.CredentialsError`, 7).  Once the site has answered
it, the state file remembers the script, and a later refusal (the key was rotated
on the site) is site trouble: retried with backoff and logged at ERROR, so the
operator is alerted while the daemon waits for the new key.
"""

from __future__ import annotations

from typing import Any

from evframe.errors import CredentialsError
from evframe.site import describe_error
from evframe.state import State

__all__ = ["CredentialsWatch"]


class CredentialsWatch:
    """Hooks for a :class:`~evframe.site.SiteGuard` (``on_refused``, ``on_answer``)
    over the state file the daemon opens (:meth:`attach`)."""

    def __init__(self, script_name: str | None) -> None:
        self.script_name = script_name
        self.state: State | None = None
        self.known_good = False
        self._remembered = False

    def attach(self, state: State) -> None:
        """Read from ``state`` whether these credentials ever worked."""
        self.state = state
        self.known_good = self._remembered = state.authenticated(self.script_name)

    def hooks(self) -> dict[str, Any]:
        """The keyword arguments that hook this into a ``SiteGuard``."""
        return {"on_refused": self.refused, "on_answer": self.answered}

    def answered(self) -> None:
        """The site answered: the credentials work (written once, in the open transaction)."""
        if not self._remembered and self.state is not None:
            self.state.remember_authenticated(self.script_name)
            self._remembered = self.known_good = True

    def refused(self, exc: BaseException) -> None:
        """The site refused the credentials: give up unless they ever worked."""
        if self.known_good:
            return
        raise CredentialsError(
            f"{describe_error(exc)}. The daemon has never been let in with script "
            f"{self.script_name!r} (per its state file), so this is taken for a mistake in "
            "the configuration rather than a rotated key: set the script name and key "
            "([site] script_name and api_key_env, or EVFRAME_SCRIPT_NAME and "
            "EVFRAME_API_KEY) and start again. Once the daemon has read the event log "
            "with them, a later refusal is retried with backoff instead."
        ) from exc
