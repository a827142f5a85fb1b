"""Benchmark: page through 20 000 EventLogEntry rows with shotgun_api3.

Compares the sandbox with a "minimal fake": a tiny HTTP server that answers only
this query, from rows pre-built as JSON in memory.  The client's own cost (JSON
decoding, datetime conversion) is the same for both, so the ratio shows how much
the sandbox's server side costs.  Prints one JSON line.

    python benchmarks/sandbox_read.py [--events 20000] [--runs 5]
"""

from __future__ import annotations

import argparse
import bisect
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from shotgun_api3 import shotgun

from evframe.event import EVENT_FIELDS
from evframe.sandbox import Sandbox
from evframe.sandbox.eventlog import select_json

FIELDS = list(EVENT_FIELDS)
SCRIPT, KEY = "bench", "bench-key"


class MinimalFake:
    """Answers ``info`` and ``read`` of ``id > cursor`` from pre-built row JSON."""

    def __init__(self, rows: list[tuple[int, bytes]]) -> None:
        self.ids = [r[0] for r in rows]
        self.rows = [r[1].decode() for r in rows]
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                self.reply(fake.answer(json.loads(body)))

            def reply(self, body: bytes) -> None:
                head = (
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                )
                self.wfile.write(head.encode() + body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, request: dict[str, Any]) -> bytes:
        if request["method_name"] == "info":
            return b'{"version":[8,20,0],"full_version":[8,20,0,0]}'
        params = request["params"][1]
        cursor = params["filters"]["conditions"][0]["values"][0]
        per_page = params["paging"]["entities_per_page"]
        start = bisect.bisect_right(self.ids, cursor)
        page = self.rows[start : start + per_page]
        more = "true" if start + per_page < len(self.rows) else "false"
        return (
            '{"results":{"entities":['
            + ",".join(page)
            + '],"paging_info":{"has_next_page":'
            + more
            + "}}}"
        ).encode()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> MinimalFake:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def page_through(url: str, expected: int) -> float:
    """Read every event after id 0 in pages of 500; return the seconds it took."""
    sg = shotgun.Shotgun(url, SCRIPT, KEY)
    cursor, seen = 0, 0
    order = [{"field_name": "id", "direction": "asc"}]
    t0 = time.perf_counter()
    while True:
        page = sg.find(
            "EventLogEntry", [["id", "greater_than", cursor]], FIELDS, order=order, limit=500
        )
        if not page:
            break
        seen += len(page)
        cursor = page[-1]["id"]
    elapsed = time.perf_counter() - t0
    sg.close()
    if seen != expected:
        raise SystemExit(f"read {seen} events, expected {expected}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5, help="best of N runs for each server")
    args = parser.parse_args()

    with Sandbox(scripts={SCRIPT: KEY}) as sb:
        t0 = time.perf_counter()
        sb.seed_events(args.events)
        seed_s = time.perf_counter() - t0
        with sb.store.lock:
            rows = sb.store.conn.execute(
                f"SELECT id, {select_json(FIELDS)} FROM events ORDER BY id"
            ).fetchall()
        # Server side alone: the api3 dispatch for one page, no HTTP, no client.
        body = json.dumps(
            {
                "method_name": "read",
                "params": [
                    {"script_name": SCRIPT, "script_key": KEY},
                    {
                        "type": "EventLogEntry",
                        "return_fields": FIELDS,
                        "filters": {
                            "logical_operator": "and",
                            "conditions": [
                                {"path": "id", "relation": "greater_than", "values": [1000]}
                            ],
                        },
                        "paging": {"entities_per_page": 500, "current_page": 1},
                        "sorts": [{"field_name": "id", "direction": "asc"}],
                        "return_only": "active",
                    },
                ],
            }
        ).encode()
        n = 50
        t0 = time.perf_counter()
        for _ in range(n):
            sb.api.handle(body)
        server_page_ms = (time.perf_counter() - t0) / n * 1000

        with MinimalFake(rows) as fake:
            sandbox_s, fake_s = [], []
            page_through(sb.url, args.events)  # warm up both
            page_through(fake.url, args.events)
            for _ in range(args.runs):
                sandbox_s.append(page_through(sb.url, args.events))
                fake_s.append(page_through(fake.url, args.events))

    best, best_fake = min(sandbox_s), min(fake_s)
    rate, fake_rate = args.events / best, args.events / best_fake
    print(
        json.dumps(
            {
                "benchmark": "sandbox_read",
                "events": args.events,
                "seconds": round(best, 4),
                "events_per_s": round(rate),
                "minimal_seconds": round(best_fake, 4),
                "minimal_events_per_s": round(fake_rate),
                "ratio": round(rate / fake_rate, 3),
                "server_ms_per_page": round(server_page_ms, 3),
                "seed_seconds": round(seed_s, 3),
                "runs": args.runs,
            }
        )
    )


if __name__ == "__main__":
    main()
