"""Every GraphQL document the plugin sends, valid on every supported Stash version; older Stash is
refused once, with one message naming the minimum version.

The schemas are Stash's own, per release tag, in ../shared/stash-schema/versions/.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import LFW, REPO, SHARED
from graphql import parse, validate

from devtools.demo.resolvers import Root
from devtools.demo.schema import load_schema
from devtools.demo.seed import make_zip, seed
from devtools.demo.server import DemoStash
from stash_sense.jobs import gallery_reads as fetch
from stash_sense.library.images import image_source
from stash_sense.stash import queries as Q
from stash_sense.stash.client import StashClient
from stash_sense.stash.errors import StashTooOld
from stash_sense.stash.versions import check_version

VERSIONS = SHARED / "stash-schema" / "versions"
SUPPORTED = ["v0.28.1", "v0.29.3", "v0.30.1"]  # MIN_STASH_VERSION is 0.28: keep in step
TOO_OLD = "v0.27.2"
SESSION = "versions-session"

# What stashapi's StashInterface constructor sends (stashapi/stashapp.py), and the bootstrap's
# stdlib read of the "Python path override" setting (stash_sense_plugin.py).
STASHAPI_STARTUP = {
    "stashapi version": "query StashVersion{ version { build_time hash version } }",
    "stashapi apiKey": "query getApiKey{ configuration { general { apiKey } } }",
}


def js_documents() -> dict[str, str]:
    """The GraphQL strings in the UI scripts (string literals, joined where concatenated with +)."""
    text = "\n".join(p.read_text() for p in sorted((REPO / "stash_sense" / "js").rglob("*.js")))
    joined = re.sub(r'"\s*\+\s*"', "", text)
    found = re.findall(r'"((?:query|mutation) [^"]*)"', joined)
    return {f"js {i}: {doc.split('(')[0]}": doc for i, doc in enumerate(found)}


def bootstrap_documents() -> dict[str, str]:
    text = re.sub(r'"\s*\n\s*"', "", (REPO / "stash_sense_plugin.py").read_text())  # adjacent literals
    found = re.findall(r"f'(query [^']*)'", text) + re.findall(r'"(mutation [^"]*)"', text)
    return {f"bootstrap {i}": doc.replace("{{", "{").replace("}}", "}").replace("{PLUGIN_ID}", "stash_sense")
            for i, doc in enumerate(found)}


def every_document() -> dict[str, str]:
    docs = {f"queries.{name}": doc for name, doc in Q.all_documents().items()}
    docs["jobs.fetch.GALLERIES_IMAGES"] = fetch.GALLERIES_IMAGES
    return {**docs, **STASHAPI_STARTUP, **js_documents(), **bootstrap_documents()}


def test_the_document_list_is_complete():
    docs = every_document()
    assert len(js_documents()) >= 5 and len(bootstrap_documents()) == 2
    assert any("runPluginTask" in d for d in bootstrap_documents().values())
    assert any("runPluginTask" in d for d in js_documents().values())
    assert len(docs) >= 40


def test_no_named_document_is_left_out():
    """Every operation name the plugin's sources define (StashSense...) is among the validated documents."""
    sources = [*sorted((REPO / "stash_sense").rglob("*.py")), REPO / "stash_sense_plugin.py",
               *sorted((REPO / "stash_sense" / "js").rglob("*.js"))]
    defined = {name for path in sources for name in re.findall(r"(?:query|mutation) (StashSense\w+)", path.read_text())}
    validated = {name for doc in every_document().values()
                 for name in re.findall(r"(?:query|mutation) (StashSense\w+)", doc)}
    assert defined and defined <= validated, defined - validated


@pytest.fixture(scope="module", params=SUPPORTED)
def schema(request):
    return load_schema(VERSIONS / request.param)


def test_every_document_is_valid_on_every_supported_version(schema):
    failures = {name: [e.message for e in validate(schema, parse(doc))] for name, doc in every_document().items()}
    assert {name: errors for name, errors in failures.items() if errors} == {}


def test_the_oldest_supported_schema_has_no_zip_file_object():
    """Why the documents select ``zip_file_id``: v0.28 has no ``zip_file`` field (this would pass if it did)."""
    old = load_schema(VERSIONS / "v0.28.1")
    assert validate(old, parse("query { findImage(id: 1) { visual_files { ... on ImageFile { zip_file { id } } } } }"))


@pytest.mark.parametrize(("version", "refused"), [((0, 27, 2), True), ((0, 28, 0), False), ((0, 28, 1), False),
                                                  ((0, 30, 1), False), ((1, 0, 0), False), ((0, 0, 0), False)])
def test_version_check(version, refused):
    found = SimpleNamespace(major=version[0], minor=version[1], patch=version[2])
    if not refused:
        check_version(found)
        return
    with pytest.raises(StashTooOld) as caught:
        check_version(found)
    assert str(caught.value) == ("Stash Sense needs Stash v0.28.0 or newer; this Stash is v0.27.2. "
                                 "Update Stash, then run Stash Sense again.")


def _faces(person: str, n: int) -> list[str]:
    return [str(p) for p in sorted((LFW / person).glob("*.jpg"))[:n]]


@pytest.fixture
def stash_v028(tmp_path, monkeypatch):
    """A demo Stash answering with the v0.28.1 schema and version: a zip gallery and a folder gallery."""
    zpath = make_zip(tmp_path / "set.zip", _faces("Tony_Blair", 2), subdir="pics")
    ids = seed(tmp_path / "stash.sqlite", galleries=[{"title": "Zipped", "zip": str(zpath)},
                                                    {"title": "Folder", "images": _faces("Colin_Powell", 1)}],
               performers=[])
    monkeypatch.setattr(Root, "version", lambda self, info: {"version": "v0.28.1", "hash": "5e4f2c3a1",
                                                             "build_time": "2025-03-01 00:00:00"})
    with DemoStash(tmp_path / "stash.sqlite", session=SESSION, schema=load_schema(VERSIONS / "v0.28.1")) as server:
        yield server, ids


def test_galleries_and_zip_members_read_on_stash_v028(stash_v028):
    server, ids = stash_v028
    client = StashClient.from_plugin_input(server.server_connection())
    zipped = client.find_gallery(ids["galleries"]["Zipped"])
    assert zipped["files"][0]["path"].endswith("set.zip")
    images = list(client.gallery_images(ids["galleries"]["Zipped"]))
    assert len(images) == 2 and all(image["visual_files"][0]["zip_file_id"] for image in images)
    source = image_source(client, images[0])
    assert isinstance(source, bytes) and source[:2] == b"\xff\xd8"  # a zip member comes over HTTP
    folder_image = list(client.gallery_images(ids["galleries"]["Folder"]))[0]
    assert Path(image_source(client, folder_image)).is_file()


def test_older_stash_gets_one_message(tmp_path, monkeypatch):
    seed(tmp_path / "stash.sqlite", galleries=[], performers=[])
    monkeypatch.setattr(Root, "version", lambda self, info: {"version": TOO_OLD, "hash": "0123abcd9",
                                                             "build_time": "2024-10-01 00:00:00"})
    with DemoStash(tmp_path / "stash.sqlite", session=SESSION, schema=load_schema(VERSIONS / TOO_OLD)) as server:
        with pytest.raises(StashTooOld, match=r"needs Stash v0\.28\.0 or newer; this Stash is v0\.27\.2"):
            StashClient.from_plugin_input(server.server_connection())
