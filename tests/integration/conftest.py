"""Install the test handler distributions (tests/dists) into the running environment.

Entry points exist only in installed metadata, so the discovery tests use real
installed distributions rather than a patched ``importlib.metadata``.
"""

from __future__ import annotations

import configparser
import importlib
import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DISTS_DIR = Path(__file__).resolve().parent.parent / "dists"
TEST_DISTS = (
    "evframe-test-good",
    "evframe-test-dependent",
    "evframe-test-broken",
    "evframe-test-daemon",
)


def _declared_version(source: Path) -> str:
    cfg = configparser.ConfigParser()
    cfg.read(source / "setup.cfg")
    return cfg["metadata"]["version"]


def _installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _install(source: Path, build_root: Path) -> None:
    # Build from a copy: setuptools leaves build/ and *.egg-info beside the sources.
    work = build_root / source.name
    shutil.copytree(source, work)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "--disable-pip-version-check",
        "-q",
        str(work),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"cannot install {source.name} for the tests ({' '.join(cmd)}); it must build "
            f"offline, which needs setuptools and wheel in this environment:\n"
            f"{proc.stdout}\n{proc.stderr}"
        )


@pytest.fixture(scope="session")
def test_dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Install the test distributions (unless installed at the same version).

    Returns ``{distribution name: version}``.
    """
    build_root = tmp_path_factory.mktemp("dists")
    versions = {}
    for name in TEST_DISTS:
        source = DISTS_DIR / name
        version = _declared_version(source)
        if _installed_version(name) != version:
            _install(source, build_root)
        versions[name] = version
    importlib.invalidate_caches()
    for name, version in versions.items():
        assert _installed_version(name) == version, f"{name} {version} is not visible after install"
    return versions
