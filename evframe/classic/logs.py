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
from evframe.alerts import AlertHandler
from evframe.classic.loader import Plugin
from evframe.config import Config

__all__ = ["configure_plugin_logger", "configure_plugin_logs"]

CLASSIC_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
_MARK = "_evframe_classic_sink"


class _ToDaemonLog(logging.Handler):
    """Hands a plugin's records to the daemon's sinks (not its mail: see setEmails)."""

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "evframe_classic_own", False):
            return  # a failure the daemon logs itself
        for sink in logging.getLogger("evframe").handlers:
            mails = isinstance(sink, (logging.handlers.SMTPHandler, AlertHandler))
            if not mails and record.levelno >= sink.level:
                sink.handle(record)


def _mail(emails: bool | tuple[str, ...], config: Config) -> logging.Handler | None:
    email = config.logging.email
    if emails is False or email is None:
        return None
    recipients = email.to if emails is True else emails
    if not recipients:
        return None
    handler = SSLSMTPHandler(dataclasses.replace(email, to=tuple(recipients)))
    handler.setLevel(logging.ERROR)
    return handler


def configure_plugin_logger(
    logger: logging.Logger, stem: str, emails: bool | tuple[str, ...], config: Config
) -> None:
    """Give one plugin's logger its sinks, replacing those an earlier call gave it."""
    for old in [h for h in logger.handlers if getattr(h, _MARK, False)]:
        logger.removeHandler(old)
        old.close()
    sinks: list[logging.Handler] = [_ToDaemonLog()]
    log_dir = config.classic.log_dir
    if log_dir is not None:
        sink: logging.Handler = logging.handlers.TimedRotatingFileHandler(
            os.path.join(log_dir, f"plugin.{stem}"),
            "midnight",
            backupCount=config.classic.log_backups,
            encoding="utf-8",
        )
        sink.setFormatter(logging.Formatter(CLASSIC_FORMAT))
        sinks.append(sink)
    mail = _mail(emails, config)
    if mail is not None:
        mail.setFormatter(logging.Formatter(CLASSIC_FORMAT))
        sinks.append(mail)
    redactor = RedactingFilter(config.secrets())
    for sink in sinks:
        sink.addFilter(redactor)
        setattr(sink, _MARK, True)
        logger.addHandler(sink)
    logger.setLevel(logging.getLogger("evframe").getEffectiveLevel())
    logger.propagate = False


def configure_plugin_logs(plugins: Sequence[Plugin], config: Config) -> None:
    """Each plugin's sinks, with the mail recipients it chose in ``registerCallbacks``."""
    for plugin in plugins:
        configure_plugin_logger(plugin.logger, plugin.stem, plugin.emails, config)
