"""Tests for evframe.redact: secrets of a config replaced in text, in all their forms."""

from __future__ import annotations

from types import MappingProxyType

from evframe.config import Config, EmailConfig, HandlerConfig, LoggingConfig, SiteConfig
from evframe.redact import mask_proxy, proxy_password, redact


def test_redact() -> None:
    cfg = Config(
        site=SiteConfig(api_key="site-key-123", http_proxy="user:proxypass@proxy:3128"),
        handlers=MappingProxyType({"h": HandlerConfig("h", api_key="handler-key-456")}),
        logging=LoggingConfig(
            email=EmailConfig("smtp", "a@b", ("c@d",), username="u", password="smtp-pw-789")
        ),
    )
    text = (
        "key=site-key-123 h=handler-key-456 pw=smtp-pw-789 proxy=user:proxypass@proxy "
        "again site-key-123"
    )
    assert redact(text, cfg) == "key=*** h=*** pw=*** proxy=user:***@proxy again ***"
    assert redact("nothing here", cfg) == "nothing here"


def test_redact_overlapping_and_escaped_forms() -> None:
    cfg = Config(
        site=SiteConfig(api_key="abc"),
        handlers=MappingProxyType({"h": HandlerConfig("h", api_key="abcdef")}),
    )
    assert cfg.secrets() == ["abcdef", "abc"]
    assert redact("x abcdef y abc", cfg) == "x *** y ***"
    quoted = Config(site=SiteConfig(api_key="a b/c\td"))
    assert redact("url?key=a%20b%2Fc%09d", quoted) == "url?key=***"
    assert redact("repr {'k': 'a b/c\\td'}", quoted) == "repr {'k': '***'}"


def test_redact_without_secrets() -> None:
    assert redact("text", Config()) == "text"


def test_proxy_password_and_mask() -> None:
    assert proxy_password("http://user:pw@proxy:3128") == "pw"
    assert proxy_password("user@proxy") is None
    assert proxy_password("proxy:3128") is None
    assert proxy_password(None) is None
    assert mask_proxy("user:pw@proxy:3128") == "user:***@proxy:3128"
    assert mask_proxy("proxy:3128") == "proxy:3128"
