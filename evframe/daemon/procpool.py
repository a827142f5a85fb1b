"""``executor = "processes"``: chains in a pool of worker processes.

Each worker is ``python -m evframe.daemon.procworker`` (see there), loading the
installed handler set itself; jobs and outcomes are JSON lines on its stdin and
stdout.  A handler that crashes its process (a segfault, ``os._exit``) or runs
past its deadline (the handler's ``timeout``, else ``daemon.chain_timeout``) is
killed with its process and counts as failed on that event; the handlers of the
chain that had run count as done, the ones after it as skipped.  The worker is
started again.  Nothing of this reaches the daemon's own process.
"""

from __future__ import annotations

import json
import logging
import queue
import subprocess
import sys
import threading
import time
from typing import IO, Any

from evframe.config import Config
from evframe.daemon.executor import Done
from evframe.daemon.jobs import Job, failed_outcome
from evframe.processor import Processor

__all__ = ["ProcessRunner"]

log = logging.getLogger("evframe.daemon")

# Seconds a new worker may take to import the handler set.
START_TIMEOUT = 120.0
_EOF = object()


class _Worker:
    """One worker process and the thread that feeds it jobs."""

    def __init__(self, runner: ProcessRunner, index: int) -> None:
        self.runner = runner
        self.index = index
        self.proc: subprocess.Popen[str] | None = None
        self.lines: queue.Queue[Any] = queue.Queue()
        self.thread = threading.Thread(
            target=self._serve, name=f"evframe-procworker-{index}", daemon=True
        )

    # -- the process -----------------------------------------------------

    def _spawn(self) -> bool:
        cmd = [sys.executable, "-m", "evframe.daemon.procworker", "--url", self.runner.url]
        if self.runner.config.path is not None:
            cmd += ["--config", str(self.runner.config.path)]
        self.lines = queue.Queue()
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        assert self.proc.stdout is not None
        threading.Thread(
            target=_read_lines, args=(self.proc.stdout, self.lines), daemon=True
        ).start()
        message = self._next(time.monotonic() + START_TIMEOUT)
        if isinstance(message, dict) and "ready" in message:
            return True
        log.error(
            "worker process %d could not load the handler set (exit status %s); retrying",
            self.index,
            self._kill(),
        )
        return False

    def _next(self, deadline: float) -> Any:
        try:
            return self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None

    def _kill(self) -> int | None:
        proc = self.proc
        self.proc = None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.kill()
        try:
            return proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a process that ignores SIGKILL
            return None

    # -- jobs ------------------------------------------------------------

    def _serve(self) -> None:
        runner = self.runner
        backoff = 0.5
        while True:
            item = runner.jobs.get()
            if item is None:
                break
            job, done = item
            while self.proc is None or self.proc.poll() is not None:
                if runner.closing.is_set():
                    break
                if self._spawn():
                    backoff = 0.5
                else:
                    runner.closing.wait(backoff)
                    backoff = min(backoff * 2, 30.0)
            if self.proc is None:
                break
            done(self._run(job))
        self._close()

    def _run(self, job: Job) -> dict[str, Any]:
        proc = self.proc
        assert proc is not None and proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(job) + "\n")
            proc.stdin.flush()
        except OSError:
            pass  # it died: the read below says how
        called: list[str] = []
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            message = self._next(deadline)
            if isinstance(message, dict) and "outcome" in message:
                return dict(message["outcome"])
            if isinstance(message, dict) and "call" in message:
                called.append(str(message["call"]))
                deadline = time.monotonic() + self.runner.timeout(called[-1])
                continue
            blame = called[-1] if called else None
            if message is None:
                limit = self.runner.timeout(blame) if blame else START_TIMEOUT
                self._kill()
                text = f"killed: ran past its deadline of {limit:g} s on event {job['event_id']}"
            else:
                status = self._kill()
                text = f"the worker process died (exit status {status}) on event {job['event_id']}"
            log.error("handler %s: %s; starting a new worker process", blame or "chain", text)
            return failed_outcome(job, text, blame=blame, done=called[:-1])

    def _close(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.stdin is not None:
            try:
                proc.stdin.close()  # the worker ends when its stdin closes
            except OSError:
                pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._kill()


def _read_lines(stream: IO[str], into: queue.Queue[Any]) -> None:
    for line in stream:
        try:
            into.put(json.loads(line))
        except ValueError:
            continue  # not a protocol line (there should be none)
    into.put(_EOF)


class ProcessRunner:
    """``workers`` worker processes; a job goes to the first one free."""

    # A stop waits this long for running chains, then the workers are killed (the
    # chains are not done, so they come again at the next start).
    stop_wait = 60.0

    def __init__(self, config: Config, processor: Processor, *, url: str) -> None:
        self.config = config
        self.url = url
        self.names = processor.names
        self.jobs: queue.Queue[tuple[Job, Done] | None] = queue.Queue()
        self.closing = threading.Event()
        self.workers = [_Worker(self, i) for i in range(config.daemon.workers)]
        for worker in self.workers:
            worker.thread.start()

    def timeout(self, name: str) -> float:
        """The deadline of one handler call, in seconds."""
        return self.config.handler(name).timeout or self.config.daemon.chain_timeout

    def start(self, job: Job, done: Done) -> None:
        self.jobs.put((job, done))

    def close(self) -> None:
        self.closing.set()
        for _ in self.workers:
            self.jobs.put(None)
        deadline = time.monotonic() + self.stop_wait
        for worker in self.workers:
            worker.thread.join(max(0.1, deadline - time.monotonic()))
            if worker.thread.is_alive():
                worker._kill()
