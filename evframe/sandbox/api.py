"""The api3 JSON protocol: decode a request body, run the method, encode the reply."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from evframe.sandbox.errors import ApiError
from evframe.sandbox.eventlog import dumps
from evframe.sandbox.store import Actor, RawReply, Store

log = logging.getLogger(__name__)

#: The version the sandbox claims.  >= 7.4 makes ``shotgun_api3`` page with
#: ``has_next_page`` instead of counting; every feature the client switches on
#: for it (per-project schema, archived projects, filter presets...) is either
#: implemented or refused with a clear error.
SERVER_VERSION = (8, 20, 0)


class Api:
    """Dispatches api3 method calls to a :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._methods: dict[str, Callable[[Actor, Any], Any]] = {
            "read": lambda a, p: self.store.read(p),
            "create": self._create,
            "update": self._update,
            "delete": lambda a, p: self.store.delete(a, *self._type_id(p)),
            "revive": lambda a, p: self.store.revive(a, *self._type_id(p)),
            "batch": self.store.batch,
            "summarize": lambda a, p: self.store.summarize(p),
            "schema_read": lambda a, p: self.store.schema.api_read(),
            "schema_entity_read": lambda a, p: self.store.schema.api_entity_read(),
            "schema_field_read": self._schema_field_read,
        }

    def info(self) -> dict[str, Any]:
        return {
            "version": list(SERVER_VERSION),
            "full_version": [*SERVER_VERSION, 0],
            "user_authentication_method": "default",
            "api_max_entities_per_page": self.store.page_size,
            "s3_uploads_enabled": False,
            "s3_direct_uploads_enabled": False,
            "evframe_sandbox": True,
        }

    def handle(self, body: bytes) -> bytes:
        """One request body in, one reply body out (api3 errors included)."""
        try:
            result = self._dispatch(body)
        except ApiError as exc:
            return dumps(
                {"exception": True, "message": exc.message, "error_code": exc.code}
            ).encode()
        except Exception as exc:  # a sandbox bug: say so rather than drop the connection
            log.exception("sandbox: internal error")
            reply = {"exception": True, "message": f"sandbox internal error: {exc!r}"}
            return dumps({**reply, "error_code": 104}).encode()
        if isinstance(result, RawReply):
            return result
        return dumps({"results": result}).encode()

    def _dispatch(self, body: bytes) -> Any:
        try:
            request = json.loads(body)
        except ValueError as exc:
            raise ApiError(f"Bad request: the body is not JSON ({exc}).") from None
        if not isinstance(request, dict):
            raise ApiError("Bad request: expected a JSON object {method_name, params}.")
        method = request.get("method_name")
        params = request.get("params") or []
        if not isinstance(params, list):
            raise ApiError("Bad request: params must be a list [auth, params].")
        if method == "info":
            return self.info()
        handler = self._methods.get(method) if isinstance(method, str) else None
        if handler is None:
            raise ApiError(
                f"Unknown or unsupported method {method!r}; the sandbox supports: "
                f"info, {', '.join(sorted(self._methods))}."
            )
        # One request at a time: validation and the write it guards must not interleave.
        with self.store.lock:
            actor = self.store.authenticate(params[0] if params else None)
            return handler(actor, params[1] if len(params) > 1 else None)

    @staticmethod
    def _params(p: Any) -> dict[str, Any]:
        if not isinstance(p, dict):
            raise ApiError("Bad request: expected an object of parameters.")
        return p

    def _type_id(self, p: Any) -> tuple[str, Any]:
        p = self._params(p)
        return p.get("type"), p.get("id")

    def _create(self, actor: Actor, p: Any) -> Any:
        p = self._params(p)
        return self.store.create(actor, p.get("type"), p.get("fields"), p.get("return_fields"))

    def _update(self, actor: Actor, p: Any) -> Any:
        p = self._params(p)
        return self.store.update(actor, p.get("type"), p.get("id"), p.get("fields"))

    def _schema_field_read(self, actor: Actor, p: Any) -> Any:
        p = self._params(p)
        return self.store.schema.api_field_read(p.get("type"), p.get("field_name"))
