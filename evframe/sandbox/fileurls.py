"""How uploaded files read back: upload links in ``url`` fields, URLs in ``image`` fields.

Records keep only references: a file field holds ``{type: Attachment, id}``
and the Attachment's ``this_file`` holds the name, content type and the key of
the stored bytes.  Reads turn them into what a site answers, with absolute URLs
on the address the client reached the site by (the request's ``Host``), so a
sandbox restarted on another port serves its old files at new URLs.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from typing import Any
from urllib.parse import quote

from evframe.sandbox.query import Record
from evframe.sandbox.store import Store

#: Where the client downloads an Attachment (``download_attachment`` builds it too).
ATTACHMENT_PATH = "/file_serve/attachment/"
#: Where thumbnails are served: ``MEDIA_PATH + key + "/" + filename``, no login needed,
#: like the signed storage URLs a site hands out.
MEDIA_PATH = "/_sandbox/media/"
#: Where clients PUT the bytes of a file (the site's upload URLs).
STORAGE_PATH = "/_sandbox/storage/"

#: Keys of stored files and uploads in progress: random, so a URL is its own permission.
KEY_RE = re.compile(r"[0-9a-f]{32}")

# Set by the HTTP server for each request it serves; reads done outside a request
# (none the client sees) get site-relative URLs.
_SITE_URL: ContextVar[str] = ContextVar("evframe_sandbox_site_url", default="")


def set_site_url(url: str) -> None:
    """The site URL for the request being served (``http://host:port``)."""
    _SITE_URL.set(url.rstrip("/"))


def site_url() -> str:
    """The site URL of the request being served ("" outside one)."""
    return _SITE_URL.get()


def attachment_link(aid: int, this_file: Any) -> dict[str, Any] | None:
    """An uploaded Attachment's ``this_file`` as a site shows it (``None`` if not an upload)."""
    if not isinstance(this_file, dict) or this_file.get("link_type") != "upload":
        return None
    return {
        "content_type": this_file.get("content_type"),
        "link_type": "upload",
        "name": this_file.get("name"),
        "url": f"{site_url()}{ATTACHMENT_PATH}{aid}",
        "type": "Attachment",
        "id": aid,
    }


def live_attachment(store: Store, value: Any) -> tuple[int, Record] | None:
    """The Attachment a stored ``{type: Attachment, id}`` names, unless gone or retired."""
    if not isinstance(value, dict) or value.get("type") != "Attachment":
        return None
    aid = value.get("id")
    if type(aid) is not int or store.is_retired("Attachment", aid):
        return None
    rec = store.get("Attachment", aid)
    return None if rec is None else (aid, rec)


def media_url(this_file: Any) -> str | None:
    """The URL serving an uploaded file's bytes without a login (thumbnails)."""
    if not isinstance(this_file, dict) or not KEY_RE.fullmatch(str(this_file.get("key"))):
        return None
    name = quote(str(this_file.get("name") or "file"), safe="")
    return f"{site_url()}{MEDIA_PATH}{this_file['key']}/{name}"


def file_value(store: Store, etype: str, rec: Record, data_type: str, value: Any) -> Any:
    """The wire value of a set ``url`` or ``image`` field (other values pass through)."""
    if data_type == "image":
        found = live_attachment(store, value)
        return media_url(found[1].get("this_file")) if found else None
    if not isinstance(value, dict):
        return value
    if etype == "Attachment" and value.get("link_type") == "upload":
        return attachment_link(rec["id"], value)
    found = live_attachment(store, value)
    if found is not None:
        aid, this_file = found[0], found[1].get("this_file")
        out = attachment_link(aid, this_file)
        if out is None and isinstance(this_file, dict):  # a web or local link
            out = {**this_file, "type": "Attachment", "id": aid}
        return out
    if value.get("type") == "Attachment":
        return None  # The file it pointed at was deleted.
    return value
