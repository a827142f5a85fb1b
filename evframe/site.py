"""Connections to the site, and riding out its trouble.

The daemon's own requests never use ``shotgun_api3``'s built-in retries (which
sleep where the daemon cannot be stopped); :class:`SiteGuard` retries instead,
with capped exponential backoff and full jitter, forever, and logs once per
change of state rather than once per attempt.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar
from xmlrpc.client import ProtocolError

from shotgun_api3.shotgun import AuthenticationFault, Shotgun

from evframe.config import Config, SiteConfig
from evframe.handler import backoff

__all__ = [
    "Connections",
    "SiteGuard",
    "Stopping",
    "daemon_session",
    "describe_error",
    "handler_credentials",
    "make_shotgun",
    "site_shotgun",
]

log = logging.getLogger("evframe.site")
T = TypeVar("T")


class Stopping(BaseException):
    """Raised inside the daemon to unwind when it was asked to stop while waiting."""


def make_shotgun(
    url: str,
    script_name: str | None,
    api_key: str | None,
    *,
    timeout: float = 30.0,
    http_proxy: str | None = None,
    ca_certs: str | None = None,
    rpc_attempts: int = 1,
) -> Shotgun:
    """A ``shotgun_api3.Shotgun`` that has a socket timeout and does not connect yet."""
    sg = Shotgun(
        url,
        script_name=script_name,
        api_key=api_key,
        connect=False,
        http_proxy=http_proxy,
        ca_certs=ca_certs,
    )
    sg.config.timeout_secs = timeout
    sg.config.max_rpc_attempts = rpc_attempts
    return sg


def site_shotgun(site: SiteConfig, url: str) -> Shotgun:
    """The client for reading ``url``'s event log with the configured script (no retries
    of its own: a :class:`SiteGuard` does them)."""
    return make_shotgun(
        url,
        site.script_name,
        site.api_key,
        timeout=site.timeout,
        http_proxy=site.http_proxy,
        ca_certs=site.ca_certs,
    )


def describe_error(exc: BaseException) -> str:
    """A one-line account of a failed request (never the credentials)."""
    if isinstance(exc, AuthenticationFault):
        return (
            "the site refused the script credentials (check EVFRAME_SCRIPT_NAME and "
            f"EVFRAME_API_KEY): {exc}"
        )
    if isinstance(exc, ProtocolError):
        code = getattr(exc, "errcode", "?")
        if code == 503:
            return "the site is down for maintenance or too busy (HTTP 503)"
        return f"the site answered HTTP {code}"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


class SiteGuard:
    """Calls the site until it answers; logs trouble once per change of state.

    ``attempts`` bounds the calls: the failure of the last one is raised (for a
    command's first contact, where a wrong URL or bad credentials should fail at
    once).  ``None`` retries forever.  ``on_refused(exc)`` is called when the site
    refuses the credentials (it may raise to give up); ``on_answer()`` after each
    request the site answered.  A refusal is logged at ERROR at once: waiting does
    not fix a key, a person must.
    """

    def __init__(
        self,
        stopping: threading.Event,
        *,
        base: float = 0.5,
        cap: float = 30.0,
        error_after: float = 300.0,
        remind_every: float = 600.0,
        attempts: int | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_refused: Callable[[BaseException], None] | None = None,
        on_answer: Callable[[], None] | None = None,
    ) -> None:
        self.stopping = stopping
        self.on_error = on_error
        self.attempts = attempts
        self.on_refused = on_refused
        self.on_answer = on_answer
        self.base = base
        self.cap = cap
        self.error_after = error_after
        self.remind_every = remind_every
        self.down_since: float | None = None
        self._reason: str | None = None
        self._errored = False
        self._last_reminder = 0.0
        self.failures = 0
        self.requests = 0

    def call(self, what: str, func: Callable[[], T]) -> T:
        """``func()``, retried until it succeeds; raises :class:`Stopping` if asked to stop."""
        attempt = calls = 0
        while True:
            if self.stopping.is_set():
                raise Stopping()
            self.requests += 1
            try:
                result = func()
            except Exception as exc:  # every failure of the site is waited out
                self.failures += 1
                if self.on_error is not None:
                    self.on_error(exc)
                calls += 1
                if self.attempts is not None and calls >= self.attempts:
                    raise
                if self.on_refused is not None and isinstance(exc, AuthenticationFault):
                    self.on_refused(exc)
                self._trouble(what, exc)
                delay = backoff(attempt, self.base, self.cap)
                attempt = min(attempt + 1, 16)
                if self.stopping.wait(delay):
                    raise Stopping() from None
                continue
            if self.on_answer is not None:
                self.on_answer()
            if self.down_since is not None:
                log.info(
                    "site reachable again after %.1f s of trouble",
                    time.monotonic() - self.down_since,
                )
                self.down_since = None
                self._reason = None
                self._errored = False
            return result

    def _trouble(self, what: str, exc: BaseException) -> None:
        now = time.monotonic()
        reason = describe_error(exc)
        level = logging.ERROR if isinstance(exc, AuthenticationFault) else logging.WARNING
        if self.down_since is None:
            self.down_since = now
            self._last_reminder = now
            self._reason = reason
            log.log(
                level, "%s failed: %s; retrying with backoff until the site answers", what, reason
            )
            return
        if reason != self._reason:
            self._reason = reason
            log.log(level, "site still unavailable, now: %s", reason)
        down_for = now - self.down_since
        if not self._errored and down_for >= self.error_after:
            self._errored = True
            self._last_reminder = now
            log.error("site unavailable for %.0f s: %s; still retrying", down_for, reason)
        elif self._errored and now - self._last_reminder >= self.remind_every:
            self._last_reminder = now
            log.error("site unavailable for %.0f s: %s; still retrying", down_for, reason)


def handler_credentials(config: Config, name: str) -> tuple[str | None, str | None]:
    """The script name and key handler ``name``'s ``ctx.sg`` uses: its own, else the site's."""
    hcfg = config.handler(name)
    if hcfg.script_name and hcfg.api_key:
        return hcfg.script_name, hcfg.api_key
    return config.site.script_name, config.site.api_key


def daemon_session(config: Config, script: str | None) -> str:
    """The session uuid a daemon sets on its handlers' connections of ``script``.

    The same for every start of the daemon on one state file, so the events its
    handlers' writes cause are known as its own across restarts.
    """
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"evframe:{config.daemon.state}:{script or ''}"))


class Connections:
    """``ctx.sg`` for each handler: one ``Shotgun`` per credential set, made on first use."""

    def __init__(self, config: Config, url: str) -> None:
        self.config = config
        self.url = url
        self._by_creds: dict[tuple[str | None, str | None, bool], Any] = {}
        self._lock = threading.Lock()
        self._session_uuid: str | None = None
        self._session_users: list[Any] = []

    def for_handler(self, name: str) -> Any:
        """The connection handler ``name`` uses: its own credentials, else the daemon's."""
        hcfg = self.config.handler(name)
        creds = handler_credentials(self.config, name)
        # Handlers that pass the event's session on get connections of their own,
        # so the session set for them never leaks into other handlers' requests.
        key = (*creds, hcfg.pass_session_uuid)
        with self._lock:
            sg = self._by_creds.get(key)
            if sg is None:
                site = self.config.site
                # Handlers get the client's own retries (3 attempts): their calls are
                # short, and a handler that still fails is retried by its policy.
                sg = make_shotgun(
                    self.url,
                    creds[0],
                    creds[1],
                    timeout=site.timeout,
                    http_proxy=site.http_proxy,
                    ca_certs=site.ca_certs,
                    rpc_attempts=3,
                )
                self._by_creds[key] = sg
                if hcfg.pass_session_uuid:
                    sg.config.session_uuid = self._session_uuid
                    self._session_users.append(sg)
                else:
                    # Marks the events these writes cause as the daemon's own (own_writes).
                    sg.config.session_uuid = daemon_session(self.config, creds[0])
            return sg

    def close(self) -> None:
        """Close every connection made so far."""
        with self._lock:
            for sg in self._by_creds.values():
                sg.close()
            self._by_creds.clear()
            self._session_users.clear()

    def set_session_uuid(self, session_uuid: str | None) -> None:
        """Give the event's session to the connections of ``pass_session_uuid`` handlers."""
        if session_uuid != self._session_uuid:
            self._session_uuid = session_uuid
            for sg in self._session_users:
                sg.config.session_uuid = session_uuid
