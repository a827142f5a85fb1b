"""SiteSource: the requests it makes of a site (a recording stand-in for the client;
tests/integration runs the same code against the sandbox over loopback)."""

from __future__ import annotations

import threading

import pytest

from evframe.config import Config, SiteConfig
from evframe.daemon import Daemon, SiteSource
from evframe.event import EVENT_FIELDS
from evframe.site import SiteGuard, Stopping


class Recorder:
    def __init__(self, rows=()):
        self.rows = list(rows)
        self.calls = []
        self.closed = False

    def find(self, entity_type, filters, fields, order=None, limit=0):
        self.calls.append(("find", entity_type, filters, fields, order, limit))
        return self.rows

    def find_one(self, entity_type, filters, fields, order=None):
        self.calls.append(("find_one", entity_type, filters, fields, order))
        return self.rows[-1] if self.rows else None

    def close(self):
        self.closed = True


def source(rows=()):
    return SiteSource(Recorder(rows), "https://site.example", SiteGuard(threading.Event()))


def test_read_asks_for_ids_after_the_cursor_in_order():
    src = source([{"id": 5}])
    assert src.read(4, limit=500) == [{"id": 5}]
    src.read(4, upto=9, limit=3)
    (_, etype, filters, fields, order, limit), (*_, filters2, _f, _o, limit2) = src.sg.calls
    assert etype == "EventLogEntry" and fields == list(EVENT_FIELDS)
    assert filters == [["id", "greater_than", 4]] and limit == 500
    assert order == [{"field_name": "id", "direction": "asc"}]
    assert filters2 == [["id", "greater_than", 4], ["id", "less_than", 10]] and limit2 == 3


def test_fetch_asks_by_id_and_never_sends_an_empty_list():
    src = source([{"id": 3}])
    assert src.fetch([]) == []
    assert src.sg.calls == []
    src.fetch([3, 4])
    assert src.sg.calls[0][2] == [["id", "in", [3, 4]]]


def test_newest_id():
    assert source([{"id": 1}, {"id": 42}]).newest_id() == 42
    assert source().newest_id() == 0


def test_close_closes_the_connection():
    src = source()
    src.close()
    assert src.sg.closed


def test_a_stop_while_the_site_is_down_raises_stopping():
    stop = threading.Event()

    class Down(Recorder):
        def find(self, *args, **kwargs):
            stop.set()
            raise ConnectionRefusedError("refused")

    src = SiteSource(Down(), "https://site.example", SiteGuard(stop, base=0.001))
    with pytest.raises(Stopping):
        src.read(0, limit=10)


def test_a_daemon_without_a_source_reads_the_configured_site(tmp_path):
    config = Config(site=SiteConfig(url="https://site.example", script_name="s", api_key="k"))
    daemon = Daemon(config)
    assert isinstance(daemon.source, SiteSource)
    assert daemon.url == "https://site.example"
    assert daemon.source.sg.config.timeout_secs == config.site.timeout
    with pytest.raises(ValueError, match="no site URL"):
        Daemon(Config())
