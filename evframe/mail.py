"""Sending one mail with the ``[logging.email]`` settings (STARTTLS or SMTP over TLS,
certificates verified against the system's trust store, optional login)."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate

from evframe.config import EmailConfig

__all__ = ["message", "send_mail"]


def message(email: EmailConfig, to: Sequence[str], subject: str, body: str) -> EmailMessage:
    """A plain-text mail from ``email.sender``."""
    msg = EmailMessage()
    msg["From"] = email.sender
    msg["To"] = ",".join(to)
    # A subject is one line: a header with a newline in it is refused.
    msg["Subject"] = " ".join(subject.split())
    msg["Date"] = formatdate(localtime=True)
    msg.set_content(body)
    return msg


def send_mail(email: EmailConfig, msg: EmailMessage) -> None:
    """Send ``msg`` through the configured server; raises OSError/SMTPException on failure."""
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if email.ssl:
        smtp = smtplib.SMTP_SSL(email.host, email.port, timeout=email.timeout, context=context)
    else:
        smtp = smtplib.SMTP(email.host, email.port, timeout=email.timeout)
    with smtp:
        if email.tls:
            smtp.ehlo()
            smtp.starttls(context=context)
            smtp.ehlo()
        if email.username:
            smtp.login(email.username, email.password or "")
        smtp.send_message(msg)
