"""Release download/install/rollback against a real database served by a local HTTP server.

Every refused install must leave the previously active database exactly as it was.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import zipfile
from pathlib import Path

import pytest
from conftest import LFW
from werkzeug import Request, Response

from stash_sense.engine import releases
from stash_sense.engine.builder import build_database
from stash_sense.engine.database import load_database
from stash_sense.engine.matching import Matcher
from stash_sense.engine.releases import (
    ReleaseError,
    active_database_path,
    find_release,
    install_release,
    installed_info,
    rollback,
    verify_active,
)

PEOPLE = ["Aaron_Peirsol", "Abdoulaye_Wade", "Abel_Pacheco", "Adam_Sandler", "Ahmed_Chalabi",
          "Akbar_Hashemi_Rafsanjani"]
V1, V2 = "2026.01.01", "2026.02.02"
API = "/repos/x/y/releases"


def _images(person: str) -> list[Path]:
    return sorted((LFW / person).glob("*.jpg"))


def _zip_folder(folder: Path, out: Path, skip: tuple[str, ...] = (), extra: dict[str, bytes] | None = None) -> bytes:
    """Flat zip (every file at the root), as Stash Sense publishes them."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for file in sorted(folder.iterdir()):
            if file.name not in skip:
                bundle.write(file, file.name)
        for name, data in (extra or {}).items():
            bundle.writestr(name, data)
    return out.read_bytes()


def _variant(source: Path, out: Path, **manifest_changes) -> Path:
    """A copy of a database folder with manifest fields changed (the manifest is never checksummed)."""
    shutil.copytree(source, out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest.update(manifest_changes)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return out


@pytest.fixture(scope="session")
def fixture_release(engine, tmp_path_factory):
    """Real release folders and zips, built once: v1, v2 and some broken variants."""
    work = tmp_path_factory.mktemp("release")
    identities = {f"lfw:{p}": _images(p)[:2] for p in PEOPLE}
    report = build_database(engine, identities, {}, work / "v1", version=V1)
    assert report.faces_added >= 10
    v1 = work / "v1"
    v2 = _variant(v1, work / "v2", version=V2)
    bad_sum = _variant(v1, work / "bad_sum")
    manifest = json.loads((bad_sum / "manifest.json").read_text())
    manifest["checksums"]["faces.json"] = "sha256:" + "0" * 64
    (bad_sum / "manifest.json").write_text(json.dumps(manifest))
    other_pack = _variant(v1, work / "other_pack", pack="stash-sense-v1")
    zips = {
        "v1": _zip_folder(v1, work / "v1.zip"),
        "v2": _zip_folder(v2, work / "v2.zip"),
        # Big enough for several 64 KiB reads, so a cut leaves a partial file behind.
        "v2_big": _zip_folder(v2, work / "v2_big.zip", extra={"padding.bin": random.Random(0).randbytes(300_000)}),
        "bad_sum": _zip_folder(bad_sum, work / "bad_sum.zip"),
        "other_pack": _zip_folder(other_pack, work / "other_pack.zip"),
        "missing": _zip_folder(v1, work / "missing.zip", skip=("faces.json",)),
        "evil": _zip_folder(v1, work / "evil.zip", extra={"../evil": b"escaped"}),
    }
    zips["truncated"] = zips["v1"][: len(zips["v1"]) // 2]
    return {"dir": work, "zips": zips, "v1": v1}


@pytest.fixture
def root(tmp_path):
    return tmp_path / "data" / "db"


def _serve_zip(httpserver, name: str, data: bytes) -> str:
    httpserver.expect_request(f"/dl/{name}.zip").respond_with_data(data, content_type="application/zip")
    return httpserver.url_for(f"/dl/{name}.zip")


def _serve_release(httpserver, version: str, data: bytes, latest: bool) -> None:
    url = _serve_zip(httpserver, f"stash-sense-data-v{version}", data)
    body = {"tag_name": f"v{version}", "assets": [
        {"name": "notes.txt", "browser_download_url": "http://invalid/notes.txt", "size": 1},
        {"name": f"stash-sense-data-v{version}.zip", "browser_download_url": url, "size": len(data)}]}
    httpserver.expect_request(f"{API}/tags/v{version}").respond_with_json(body)
    if latest:
        httpserver.expect_request(f"{API}/latest").respond_with_json(body)


def _snapshot(root: Path) -> dict[str, str]:
    """Every file under the store except partial downloads, with its sha256."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "downloads" not in p.parts}


@pytest.fixture
def installed_v1(fixture_release, root, engine):
    """v1 active (installed from a local file, the offline route), plus a snapshot to compare with."""
    install_release(str(fixture_release["dir"] / "v1.zip"), engine.pack, root)
    return _snapshot(root)


def _assert_intact(root: Path, before: dict[str, str]) -> None:
    assert _snapshot(root) == before
    assert json.loads((active_database_path(root) / "manifest.json").read_text())["version"] == V1
    assert not list((root / "releases").glob(".staging-*"))


def _refused(root, before, url, engine, match: str, **kwargs) -> str:
    with pytest.raises(ReleaseError, match=match) as caught:
        install_release(url, engine.pack, root, **kwargs)
    _assert_intact(root, before)
    return str(caught.value)


# --- the good path --------------------------------------------------------------------------------

def test_install_search_update_and_rollback(fixture_release, root, httpserver, engine):
    zips = fixture_release["zips"]
    _serve_release(httpserver, V1, zips["v1"], latest=True)
    api = httpserver.url_for(f"{API}/latest")
    assert active_database_path(root) is None
    assert installed_info(root)["installed"] is False

    first = install_release(api, engine.pack, root)
    assert active_database_path(root) == first and first.name.startswith(V1 + "-")
    db = load_database(active_database_path(root), engine.pack)
    assert db.version == V1 and len(db.performers) == len(PEOPLE)
    query = engine.analyze([_images("Adam_Sandler")[2]])[0].primary_face()  # not enrolled
    best = Matcher([db], engine.pack).match_faces({n: e[None] for n, e in query.embeddings.items()})[0][0]
    assert best.universal_id == "lfw:Adam_Sandler" and best.similarity > 0.4
    assert verify_active(root) == []
    assert not list((root / "downloads").glob("*.zip"))

    _serve_release(httpserver, V2, zips["v2"], latest=False)
    second = install_release(api, engine.pack, root, version=V2)
    assert active_database_path(root) == second
    assert (root / "PREVIOUS").read_text().strip() == first.name
    info = installed_info(root)
    assert info["version"] == V2 and info["previous"] == first.name and info["size_bytes"] > 1000

    assert rollback(root) == first
    assert active_database_path(root) == first
    assert (root / "PREVIOUS").read_text().strip() == second.name
    assert load_database(first, engine.pack).version == V1


def test_at_most_two_old_releases_are_kept(fixture_release, root, tmp_path, engine):
    zip_path = tmp_path / "r.zip"
    zip_path.write_bytes(fixture_release["zips"]["v1"])
    installed = [install_release(str(zip_path), engine.pack, root) for _ in range(4)]
    left = {p.name for p in (root / "releases").iterdir()}
    assert left == {p.name for p in installed[1:]}  # CURRENT + PREVIOUS + one more
    assert active_database_path(root) == installed[-1]
    assert (root / "PREVIOUS").read_text().strip() == installed[-2].name


def test_rollback_with_nothing_to_go_back_to(installed_v1, root):
    with pytest.raises(ReleaseError, match="nothing to roll back to"):
        rollback(root)
    _assert_intact(root, installed_v1)


def test_verify_active_names_a_damaged_file(installed_v1, root):
    faces = active_database_path(root) / "faces.json"
    faces.write_text(faces.read_text().replace("lfw:", "lfX:", 1))
    assert verify_active(root) == ["faces.json"]


def test_find_release_with_version_uses_the_tag_url(fixture_release, httpserver):
    _serve_release(httpserver, V2, fixture_release["zips"]["v2"], latest=False)
    info = find_release(httpserver.url_for(f"{API}/latest"), version=V2)
    assert info.version == V2
    assert info.url == httpserver.url_for(f"/dl/stash-sense-data-v{V2}.zip")
    assert info.size == len(fixture_release["zips"]["v2"])
    assert [r.path for r, _ in httpserver.log] == [f"{API}/tags/v{V2}"]


# --- interrupted download -------------------------------------------------------------------------

def test_cut_connection_resumes_with_a_range_request(fixture_release, root, httpserver, installed_v1, engine):
    data = fixture_release["zips"]["v2_big"]
    cut = 2 * 65536  # urllib3 drops a read that hits the cut, so cut on a chunk boundary
    ranges = []

    def handler(request: Request) -> Response:
        ranges.append(request.headers.get("Range"))
        if request.headers.get("Range") is None:  # first try: the connection drops after `cut` bytes
            def cut_off():
                yield data[:cut]
                raise ConnectionResetError("simulated network cut")
            return Response(cut_off(), headers={"Content-Length": str(len(data))}, content_type="application/zip")
        start = int(request.headers["Range"].removeprefix("bytes=").rstrip("-"))
        return Response(data[start:], status=206, content_type="application/zip",
                        headers={"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})

    httpserver.expect_request("/dl/big.zip").respond_with_handler(handler)
    url = httpserver.url_for("/dl/big.zip")
    message = _refused(root, installed_v1, url, engine, "could not download")
    assert url in message and "resumes on the next try" in message
    parts = list((root / "downloads").glob("*.part"))
    assert len(parts) == 1 and parts[0].stat().st_size == cut

    path = install_release(url, engine.pack, root)
    assert ranges == [None, f"bytes={cut}-"]
    assert load_database(path, engine.pack).version == V2
    assert not list((root / "downloads").iterdir())


# --- refused releases: the active one stays ---------------------------------------------------------

def test_wrong_checksum_is_refused(fixture_release, root, httpserver, installed_v1, engine):
    url = _serve_zip(httpserver, "bad_sum", fixture_release["zips"]["bad_sum"])
    message = _refused(root, installed_v1, url, engine, "sha256 does not match")
    assert "faces.json" in message and url in message


def test_truncated_zip_is_refused(fixture_release, root, httpserver, installed_v1, engine):
    url = _serve_zip(httpserver, "truncated", fixture_release["zips"]["truncated"])
    _refused(root, installed_v1, url, engine, "not a complete zip file")


def test_zip_with_parent_path_member_is_refused(fixture_release, root, httpserver, installed_v1, engine, tmp_path):
    url = _serve_zip(httpserver, "evil", fixture_release["zips"]["evil"])
    message = _refused(root, installed_v1, url, engine, "unsafe path")
    assert "../evil" in message
    assert not [p for p in tmp_path.rglob("evil")]


def test_symlink_member_is_refused(fixture_release, root, tmp_path, installed_v1, engine):
    zip_path = tmp_path / "link.zip"
    shutil.copy(fixture_release["dir"] / "v1.zip", zip_path)
    with zipfile.ZipFile(zip_path, "a") as bundle:
        link = zipfile.ZipInfo("performers.db")
        link.external_attr = (0o120777 << 16)
        bundle.writestr(link, "/etc/passwd")
    message = _refused(root, installed_v1, str(zip_path), engine, "symbolic link")
    assert "performers.db" in message


def test_missing_required_file_is_refused(fixture_release, root, httpserver, installed_v1, engine):
    url = _serve_zip(httpserver, "missing", fixture_release["zips"]["missing"])
    message = _refused(root, installed_v1, url, engine, "required file")
    assert "faces.json" in message


def test_full_disk_is_refused_before_extracting(fixture_release, root, httpserver, installed_v1, engine,
                                                monkeypatch):
    extracted = []
    monkeypatch.setattr(releases, "free_bytes", lambda path: 1000)
    monkeypatch.setattr(releases.shutil, "copyfileobj", lambda *a, **k: extracted.append(a))
    url = _serve_zip(httpserver, "v2", fixture_release["zips"]["v2"])
    message = _refused(root, installed_v1, url, engine, "not enough disk space")
    assert "extracting" in message and not extracted


def test_full_disk_is_refused_before_downloading(fixture_release, root, httpserver, installed_v1, engine,
                                                 monkeypatch):
    monkeypatch.setattr(releases, "free_bytes", lambda path: 1000)
    _serve_release(httpserver, V2, fixture_release["zips"]["v2"], latest=True)
    _refused(root, installed_v1, httpserver.url_for(f"{API}/latest"), engine, "not enough disk space for the download")
    assert [r.path for r, _ in httpserver.log] == [f"{API}/latest"]


@pytest.mark.parametrize("status", [404, 500])
def test_http_errors_name_the_url(root, httpserver, installed_v1, engine, status):
    httpserver.expect_request("/dl/gone.zip").respond_with_data("no", status=status)
    url = httpserver.url_for("/dl/gone.zip")
    message = _refused(root, installed_v1, url, engine, f"HTTP {status}")
    assert url in message
    httpserver.expect_request(f"{API}/latest").respond_with_data("no", status=status)
    api = httpserver.url_for(f"{API}/latest")
    message = _refused(root, installed_v1, api, engine, f"HTTP {status}")
    assert api in message


def test_release_for_another_pack_is_refused(fixture_release, root, httpserver, installed_v1, engine):
    url = _serve_zip(httpserver, "other_pack", fixture_release["zips"]["other_pack"])
    message = _refused(root, installed_v1, url, engine, "model pack 'stash-sense-v1'")
    assert "test-mbf128" in message


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/repos/x/y/releases/latest",
                                 "http://127.0.0.1:9/dl/stash-sense-data-v2026.02.02.zip"])
def test_offline_says_how_to_install_by_hand(root, installed_v1, engine, url):
    message = _refused(root, installed_v1, url, engine, "by hand")
    assert url in message and str(root / "releases") in message and "CURRENT" in message


def test_release_inside_one_folder_is_installed_flat(fixture_release, root, tmp_path, engine):
    zip_path = tmp_path / "nested.zip"
    with zipfile.ZipFile(zip_path, "w") as bundle:
        bundle.writestr(zipfile.ZipInfo("stash-sense-data/"), b"")
        for file in fixture_release["v1"].iterdir():
            bundle.write(file, f"stash-sense-data/{file.name}")
    path = install_release(str(zip_path), engine.pack, root)
    assert (path / "manifest.json").is_file() and not (path / "stash-sense-data").exists()
    assert verify_active(root) == []


# --- what a release zip may put on disk: the database files its manifest names, at the stated sizes ---

GIB = 1 << 30


def _with_member(zip_path: Path, name: str, size: int) -> None:
    """Append a ``size``-byte member of zeros, streamed (a 1 GiB one deflates to ~1 MB)."""
    with zipfile.ZipFile(zip_path, "a", zipfile.ZIP_DEFLATED) as bundle:
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        with bundle.open(info, "w", force_zip64=True) as out:
            block = bytes(1 << 20)
            for _ in range(size // len(block)):
                out.write(block)


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_unlisted_1gib_member_is_not_kept(fixture_release, root, httpserver, engine, tmp_path):
    zip_path = tmp_path / "stowaway.zip"
    zip_path.write_bytes(fixture_release["zips"]["v1"])
    _with_member(zip_path, "stowaway.bin", GIB)
    assert zip_path.stat().st_size < 20 << 20
    url = _serve_zip(httpserver, "stowaway", zip_path.read_bytes())
    path = install_release(url, engine.pack, root)
    assert not (path / "stowaway.bin").exists()
    assert sorted(p.name for p in path.iterdir() if not p.name.startswith(".")) == sorted(
        p.name for p in fixture_release["v1"].iterdir())
    assert _folder_bytes(root) < 10 << 20
    assert verify_active(root) == [] and load_database(path, engine.pack).version


def test_member_listed_in_checksums_but_not_a_database_file_is_not_kept(fixture_release, root, engine, tmp_path):
    folder = _variant(fixture_release["v1"], tmp_path / "listed")
    (folder / "extra.bin").write_bytes(b"x" * 1000)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["checksums"]["extra.bin"] = "sha256:" + "0" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest))
    _zip_folder(folder, tmp_path / "listed.zip")
    path = install_release(str(tmp_path / "listed.zip"), engine.pack, root)
    assert not (path / "extra.bin").exists() and verify_active(root) == []


def test_size_different_from_the_manifest_is_refused_before_extracting(fixture_release, root, httpserver,
                                                                       installed_v1, engine, tmp_path):
    folder = _variant(fixture_release["v1"], tmp_path / "resized")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["sizes"]["faces.json"] += 1
    (folder / "manifest.json").write_text(json.dumps(manifest))
    url = _serve_zip(httpserver, "resized", _zip_folder(folder, tmp_path / "resized.zip"))
    message = _refused(root, installed_v1, url, engine, "faces.json is .* bytes in the zip, its manifest says")
    assert url in message


def test_downloaded_release_without_index_checksums_is_refused(fixture_release, root, httpserver, installed_v1,
                                                               engine, tmp_path):
    folder = _variant(fixture_release["v1"], tmp_path / "unsummed")
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["checksums"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    data = _zip_folder(folder, tmp_path / "unsummed.zip")
    url = _serve_zip(httpserver, "unsummed", data)
    message = _refused(root, installed_v1, url, engine, "no checksum for face_mbf128.voy")
    assert "tampered" in message
    # a zip the user picked by hand (offline install) is theirs to trust
    path = install_release(str(tmp_path / "unsummed.zip"), engine.pack, root)
    assert load_database(path, engine.pack).version
