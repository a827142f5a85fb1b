"""Uploaded files: where their bytes live and the Attachment entities that stand for them.

The bytes live under a data directory: next to the SQLite file
(``site.sqlite.files/``) so they survive a restart with it, or in a temporary
directory for an in-memory sandbox, removed on :meth:`FileStore.close`.
``blobs/<key>`` holds linked files; ``pending/<upload id>`` holds uploads that
are not linked to an entity yet (lost on restart, as an unused upload URL
expires on a site).  The HTTP side is :mod:`evframe.sandbox.fileroutes`.
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from evframe.sandbox import writes
from evframe.sandbox.auth import Actor
from evframe.sandbox.errors import ApiError
from evframe.sandbox.fileurls import KEY_RE, STORAGE_PATH, live_attachment, site_url
from evframe.sandbox.query import now_wire
from evframe.sandbox.sessions import token_user
from evframe.sandbox.store import Store
from evframe.sandbox.values import link

#: Largest file accepted, in bytes (``FileStore.max_upload_bytes`` changes it).
MAX_UPLOAD_BYTES = 512 * 1024 * 1024
#: Most parts of one multipart upload; most uploads waiting to be linked (the oldest
#: is dropped for a new one, as an unused upload URL expires) and sessions kept.
MAX_PARTS = 10_000
MAX_PENDING = 64
_CHUNK = 1 << 20


@dataclass
class Pending:
    """An upload URL handed out and not linked yet."""

    upload_id: str
    filename: str
    thumbnail: bool
    multipart: bool
    timestamp: str
    owner: dict[str, Any]
    #: part number -> (size, etag); a single upload is part 0.
    parts: dict[int, tuple[int, str]] = field(default_factory=dict)
    complete: bool = False


@dataclass(frozen=True)
class Upload:
    """One file to attach to an entity: what the upload forms and ``api_link_file`` say."""

    entity_type: Any
    entity_id: Any
    field_name: str | None
    filename: str
    display_name: str | None = None
    tag_list: str | None = None
    thumbnail: bool = False
    filmstrip: bool = False


def data_dir_for(db: str | Path | None) -> Path | None:
    """The directory holding a sandbox's files: next to its database file, if it has one."""
    return None if db is None else Path(f"{db}.files")


class FileStore:
    """The files of one sandbox; thread-safe."""

    def __init__(self, store: Store, root: Path | None = None) -> None:
        self.store = store
        self.max_upload_bytes = MAX_UPLOAD_BYTES
        self._root = root
        self._temporary = root is None
        self._lock = threading.Lock()
        self._pending: dict[str, Pending] = {}
        if root is not None:
            shutil.rmtree(root / "pending", ignore_errors=True)  # left by a crash

    @property
    def root(self) -> Path:
        """The data directory (created on first use)."""
        with self._lock:
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix="evframe-sandbox-files-"))
            for sub in ("blobs", "pending"):
                (self._root / sub).mkdir(parents=True, exist_ok=True)
            return self._root

    def close(self) -> None:
        """Drop unlinked uploads; remove the whole directory of an in-memory sandbox."""
        with self._lock:
            root, self._pending = self._root, {}
        if root is not None:
            shutil.rmtree(root if self._temporary else root / "pending", ignore_errors=True)

    # -- sessions ----------------------------------------------------------------------

    def has_session(self, token: str | None) -> bool:
        """Whether ``token`` is a live session token (``get_session_token``)."""
        if token is None:
            return False
        with self.store.lock:
            return token_user(self.store, token) is not None

    # -- the upload-URL protocol -------------------------------------------------------

    def begin(self, actor: Actor, upload_type: str, filename: str, multipart: bool) -> str:
        """Hand out an upload URL: ``1\\n<url>\\n<timestamp>\\n<upload_type>\\n<upload_id>``."""
        if upload_type not in ("Attachment", "Thumbnail"):
            raise ApiError(f"upload_type must be Attachment or Thumbnail, not {upload_type!r}.")
        _check_filename(filename)
        upload_id = secrets.token_hex(16)
        stamp = now_wire().replace("-", "").replace(":", "")
        with self._lock:
            if len(self._pending) >= MAX_PENDING:
                self._drop(next(iter(self._pending)))
            self._pending[upload_id] = Pending(
                upload_id, filename, upload_type == "Thumbnail", multipart, stamp, actor.user
            )
        url = "" if multipart else self.storage_url(upload_id)
        return f"1\n{url}\n{stamp}\n{upload_type}\n{upload_id}\n"

    def storage_url(self, upload_id: str, part: int = 0) -> str:
        """Where the client PUTs the bytes (of one part)."""
        tail = f"/{part}" if part else ""
        return f"{site_url()}{STORAGE_PATH}{upload_id}{tail}"

    def part_link(self, upload_id: str, part: Any) -> str:
        """``1\\n<url>`` for part ``part`` of a multipart upload."""
        pending = self._find(upload_id)
        number = as_int(part, "part_number")
        if not pending.multipart or not 1 <= number <= MAX_PARTS:
            raise ApiError(f"Bad part_number {part!r} for this upload (1 to {MAX_PARTS}).")
        return f"1\n{self.storage_url(upload_id, number)}\n"

    def receive(self, upload_id: str, part: int, stream: io.BufferedIOBase, length: int) -> str:
        """Store the bytes PUT to an upload URL; their ETag (quoted MD5, as storage answers)."""
        pending = self._find(upload_id)
        if pending.complete or (part == 0) == pending.multipart:
            raise ApiError("This upload URL does not take that request.")
        if length > self.max_upload_bytes:
            raise ApiError(f"File too large: more than {self.max_upload_bytes} bytes.")
        path = self._pending_path(upload_id, part)
        digest = hashlib.md5(usedforsecurity=False)
        with open(path, "wb") as out:
            left = length
            while left > 0:
                chunk = stream.read(min(left, _CHUNK))
                if not chunk:
                    raise ApiError("The upload ended before Content-Length bytes.")
                digest.update(chunk)
                out.write(chunk)
                left -= len(chunk)
        etag = f'"{digest.hexdigest()}"'
        with self._lock:
            pending.parts[part] = (length, etag)
            pending.complete = part == 0
        return etag

    def complete(self, upload_id: str, etags: str) -> None:
        """Join the parts of a multipart upload, in order, checking their ETags."""
        pending = self._find(upload_id)
        numbers = sorted(pending.parts)
        given = [e.strip() for e in etags.split(",") if e.strip()]
        if not pending.multipart or numbers != list(range(1, len(numbers) + 1)):
            raise ApiError("This upload has no complete run of parts to join.")
        if given != [pending.parts[n][1] for n in numbers]:
            raise ApiError("The ETags given do not match the parts uploaded.")
        if sum(pending.parts[n][0] for n in numbers) > self.max_upload_bytes:
            raise ApiError(f"File too large: more than {self.max_upload_bytes} bytes.")
        with open(self._pending_path(upload_id, 0), "wb") as out:
            for n in numbers:
                part_path = self._pending_path(upload_id, n)
                with open(part_path, "rb") as src:
                    shutil.copyfileobj(src, out, _CHUNK)
                part_path.unlink()
        pending.complete = True

    def link(self, actor: Actor, upload_link_info: str, upload: Upload) -> int:
        """Attach a completed upload (``api_link_file``); the new Attachment's id."""
        lines = upload_link_info.split("\n")
        upload_id = lines[4] if len(lines) > 4 else ""
        pending = self._find(upload_id)
        if not pending.complete or pending.owner != actor.user:
            raise ApiError("This upload is not complete, or was started by someone else.")
        with self._lock:
            self._pending.pop(upload_id, None)
        upload = replace(upload, filename=pending.filename, thumbnail=pending.thumbnail)
        return self._attach(actor, upload, self._pending_path(upload_id, 0))

    # -- form uploads and thumbnails -----------------------------------------------------

    def attach_bytes(self, actor: Actor, upload: Upload, data: bytes) -> int:
        """Attach a file sent whole in a form (``upload_file``, ``publish_thumbnail``)."""
        _check_filename(upload.filename)
        if not data:
            raise ApiError("The file is empty.")
        if len(data) > self.max_upload_bytes:
            raise ApiError(f"File too large: more than {self.max_upload_bytes} bytes.")
        path = self.root / "pending" / secrets.token_hex(16)
        path.write_bytes(data)
        return self._attach(actor, upload, path)

    def share_thumbnail(self, actor: Actor, entities: str, source: str, filmstrip: bool) -> int:
        """Point the thumbnail of ``entities`` (``Type_id,...``) at ``source``'s; its id."""
        store = self.store
        fname = "filmstrip_image" if filmstrip else "image"
        stype, sid = _type_id(source)
        with store.transaction():
            rec = store.get(stype, sid) if link(store, stype, sid) else None
            found = live_attachment(store, rec.get(fname)) if rec else None
            if found is None:
                raise ApiError(f"{stype} {sid} has no {fname} to share.")
            value = {"type": "Attachment", "id": found[0]}
            for etype, eid in (_type_id(e) for e in entities.split(",") if e.strip()):
                writes.update(
                    store, actor, etype, eid, [{"field_name": fname, "value": value}], system=True
                )
        return found[0]

    # -- reading files back --------------------------------------------------------------

    def attachment_file(self, aid: int) -> tuple[Path, str, str] | None:
        """Path, name and content type of an uploaded live Attachment's bytes."""
        found = live_attachment(self.store, {"type": "Attachment", "id": aid})
        this_file = found[1].get("this_file") if found else None
        if not isinstance(this_file, dict) or this_file.get("link_type") != "upload":
            return None
        path = self.blob_path(str(this_file.get("key")))
        if path is None:
            return None
        name = str(this_file.get("name") or "file")
        return path, name, str(this_file.get("content_type") or "application/octet-stream")

    def blob_path(self, key: str) -> Path | None:
        """The stored file with ``key``, if there is one."""
        if not KEY_RE.fullmatch(key):
            return None
        path = self.root / "blobs" / key
        return path if path.is_file() else None

    # -- internals ----------------------------------------------------------------------

    def _find(self, upload_id: Any) -> Pending:
        with self._lock:
            pending = self._pending.get(upload_id) if isinstance(upload_id, str) else None
        if pending is None:
            raise ApiError("Unknown or expired upload.")
        return pending

    def _drop(self, upload_id: str) -> None:
        """Forget an unlinked upload and its bytes (with ``_lock`` held)."""
        pending = self._pending.pop(upload_id)
        for part in (0, *pending.parts):
            self._pending_path(upload_id, part).unlink(missing_ok=True)

    def _pending_path(self, upload_id: str, part: int) -> Path:
        return self.root / "pending" / (f"{upload_id}.{part}" if part else upload_id)

    def _attach(self, actor: Actor, upload: Upload, path: Path) -> int:
        """Create the Attachment for the file at ``path`` and store it in the entity's field."""
        store = self.store
        key = secrets.token_hex(16)
        blob = self.root / "blobs" / key
        try:
            size = path.stat().st_size
            os.replace(path, blob)
            with store.transaction():
                etype, fname, value = self._target(upload)
                fields = _attachment_fields(store, etype, upload, key, size)
                aid = int(writes.create(store, actor, "Attachment", fields, system=True)["id"])
                if fname is not None:
                    fdef = store.schema.field(etype, fname)
                    item = {"field_name": fname, "value": value(aid)}
                    if fdef.data_type == "multi_entity":
                        item["multi_entity_update_mode"] = "add"
                    writes.update(store, actor, etype, upload.entity_id, [item], system=True)
        except BaseException:
            path.unlink(missing_ok=True)
            blob.unlink(missing_ok=True)
            raise
        return aid

    def _target(self, upload: Upload) -> tuple[str, str | None, Callable[[int], Any]]:
        """Check the entity and field an upload goes to; how the field refers to the file."""
        store = self.store
        etype = store.schema.entity(upload.entity_type).name
        eid = upload.entity_id
        if type(eid) is not int or link(store, etype, eid) is None:
            raise ApiError(f"Cannot upload to {etype} {eid!r}: it does not exist.")
        fname = upload.field_name
        if upload.thumbnail:
            fname = "filmstrip_image" if upload.filmstrip else "image"
        if fname is None:
            return etype, None, lambda aid: None
        fdef = store.schema.field(etype, fname)
        takes_link = fdef.is_link and (not fdef.valid_types or "Attachment" in fdef.valid_types)
        if fdef.data_type == "multi_entity" and takes_link:
            return etype, fname, lambda aid: [{"type": "Attachment", "id": aid}]
        if fdef.data_type in ("url", "image") or takes_link:
            return etype, fname, lambda aid: {"type": "Attachment", "id": aid}
        raise ApiError(
            f"{etype}.{fname} is not a File/Link field ({fdef.data_type}); files go in "
            "url, image or Attachment link fields."
        )


def _attachment_fields(
    store: Store, etype: str, upload: Upload, key: str, size: int
) -> list[dict[str, Any]]:
    """The fields of a new Attachment, as far as the schema has them."""
    content_type = mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
    this_file = {
        "link_type": "upload",
        "name": upload.display_name or upload.filename,
        "content_type": content_type,
        "key": key,
    }
    rec = store.get(etype, upload.entity_id) or {}
    project = {"type": "Project", "id": upload.entity_id} if etype == "Project" else None
    values: dict[str, Any] = {
        "this_file": this_file,
        "filename": upload.filename,
        "file_size": size,
        "project": project or rec.get("project"),
        # A thumbnail is not one of the entity's files (a site does not list it with them).
        "attachment_links": [] if upload.thumbnail else [{"type": etype, "id": upload.entity_id}],
        "tag_list": [t.strip() for t in (upload.tag_list or "").split(",") if t.strip()],
    }
    fields = store.schema.entity("Attachment").fields
    return [{"field_name": n, "value": v} for n, v in values.items() if n in fields and v]


def _check_filename(name: str) -> None:
    if not name or "/" in name or "\\" in name or name in (".", "..") or len(name) > 255:
        raise ApiError(f"Bad file name {name!r}.")


def as_int(value: Any, what: str) -> int:
    """A number sent as form text; :class:`ApiError` naming ``what`` otherwise."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(f"Bad {what} {value!r}: expected a number.") from None


def _type_id(text: str) -> tuple[str, int]:
    """``"Shot_12"`` -> ``("Shot", 12)``, as ``share_thumbnail`` sends entities."""
    etype, _, eid = text.strip().rpartition("_")
    return etype, as_int(eid, "entity id")
