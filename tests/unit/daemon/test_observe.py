"""What the daemon tells its observer: counts, lag, health, the status snapshot, /metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from xmlrpc.client import ProtocolError

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry, generate_latest
from shotgun_api3.shotgun import AuthenticationFault

from evframe.cli.main import main
from evframe.config import Config, MetricsConfig
from evframe.daemon.metrics import MetricsServer, StatsCollector
from evframe.daemon.observe import Fanout, Observer
from evframe.daemon.stats import Stats, error_kind
from evframe.daemon.status import StatusFile, read_snapshot, snapshot_path
from evframe.errors import EvframeError
from support.scrape import get, samples


def observed(h: Any, config: Config, **metrics: Any) -> tuple[Stats, Observer]:
    stats = Stats(Config(**{**vars(config), "metrics": MetricsConfig(**metrics)}))
    status = StatusFile(stats, snapshot_path(h.state_path))
    return stats, Fanout([stats, status])


def test_counts_per_handler_and_a_paused_group_lags_in_events_and_seconds(h: Any) -> None:
    h.add(2, age=30.0)
    h.add(3, age=20.0)  # event 3 is the one `first` fails on, 20 s old
    config = h.config()
    stats, observer = observed(h, config, ready_max_lag=5.0)
    h.daemon(h.chain(first={"fail_on": [3]}), config, until_caught_up=True, observer=observer).run()
    assert stats.events_read == 5
    assert stats.handled == {"first": 2, "second": 2, "other": 5}
    assert stats.failed == {"first": 1, "second": 0, "other": 0}
    assert stats.durations["other"].count == 5
    assert stats.polls["events"] >= 1
    view = {v.name: v for v in stats.view.handlers}
    assert (view["first"].status, view["first"].lag_events) == ("failed", 3)
    assert view["second"].lag_events == 3 and view["other"].lag_events == 0
    now = stats.now()
    assert view["first"].lag_seconds(now) == pytest.approx(now - (h.clock.now - 20.0), abs=60)
    assert view["other"].lag_seconds(now) == 0.0  # it has every event: a quiet site is no lag
    later = view["first"].lag_seconds(now + 100)
    assert later == pytest.approx(view["first"].lag_seconds(now) + 100)
    # Paused handlers do not make the daemon unready (a restart would not help them).
    assert stats.ready() == (True, [])


def test_the_snapshot_and_evframe_status_tell_a_stopped_daemon_and_why_handlers_stopped(
    h: Any,
) -> None:
    h.add(4)
    config = h.config()
    _stats, observer = observed(h, config)
    h.daemon(h.chain(first={"fail_on": [2]}), config, until_caught_up=True, observer=observer).run()
    snap = read_snapshot(snapshot_path(h.state_path))
    assert snap is not None and snap["running"] is False and snap["read_cursor"] == 4
    rows = {r["name"]: r for r in snap["handlers"]}
    assert rows["first"]["error"] == "failed on event 2: RuntimeError: first cannot take event 2"
    assert rows["first"]["failed_event_id"] == 2

    result = CliRunner().invoke(main, ["status", "--state", str(h.state_path), "--json"])
    assert result.exit_code == 1, result.output  # not running
    data = json.loads(result.output)
    assert data["running"] is False and data["read_cursor"] == 4
    first = next(r for r in data["handlers"] if r["name"] == "first")
    assert (first["status"], first["lag_events"], first["failed_event_id"]) == ("failed", 3, 2)
    assert first["error"] == "failed on event 2: RuntimeError: first cannot take event 2"

    text = CliRunner().invoke(main, ["status", "--state", str(h.state_path)])
    assert text.exit_code == 1
    assert "evframe serve: NOT RUNNING" in text.output
    assert "first (failed at event 2): failed on event 2: RuntimeError" in text.output


def test_status_of_a_missing_state_file_is_exit_4(tmp_path: Any) -> None:
    result = CliRunner().invoke(main, ["status", "--state", str(tmp_path / "none.db")])
    assert result.exit_code == 4
    assert "does not exist" in result.output


def test_site_trouble_makes_the_daemon_unready_and_says_which(h: Any) -> None:
    h.add(1)
    config = h.config()
    stats, observer = observed(h, config)
    h.daemon(h.chain(), config, until_caught_up=True, observer=observer).run()
    assert stats.ready() == (True, [])
    stats.site_error(ProtocolError("site/api3", 503, "Service Unavailable", {}))
    ok, reasons = stats.ready()
    assert not ok and reasons == [
        "site down: the site is down for maintenance or too busy (HTTP 503)"
    ]
    stats.site_error(AuthenticationFault("bad key"))
    assert stats.ready()[1][0].startswith("the site refused the credentials")
    assert stats.site_errors == {"maintenance": 1, "auth": 1}
    stats.polled(0.01, [], full=False)
    assert stats.ready() == (True, [])


def test_livez_fails_when_the_loop_stops_turning(h: Any) -> None:
    h.add(1)
    config = h.config()
    stats, observer = observed(h, config, stall_after=30.0)
    h.daemon(h.chain(), config, until_caught_up=True, observer=observer).run()
    assert stats.live()[0]
    h.clock.advance(31)
    ok, why = stats.live()
    assert not ok and why == "the loop has not turned for 31 s (stall_after = 30)"


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ProtocolError("u", 502, "Bad Gateway", {}), "http_5xx"),
        (TimeoutError("timed out"), "timeout"),
        (ConnectionRefusedError(), "refused"),
        (ConnectionResetError(), "connection"),
        (ValueError("?"), "other"),
    ],
)
def test_site_error_kinds(exc: BaseException, kind: str) -> None:
    assert error_kind(exc) == kind


def test_metrics_livez_and_readyz_over_loopback(h: Any) -> None:
    h.add(3)
    config = h.config()
    stats, observer = observed(h, config)
    h.daemon(h.chain(first={"fail_on": [2]}), config, until_caught_up=True, observer=observer).run()
    server = MetricsServer("127.0.0.1:0", stats).start()
    try:
        assert server.host == "127.0.0.1"
        code, text = get(f"{server.url}/metrics")
        assert code == 200
        found = samples(text)
        assert found["evframe_events_read_total"] == 3
        assert found['evframe_handler_events_total{handler="other",outcome="ok"}'] == 3
        assert found['evframe_handler_events_total{handler="first",outcome="failed"}'] == 1
        assert found['evframe_handler_duration_seconds_count{handler="other"}'] == 3
        assert found['evframe_handler_lag_events{handler="first"}'] == 2
        assert found['evframe_handler_status{handler="first",status="failed"}'] == 1
        assert found['evframe_handlers{status="active"}'] == 1
        assert found["evframe_pending_ids"] == 0 and found["evframe_read_cursor"] == 3
        assert found["evframe_alerts_sent_total"] == 0
        assert found["evframe_site_up"] == 1
        assert "evframe_poll_duration_seconds_bucket" in text
        assert get(f"{server.url}/livez")[0] == 200
        assert get(f"{server.url}/readyz") == (200, "ok\n")
        stats.site_error(ConnectionRefusedError(111, "Connection refused"))
        code, text = get(f"{server.url}/readyz")
        assert code == 503 and "site down: ConnectionRefusedError" in text
        assert get(f"{server.url}/nothing")[0] == 404
        with pytest.raises(EvframeError, match=r"metrics\.listen: cannot listen on 127\.0\.0\.1"):
            MetricsServer(f"127.0.0.1:{server.port}", stats)
    finally:
        server.stop()


DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_the_docs_and_the_grafana_dashboard_name_only_metrics_that_exist(h: Any) -> None:
    h.add(2)
    config = h.config()
    stats, observer = observed(h, config)
    h.daemon(h.chain(), config, until_caught_up=True, observer=observer).run()
    stats.site_error(TimeoutError("timed out"))  # labelled families show once they have samples
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatsCollector(stats))
    text = generate_latest(registry).decode()
    exported = set(re.findall(r"^(evframe_\w+)", text, re.M))
    exported.add("evframe_site_requests_total")  # only with a real site (SiteSource)
    dashboard = (DOCS / "grafana-dashboard.json").read_text()
    json.loads(dashboard)
    used = set(re.findall(r"\b(evframe_\w+)", dashboard))
    assert used and used <= exported, used - exported
    documented = (DOCS / "operations.md").read_text()
    bases = {re.sub(r"_(bucket|count|sum)$", "", name) for name in exported}
    missing = {name for name in bases if f"`{name}`" not in documented}
    assert not missing, f"metrics missing from docs/operations.md: {sorted(missing)}"
