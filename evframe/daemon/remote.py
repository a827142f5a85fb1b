"""``executor = "celery"``: chains on Celery workers, with Redis as the broker.

The daemon stays the single reader of the event log and the owner of cursors
and state; each chain goes out as one Celery task (``evframe.run_chain``, JSON,
never pickle) carrying its job.  ``evframe worker`` runs the task: it loads the
same installed handler packages, refuses a job whose handler versions differ
from its own (the daemon logs it and sends the job again, so a worker with the
right versions can take it), runs the chain, and pushes the outcome onto a
Redis list of the daemon's.

Tasks are acknowledged late and rejected when their worker is lost, so the
broker hands them out again; on top of that the daemon sends a job again when
it has been in flight longer than ``daemon.chain_timeout``, or could not be sent
(the broker is down: the daemon waits it out).  A chain may then run twice;
only its first outcome counts.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from evframe import discovery
from evframe.config import Config
from evframe.daemon.executor import Done
from evframe.daemon.jobs import Job, OutcomeData
from evframe.errors import EvframeError
from evframe.processor import Processor

__all__ = ["TASK", "CeleryRunner", "celery_app", "refusal"]

log = logging.getLogger("evframe.daemon")

TASK = "evframe.run_chain"
QUEUE = "evframe"
# Replies nobody reads (a daemon that went away) do not stay in Redis for ever.
REPLY_TTL = 86400


def _celery() -> Any:
    try:
        import celery
    except ImportError:
        raise EvframeError(
            "executor = \"celery\" needs Celery and redis: pip install 'evframe[celery]'"
        ) from None
    return celery


def celery_app(config: Config) -> Any:
    """The Celery app of the daemon and its workers (JSON only, late acks)."""
    app = _celery().Celery("evframe", broker=config.daemon.broker, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_default_queue=QUEUE,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        # An unacknowledged task goes back to the queue after this; the daemon
        # sends a job again sooner (chain_timeout) when a worker is lost.
        broker_transport_options={"visibility_timeout": max(60.0, 2 * config.daemon.chain_timeout)},
    )
    return app


def redis_client(url: str) -> Any:
    """A Redis connection for the replies."""
    import redis

    return redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)


def refusal(expected: Mapping[str, str], mine: Mapping[str, str]) -> str | None:
    """Why a worker with handler versions ``mine`` must not run a job that expects
    ``expected`` (None: it may)."""
    wrong = [
        f"{name}: daemon runs {want}, this worker has {mine.get(name, 'nothing')}"
        for name, want in sorted(expected.items())
        if mine.get(name, "nothing") != want
    ]
    if not wrong:
        return None
    return "handler versions differ from the daemon's: " + "; ".join(wrong)


class CeleryRunner:
    """Sends jobs as Celery tasks; a thread collects the outcomes from Redis."""

    stop_wait = 10.0

    def __init__(self, config: Config, processor: Processor, *, url: str) -> None:
        self.config = config
        self.app = celery_app(config)
        self.redis = redis_client(str(config.daemon.broker))
        self.reply = f"evframe:replies:{uuid.uuid4().hex}"
        # What the daemon runs, by handler: workers must have the same.
        installed = discovery.distributions(config.daemon.group)
        self.versions = {name: installed.get(name, "?") for name in processor.names}
        self.resend_after = config.daemon.chain_timeout
        self._lock = threading.Lock()
        # seq -> (job, done, when it was sent; None: not sent yet)
        self._flying: dict[int, tuple[Job, Done, float | None]] = {}
        self._closing = threading.Event()
        self._kick = threading.Event()
        self._refused: set[str] = set()
        self._trouble: str | None = None
        self._threads = [
            threading.Thread(target=self._collect, name="evframe-celery-replies", daemon=True),
            threading.Thread(target=self._sender, name="evframe-celery-sender", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def start(self, job: Job, done: Done) -> None:
        # Sent from the sender thread: a broker that is down never blocks the loop.
        with self._lock:
            self._flying[int(job["seq"])] = ({**job, "reply": self.reply}, done, None)
        self._kick.set()

    def _send(self, job: Job) -> bool:
        seq = int(job["seq"])
        try:
            self.app.send_task(TASK, args=[job], queue=QUEUE, retry=False)
        except Exception as exc:  # the broker is down: sent again on the next round
            self._trouble_starts(f"cannot send to the broker: {type(exc).__name__}: {exc}")
            return False
        with self._lock:
            if seq in self._flying:
                job, done, _sent = self._flying[seq]
                self._flying[seq] = (job, done, time.monotonic())
        return True

    def _sender(self) -> None:
        wait = 0.5
        while not self._closing.is_set():
            self._kick.wait(wait)
            self._kick.clear()
            wait = 0.5 if self._send_due() else min(wait * 2, 5.0)

    def _trouble_starts(self, what: str) -> None:
        if self._trouble is None:
            log.warning("celery executor: %s; retrying until the broker answers", what)
        self._trouble = what

    def _trouble_ends(self) -> None:
        if self._trouble is not None:
            log.info("celery executor: the broker answers again")
            self._trouble = None

    def _collect(self) -> None:
        wait = 0.5
        while not self._closing.is_set():
            try:
                item = self.redis.blpop([self.reply], timeout=1)
            except Exception as exc:  # redis down: wait it out, never give up
                self._trouble_starts(f"cannot read replies: {type(exc).__name__}")
                self._closing.wait(wait)
                wait = min(wait * 2, 5.0)
                continue
            wait = 0.5
            self._trouble_ends()
            if item is not None:
                self._reply(json.loads(item[1]))

    def _reply(self, message: dict[str, Any]) -> None:
        seq = int(message.get("seq", -1))
        with self._lock:
            flying = self._flying.get(seq)
        if flying is None:
            return  # sent twice and done twice: the first outcome counted
        job, done, _sent = flying
        refused = message.get("refused")
        if refused is not None:
            if refused not in self._refused:
                self._refused.add(refused)
                log.error("a worker refused event %s: %s", job["event_id"], refused)
            # Sent again after a while: a worker with the right versions may take it.
            with self._lock:
                self._flying[seq] = (job, done, time.monotonic() - self.resend_after + 1.0)
            return
        with self._lock:
            self._flying.pop(seq, None)
        outcome: OutcomeData = message["outcome"]
        done(outcome)

    def _send_due(self) -> bool:
        """Send the jobs not sent yet and those in flight for too long; False if
        the broker is down."""
        now = time.monotonic()
        with self._lock:
            due = [
                (job, sent)
                for job, _done, sent in self._flying.values()
                if sent is None or now - sent > self.resend_after
            ]
        for job, sent in due:
            if self._closing.is_set():
                break
            if not self._send(job):
                return False
            if sent is not None:
                log.warning(
                    "celery executor: event %s was in flight for more than %g s (a lost "
                    "worker?): sent again",
                    job["event_id"],
                    self.resend_after,
                )
        if due:
            self._trouble_ends()
        return True

    def close(self) -> None:
        self._closing.set()
        self._kick.set()
        for thread in self._threads:
            thread.join(15)
        try:
            self.redis.delete(self.reply)
            self.redis.close()
        except Exception:  # the broker is down: the reply list expires by itself
            pass
