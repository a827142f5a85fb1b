"""``Sandbox``: a local api3 site in a background thread, for tests and demos."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from evframe.sandbox.api import Api
from evframe.sandbox.auth import ensure_script, scripts_from
from evframe.sandbox.faults import Faults
from evframe.sandbox.fileroutes import FileRoutes
from evframe.sandbox.files import FileStore, data_dir_for
from evframe.sandbox.fileschema import add_file_fields
from evframe.sandbox.schema import FieldDef, Schema, parse_field_option
from evframe.sandbox.schema_extra import add_missing
from evframe.sandbox.seed import seed_demo
from evframe.sandbox.seed import seed_events as _seed_events
from evframe.sandbox.server import SandboxHTTPServer
from evframe.sandbox.store import Store
from evframe.sandbox.webhooks import WebhookFaults, Webhooks, WebhookTarget, parse_target

SEEDS = ("demo",)


class Sandbox:
    """A local Flow Production Tracking site speaking api3 JSON.

    >>> with Sandbox(scripts={"test": "secret"}, seed="demo") as sb:
    ...     sg = shotgun_api3.Shotgun(sb.url, "test", "secret")

    ``db`` is an SQLite file (kept across restarts) or ``None`` for memory.
    ``schema`` lists extension JSON files or dicts; ``fields`` lists custom
    fields as ``"Shot.sg_foo:text"`` strings or ``(type, field, data_type)``
    tuples.  ``page_size`` is the most rows one ``read`` page returns (the
    client learns it from ``info`` as ``api_max_entities_per_page``).
    """

    def __init__(
        self,
        db: str | Path | None = None,
        *,
        seed: str | None = None,
        scripts: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        schema: Iterable[str | Path | Mapping[str, Any]] = (),
        fields: Iterable[str | tuple[str, str, str]] = (),
        faults: Faults | None = None,
        page_size: int = 500,
        webhooks: Iterable[str | WebhookTarget] = (),
    ) -> None:
        if seed is not None and seed not in SEEDS:
            raise ValueError(f"unknown seed {seed!r}; known: {', '.join(SEEDS)}")
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.host = host
        self._port = port
        self.schema = Schema.bundled()
        add_missing(self.schema)
        add_file_fields(self.schema)
        for ext in schema:
            if isinstance(ext, Mapping):
                self.schema.extend(ext)
            else:
                self.schema.load_file(ext)
        self.faults = faults or Faults()
        self.store = Store(self.schema, db, self.faults, page_size)
        for spec in fields:
            if isinstance(spec, str):
                etype, fname, dtype, extra = parse_field_option(spec)
            else:
                (etype, fname, dtype), extra = spec, []
            self.add_field(etype, fname, dtype, choices=extra)
        #: The credentials given (``{script_name: api_key}``).
        self.scripts = scripts_from(scripts)
        for name, key in self.scripts.items():
            ensure_script(self.store, name, key)
        if seed == "demo":
            seed_demo(self.store)
        #: Uploaded files: next to the database file (``<db>.files``), or temporary.
        self.files = FileStore(self.store, data_dir_for(db))
        self.api = Api(self.store)
        #: The site's webhooks (``URL[:SECRET]`` strings or targets); more can be added.
        self.webhooks = Webhooks(
            (parse_target(w) if isinstance(w, str) else w for w in webhooks),
            site_url=lambda: self.url,
            faults=WebhookFaults(),
        )
        self.store.event_listeners.append(self.webhooks.on_events)
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> Sandbox:
        """Listen (a free port when ``port`` is 0) and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("sandbox already started")
        self._server = SandboxHTTPServer(
            (self.host, self._port), self.api, self.faults, FileRoutes(self.files)
        )
        self._server.webhooks = self.webhooks
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"evframe-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close client connections, the database and the files."""
        server, thread = self._server, self._thread
        if server is not None:
            server.shutdown()
            server.close_connections()
            server.server_close()
        if thread is not None:
            thread.join(timeout=10)
        self._server = self._thread = None
        self.webhooks.stop()
        self.store.close()
        self.files.close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            return self._port
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The site URL to give ``shotgun_api3.Shotgun`` (no trailing slash)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # -- direct access ---------------------------------------------------------------

    def add_script(self, name: str, key: str) -> dict[str, Any]:
        """Make sure a script (ApiUser) ``name`` with ``key`` exists; return its link."""
        ((name, key),) = scripts_from({name: key}).items()
        self.scripts[name] = key
        return ensure_script(self.store, name, key)

    def add_field(
        self,
        entity_type: str,
        field_name: str,
        data_type: str,
        *,
        display_name: str | None = None,
        choices: Iterable[str] = (),
    ) -> FieldDef:
        """Add a custom field; ``choices`` are valid types (links) or valid values (lists)."""
        choices = list(choices)
        is_link = data_type in ("entity", "multi_entity")
        with self.store.lock:
            fdef = self.schema.add_field(
                entity_type,
                field_name,
                data_type,
                display_name=display_name,
                valid_types=choices if is_link else (),
                valid_values=() if is_link else choices,
            )
            self.store.save_custom_field(fdef)
        return fdef

    def seed_demo(self) -> bool:
        """Create the demo project (see :func:`evframe.sandbox.seed.seed_demo`)."""
        return seed_demo(self.store)

    def seed_events(self, count: int, *, seed: int = 0, script: str | None = None) -> range:
        """Bulk-insert ``count`` realistic EventLogEntry rows; returns their ids."""
        user = None
        name = script or next(iter(self.scripts), None)
        if name is not None:
            user = (
                ensure_script(self.store, name, self.scripts[name])
                if name in self.scripts
                else None
            )
        return _seed_events(self.store, count, seed=seed, user=user)

    def client(self, script: str | None = None, **kwargs: Any) -> Any:
        """A ``shotgun_api3.Shotgun`` for one of the scripts (the first by default)."""
        from shotgun_api3 import shotgun

        if not self.scripts:
            raise RuntimeError("the sandbox has no scripts; pass scripts= or call add_script()")
        name = script or next(iter(self.scripts))
        return shotgun.Shotgun(self.url, name, self.scripts[name], **kwargs)
