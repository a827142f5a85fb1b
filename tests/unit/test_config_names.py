"""Config naming handlers that are not installed: refused, naming the key and the near name."""

from __future__ import annotations

from pathlib import Path

from evframe.config import Config, load_config
from evframe.config_names import unknown_handler_names


def config_from(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "evframe.toml"
    path.write_text(text)
    return load_config(path)


def test_known_names_pass(tmp_path: Path) -> None:
    config = config_from(
        tmp_path, '[handlers.rollup]\nenabled = false\n[logging.handlers]\nrollup = "DEBUG"\n'
    )
    assert unknown_handler_names(config, ["rollup", "other"]) == []


def test_a_typo_names_the_key_the_file_and_the_near_name(tmp_path: Path) -> None:
    config = config_from(
        tmp_path, '[handlers.rolup]\non_error = "skip"\n[logging.handlers]\nzzz = "DEBUG"\n'
    )
    errors = unknown_handler_names(config, ["rollup", "other"])
    assert [e.key for e in errors] == ["handlers.rolup", "logging.handlers.zzz"]
    assert errors[0].exit_code == 3
    assert str(errors[0]).startswith("handlers.rolup: configures handler 'rolup', but no handler")
    assert "did you mean 'rollup'?" in str(errors[0])
    assert str(tmp_path / "evframe.toml") in str(errors[0])
    assert "installed handlers: other, rollup" in str(errors[1])


def test_classic_plugin_callbacks_count_by_their_file(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "notify.py").write_text("def registerCallbacks(reg):\n    pass\n")
    text = f'[classic]\npaths = ["{plugins}"]\n[handlers."notify.on_change"]\nenabled = false\n'
    config = config_from(tmp_path, text)
    assert unknown_handler_names(config, []) == []
