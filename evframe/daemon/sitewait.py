"""Site trouble inside a handler's own ``ctx.sg`` call is not the handler's failure.

A dropped connection, a socket timeout, a 503 during maintenance or a 502/504 from
a proxy says nothing about the handler: the same call works once the site is back.
Such errors wait for the site with the poller's backoff and the handler runs again
on the same event; only the handler's own errors (its exceptions, and the ``Fault``
replies in which the site refused the request) count against its ``on_error``
policy.
"""

from __future__ import annotations

import http.client
import logging
import threading
from types import TracebackType
from xmlrpc.client import ProtocolError

from shotgun_api3.lib.httplib2 import HttpLib2Error
from shotgun_api3.shotgun import Fault

from evframe.daemon.clock import Clock, SystemClock
from evframe.event import Event
from evframe.handler import backoff
from evframe.site import describe_error

__all__ = ["SiteWait", "is_site_trouble"]

log = logging.getLogger("evframe.daemon")

# What a connection or the HTTP layer raises; it counts as site trouble only when
# it comes out of shotgun_api3 (a handler's own OSError writing a file is its own).
_TRANSPORT = (OSError, http.client.HTTPException, HttpLib2Error, ProtocolError)
_CLIENT = "shotgun_api3"


def _from_client(tb: TracebackType | None) -> bool:
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if isinstance(module, str) and module.startswith(_CLIENT):
            return True
        tb = tb.tb_next
    return False


def is_site_trouble(exc: BaseException) -> bool:
    """Whether ``exc``, raised out of a handler, is the site's trouble.

    That is a connection or protocol error raised inside ``shotgun_api3``: refused
    or dropped connections, socket timeouts, TLS and DNS failures, and every HTTP
    error status (503 maintenance, 502/504 from a proxy, 500).  A ``Fault`` (the
    site answered, refusing the request: bad filters, permissions, credentials)
    and anything the handler raised itself are the handler's.
    """
    if isinstance(exc, ProtocolError):
        return _from_client(exc.__traceback__)
    if isinstance(exc, Fault) or not isinstance(exc, _TRANSPORT):
        return False
    return _from_client(exc.__traceback__)


class SiteWait:
    """Waits out site trouble met by handler calls, then lets the handler run again.

    The wait before each new call doubles from ``base`` to ``cap`` with jitter
    (:func:`evframe.handler.backoff`, as the poller's :class:`~evframe.site.SiteGuard`),
    counted per handler call: the first blip of a call waits about ``base``.  One
    warning per call in trouble, an error once it has lasted ``error_after``
    seconds, one line when the call got through.
    """

    def __init__(
        self,
        stop: threading.Event,
        *,
        clock: Clock | None = None,
        base: float = 0.5,
        cap: float = 30.0,
        error_after: float = 300.0,
    ) -> None:
        self.stop = stop
        self.clock: Clock = clock or SystemClock()
        self.base = base
        self.cap = cap
        self.error_after = error_after
        self.waits = 0
        # The handler call in trouble: (name, event), since when, waits so far, errored.
        self._call: tuple[str, Event] | None = None
        self._since = 0.0
        self._step = 0
        self._errored = False

    def done(self) -> None:
        """The call in trouble got through (or failed on its own): say so once."""
        call = self._call
        if call is None:
            return
        self._call = None
        log.info(
            "handler %s ran on event %s again after %.1f s of site trouble",
            call[0],
            getattr(call[1], "id", call[1]),
            self.clock.monotonic() - self._since,
        )

    def wait(self, name: str, event: Event, exc: Exception) -> bool:
        """Wait before the handler runs again; False if a stop came first."""
        now = self.clock.monotonic()
        event_id = getattr(event, "id", event)
        reason = describe_error(exc)
        call = self._call
        if call is None or call[0] != name or call[1] is not event:
            self.done()
            self._call, self._since, self._step, self._errored = (name, event), now, 0, False
            log.warning(
                "handler %s met site trouble on event %s: %s; not a handler failure: "
                "waiting for the site, then running it again",
                name,
                event_id,
                reason,
                extra={"handler": name, "event_id": event_id},
            )
        elif not self._errored and now - self._since >= self.error_after:
            self._errored = True
            log.error(
                "handler %s has waited %.0f s for the site on event %s: %s; still waiting",
                name,
                now - self._since,
                event_id,
                reason,
                extra={"handler": name, "event_id": event_id},
            )
        delay = backoff(self._step, self.base, self.cap)
        self._step = min(self._step + 1, 16)
        self.waits += 1
        return not self.clock.wait(self.stop, delay)
