"""The api3 JSON protocol: decode a request body, check it, run the method, encode the reply.

Everything a request says is checked here (parameters, paging, sorts,
summaries, filters, batch items) before :mod:`~evframe.sandbox.reads` or
:mod:`~evframe.sandbox.writes` run it; field values are checked by the write
itself, against the data as it is at that point of a batch.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from evframe.sandbox import reads, schemaedit, writes
from evframe.sandbox.auth import Actor
from evframe.sandbox.errors import ApiError
from evframe.sandbox.eventlog import dumps
from evframe.sandbox.grouping import check as grouping_check
from evframe.sandbox.query import Group, check_path, parse_filters
from evframe.sandbox.reads import RawReply, ReadRequest, SummarizeRequest
from evframe.sandbox.sessions import authenticate_any
from evframe.sandbox.store import Store
from evframe.sandbox.surface import surface_methods

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
            "read": lambda a, p: reads.read(self.store, self._read(p)),
            "create": self._create,
            "update": self._update,
            "delete": lambda a, p: writes.delete(self.store, a, *self._type_id(p)),
            "revive": lambda a, p: writes.revive(self.store, a, *self._type_id(p)),
            "batch": self._batch,
            "summarize": lambda a, p: reads.summarize(self.store, self._summarize(p)),
            "schema_read": lambda a, p: self.store.schema.api_read(),
            "schema_entity_read": lambda a, p: self.store.schema.api_entity_read(),
            "schema_field_read": self._schema_field_read,
            "schema_field_create": lambda a, p: schemaedit.create_field(
                self.store, a, self._params(p)
            ),
            "schema_field_update": lambda a, p: schemaedit.update_field(
                self.store, a, self._params(p)
            ),
            "schema_field_delete": lambda a, p: schemaedit.delete_field(
                self.store, a, self._params(p)
            ),
        }
        # The calls beyond reading and writing entities (follows, threads, search...).
        self._methods.update(surface_methods(store))

    def info(self) -> dict[str, Any]:
        """The reply to ``info``: what the client learns about the site."""
        return {
            "version": list(SERVER_VERSION),
            "full_version": [*SERVER_VERSION, 0],
            "user_authentication_method": "default",
            "api_max_entities_per_page": self.store.page_size,
            # Movies on Versions (and files uploaded to Attachments) go through upload
            # URLs, the rest through the /upload/ forms: clients take both paths, as on
            # a site (see evframe.sandbox.fileroutes).
            "s3_uploads_enabled": True,
            "s3_direct_uploads_enabled": True,
            "s3_enabled_upload_types": {"Version": ["sg_uploaded_movie"], "Attachment": "*"},
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
            actor = authenticate_any(self.store, params[0] if params else None)
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
        return writes.create(
            self.store, actor, p.get("type"), p.get("fields"), p.get("return_fields")
        )

    def _update(self, actor: Actor, p: Any) -> Any:
        p = self._params(p)
        return writes.update(self.store, actor, p.get("type"), p.get("id"), p.get("fields"))

    def _schema_field_read(self, actor: Actor, p: Any) -> Any:
        p = self._params(p)
        return self.store.schema.api_field_read(p.get("type"), p.get("field_name"))

    def _batch(self, actor: Actor, requests: Any) -> list[Any]:
        store = self.store
        if not isinstance(requests, list):
            raise ApiError("batch: expected a list of requests.")
        results: list[Any] = []
        with store.transaction():
            for n, req in enumerate(requests):
                if not isinstance(req, dict):
                    raise ApiError(f"batch request {n}: expected an object, got {req!r}.")
                kind, etype = req.get("request_type"), str(req.get("type"))
                try:
                    if kind == "create":
                        fields, return_fields = req.get("fields"), req.get("return_fields")
                        results.append(writes.create(store, actor, etype, fields, return_fields))
                    elif kind == "update":
                        results.append(
                            writes.update(store, actor, etype, req.get("id"), req.get("fields"))
                        )
                    elif kind == "delete":
                        results.append(writes.delete(store, actor, etype, req.get("id")))
                    else:
                        raise ApiError(f"unknown request_type {kind!r} (create, update, delete)")
                except ApiError as exc:
                    raise ApiError(
                        f"batch request {n} ({kind} {etype}) failed, nothing was written: "
                        f"{exc.message}",
                        exc.code,
                    ) from None
        return results

    def _of_type(self, method: str, params: Any) -> tuple[dict[str, Any], str]:
        """``params`` checked to be an object, and the entity type it names."""
        if not isinstance(params, dict):
            raise ApiError(f"{method}: expected an object of parameters.")
        return params, self.store.schema.entity(params.get("type")).name

    def _read(self, params: Any) -> ReadRequest:
        params, etype = self._of_type("read", params)
        fields = params.get("return_fields") or ["id"]
        if not isinstance(fields, list):
            raise ApiError(f"Bad return_fields {fields!r}: expected a list of field names.")
        paging = params.get("paging") or {}
        page_size = self.store.page_size
        try:
            per_page = int(paging.get("entities_per_page") or page_size)
            page = int(paging.get("current_page") or 1)
        except (TypeError, ValueError):
            raise ApiError(f"Bad paging {paging!r}.") from None
        return_only = params.get("return_only", "active")
        if return_only not in ("active", "retired"):
            raise ApiError(f"Bad return_only {return_only!r}: use active or retired.")
        if params.get("additional_filter_presets"):
            raise ApiError("additional_filter_presets are not supported by the sandbox.")
        sorts = self._sorts(etype, params.get("sorts"))
        return ReadRequest(
            entity_type=etype,
            filters=self._filters(etype, params),
            sorts=sorts,
            return_fields=fields,
            per_page=max(1, min(per_page, page_size)),
            page=max(1, page),
            retired=return_only == "retired",
            with_count=bool(params.get("return_paging_info")),
        )

    def _sorts(self, etype: str, sorts: Any) -> list[tuple[str, bool]]:
        if sorts is None:
            return []
        if not isinstance(sorts, list):
            raise ApiError(f"Bad sorts {sorts!r}: expected a list of {{field_name, direction}}.")
        out = []
        for s in sorts:
            if not isinstance(s, dict):
                raise ApiError(f"Bad sort {s!r}: expected {{field_name, direction}}.")
            direction = s.get("direction", "asc")
            if direction not in ("asc", "desc"):
                raise ApiError(f"Bad sort direction {direction!r}: use asc or desc.")
            check_path(self.store.schema, etype, s.get("field_name"))
            out.append((str(s["field_name"]), direction == "desc"))
        return out

    def _summarize(self, params: Any) -> SummarizeRequest:
        params, etype = self._of_type("summarize", params)
        schema = self.store.schema
        summaries = params.get("summaries") or []
        grouping = params.get("grouping") or []
        if not isinstance(summaries, list) or not isinstance(grouping, list):
            raise ApiError("summarize: summaries and grouping must be lists.")
        for s in summaries:
            if not isinstance(s, dict) or s.get("type") not in reads.SUMMARIES:
                raise ApiError(
                    f"Bad summary {s!r}: type must be one of {', '.join(sorted(reads.SUMMARIES))}."
                )
            check_path(schema, etype, s.get("field"))
        for g in grouping:
            field = g.get("field") if isinstance(g, dict) else None
            grouping_check(check_path(schema, etype, field), g)
        return SummarizeRequest(etype, self._filters(etype, params), summaries, grouping)

    def _filters(self, etype: str, params: dict[str, Any]) -> Group:
        """The request's filters, plus ``include_archived_projects=False`` if it says so."""
        schema = self.store.schema
        filters = parse_filters(schema, etype, params.get("filters"))
        archived = params.get("include_archived_projects", True)
        if not isinstance(archived, bool):
            raise ApiError(f"Bad include_archived_projects {archived!r}: expected true or false.")
        project = schema.entity(etype).fields.get("project")
        if archived:
            return filters
        # An archived Project hides itself; rows without a project stay, as on a site.
        if etype == "Project":
            path = "archived"
        elif project is not None and project.data_type == "entity":
            path = "project.Project.archived"
        else:
            return filters
        live = parse_filters(schema, etype, [[path, "is_not", True]])
        return Group("and", (filters, *live.conditions))
