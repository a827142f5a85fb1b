"""Install the test handler distributions (tests/dists) into the running environment.

Entry points exist only in installed metadata, so the discovery tests use real
installed distributions rather than a patched ``importlib.metadata``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from pathlib import Path

import pytest

from evframe.testing import install_distribution

DISTS_DIR = Path(__file__).resolve().parent.parent / "dists"
TEST_DISTS = (
    "evframe-test-good",
    "evframe-test-dependent",
    "evframe-test-broken",
    "evframe-test-daemon",
)


@pytest.fixture(scope="session")
def test_dists() -> dict[str, str]:
    """Install the test distributions (unless installed at the same version).

    Returns ``{distribution name: version}``.
    """
    versions = {name: install_distribution(DISTS_DIR / name) for name in TEST_DISTS}
    for name, version in versions.items():
        assert importlib.metadata.version(name) == version, f"{name} {version} is not visible"
    return versions
