"""Secret redaction: every secret value of a config replaced by ``***`` in a text.

Used by every log sink (:mod:`evframe._logsetup`) and by the command line's output, so a
secret — API keys, the SMTP password, a password inside ``site.http_proxy`` — never reaches a
log line or a terminal, in any of the forms it takes in a ``repr`` or a URL.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evframe.config import Config

__all__ = ["mask_proxy", "proxy_password", "redact", "redact_secrets"]


def redact(text: str, config: Config) -> str:
    """``text`` with every secret value of ``config`` replaced by ``***``."""
    return redact_secrets(text, config.secrets())


def redact_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every one of ``secrets`` replaced by ``***``.

    Also replaces the forms a secret takes in a ``repr`` (escaped) and in a URL (quoted), since
    tracebacks and request logs show those.
    """
    for secret in _variants(secrets):
        if secret in text:
            text = text.replace(secret, "***")
    return text


def _variants(secrets: Iterable[str]) -> list[str]:
    """Each secret as written, escaped as in a ``repr`` and quoted as in a URL; longest first."""
    variants: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        variants.add(secret)
        variants.add(repr(secret)[1:-1])
        variants.add(urllib.parse.quote(secret, safe=""))
        variants.add(urllib.parse.quote_plus(secret))
    return sorted(variants, key=lambda s: (-len(s), s))


def proxy_password(proxy: str | None) -> str | None:
    """The password in a proxy given as ``[scheme://]user:password@host[:port]``, if any."""
    if not proxy or "@" not in proxy:
        return None
    userinfo = proxy.rsplit("@", 1)[0]
    userinfo = userinfo.split("://", 1)[-1]
    if ":" not in userinfo:
        return None
    return userinfo.split(":", 1)[1] or None


def mask_proxy(proxy: str | None) -> str | None:
    """``proxy`` with its password (if any) replaced by ``***``."""
    password = proxy_password(proxy)
    if proxy is None or not password:
        return proxy
    return proxy.replace(password, "***")
