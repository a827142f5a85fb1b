"""The Celery side of ``executor = "celery"``: what ``evframe worker`` runs.

Each worker loads the installed handler packages of ``daemon.group`` (the
same entry points as the daemon, found the same way) and runs the
``evframe.run_chain`` task: check that its handler versions are the daemon's,
run the chain on a processor of the worker thread's own (``ctx.sg`` is not
shared between threads), push the outcome onto the daemon's reply list.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from evframe import discovery
from evframe.config import Config
from evframe.daemon.executor import clone_processor
from evframe.daemon.jobs import Job, run_job
from evframe.daemon.reload import load_handler_set
from evframe.daemon.remote import QUEUE, REPLY_TTL, TASK, celery_app, redis_client, refusal
from evframe.processor import Processor
from evframe.site import Connections

__all__ = ["WorkerRuntime", "run_worker"]

log = logging.getLogger("evframe.worker")


class WorkerRuntime:
    """The handler set of one worker process and the task that runs it."""

    def __init__(self, config: Config, url: str) -> None:
        self.config = config
        self.url = url
        self.processor = load_handler_set(config, Connections(config, url).for_handler)
        # The versions this process imported, not what is installed later: a package
        # upgraded under a running worker is not the code it runs.
        installed = discovery.distributions(config.daemon.group)
        self.versions = {name: installed.get(name, "?") for name in self.processor.names}
        self.redis = redis_client(str(config.daemon.broker))
        self._local = threading.local()

    def _mine(self) -> tuple[Processor, Connections]:
        mine: tuple[Processor, Connections] | None = getattr(self._local, "mine", None)
        if mine is None:
            connections = Connections(self.config, self.url)
            mine = (clone_processor(self.processor, connections.for_handler), connections)
            self._local.mine = mine
        return mine

    def run(self, job: Job) -> None:
        """The task: run ``job`` (or refuse it) and reply."""
        why = refusal(job.get("versions", {}), self.versions)
        if why is not None:
            log.error("refusing event %s: %s", job["event_id"], why)
            self._reply(job, {"seq": job["seq"], "refused": why})
            return
        processor, connections = self._mine()
        pass_sessions = any(h.pass_session_uuid for h in self.config.handlers.values())

        def before(event: Any) -> None:
            if pass_sessions:
                connections.set_session_uuid(event.session_uuid)

        outcome = run_job(processor, job, None, before=before)
        self._reply(job, {"seq": job["seq"], "outcome": outcome})

    def _reply(self, job: Job, message: dict[str, Any]) -> None:
        data = json.dumps(message)
        deadline = time.monotonic() + self.config.daemon.chain_timeout
        wait = 0.5
        while True:
            try:
                pipe = self.redis.pipeline()
                pipe.rpush(job["reply"], data)
                pipe.expire(job["reply"], REPLY_TTL)
                pipe.execute()
                return
            except Exception:
                # The broker is down: hold the outcome until it is back (or until the
                # daemon has sent the job again anyway).
                if time.monotonic() > deadline:
                    raise
                time.sleep(wait)
                wait = min(wait * 2, 5.0)


def run_worker(config: Config, *, url: str, concurrency: int, pool: str, name: str) -> None:
    """Start a Celery worker on the evframe queue; returns when it stops."""
    from celery import signals

    runtime = WorkerRuntime(config, url)
    app = celery_app(config)
    app.task(name=TASK, acks_late=True, reject_on_worker_lost=True)(runtime.run)

    def ready(**_kwargs: Any) -> None:
        log.info(
            "worker ready: %d handler(s) (%s), queue %s, %d %s",
            len(runtime.versions),
            ", ".join(sorted(set(runtime.versions.values()))) or "none",
            QUEUE,
            concurrency,
            "thread(s)" if pool == "threads" else "process",
        )

    signals.worker_ready.connect(ready, weak=False)

    app.worker_main(
        [
            "worker",
            f"--concurrency={concurrency}",
            f"--pool={pool}",
            "--loglevel=WARNING",
            f"--queues={QUEUE}",
            f"--hostname={name}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )
