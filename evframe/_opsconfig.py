"""The ``[metrics]`` section: the daemon's Prometheus listener and its health checks.

Kept apart from :mod:`evframe.config` (which re-exports it) so that module stays one
screenful per section; the loader treats it like any other section.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evframe._kinds import Mismatch, Number, Text
from evframe._schema import key

if TYPE_CHECKING:
    from evframe._schema import Place

__all__ = ["Listen", "MetricsConfig", "parse_listen"]

LOOPBACK = "127.0.0.1"


def parse_listen(text: str) -> tuple[str, int]:
    """``"host:port"``, ``":port"`` or ``"port"`` as (host, port); no host means loopback.

    Raises ValueError saying what is expected.
    """
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "", text
    host = host.strip("[]")  # "[::1]:9464"
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError("expected HOST:PORT, :PORT or PORT") from None
    if not 0 <= port <= 65535:
        raise ValueError("expected a port between 0 and 65535")
    return host or LOOPBACK, port


class Listen(Text):
    """An address to listen on: ``HOST:PORT``, ``:PORT`` or ``PORT`` (then loopback)."""

    doc = '`"HOST:PORT"`'

    def convert(self, raw: object, at: Place) -> Any:
        value = super().convert(raw, at)
        try:
            parse_listen(value)
        except ValueError as exc:
            raise Mismatch(str(exc).removeprefix("expected ")) from None
        return value


@dataclass(frozen=True)
class MetricsConfig:
    """The daemon's HTTP listener for ``/metrics``, ``/livez`` and ``/readyz`` (``[metrics]``)."""

    listen: str | None = key(
        Listen(), None,
        "Serve Prometheus metrics, `/livez` and `/readyz` here. A port alone (`\"9464\"`, "
        "`\":9464\"`) listens on 127.0.0.1 only; name another address (`\"0.0.0.0:9464\"`) "
        "to be scraped from elsewhere. Unset: no listener.",
        default_doc="none (off)",
    )  # fmt: skip
    stall_after: float = key(
        Number(gt=0), 120.0,
        "`/livez` fails when the loop has not turned (nor the site been tried) for this "
        "many seconds: a handler stuck in a call, a dead loop.",
    )  # fmt: skip
    ready_max_lag: float = key(
        Number(ge=0), 600.0,
        "`/readyz` fails when an active handler is more than this many seconds behind the "
        "site's event log; `0`: lag never makes the daemon unready.",
    )  # fmt: skip
