"""Shared pieces of the daemon benchmarks: a sandbox process and the handler package."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from evframe.event import EVENT_FIELDS

HERE = Path(__file__).resolve().parent
BENCH_DIST = HERE / "handlers" / "evframe-bench-handlers"
SCRIPT, KEY = "bench", "bench-key"
# The events to handle come from another script: handlers do not get the events their
# own script (the daemon's, SCRIPT) caused.
WRITER, WRITER_KEY = "bench_artist", "bench-artist-key"
FIELDS = list(EVENT_FIELDS)


def ensure_bench_handlers() -> None:
    """pip install the benchmark handler package (group ``evframe.bench_handlers``)."""
    ensure_installed("evframe-bench-handlers", BENCH_DIST)


def ensure_installed(name: str, source: Path) -> None:
    """pip install the distribution ``name`` from ``source`` unless it is installed."""
    try:
        importlib.metadata.distribution(name)
        return
    except importlib.metadata.PackageNotFoundError:
        pass
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            str(source),
        ],
        check=True,
    )


class SandboxProcess:
    """``evframe sandbox`` in its own process (so the server has its own interpreter)."""

    def __init__(self, db: Path | None = None, extra: list[str] | None = None) -> None:
        cmd = [
            sys.executable,
            "-m",
            "evframe",
            "sandbox",
            "--port",
            "0",
            "--script",
            f"{SCRIPT}:{KEY}",
            "--script",
            f"{WRITER}:{WRITER_KEY}",
        ]
        if db is not None:
            cmd += ["--db", str(db)]
        cmd += extra or []
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().strip()
        if "listening on " not in first:
            self.proc.kill()
            raise RuntimeError(f"sandbox did not start: {first!r}")
        self.url = first.rsplit(" ", 1)[-1]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def raw_read(url: str, total: int, batch: int = 500) -> float:
    """Seconds to page through ``total`` events with shotgun_api3 alone."""
    from shotgun_api3 import shotgun

    sg = shotgun.Shotgun(url, SCRIPT, KEY)
    order: Any = [{"field_name": "id", "direction": "asc"}]
    cursor, seen = 0, 0
    start = time.perf_counter()
    while True:
        rows = sg.find(
            "EventLogEntry", [["id", "greater_than", cursor]], FIELDS, order=order, limit=batch
        )
        if not rows:
            break
        seen += len(rows)
        cursor = rows[-1]["id"]
    elapsed = time.perf_counter() - start
    if seen != total:
        raise RuntimeError(f"raw read saw {seen} events, expected {total}")
    return elapsed


def serve_until_caught_up(config: Path, url: str, cwd: Path) -> str:
    """Run ``evframe serve --until-caught-up`` on ``config``; its stderr (the log)."""
    proc = subprocess.run(
        [sys.executable, "-m", "evframe", "serve", "--config", str(config), "--until-caught-up"],
        env=env_for(url),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"serve failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stderr


def env_for(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(EVFRAME_SITE_URL=url, EVFRAME_SCRIPT_NAME=SCRIPT, EVFRAME_API_KEY=KEY)
    return env


class CountingProxy:
    """A loopback TCP proxy that counts the api3 requests passing through it."""

    def __init__(self, target_url: str) -> None:
        import socket
        import threading
        from urllib.parse import urlsplit

        parts = urlsplit(target_url)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self.requests = 0
        self._lock = threading.Lock()
        self._socket = socket
        self._threading = threading
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = self._socket.create_connection(self._target)
            # Forward each piece at once: with Nagle on, a request written in two pieces
            # (head, then body) waits on the server's delayed ACK, ~40 ms the site never adds.
            for sock in (client, upstream):
                sock.setsockopt(self._socket.IPPROTO_TCP, self._socket.TCP_NODELAY, 1)
            for src, dst, count in ((client, upstream, True), (upstream, client, False)):
                self._threading.Thread(
                    target=self._pipe, args=(src, dst, count), daemon=True
                ).start()

    def _pipe(self, src: Any, dst: Any, count: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if count:
                    n = data.count(b"POST /api3/json")
                    if n:
                        with self._lock:
                            self.requests += n
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def close(self) -> None:
        self._server.close()
