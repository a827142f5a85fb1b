"""The event daemon behind ``evframe serve``.

- :mod:`~evframe.daemon.core`: the loop, its pacing and commits (:class:`Daemon`);
- :mod:`~evframe.daemon.source`: where rows come from (the site's event log);
- :mod:`~evframe.daemon.roster`: the handler table and the rule "who gets event N";
- :mod:`~evframe.daemon.gaps`: ids not visible yet;
- :mod:`~evframe.daemon.reload`: noticing and checking new handler code;
- :mod:`~evframe.daemon.executor`: running one event's handler chain (inline, threads;
  :mod:`~evframe.daemon.procpool` worker processes, :mod:`~evframe.daemon.remote` Celery);
- :mod:`~evframe.daemon.flight`, :mod:`~evframe.daemon.ledger`, :mod:`~evframe.daemon.jobs`:
  chains in flight, their order keys, cursors as low watermarks;
- :mod:`~evframe.daemon.clock`: time, handed in so tests can move it.
"""

from __future__ import annotations

from evframe.daemon.clock import Clock as Clock
from evframe.daemon.clock import SystemClock as SystemClock
from evframe.daemon.core import Daemon as Daemon
from evframe.daemon.core import RunResult as RunResult
from evframe.daemon.source import EventSource as EventSource
from evframe.daemon.source import SiteSource as SiteSource
from evframe.errors import HandlerSetError as HandlerSetError
from evframe.event import EVENT_FIELDS as EVENT_FIELDS

__all__ = [
    "EVENT_FIELDS",
    "Clock",
    "Daemon",
    "EventSource",
    "HandlerSetError",
    "RunResult",
    "SiteSource",
    "SystemClock",
]
