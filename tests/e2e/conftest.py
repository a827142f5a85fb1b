"""End-to-end fixtures: the sandbox and ``evframe serve`` as real processes.

The helpers they build on are in :mod:`support.e2e`, which test modules import.
Every process a test starts is registered with the ``procs`` fixture and killed
by pid at teardown, whatever the test did.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from evframe.testing import install_distribution
from support.e2e import (
    FLAKY_V1,
    RECORDER_DIST,
    Daemon,
    Procs,
    SandboxProc,
    Writer,
    installed_version,
    start_sandbox,
)
from support.parallel import PARALLEL_DIST

# -- installing the test handler distributions ------------------------------------------


@pytest.fixture(scope="session")
def e2e_build_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e-dists")


@pytest.fixture(scope="session")
def e2e_dists(e2e_build_root: Path) -> None:
    """evframe-test-recorder 1.0 and evframe-test-flaky 1.0, installed."""
    for name, source in (
        ("evframe-test-recorder", RECORDER_DIST),
        ("evframe-test-flaky", FLAKY_V1),
    ):
        version = install_distribution(source, build_root=str(e2e_build_root))
        assert installed_version(name) == version


# -- processes, the sandbox, evframe serve -----------------------------------------------


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    registry = Procs(tmp_path)
    try:
        yield registry
    finally:
        registry.stop_all()


@pytest.fixture
def sandbox(procs: Procs, tmp_path: Path) -> SandboxProc:
    return start_sandbox(procs, tmp_path / "site.db")


@pytest.fixture(params=["inline", "threads"])
def daemon(
    procs: Procs,
    tmp_path: Path,
    sandbox: SandboxProc,
    e2e_dists: None,
    request: pytest.FixtureRequest,
) -> Daemon:
    """A daemon set-up for each executor: every e2e suite runs inline and on threads."""
    d = Daemon.in_dir(procs, tmp_path, sandbox.url, sandbox)
    if request.param != "inline":
        d.daemon_options["executor"] = request.param
    return d


@pytest.fixture
def writer(sandbox: SandboxProc) -> Iterator[Writer]:
    w = Writer(sandbox.client())
    w.setup()
    yield w
    w.sg.close()


@pytest.fixture(scope="session")
def parallel_dist(e2e_build_root: Path) -> None:
    """evframe-test-parallel (the handlers of the concurrent executors' tests), installed."""
    install_distribution(PARALLEL_DIST, build_root=str(e2e_build_root))


@pytest.fixture
def restore_flaky(e2e_dists: None, e2e_build_root: Path) -> Iterator[None]:
    """For a test that upgrades evframe-test-flaky: put 1.0 back afterwards."""
    yield
    install_distribution(FLAKY_V1, build_root=str(e2e_build_root))


@pytest.fixture
def offline_daemon(procs: Procs, tmp_path: Path, e2e_dists: None) -> Daemon:
    """A daemon set-up whose site does not answer (for errors found before any request)."""
    return Daemon.in_dir(procs, tmp_path, "http://127.0.0.1:9", None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Suites marked ``inline_only`` run once, with the inline executor."""
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        executor = callspec.params.get("daemon", "inline") if callspec is not None else "inline"
        if executor != "inline" and item.get_closest_marker("inline_only") is not None:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
