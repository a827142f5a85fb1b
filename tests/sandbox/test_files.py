"""Uploads, thumbnails and downloads through the unmodified shotgun_api3 client."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

import pytest
from shotgun_api3 import shotgun

from evframe.sandbox import Sandbox

from .conftest import KEY, SCRIPT, EventLog, make_client

# shotgun_api3 opens the file it sends in an upload form and never closes it.
pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def _file(tmp_path: Path, name: str, size: int = 3000) -> tuple[str, bytes]:
    data = os.urandom(size)
    path = tmp_path / name
    path.write_bytes(data)
    return str(path), data


def _fetch(url: str) -> tuple[bytes, str]:
    """GET a URL as any program would, without the client or a login."""
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read(), resp.headers["Content-Type"]


def test_movie_upload_to_a_version_reads_back_and_downloads(
    sg: shotgun.Shotgun, log: EventLog, tmp_path: Path
) -> None:
    path, data = _file(tmp_path, "010_0010_v002.mov")
    # Version.sg_uploaded_movie takes the upload-URL path: link info, PUT, api_link_file.
    assert sg._requires_direct_s3_upload("Version", "sg_uploaded_movie")
    aid = sg.upload("Version", 1, path, "sg_uploaded_movie", display_name="Latest QT")
    assert isinstance(aid, int)

    movie = sg.find_one("Version", [["id", "is", 1]], ["sg_uploaded_movie"])["sg_uploaded_movie"]
    assert movie == {
        "content_type": "video/quicktime",
        "link_type": "upload",
        "name": "Latest QT",
        "url": f"{sg.base_url}/file_serve/attachment/{aid}",
        "type": "Attachment",
        "id": aid,
    }
    att = sg.find_one(
        "Attachment",
        [["id", "is", aid]],
        ["this_file", "filename", "file_size", "attachment_links", "project"],
    )
    assert att["this_file"] == movie
    assert (att["filename"], att["file_size"]) == ("010_0010_v002.mov", len(data))
    assert [lk["id"] for lk in att["attachment_links"]] == [1]
    assert att["project"]["id"] == 1

    rows = log.since()
    assert (rows[0]["event_type"], rows[0]["attribute_name"]) == (
        "Shotgun_Attachment_New",
        None,
    )
    change = rows[-1]
    assert (change["event_type"], change["attribute_name"]) == (
        "Shotgun_Version_Change",
        "sg_uploaded_movie",
    )
    assert change["meta"]["new_value"]["id"] == aid

    # download_attachment: by the field's dict, to a file, by id, by {type, id}.
    assert sg.download_attachment(movie) == data
    target = tmp_path / "copy.mov"
    assert sg.download_attachment(movie, file_path=str(target)) == str(target)
    assert target.read_bytes() == data
    assert sg.download_attachment(aid) == data
    assert sg.download_attachment({"type": "Attachment", "id": aid}) == data
    assert sg.download_attachment(attachment_id=aid) == data
    assert sg.get_attachment_download_url(movie) == movie["url"]
    assert sg.get_attachment_download_url(aid) == movie["url"]
    assert sg.get_attachment_download_url(None) is None


def test_large_movie_goes_up_in_parts(sg: shotgun.Shotgun, tmp_path: Path) -> None:
    # Above the client's part size (20 MB) it asks for one URL per part and joins them.
    size = shotgun.Shotgun._MULTIPART_UPLOAD_CHUNK_SIZE + 12_345
    path, data = _file(tmp_path, "long.mov", size)
    aid = sg.upload("Version", 2, path, "sg_uploaded_movie")
    got = sg.download_attachment(aid)
    assert isinstance(got, bytes)
    assert len(got) == size
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


def test_form_uploads_to_file_fields_and_links(
    sandbox: Sandbox, sg: shotgun.Shotgun, tmp_path: Path
) -> None:
    sandbox.add_field("Shot", "sg_reference", "url")
    sandbox.add_field("Shot", "sg_files", "multi_entity", choices=["Attachment"])
    path, data = _file(tmp_path, "notes.pdf")
    # Not an upload-URL field: the client sends the file in the upload_file form.
    assert not sg._requires_direct_s3_upload("Shot", "sg_reference")
    aid = sg.upload("Shot", 1, path, "sg_reference", tag_list="ref, client")
    shot = sg.find_one("Shot", [["id", "is", 1]], ["sg_reference"])
    assert shot["sg_reference"]["name"] == "notes.pdf"
    assert shot["sg_reference"]["content_type"] == "application/pdf"
    assert sg.download_attachment(shot["sg_reference"]) == data
    tags = sg.find_one("Attachment", [["id", "is", aid]], ["tag_list"])["tag_list"]
    assert tags == ["ref", "client"]

    # No field: the file is only linked to the entity, as a site allows.
    loose = sg.upload("Shot", 1, path)
    att = sg.find_one("Attachment", [["id", "is", loose]], ["attachment_links"])
    assert [lk["id"] for lk in att["attachment_links"]] == [1]

    # A multi-entity field of Attachments collects the uploads.
    first = sg.upload("Shot", 1, path, "sg_files")
    second = sg.upload("Shot", 1, path, "sg_files", display_name="again")
    files = sg.find_one("Shot", [["id", "is", 1]], ["sg_files"])["sg_files"]
    assert [f["id"] for f in files] == [first, second]


def test_thumbnail_reads_back_as_a_url_serving_the_bytes(
    sg: shotgun.Shotgun, log: EventLog, tmp_path: Path
) -> None:
    path, data = _file(tmp_path, "shot.png")
    thumb = sg.upload_thumbnail("Shot", 1, path)
    image = sg.find_one("Shot", [["id", "is", 1]], ["image"])["image"]
    assert image.startswith(sg.base_url + "/")
    assert _fetch(image) == (data, "image/png")
    assert sg.download_attachment({"url": image}) == data
    change = log.since()[-1]
    assert (change["event_type"], change["attribute_name"]) == ("Shotgun_Shot_Change", "image")
    assert change["meta"]["new_value"] == image
    # The thumbnail is an Attachment, not one of the shot's files.
    att = sg.find_one("Attachment", [["id", "is", thumb]], ["attachment_links", "filename"])
    assert (att["attachment_links"], att["filename"]) == ([], "shot.png")
    # Through a link, as handlers read it.
    task = sg.find_one("Task", [["entity", "is", {"type": "Shot", "id": 1}]], ["entity.Shot.image"])
    assert task["entity.Shot.image"] == image

    assert sg.update("Shot", 1, {"image": None}) == {"type": "Shot", "id": 1, "image": None}
    assert sg.find_one("Shot", [["id", "is", 1]], ["image"])["image"] is None


def test_filmstrip_and_thumbnails_given_to_create_and_update(
    sg: shotgun.Shotgun, tmp_path: Path
) -> None:
    still, still_data = _file(tmp_path, "still.jpg")
    strip, strip_data = _file(tmp_path, "strip.jpg")
    assert isinstance(sg.upload_filmstrip_thumbnail("Version", 1, strip), int)
    version = sg.find_one("Version", [["id", "is", 1]], ["image", "filmstrip_image"])
    assert version["image"] is None
    assert _fetch(version["filmstrip_image"]) == (strip_data, "image/jpeg")

    # The client uploads image/filmstrip_image paths given to create and update itself.
    created = sg.create("Version", {"code": "thumbs", "project": {"type": "Project", "id": 1},
                                    "image": still})  # fmt: skip
    assert _fetch(created["image"])[0] == still_data
    updated = sg.update("Shot", 2, {"filmstrip_image": strip})
    assert _fetch(updated["filmstrip_image"])[0] == strip_data


def test_share_thumbnail_with_several_entities(sg: shotgun.Shotgun, tmp_path: Path) -> None:
    path, data = _file(tmp_path, "shared.png")
    targets = [{"type": "Shot", "id": 1}, {"type": "Shot", "id": 2}, {"type": "Version", "id": 1}]
    thumb = sg.share_thumbnail(list(targets), thumbnail_path=path)
    images = [sg.find_one(t["type"], [["id", "is", t["id"]]], ["image"])["image"] for t in targets]
    assert len(set(images)) == 1
    assert _fetch(images[0])[0] == data

    # From an entity's existing thumbnail: no new Attachment.
    again = sg.share_thumbnail(
        [{"type": "Asset", "id": 1}], source_entity={"type": "Shot", "id": 2}
    )
    assert again == thumb
    assert sg.find_one("Asset", [["id", "is", 1]], ["image"])["image"] == images[0]

    strip, _ = _file(tmp_path, "strip.png")
    sg.upload_filmstrip_thumbnail("Shot", 3, strip)
    sg.share_thumbnail(
        [{"type": "Shot", "id": 4}],
        source_entity={"type": "Shot", "id": 3},
        filmstrip_thumbnail=True,
    )
    shot4 = sg.find_one("Shot", [["id", "is", 4]], ["filmstrip_image"])
    shot3 = sg.find_one("Shot", [["id", "is", 3]], ["filmstrip_image"])
    assert shot4["filmstrip_image"] == shot3["filmstrip_image"] is not None

    with pytest.raises(shotgun.ShotgunError, match="has no image"):
        sg.share_thumbnail([{"type": "Shot", "id": 1}], source_entity={"type": "Asset", "id": 2})


def test_thumbnail_of_an_attachment_goes_through_an_upload_url(
    sg: shotgun.Shotgun, tmp_path: Path
) -> None:
    doc, _ = _file(tmp_path, "brief.pdf")
    aid = sg.upload("Shot", 1, doc)
    path, data = _file(tmp_path, "brief.png")
    assert sg._requires_direct_s3_upload("Attachment", "thumb_image")
    sg.upload_thumbnail("Attachment", aid, path)
    image = sg.find_one("Attachment", [["id", "is", aid]], ["image"])["image"]
    assert _fetch(image)[0] == data


def test_session_token_for_downloads(sandbox: Sandbox, sg: shotgun.Shotgun) -> None:
    # download_attachment asks for one to send as the site's session cookie.
    token = sg.get_session_token()
    assert isinstance(token, str) and len(token) == 32
    assert sandbox.files.has_session(token)
    assert not sandbox.files.has_session("0" * 32)


def test_files_live_next_to_the_database_and_survive_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "site.sqlite"
    path, data = _file(tmp_path, "kept.mov")
    with Sandbox(db, scripts={SCRIPT: KEY}, seed="demo") as sb:
        sg = make_client(sb)
        aid = sg.upload("Version", 1, path, "sg_uploaded_movie")
        sg.close()
    blobs = list((tmp_path / "site.sqlite.files" / "blobs").iterdir())
    assert [b.read_bytes() for b in blobs] == [data]
    with Sandbox(db, scripts={SCRIPT: KEY}) as sb:
        sg = make_client(sb)
        movie = sg.find_one("Version", [["id", "is", 1]], ["sg_uploaded_movie"])
        assert movie["sg_uploaded_movie"]["url"] == f"{sb.url}/file_serve/attachment/{aid}"
        assert sg.download_attachment(movie["sg_uploaded_movie"]) == data
        sg.close()


def test_an_in_memory_sandbox_removes_its_files_on_stop(tmp_path: Path) -> None:
    path, _ = _file(tmp_path, "gone.png")
    with Sandbox(scripts={SCRIPT: KEY}, seed="demo") as sb:
        sg = make_client(sb)
        sg.upload_thumbnail("Shot", 1, path)
        root = sb.files.root
        assert any((root / "blobs").iterdir())
        sg.close()
    assert not root.exists()
