"""The :class:`Context` a handler gets as its first argument."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evframe.processor import Processor

__all__ = ["Context"]


class Context:
    """What a handler gets as its first argument.

    ``processor``, ``name``, ``log`` (logger ``evframe.handler.<name>``),
    ``config`` (the handler's options, read-only) and ``sg`` (a
    ``shotgun_api3.Shotgun`` for the handler's credentials, made on first use
    and reused).
    """

    __slots__ = ("_sg", "_sg_made", "config", "log", "name", "processor")

    def __init__(self, processor: Processor, name: str, config: Mapping[str, Any]) -> None:
        self.processor = processor
        self.name = name
        self.log = logging.getLogger(f"evframe.handler.{name}")
        self.config: Mapping[str, Any] = config
        self._sg: Any = None
        self._sg_made = False

    @property
    def sg(self) -> Any:
        """The site connection for this handler (``shotgun_api3.Shotgun``)."""
        if not self._sg_made:
            factory = self.processor.sg_factory
            if factory is None:
                raise RuntimeError(
                    f"handler {self.name!r} used ctx.sg, but this Processor has no site "
                    "connection: pass sg_factory= to Processor (the daemon does), or give "
                    "one in tests with evframe.testing"
                )
            self._sg = factory(self.name)
            self._sg_made = True
        return self._sg

    @sg.setter
    def sg(self, value: Any) -> None:
        self._sg = value
        self._sg_made = True

    def __repr__(self) -> str:
        return f"<Context {self.name}>"
