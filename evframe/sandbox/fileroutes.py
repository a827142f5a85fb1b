"""The HTTP side of files: the ``/upload/...`` forms, upload URLs, downloads and thumbnails.

``shotgun_api3`` speaks two upload protocols, chosen by what ``info`` says
(``s3_direct_uploads_enabled`` and ``s3_enabled_upload_types``):

- upload URLs: ``api_get_upload_link_info`` hands out a URL, the client PUTs the
  bytes to it (or, above 20 MB, gets one URL per part with
  ``api_get_upload_link_for_part`` and joins them with
  ``api_complete_multipart_upload``), then ``api_link_file`` makes the Attachment;
- forms: ``upload_file`` and ``publish_thumbnail`` carry the file in a
  multipart form.

Form endpoints answer ``1...`` on success and ``0\\n<reason>`` when refused,
always with HTTP 200: the client retries any HTTP error three times with
sleeps before giving up, which would only hide the reason.
"""

from __future__ import annotations

import mimetypes
import re
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

from evframe.sandbox.auth import authenticate
from evframe.sandbox.errors import ApiError
from evframe.sandbox.files import FileStore, Upload, as_int
from evframe.sandbox.fileurls import ATTACHMENT_PATH, MEDIA_PATH, STORAGE_PATH

_LOOPBACK = ("127.", "::1", "::ffff:127.")
#: Form fields besides the file are small; this bounds a form without one.
_MAX_FORM_BYTES = 1 << 20
#: A refused body up to this size is read and dropped so the client sees the reply;
#: a larger one gets the reply and a closed connection.
_MAX_DRAIN_BYTES = 64 << 20
_DISPOSITION = re.compile(r'\bname="([^"]*)"(?:; filename="(.*)")?')


def is_loopback(address: Any) -> bool:
    """Whether a client address is this machine."""
    return str(address).startswith(_LOOPBACK)


class FileRoutes:
    """Serves the file endpoints of one sandbox from its :class:`FileStore`."""

    PREFIXES = ("/upload/", ATTACHMENT_PATH, MEDIA_PATH, STORAGE_PATH)

    def __init__(self, files: FileStore) -> None:
        self.files = files

    def handles(self, path: str) -> bool:
        """Whether ``path`` is one of the file endpoints."""
        return path.startswith(self.PREFIXES)

    def serve(self, req: BaseHTTPRequestHandler, method: str, path: str) -> None:
        """Answer one request to a file endpoint."""
        if method == "PUT" and path.startswith(STORAGE_PATH):
            self._put(req, path[len(STORAGE_PATH) :])
        elif method == "GET" and path.startswith(ATTACHMENT_PATH):
            self._download(req, path[len(ATTACHMENT_PATH) :])
        elif method == "GET" and path.startswith(MEDIA_PATH):
            key, _, name = path[len(MEDIA_PATH) :].partition("/")
            blob = self.files.blob_path(key)
            if blob is None:
                _send(req, 404, b"no such file", "text/plain")
            else:
                _send_file(req, blob, unquote(name), None)
        elif method == "POST" and path.startswith("/upload/"):
            _send(req, 200, self._form(req, path[len("/upload/") :]).encode(), "text/plain")
        else:
            _drain(req, _MAX_FORM_BYTES)
            _send(req, 405, f"{method} is not served at {path}".encode(), "text/plain")

    # -- forms -------------------------------------------------------------------------

    def _form(self, req: BaseHTTPRequestHandler, name: str) -> str:
        files = self.files
        try:
            form, upload = _read_form(req, files.max_upload_bytes + _MAX_FORM_BYTES)
            actor = authenticate(files.store, form)
            if name == "api_get_upload_link_info":
                multipart = parse_flag(form.get("multipart_upload"))
                return files.begin(
                    actor, form.get("upload_type", ""), form.get("filename", ""), multipart
                )
            if name == "api_get_upload_link_for_part":
                return files.part_link(form.get("upload_id", ""), form.get("part_number"))
            if name == "api_complete_multipart_upload":
                files.complete(form.get("upload_id", ""), form.get("etags", ""))
                return "1\n"
            if name == "api_link_file":
                info = form.get("upload_link_info", "")
                return f"1:{files.link(actor, info, upload_from_form(form, '', False))}\n"
            if name in ("upload_file", "publish_thumbnail"):
                thumbnail = name == "publish_thumbnail"
                part = upload.get("thumb_image" if thumbnail else "file")
                if part is None:
                    raise ApiError("The form carries no file.")
                spec: Upload = upload_from_form(form, part[0], thumbnail)
                return f"1:{files.attach_bytes(actor, spec, part[1])}\n"
            if name == "share_thumbnail":
                filmstrip = parse_flag(form.get("filmstrip_thumbnail"))
                source = form.get("source_entity", "")
                aid = files.share_thumbnail(actor, form.get("entities", ""), source, filmstrip)
                return f"1:{aid}\n"
            raise ApiError(f"Unknown or unsupported upload endpoint {name!r}.")
        except ApiError as exc:
            return f"0\n{exc.message}\n"

    # -- upload URLs and downloads -----------------------------------------------------

    def _put(self, req: BaseHTTPRequestHandler, rest: str) -> None:
        upload_id, _, part = rest.partition("/")
        length = _length(req)
        if length is None:
            _send(req, 411, b"Content-Length required", "text/plain")
            req.close_connection = True
            return
        try:
            if not part.isdigit() and part:
                raise ApiError("Bad part number.")
            etag = self.files.receive(upload_id, int(part or 0), req.rfile, length)
        except ApiError as exc:
            req.close_connection = True  # the body may be partly read
            status = 413 if exc.message.startswith("File too large") else 400
            _drain(req, min(length, _MAX_DRAIN_BYTES))
            _send(req, status, exc.message.encode(), "text/plain")
            return
        _send(req, 200, b"", "text/plain", {"ETag": etag})

    def _download(self, req: BaseHTTPRequestHandler, rest: str) -> None:
        # A site checks the session cookie; the client cannot send it to a site URL
        # with a port (its cookie domain then never matches), so loopback clients
        # are let in without one.
        if not (is_loopback(req.client_address[0]) or self.files.has_session(_session(req))):
            _send(req, 403, b"a session is needed to download files", "text/plain")
            return
        found = self.files.attachment_file(int(rest)) if rest.isdigit() else None
        if found is None:
            # What a site answers for an id that is not an uploaded file.
            _send(req, 400, b"Attachment does not exist or is not an uploaded file", "text/plain")
            return
        _send_file(req, *found)


def _length(req: BaseHTTPRequestHandler) -> int | None:
    try:
        length = int(req.headers.get("Content-Length") or "")
    except ValueError:
        return None
    return length if length >= 0 else None


def _drain(req: BaseHTTPRequestHandler, most: int) -> None:
    """Read and drop up to ``most`` bytes of the request body, so the reply is seen."""
    left = min(_length(req) or 0, most)
    while left > 0:
        chunk = req.rfile.read(min(left, 1 << 20))
        if not chunk:
            break
        left -= len(chunk)


def _read_form(
    req: BaseHTTPRequestHandler, most: int
) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """A POSTed form: its fields, and its files as ``{name: (filename, bytes)}``."""
    length = _length(req)
    if length is None:
        req.close_connection = True
        raise ApiError("Content-Length required.")
    if length > most:
        req.close_connection = True
        _drain(req, _MAX_DRAIN_BYTES)
        raise ApiError(f"File too large: the request has {length} bytes.")
    body = req.rfile.read(length)
    ctype = req.headers.get("Content-Type", "")
    if not ctype.startswith("multipart/form-data"):
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)), {}
    match = re.search(r"boundary=\"?([^\";]+)", ctype)
    if match is None:
        raise ApiError("A multipart form without a boundary.")
    return _parse_multipart(body, match.group(1).encode("latin-1"))


def _parse_multipart(
    body: bytes, boundary: bytes
) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    # Every part starts after CRLF--boundary; the body's first one has no CRLF before it.
    for part in (b"\r\n" + body).split(b"\r\n--" + boundary)[1:]:
        if part.startswith(b"--"):
            break
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            raise ApiError("A malformed multipart form.")
        headers = head.decode("utf-8", "replace")
        match = _DISPOSITION.search(headers)
        if match is None:
            continue
        name, filename = match.group(1), match.group(2)
        if filename is None:
            fields[name] = content.decode("utf-8", "replace")
        else:
            files[name] = (filename.rsplit("/", 1)[-1], content)
    return fields, files


def _session(req: BaseHTTPRequestHandler) -> str | None:
    try:
        morsel = SimpleCookie(req.headers.get("Cookie") or "").get("_session_id")
    except CookieError:
        return None
    return morsel.value if morsel is not None else None


def _send(
    req: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    content_type: str,
    headers: dict[str, str] | None = None,
) -> None:
    req.send_response(status)
    req.send_header("Content-Type", content_type)
    req.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        req.send_header(name, value)
    req.end_headers()
    req.wfile.write(body)


def _send_file(req: BaseHTTPRequestHandler, path: Path, name: str, ctype: str | None) -> None:
    """Stream a stored file, named for saving."""
    ctype = ctype or mimetypes.guess_type(name)[0] or "application/octet-stream"
    # Headers are latin-1: an ASCII fallback name, and the real one encoded (RFC 6266).
    plain = name.encode("ascii", "replace").decode().replace("\\", "_").replace('"', "_")
    disposition = f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name)}"
    with open(path, "rb") as src:
        size = path.stat().st_size
        req.send_response(200)
        req.send_header("Content-Type", ctype)
        req.send_header("Content-Length", str(size))
        req.send_header("Content-Disposition", disposition)
        req.end_headers()
        while chunk := src.read(1 << 20):
            req.wfile.write(chunk)


def parse_flag(value: str | None) -> bool:
    """A form's boolean: the client sends ``True``/``False`` or ``1``."""
    return (value or "").strip().lower() in ("1", "true", "yes")


def upload_from_form(form: dict[str, str], filename: str, thumbnail: bool) -> Upload:
    """The :class:`Upload` a form describes (``entity_type``, ``entity_id``...)."""
    eid = form.get("entity_id")
    return Upload(
        entity_type=form.get("entity_type"),
        entity_id=as_int(eid, "entity_id") if eid is not None else None,
        field_name=form.get("field_name") or None,
        filename=filename,
        display_name=form.get("display_name") or None,
        tag_list=form.get("tag_list"),
        thumbnail=thumbnail,
        filmstrip=parse_flag(form.get("filmstrip")),
    )
