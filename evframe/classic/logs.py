"""The classic plugin loggers: into the daemon's log, one file per plugin, mail per plugin.

A plugin logs to ``plugin.<file stem>`` (its callbacks to
``plugin.<file stem>.<callback name>``), as with the classic daemon.  Those
loggers are outside the ``evframe`` tree the CLI configures, so this module
gives them: the daemon's own sinks (mail aside), a file
``<log_dir>/plugin.<file stem>`` rotated at midnight like the classic
``logMode = 1``, and error mail to the addresses the plugin gave
``reg.setEmails`` (``True``, the default: the ``[logging.email]`` recipients;
``False``: none).  Only the daemon calls it, right after loading the plugins.
"""

from __future__ import annotations

import dataclasses
import logging
import logging.handlers
import os
from collections.abc import Sequence

from evframe._logsetup import RedactingFilter, SSLSMTPHandler
from evframe.classic.loader import Plugin
from evframe.config import Config

__all__ = ["configure_plugin_logs"]

CLASSIC_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
_MARK = "_evframe_classic_sink"


class _ToDaemonLog(logging.Handler):
    """Hands a plugin's records to the daemon's sinks (not its mail: see setEmails)."""

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "evframe_classic_own", False):
            return  # a failure the daemon logs itself
        for sink in logging.getLogger("evframe").handlers:
            if not isinstance(sink, logging.handlers.SMTPHandler) and record.levelno >= sink.level:
                sink.handle(record)


def _mail(plugin: Plugin, config: Config) -> logging.Handler | None:
    email = config.logging.email
    if plugin.emails is False or email is None:
        return None
    recipients = email.to if plugin.emails is True else plugin.emails
    if not recipients:
        return None
    handler = SSLSMTPHandler(dataclasses.replace(email, to=tuple(recipients)))
    handler.setLevel(logging.ERROR)
    return handler


def configure_plugin_logs(plugins: Sequence[Plugin], config: Config) -> None:
    """Give each plugin's logger its sinks, replacing those an earlier call gave it."""
    level = logging.getLogger("evframe").getEffectiveLevel()
    for plugin in plugins:
        logger = plugin.logger
        for old in [h for h in logger.handlers if getattr(h, _MARK, False)]:
            logger.removeHandler(old)
            old.close()
        sinks: list[logging.Handler] = [_ToDaemonLog()]
        log_dir = config.classic.log_dir
        if log_dir is not None:
            sink: logging.Handler = logging.handlers.TimedRotatingFileHandler(
                os.path.join(log_dir, f"plugin.{plugin.stem}"),
                "midnight",
                backupCount=config.classic.log_backups,
                encoding="utf-8",
            )
            sink.setFormatter(logging.Formatter(CLASSIC_FORMAT))
            sinks.append(sink)
        mail = _mail(plugin, config)
        if mail is not None:
            mail.setFormatter(logging.Formatter(CLASSIC_FORMAT))
            sinks.append(mail)
        redactor = RedactingFilter(config.secrets())
        for sink in sinks:
            sink.addFilter(redactor)
            setattr(sink, _MARK, True)
            logger.addHandler(sink)
        logger.setLevel(level)
        logger.propagate = False
