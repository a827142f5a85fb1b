"""evframe.testing.install_distribution, which the test fixtures install handlers with."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from evframe.testing import install_distribution

DISTS = Path(__file__).resolve().parent.parent / "dists"


def test_installs_once_and_leaves_the_source_clean(test_dists: dict[str, str]) -> None:
    source = DISTS / "evframe-test-good"
    assert install_distribution(source) == test_dists["evframe-test-good"]
    assert install_distribution(source, force=True) == test_dists["evframe-test-good"]
    assert importlib.metadata.version("evframe-test-good") == test_dists["evframe-test-good"]
    assert not (source / "build").exists()
    assert not list(source.glob("*.egg-info"))


def test_a_source_without_metadata_is_refused(tmp_path: Path) -> None:
    (tmp_path / "setup.cfg").write_text("[options]\npackages = find:\n")
    with pytest.raises(ValueError, match="declares no \\[metadata\\] name and version"):
        install_distribution(tmp_path)


def test_a_failing_build_names_the_distribution(tmp_path: Path) -> None:
    (tmp_path / "setup.cfg").write_text(
        "[metadata]\nname = evframe-test-unbuildable\nversion = 1\n"
    )
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["no-such-backend-anywhere"]\n'
        'build-backend = "no_such_backend"\n'
    )
    with pytest.raises(RuntimeError, match="cannot install evframe-test-unbuildable 1"):
        install_distribution(tmp_path)
