"""A local Flow Production Tracking site for tests and demos (``evframe sandbox``).

It speaks the api3 JSON protocol, so the unmodified ``shotgun_api3`` client
works against it; writes produce EventLogEntry rows the way a site does, and
:class:`Faults` injects latency, maintenance, dropped connections, errors and
late-visible event ids.
"""

from __future__ import annotations

from evframe.sandbox.errors import ApiError as ApiError
from evframe.sandbox.faults import Faults as Faults
from evframe.sandbox.instance import Sandbox as Sandbox
from evframe.sandbox.schema import FieldDef as FieldDef
from evframe.sandbox.schema import Schema as Schema

__all__ = ["ApiError", "Faults", "FieldDef", "Sandbox", "Schema"]
