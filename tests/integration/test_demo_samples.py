"""The demo's sample faces without ../shared: the LFW archive fetched from a (local) web server."""

from __future__ import annotations

import io
import tarfile

import pytest
from conftest import LFW

from devtools.demo import samples
from devtools.demo.scenario import IDENTITIES, STRANGER

FOLDERS = [i.folder for i in IDENTITIES] + [STRANGER]


def _archive() -> bytes:
    """A small lfw-deepfunneled.tgz with the demo's people, laid out like the public one."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for folder in FOLDERS:
            for image in sorted((LFW / folder).glob("*.jpg")):
                tar.add(image, arcname=f"{samples.ARCHIVE_TOP}/{folder}/{image.name}")
    return buffer.getvalue()


def test_without_shared_the_public_archive_is_downloaded_once(httpserver, monkeypatch, tmp_path):
    monkeypatch.setenv("STASH_SENSE_SHARED", str(tmp_path / "no-shared"))
    httpserver.expect_oneshot_request("/lfw-deepfunneled.tgz").respond_with_data(_archive())
    folder = samples.lfw_dir(httpserver.url_for("/lfw-deepfunneled.tgz"))
    assert sorted(p.name for p in folder.iterdir()) == sorted(FOLDERS)
    assert len(list((folder / "Tony_Blair").glob("*.jpg"))) == len(list((LFW / "Tony_Blair").glob("*.jpg")))
    assert samples.lfw_dir("http://127.0.0.1:9/unused") == folder  # the second time: no download


def test_offline_says_which_url_and_where_to_put_the_faces(monkeypatch, tmp_path):
    monkeypatch.setenv("STASH_SENSE_SHARED", str(tmp_path / "no-shared"))
    with pytest.raises(FileNotFoundError) as error:
        samples.lfw_dir("http://127.0.0.1:9/lfw-deepfunneled.tgz")
    assert "http://127.0.0.1:9/lfw-deepfunneled.tgz" in str(error.value)
    assert "demo/lfw_deepfunneled" in str(error.value)
