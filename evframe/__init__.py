"""evframe: event handlers for Flow Production Tracking sites."""

from __future__ import annotations

import logging

__version__ = "0.1.0"

# A library configures no logging; the CLI does.
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["__version__"]
