"""evframe: event handlers for Flow Production Tracking sites.

Handlers are plain functions ``handler(ctx, event)`` in pip-installable
packages, found through the entry-point group ``evframe.handlers``.
"""

from __future__ import annotations

import logging

from evframe.errors import CredentialsError as CredentialsError
from evframe.errors import CycleError as CycleError
from evframe.errors import DuplicateHandlerError as DuplicateHandlerError
from evframe.errors import EvframeError as EvframeError
from evframe.errors import FollowupLimitError as FollowupLimitError
from evframe.errors import HandlerError as HandlerError
from evframe.errors import HandlerLoadError as HandlerLoadError
from evframe.errors import HandlerReturnError as HandlerReturnError
from evframe.errors import HandlerSetError as HandlerSetError
from evframe.errors import RegistrationError as RegistrationError
from evframe.errors import StopProcessing as StopProcessing
from evframe.errors import UnknownRequirementError as UnknownRequirementError
from evframe.event import Event as Event
from evframe.event import ShotgunEvent as ShotgunEvent
from evframe.handler import Outcome as Outcome
from evframe.handler import Policy as Policy
from evframe.handler import RetryPolicy as RetryPolicy
from evframe.handler import Status as Status
from evframe.handler import on_error as on_error
from evframe.handler import order as order
from evframe.handler import own_writes as own_writes
from evframe.handler import required_by as required_by
from evframe.handler import requires as requires
from evframe.handler import want as want
from evframe.processor import Context as Context
from evframe.processor import HandlerResult as HandlerResult
from evframe.processor import Processor as Processor
from evframe.processor import Report as Report

__version__ = "0.1.0"

# A library configures no logging; the CLI does.
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "Context",
    "CredentialsError",
    "CycleError",
    "DuplicateHandlerError",
    "Event",
    "EvframeError",
    "FollowupLimitError",
    "HandlerError",
    "HandlerLoadError",
    "HandlerResult",
    "HandlerReturnError",
    "HandlerSetError",
    "Outcome",
    "Policy",
    "Processor",
    "RegistrationError",
    "Report",
    "RetryPolicy",
    "ShotgunEvent",
    "Status",
    "StopProcessing",
    "UnknownRequirementError",
    "__version__",
    "on_error",
    "order",
    "own_writes",
    "required_by",
    "requires",
    "want",
]
