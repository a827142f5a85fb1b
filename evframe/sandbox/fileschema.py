"""The schema bits uploads need, added to a schema that lacks them.

Uploaded files are Attachment entities; ``image`` and ``filmstrip_image`` hold
an entity's thumbnails and ``Version.sg_uploaded_movie`` its movie, as on a new
site.  A schema that already defines any of these (the bundled one, or an
extension file) keeps its own definition: only what is missing is added.
"""

from __future__ import annotations

from typing import Any

from evframe.sandbox.schema import Schema

#: The Attachment type as uploads fill it in.
ATTACHMENT: dict[str, Any] = {
    "display_name": "File",
    "name_field": "filename",
    "fields": {
        # Editable for web and local links; uploads fill it in themselves.
        "this_file": {"data_type": "url", "name": "File"},
        "filename": {"data_type": "text", "name": "File Name", "editable": False},
        "file_size": {"data_type": "number", "name": "File Size", "editable": False},
        "description": {"data_type": "text", "name": "Description"},
        "attachment_links": {"data_type": "multi_entity", "name": "Links"},
        "attachment_reference_links": {"data_type": "multi_entity", "name": "Reference Links"},
        "project": {"data_type": "entity", "name": "Project", "valid_types": ["Project"]},
        "tag_list": {"data_type": "tag_list", "name": "Tags"},
    },
}

#: Fields every entity type with thumbnails has.
THUMBNAIL_FIELDS: dict[str, Any] = {
    "image": {"data_type": "image", "name": "Thumbnail"},
    "filmstrip_image": {"data_type": "image", "name": "Filmstrip Thumbnail"},
}

#: Other file fields of a new site.
FILE_FIELDS: dict[str, dict[str, Any]] = {
    "Version": {"sg_uploaded_movie": {"data_type": "url", "name": "Uploaded Movie"}},
}

#: Types without thumbnails: the event log is not an entity one looks at.
_NO_THUMBNAILS = frozenset({"EventLogEntry"})


def add_file_fields(schema: Schema) -> None:
    """Add the Attachment type and file fields ``schema`` does not define yet."""
    if "Attachment" not in schema.types:
        schema.extend({"Attachment": ATTACHMENT}, custom=False)
    missing: dict[str, Any] = {}
    for name, edef in schema.types.items():
        wanted = {} if name in _NO_THUMBNAILS else dict(THUMBNAIL_FIELDS)
        wanted.update(FILE_FIELDS.get(name, {}))
        fields = {f: spec for f, spec in wanted.items() if f not in edef.fields}
        if fields:
            missing[name] = {"fields": fields}
    schema.extend(missing, custom=False)
