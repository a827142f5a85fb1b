"""``evframe worker`` refuses to start without a broker."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from evframe.cli.main import main


def test_worker_without_a_broker_exits_3_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "evframe.toml"
    config.write_text('[daemon]\nexecutor = "celery"\n')
    result = CliRunner().invoke(main, ["worker", "--config", str(config)], env={})
    assert result.exit_code == 3, result.output
    assert "daemon.broker: not set" in result.output
