"""A Redis server and ``evframe worker`` processes, started by the tests themselves.

Redis is Debian's ``redis-server`` (``.ci/run`` installs it), listening on a free
loopback port with its files in the test's directory; it appends every write to
its log, so a restart on the same port (a broker outage) keeps the queue.
"""

from __future__ import annotations

import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from evframe.testing import wait_until
from support.e2e import Proc, Procs
from support.parallel import env_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisProc:
    """``redis-server`` as a process of the test."""

    procs: Procs
    directory: Path
    port: int
    proc: Proc | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.directory)]
        self.proc = self.procs.start("redis", args)
        wait_until(lambda: _answers(self.port), 20, "redis to answer", detail=self.proc.tail)

    def stop(self) -> None:
        """Stop the server (SIGKILL: it goes away as a crashed broker does)."""
        assert self.proc is not None
        self.proc.popen.kill()
        self.proc.wait_exit(10)


def start_redis(procs: Procs, tmp_path: Path) -> RedisProc:
    redis = RedisProc(procs, tmp_path / "redis", free_port())
    redis.start()
    return redis


def start_worker(
    procs: Procs, config: Path, url: str, name: str, *, pool: str = "solo", concurrency: int = 1
) -> Proc:
    """``evframe worker`` on ``config``; returns once it is ready for tasks."""
    cmd = [sys.executable, "-m", "evframe", "worker", "--config", str(config)]
    cmd += ["--pool", pool, "--concurrency", str(concurrency), "--name", name]
    proc = procs.start(f"worker-{name}", cmd, env=env_for(url))
    proc.wait_log(r"evframe\.worker: worker ready", timeout=60)
    return proc
