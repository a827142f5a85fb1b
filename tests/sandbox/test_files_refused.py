"""Uploads and downloads a site refuses, refused the same way through shotgun_api3."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from shotgun_api3 import shotgun

from evframe.sandbox import Sandbox

from .conftest import SCRIPT, make_client

# shotgun_api3 opens the file it sends in an upload form and never closes it.
pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@pytest.fixture
def movie(tmp_path: Path) -> str:
    path = tmp_path / "take.mov"
    path.write_bytes(os.urandom(2000))
    return str(path)


@pytest.mark.parametrize("field", ["sg_uploaded_movie", "image", None])
def test_uploads_to_missing_or_retired_entities_are_refused(
    sandbox: Sandbox, sg: shotgun.Shotgun, movie: str, field: str | None
) -> None:
    # One field of each path: upload URL, thumbnail form, file form.
    with pytest.raises(shotgun.ShotgunError, match="Version 999: it does not exist"):
        sg.upload("Version", 999, movie, field)
    sg.delete("Version", 2)
    with pytest.raises(shotgun.ShotgunError, match="does not exist"):
        sg.upload("Version", 2, movie, field)
    with pytest.raises(shotgun.ShotgunError, match="Unknown entity type 'Nope'"):
        sg.upload("Nope", 1, movie, field)
    # Nothing was left behind: no Attachment rows, no stored bytes.
    assert sg.find("Attachment", []) == []
    root = sandbox.files.root
    assert not any((root / "pending").iterdir()) and not any((root / "blobs").iterdir())


def test_upload_to_a_field_that_holds_no_files_is_refused(sg: shotgun.Shotgun, movie: str) -> None:
    with pytest.raises(shotgun.ShotgunError, match=r"Shot\.code is not a File/Link field"):
        sg.upload("Shot", 1, movie, "code")
    with pytest.raises(
        shotgun.ShotgunError, match=r"Shot\.sg_sequence is not a File/Link field \(entity\)"
    ):
        sg.upload("Shot", 1, movie, "sg_sequence")
    with pytest.raises(shotgun.ShotgunError, match="Unknown field 'sg_nope'"):
        sg.upload("Shot", 1, movie, "sg_nope")
    assert sg.find("Attachment", []) == []


def test_uploads_need_credentials(sandbox: Sandbox, movie: str) -> None:
    bad = make_client(sandbox, SCRIPT, "wrong-key")
    for field in ("sg_uploaded_movie", "image", None):
        with pytest.raises(shotgun.ShotgunError, match="Authentication failed"):
            bad.upload("Version", 1, movie, field)
    bad.close()


def test_files_above_the_size_limit_are_refused(
    sandbox: Sandbox, sg: shotgun.Shotgun, movie: str
) -> None:
    sandbox.files.max_upload_bytes = 1000
    # The upload URL answers 413, as storage does to an oversized PUT.
    with pytest.raises(shotgun.ShotgunError, match="413"):
        sg.upload("Version", 1, movie, "sg_uploaded_movie")
    with pytest.raises(shotgun.ShotgunError, match="File too large"):
        sg.upload_thumbnail("Shot", 1, movie)
    with pytest.raises(shotgun.ShotgunError, match="File too large"):
        sg.upload("Shot", 1, movie)
    assert sg.find("Attachment", []) == []
    sandbox.files.max_upload_bytes = 5000
    assert isinstance(sg.upload("Version", 1, movie, "sg_uploaded_movie"), int)


def test_downloads_of_what_is_not_an_uploaded_file_fail(
    sandbox: Sandbox, sg: shotgun.Shotgun, movie: str
) -> None:
    with pytest.raises(shotgun.ShotgunFileDownloadError, match="may not exist"):
        sg.download_attachment(12345)
    web = sg.create(
        "Attachment",
        {"this_file": {"url": "https://example.invalid/a", "name": "a"},
         "project": {"type": "Project", "id": 1}},
    )  # fmt: skip
    with pytest.raises(shotgun.ShotgunFileDownloadError):
        sg.download_attachment(web["id"])
    with pytest.raises(ValueError):
        sg.download_attachment({"type": "Shot", "id": 1})

    aid = sg.upload("Version", 1, movie, "sg_uploaded_movie")
    sg.delete("Attachment", aid)
    with pytest.raises(shotgun.ShotgunFileDownloadError):
        sg.download_attachment(aid)
    # The field no longer shows a file that is gone.
    version = sg.find_one("Version", [["id", "is", 1]], ["sg_uploaded_movie"])
    assert version["sg_uploaded_movie"] is None
    # Thumbnail URLs name their file by a random key: a made-up one finds nothing.
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{sandbox.url}/_sandbox/media/{'0' * 32}/x.png", timeout=10)
    assert err.value.code == 404


def test_thumbnail_fields_take_no_other_value(sg: shotgun.Shotgun) -> None:
    # The client uploads any path given; over the wire a value must be an Attachment link.
    for value in ("http://example.invalid/a.png", {"type": "Attachment", "id": 999}):
        with pytest.raises(shotgun.Fault, match=r"Shot\.image"):
            sg._call_rpc(
                "update",
                {"type": "Shot", "id": 1, "fields": [{"field_name": "image", "value": value}]},
            )
