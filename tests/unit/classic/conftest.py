"""Classic plugins written for the tests into ``tmp_path`` folders."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evframe import Processor
from evframe.classic.adapter import register_plugins
from evframe.classic.loader import Plugins, load_plugins

WritePlugin = Callable[..., Path]


@pytest.fixture
def write_plugin(tmp_path: Path) -> WritePlugin:
    """``write_plugin(folder, name, source)``: a plugin file, dedented; a rewrite gets a
    later mtime, as an edit does."""

    def write(folder: str, name: str, source: str) -> Path:
        directory = tmp_path / folder
        directory.mkdir(exist_ok=True)
        path = directory / name
        existed = path.exists()
        before = path.stat().st_mtime_ns if existed else 0
        path.write_text(textwrap.dedent(source))
        if existed:
            os.utime(path, ns=(before + 10**9, before + 10**9))
        return path

    return write


class Connections:
    """A fake ``connect(script, key)``: records what was asked and returns a token."""

    def __init__(self) -> None:
        self.made: list[tuple[str, str]] = []

    def __call__(self, script: str, key: str) -> Any:
        self.made.append((script, key))
        return ("sg", script, key)


@pytest.fixture
def connections() -> Connections:
    return Connections()


def load(tmp_path: Path, *folders: str, connect: Any = None) -> tuple[Processor, Plugins]:
    """A processor with the classic plugins of ``folders`` (under ``tmp_path``)."""
    found = load_plugins([str(tmp_path / f) for f in folders])
    processor = Processor()
    register_plugins(processor, found.plugins, connect or Connections())
    return processor, found
