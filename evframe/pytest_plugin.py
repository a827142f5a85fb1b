"""The evframe pytest plugin (enabled automatically once evframe is installed).

Fixtures:

- ``evframe_processor``: a factory ``evframe_processor(*handlers, config=None, sg=None)``
  returning a finalized :class:`~evframe.Processor`.
- ``evframe_events``: the :mod:`evframe.testing` module, for building events.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from evframe import testing
from evframe.processor import Processor


@pytest.fixture
def evframe_processor() -> Callable[..., Processor]:
    """Make a Processor from handler functions: ``evframe_processor(h1, h2, config=...)``."""
    return testing.make_processor


@pytest.fixture
def evframe_events() -> ModuleType:
    """The :mod:`evframe.testing` helpers (``change_event``, ``new_event``, ...)."""
    return testing


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "evframe: tests of evframe handlers")
