"""New handler sets (checked, then restarted onto or refused) and crash replays."""

from __future__ import annotations

import logging

import pytest

from evframe.daemon import RunResult
from evframe.discovery import Validation
from evframe.state import State


def valid(*names: str) -> Validation:
    return Validation(ok=True, names=list(names), fingerprints={}, load_errors=[], error=None)


def refused(error: str) -> Validation:
    return Validation(ok=False, names=[], fingerprints={}, load_errors=[], error=error)


def test_a_valid_new_set_returns_reload_after_it_settles(h, caplog):
    h.installed = {"first": "v1"}
    h.add(2)
    daemon = h.daemon(h.chain(), h.config(reload_interval=5))
    h.validations.append(valid("first", "second", "fresh"))
    original = h.source.read

    def read(after, *, upto=None, limit):
        if h.clock.now > 1_000_020 and h.installed["first"] == "v1":
            h.installed = {"first": "v2"}  # pip installed an upgrade
        return original(after, upto=upto, limit=limit)

    h.source.read = read
    with caplog.at_level(logging.INFO, logger="evframe.daemon"):
        assert daemon.run() is RunResult.RELOAD
    assert "added fresh, removed other" in caplog.text
    assert h.got("first") == [1, 2]
    with h.state() as state:  # everything done was committed before the restart
        assert state.handlers()["first"].cursor == 2


def test_an_invalid_new_set_is_refused_once_and_the_old_one_serves_on(h, caplog):
    h.installed = {"first": "v1"}
    daemon = h.daemon(h.chain(), h.config(reload_interval=1))
    h.validations.append(refused("handler 'second' requires 'gone', which is not installed"))
    original = h.source.read
    reads = []

    def read(after, *, upto=None, limit):
        reads.append(1)
        if len(reads) == 2:
            h.installed = {"first": "broken"}  # an upgrade that does not validate
        if len(reads) == 100:
            h.add(1)
        if len(reads) > 200:
            daemon.stop()
        return original(after, upto=upto, limit=limit)

    h.source.read = read
    with caplog.at_level(logging.INFO, logger="evframe.daemon"):
        assert daemon.run() is RunResult.STOPPED
    refusals = [r for r in caplog.records if "new handler set refused" in r.getMessage()]
    assert len(refusals) == 1
    assert "'gone'" in refusals[0].getMessage()
    assert h.got("first") == [1]


def test_sighup_checks_at_once(h):
    h.installed = {"first": "v1"}
    daemon = h.daemon(h.chain(), h.config(reload_interval=0))
    h.validations.append(valid("first", "second", "other"))
    daemon.request_reload()
    assert daemon.run() is RunResult.RELOAD


def test_restarted_daemon_says_the_set_was_reloaded(h, caplog):
    with caplog.at_level(logging.INFO, logger="evframe.daemon"):
        h.daemon(h.chain(), h.config(), once=True, restarted=True).run()
    assert "handler set reloaded: 3 handler(s)" in caplog.text


@pytest.mark.inline_only
def test_a_crash_replays_at_most_what_was_not_committed(h, monkeypatch):
    ids = h.add(23)
    crashed = []
    real_commit = State.commit

    def commit(self):
        if crashed:
            self.rollback()  # the process died: nothing more reaches the disk
        real_commit(self)

    monkeypatch.setattr(State, "commit", commit)

    def crash_at_17(ctx, event):
        h.calls.append(("crash", event.id))
        if event.id == 17:
            crashed.append(True)
            raise SystemExit("killed")

    daemon = h.daemon([crash_at_17], h.config(batch_size=5))
    try:
        daemon.run()
    except SystemExit:
        pass
    monkeypatch.setattr(State, "commit", real_commit)
    first_run = h.got("crash")
    h.calls.clear()

    def record(ctx, event):
        h.calls.append(("crash", event.id))

    record.__name__ = "crash_at_17"
    h.daemon([record], h.config(batch_size=5), until_caught_up=True).run()
    second_run = h.got("crash")
    assert first_run == ids[:17] and second_run[-1] == ids[-1]
    replayed = sorted(set(first_run) & set(second_run))
    assert replayed == [16, 17]  # commits follow each page of 5: only 16 and 17 come again
    assert sorted(set(first_run) | set(second_run)) == ids
