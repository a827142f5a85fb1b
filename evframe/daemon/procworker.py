"""A worker process of ``executor = "processes"``: ``python -m evframe.daemon.procworker``.

It loads the installed handler set itself (the daemon's config, the same entry
points), then runs the jobs it reads from stdin, one JSON line each, and writes
JSON lines to the daemon: ``{"ready": [names]}`` once loaded, ``{"call": NAME}``
right before each handler call (so a handler past its deadline is the one
blamed) and ``{"outcome": ...}`` per job.  What handlers print goes to stderr,
so it never mixes with these lines.  Signals are the daemon's business: the
worker ignores SIGINT and SIGTERM and ends when its stdin closes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import IO, Any

__all__ = ["main"]


def _protocol_stream() -> IO[str]:
    """The real stdout for the protocol; fd 1 then points at stderr, so that a
    handler's print() (or a C library's) cannot break a line."""
    out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


def _logging(level: str, secrets: list[str]) -> None:
    from evframe._logsetup import RedactingFilter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s [worker %(process)d]: %(message)s")
    )
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger("evframe")
    root.addHandler(handler)
    root.setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve jobs from stdin until it closes."""
    parser = argparse.ArgumentParser(prog="python -m evframe.daemon.procworker")
    parser.add_argument("--config")
    parser.add_argument("--url", required=True)
    args = parser.parse_args(argv)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    out = _protocol_stream()

    from evframe.config import load_config
    from evframe.daemon.jobs import run_job
    from evframe.daemon.reload import load_handler_set
    from evframe.site import Connections

    config = load_config(args.config, required=args.config is not None)
    _logging(config.logging.level, config.secrets())
    connections = Connections(config, args.url)
    processor = load_handler_set(config, connections.for_handler)
    pass_sessions = any(h.pass_session_uuid for h in config.handlers.values())

    def send(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    send({"ready": processor.names})
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        before = None
        if pass_sessions:

            def before(event: Any) -> None:
                connections.set_session_uuid(event.session_uuid)

        outcome = run_job(
            processor, job, None, on_call=lambda name: send({"call": name}), before=before
        )
        send({"outcome": outcome})
    connections.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
