"""What ``serve`` runs beside the daemon: alert mail, counters, the status snapshot and
the metrics listener (when ``[metrics] listen`` is set)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from evframe.alerts import Alerter
from evframe.config import Config
from evframe.daemon.observe import Fanout, Observer, Recoveries
from evframe.daemon.stats import Stats
from evframe.daemon.status import StatusFile, snapshot_path

__all__ = ["alerter_for", "operations"]


def alerter_for(config: Config) -> Alerter | None:
    """The alert mail of ``[logging.email]``, each handler's to its ``alert_to``."""
    email = config.logging.email
    if email is None:
        return None
    return Alerter(email, lambda name: config.handler(name).alert_to)


@contextlib.contextmanager
def operations(config: Config, alerter: Alerter | None) -> Iterator[Observer]:
    """The daemon's observer; the metrics listener runs while in the block."""
    stats = Stats(config, alerter)
    server = None
    if config.metrics.listen:
        # Imported only when asked for: prometheus_client stays out of every other command.
        from evframe.daemon.metrics import MetricsServer

        server = MetricsServer(config.metrics.listen, stats).start()
    path = snapshot_path(config.daemon.state)
    listen = server.url if server is not None else None
    observers: list[Observer] = [stats, StatusFile(stats, path, alerter=alerter, listen=listen)]
    if alerter is not None:
        observers.append(Recoveries(alerter))
    try:
        yield Fanout(observers)
    finally:
        if server is not None:
            server.stop()
