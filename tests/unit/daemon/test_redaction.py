"""A handler's exception text is stored redacted: tools that print it run without secrets."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from evframe.config import Config, HandlerConfig
from evframe.handler import Status

HANDLER_KEY = "own-handler-key-90ab"


def leaky(name: str, site_key: str) -> Any:
    """A handler whose error message shows credentials, as careless code does."""

    def handler(ctx: Any, event: Any) -> None:
        raise RuntimeError(f"login refused for key {site_key!r} (handler key {HANDLER_KEY})")

    handler.__name__ = name
    return handler


def config_with(h: Any, **handlers: dict[str, Any]) -> Config:
    config: Config = h.config()
    extra = {n: HandlerConfig(n, **o) for n, o in handlers.items()}
    # A handler with its own script: its key is a secret too.
    extra["own"] = HandlerConfig("own", script_name="own-script", api_key=HANDLER_KEY)
    return dataclasses.replace(config, handlers=extra)


@pytest.mark.parametrize("policy", ["stop", "skip", "retry"])
def test_stored_errors_never_hold_a_secret(h: Any, policy: str) -> None:
    h.add(2)
    options: dict[str, Any] = {"on_error": policy}
    if policy == "retry":
        options |= {"retry_attempts": 2, "retry_backoff": 0.01, "retry_fallback": "skip"}
    config = config_with(h, leaky=options)
    site_key = config.site.api_key
    assert site_key and len(site_key) > 8
    h.daemon([leaky("leaky", site_key), h.recorder("other")], config, until_caught_up=True).run()
    assert h.got("other") == [1, 2]
    with h.state() as state:
        row = state.handlers()["leaky"]
        letters = state.dead_letters()
    stored = [row.error or ""] + [d.error for d in letters]
    assert all(site_key not in text and HANDLER_KEY not in text for text in stored), stored
    if policy == "stop":
        assert row.status is Status.FAILED
        assert row.error == (
            "failed on event 1: RuntimeError: login refused for key '***' (handler key ***)"
        )
    else:
        assert row.status is Status.ACTIVE
        assert [d.event_id for d in letters] == [2, 1]
        assert (
            letters[0]
            .error.rstrip()
            .endswith("RuntimeError: login refused for key '***' (handler key ***)")
        )
        assert "Traceback (most recent call last)" in letters[0].error
