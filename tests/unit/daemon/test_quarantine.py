"""A handler set with a cycle or a missing requirement: the unsafe handlers are held,
the others run, and the held ones catch up once a fixed set is loaded."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from evframe import Processor, requires
from evframe.config import Config
from evframe.daemon import Daemon
from evframe.quarantine import quarantine, report_quarantine


def set_aside(processor: Processor) -> None:
    """What loading an installed set does: quarantine the unsafe handlers, say so."""
    processor.quarantined.update(quarantine(processor))
    report_quarantine(processor.quarantined)


def daemon_over(h: Any, funcs: Iterable[Any], config: Config, **kw: Any) -> Daemon:
    return h.daemon(funcs, config, prepare=set_aside, **kw)  # type: ignore[no-any-return]


def test_the_unsafe_handlers_are_held_and_the_rest_run(h: Any, caplog: Any) -> None:
    h.add(3)
    first = h.recorder("first")
    needy = requires("first", "helper")(h.recorder("needy"))
    after = requires("needy")(h.recorder("after"))
    other = h.recorder("other")
    config = h.config()
    with caplog.at_level(logging.INFO, logger="evframe.daemon"):
        daemon_over(h, [first, needy, after, other], config, until_caught_up=True).run()
    assert h.got("first") == h.got("other") == [1, 2, 3]
    assert h.got("needy") == h.got("after") == []
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "quarantined handler(s) needy, after: handler 'needy'" in errors[0].getMessage()
    assert "@requires 'helper', which is not installed" in errors[0].getMessage()
    serving = next(r.getMessage() for r in caplog.records if "serving" in r.getMessage())
    assert serving.endswith("2 handler(s): first, other; quarantined: after, needy")
    with h.state() as state:
        rows = state.handlers()
    assert rows["needy"].quarantined is not None and "'helper'" in rows["needy"].quarantined
    assert rows["after"].shown_status == "quarantined"
    assert rows["needy"].cursor == 0, "held from the first run on: at the read cursor then"
    assert rows["first"].quarantined is None and rows["first"].cursor == 3

    # The fixed set (helper installed): the held handlers catch up from their cursors.
    h.add(2)
    helper = h.recorder("helper")
    caplog.clear()
    fixed = [first, helper, needy, after, other]
    with caplog.at_level(logging.INFO, logger="evframe.daemon"):
        daemon_over(h, fixed, config, until_caught_up=True).run()
    assert h.got("needy") == h.got("after") == [1, 2, 3, 4, 5]
    assert h.got("first") == [1, 2, 3, 4, 5]
    assert h.got("helper") == [4, 5], "a new handler starts at the read cursor"
    assert "handler needy is no longer quarantined: it catches up from event 1" in caplog.text
    with h.state() as state:
        rows = state.handlers()
    assert all(row.quarantined is None for row in rows.values())
    assert rows["after"].cursor == 5 and rows["after"].shown_status == "active"


def test_a_held_handler_keeps_a_cursor_it_already_had(h: Any) -> None:
    h.add(2)
    a, b = h.recorder("a"), h.recorder("b")
    config = h.config()
    daemon_over(h, [a, b], config, until_caught_up=True).run()
    h.add(3)
    broken_b = requires("a")(requires("b")(h.recorder("b")))  # now on a cycle with itself
    daemon_over(h, [a, broken_b], config, until_caught_up=True).run()
    with h.state() as state:
        rows = state.handlers()
    assert rows["b"].cursor == 2 and rows["b"].quarantined == "handlers b form an ordering cycle"
    assert rows["a"].cursor == 5
    daemon_over(h, [a, b], config, until_caught_up=True).run()
    assert h.got("b") == [1, 2, 3, 4, 5]


def test_handlers_disabled_in_config_are_marked(h: Any, caplog: Any) -> None:
    h.add(1)
    config = h.config({"second": {"enabled": False}})
    with caplog.at_level(logging.INFO, logger="evframe.daemon"):
        h.daemon(h.chain(), config, until_caught_up=True).run()
    assert "3 handler(s): first, other, second (disabled in config)" in caplog.text
    with h.state() as state:
        rows = state.handlers()
    assert rows["second"].disabled_in_config and rows["second"].shown_status == "disabled"
    assert not rows["first"].disabled_in_config
    # Enabled again in the config: held no longer, and it catches up.
    h.daemon(h.chain(), h.config(), until_caught_up=True).run()
    with h.state() as state:
        rows = state.handlers()
    assert not rows["second"].disabled_in_config
    assert h.got("second") == [1]
