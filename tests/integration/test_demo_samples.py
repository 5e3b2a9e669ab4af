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
    monkeypatch.setenv("STASH_SENSE_DEMO_CACHE", str(tmp_path / "cache"))
    httpserver.expect_oneshot_request("/lfw-deepfunneled.tgz").respond_with_data(_archive())
    folder = samples.lfw_dir(httpserver.url_for("/lfw-deepfunneled.tgz"))
    assert sorted(p.name for p in folder.iterdir()) == sorted(FOLDERS)
    assert len(list((folder / "Tony_Blair").glob("*.jpg"))) == len(list((LFW / "Tony_Blair").glob("*.jpg")))
    assert samples.lfw_dir("http://127.0.0.1:9/unused") == folder  # the second time: no download


def test_offline_says_which_url_and_where_to_put_the_faces(monkeypatch, tmp_path):
    monkeypatch.setenv("STASH_SENSE_SHARED", str(tmp_path / "no-shared"))
    monkeypatch.setenv("STASH_SENSE_DEMO_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError) as error:
        samples.lfw_dir("http://127.0.0.1:9/lfw-deepfunneled.tgz")
    assert "http://127.0.0.1:9/lfw-deepfunneled.tgz" in str(error.value)
    assert str(tmp_path / "cache" / "lfw_deepfunneled") in str(error.value)


def test_make_demo_offline_without_shared_ends_in_one_message(tmp_path):
    """No ../shared, no network: one line naming a folder that is still there afterwards, no traceback."""
    import os
    import subprocess
    import sys

    from conftest import REPO

    cache = tmp_path / "cache"
    env = {**os.environ, "STASH_SENSE_SHARED": str(tmp_path / "no-shared"), "STASH_SENSE_DEMO_CACHE": str(cache),
           "STASH_SENSE_LFW_URL": "http://127.0.0.1:9/lfw-deepfunneled.tgz"}
    env.pop("STASH_SENSE_MODEL_DIR", None)
    run = subprocess.run([sys.executable, "-m", "devtools.demo.run"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    message = run.stderr.strip()
    assert message.count("\n") == 0 and message.startswith("make demo: the demo needs sample faces")
    folder = cache / "lfw_deepfunneled"
    assert str(folder) in message and folder.parent.is_dir()  # named, and survives the run
