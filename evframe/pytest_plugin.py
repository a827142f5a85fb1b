"""The evframe pytest plugin (enabled automatically once evframe is installed).

Fixtures:

- ``evframe_processor``: a factory ``evframe_processor(*handlers, config=None, sg=None)``
  returning a finalized :class:`~evframe.Processor`.
- ``evframe_events``: the :mod:`evframe.testing` module, for building events.
- ``evframe_sandbox``: a running :class:`evframe.sandbox.Sandbox` with demo data,
  on a free loopback port, stopped after the test.
- ``evframe_sg``: a ``shotgun_api3.Shotgun`` logged in to ``evframe_sandbox``; pass it
  as ``sg=`` to :func:`evframe.testing.run_handler`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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


@pytest.fixture
def evframe_sandbox() -> Iterator[Any]:
    """A local site with demo data (see ``evframe sandbox``), for integration tests."""
    from evframe.sandbox import Sandbox

    with Sandbox(seed="demo", scripts={"evframe_test": "evframe-test-key"}) as sandbox:
        yield sandbox


@pytest.fixture
def evframe_sg(evframe_sandbox: Any) -> Iterator[Any]:
    """A ``shotgun_api3.Shotgun`` connected to ``evframe_sandbox``."""
    sg = evframe_sandbox.client("evframe_test")
    sg.config.timeout_secs = 30
    yield sg
    sg.close()


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "evframe: tests of evframe handlers")
