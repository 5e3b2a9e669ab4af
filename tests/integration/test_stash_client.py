"""The Stash client: every query checked against the real Stash schema, then used against the demo Stash."""

from __future__ import annotations

import hashlib
import socket
import zipfile
from pathlib import Path

import pytest
from conftest import LFW
from graphql import parse, validate

from devtools.demo.seed import DEFAULT_ENDPOINT, make_zip, seed
from devtools.demo.server import DemoStash, load_schema
from stash_sense.library.images import image_source
from stash_sense.stash import client as client_mod
from stash_sense.stash import queries as Q
from stash_sense.stash.client import StashClient, get_client
from stash_sense.stash.connection import connection_from_plugin_input, connection_from_url
from stash_sense.stash.errors import StashAuthError, StashGraphQLError, StashNotFound, StashUnreachable
from stash_sense.stash.files import fingerprint

SESSION = "plugin-session-cookie"
SID_LOCAL = "5b3a1c2e-0000-4000-8000-000000000001"
SID_REMOTE = "5b3a1c2e-0000-4000-8000-000000000002"
SID_OTHER = "5b3a1c2e-0000-4000-8000-000000000003"


def _faces(person: str, n: int) -> list[str]:
    return [str(p) for p in sorted((LFW / person).glob("*.jpg"))[:n]]


# --- offline: every document against the real schema ------------------------------------------


@pytest.mark.parametrize("name", sorted(Q.all_documents()))
def test_query_is_valid_for_real_stash(name):
    doc = Q.all_documents()[name]
    errors = validate(load_schema(), parse(doc))
    assert errors == [], f"{name}: {[e.message for e in errors]}"


def test_documents_are_all_collected():
    docs = Q.all_documents()
    assert len(docs) >= 20
    assert {"FIND_GALLERY", "FIND_GALLERY_IMAGES", "BULK_GALLERY_UPDATE", "SCRAPE_STASHBOX_PERFORMER"} <= set(docs)


@pytest.mark.parametrize(
    "bad",
    [
        "query { findGallery(id: 1) { id sceneMarkers } }",  # no such field
        "query { findImages { images { id visual_files { path } } } }",  # union needs a fragment
        "mutation { bulkGalleryUpdate(input: {ids: [1], performer_ids: {ids: [2], mode: APPEND}}) { id } }",
    ],
)
def test_wrong_query_fails_validation(bad):
    assert validate(load_schema(), parse(bad))


# --- connection dicts ---------------------------------------------------------------------------


def test_connection_from_plugin_input_maps_host_and_cookie():
    conn = connection_from_plugin_input(
        {
            "Scheme": "http",
            "Host": "0.0.0.0",
            "Port": 9999,
            "SessionCookie": {"Name": "session", "Value": "v", "Path": ""},
            "Dir": "/x",
            "PluginDir": "/y",
        }
    )
    assert conn == {
        "Scheme": "http",
        "Host": "127.0.0.1",
        "Port": 9999,
        "SessionCookie": {"Name": "session", "Value": "v"},
    }


def test_connection_from_url_with_base_path_and_key():
    assert connection_from_url("https://stash.example.org/stash/", "k") == {
        "Scheme": "https",
        "Host": "stash.example.org",
        "Port": 443,
        "BasePath": "/stash",
        "ApiKey": "k",
    }
    assert connection_from_url("localhost:9999") == {"Scheme": "http", "Host": "localhost", "Port": 9999}


# --- against the demo Stash ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stash")
    zpath = make_zip(tmp / "set.zip", _faces("Tony_Blair", 2) + _faces("Colin_Powell", 1), subdir="pics")
    video = tmp / "scene.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    ids = seed(
        tmp / "stash.sqlite",
        galleries=[
            {"title": "Blair folder", "images": _faces("Tony_Blair", 3), "performers": ["Tony Blair"]},
            {"title": "No performers", "images": _faces("Colin_Powell", 2), "tags": ["todo"]},
            {"title": "Zipped", "zip": str(zpath)},
            {
                "title": "Bulk target",
                "images": _faces("Jacques_Chirac", 1),
                "performers": ["Tony Blair", "Colin Powell"],
            },
        ],
        performers=[
            {"name": "Tony Blair", "stash_ids": [SID_LOCAL], "local": True},
            {"name": "Colin Powell", "stash_ids": [], "local": True},
            {
                "name": "Jacques Chirac",
                "stash_ids": [SID_REMOTE],
                "local": False,
                "aliases": ["JC", "Le Bulldozer"],
                "country": "FR",
                "gender": "MALE",
            },
            {"name": "Alex Smith", "disambiguation": "singer", "local": True},
            {"name": "Alex Smith", "disambiguation": "actor", "local": True},
        ],
        scenes=[
            {
                "title": "A scene",
                "path": str(video),
                "performers": ["Tony Blair"],
                "duration": 12.5,
                "width": 640,
                "height": 360,
            }
        ],
    )
    server = DemoStash(tmp / "stash.sqlite", session=SESSION, api_key="the-api-key")
    server.start()
    yield {"server": server, "ids": ids, "zip": zpath, "video": video}
    server.stop()


@pytest.fixture(scope="module")
def client(demo):
    client_mod.reset_clients()
    c = get_client(demo["server"].server_connection())  # Host 0.0.0.0 + session cookie, as Stash sends it
    yield c
    client_mod.reset_clients()


def test_client_is_shared_per_process(demo, client):
    conn = demo["server"].server_connection()  # one plugin run's connection (a new cookie per run)
    assert get_client(conn) is get_client(dict(conn))
    assert client.stash.url == f"http://127.0.0.1:{demo['server'].port}/graphql"


def test_list_galleries(demo, client):
    g = demo["ids"]["galleries"]
    count, galleries = client.find_galleries()
    assert count == 4 and [x["id"] for x in galleries] == sorted(g.values(), key=int)
    no_perf = {x["title"] for x in client.iter_galleries(without_performers=True)}
    assert no_perf == {"No performers", "Zipped"}
    tagged = list(client.iter_galleries(tag_id=demo["ids"]["tags"]["todo"]))
    assert [x["title"] for x in tagged] == ["No performers"]
    paged = list(client.iter_galleries(per_page=1))
    assert len(paged) == 4 and len({x["id"] for x in paged}) == 4
    assert galleries[0]["image_count"] == 3 and galleries[0]["performers"] == [
        {"id": demo["ids"]["performers"]["Tony Blair"]}
    ]


def test_gallery_with_images_pages_and_fingerprints(demo, client):
    gid = demo["ids"]["galleries"]["Blair folder"]
    gallery = client.find_gallery(gid)
    gallery["images"] = list(client.gallery_images(gid, per_page=2))  # 3 images -> 2 pages
    assert gallery["title"] == "Blair folder"
    assert [p["name"] for p in gallery["performers"]] == ["Tony Blair"]
    paths = [img["visual_files"][0]["path"] for img in gallery["images"]]
    assert paths == sorted(_faces("Tony_Blair", 3))
    f = gallery["images"][0]["visual_files"][0]
    data = Path(f["path"]).read_bytes()
    assert fingerprint(f, "md5") == hashlib.md5(data).hexdigest()
    assert fingerprint(f, "oshash") and fingerprint(f, "phash")
    assert f["size"] == len(data) and f["mod_time"] and f["zip_file_id"] is None
    assert gallery["images"][0]["paths"]["image"].endswith(
        f"/image/{gallery['images'][0]['id']}/image?t=" + "".join(ch for ch in f["mod_time"] if ch.isdigit())
    )
    assert client.find_gallery("999") is None


def test_image_source_is_the_file_on_disk_without_http(demo, client, monkeypatch):
    img = next(client.gallery_images(demo["ids"]["galleries"]["Blair folder"]))
    monkeypatch.setattr(client, "fetch", lambda *a, **k: pytest.fail("a plain file must be read from disk"))
    assert image_source(client, img) == img["visual_files"][0]["path"]


def test_image_source_of_zip_member_over_http(demo, client):
    images = list(client.gallery_images(demo["ids"]["galleries"]["Zipped"]))
    assert len(images) == 3
    img = images[0]
    f = img["visual_files"][0]
    assert f["zip_file_id"] and f["path"].startswith(str(demo["zip"]) + "/pics/")
    assert not Path(f["path"]).exists()
    with zipfile.ZipFile(demo["zip"]) as zf:
        member = zf.read(f["path"][len(str(demo["zip"])) + 1 :])
    assert image_source(client, img) == member
    assert fingerprint(f, "md5") == hashlib.md5(member).hexdigest()


def test_bulk_gallery_add_keeps_existing_and_remove_only_given(demo, client):
    ids = demo["ids"]
    gid = ids["galleries"]["Bulk target"]
    blair, powell = ids["performers"]["Tony Blair"], ids["performers"]["Colin Powell"]
    chirac = client.create_performer(name="Jacques Chirac Local")["id"]
    res = client.update_galleries([gid], performer_ids=[chirac], mode="ADD")
    assert {p["id"] for p in res[0]["performers"]} == {blair, powell, chirac}
    res = client.update_galleries([gid], performer_ids=[chirac, blair], mode="REMOVE")
    assert {p["id"] for p in res[0]["performers"]} == {powell}
    assert {p["id"] for p in client.find_gallery(gid)["performers"]} == {powell}
    with pytest.raises(ValueError):
        client.update_galleries([gid], performer_ids=[blair], mode="SET")


def test_bulk_image_and_scene_update_with_tags(demo, client):
    tag = client.find_or_create_tag("stash-sense: identified")
    assert client.find_or_create_tag("stash-sense: identified") == tag
    images = list(client.gallery_images(demo["ids"]["galleries"]["No performers"]))
    powell = demo["ids"]["performers"]["Colin Powell"]
    res = client.update_images([i["id"] for i in images], performer_ids=[powell], tag_ids=[tag["id"]])
    assert all(r["performers"] == [{"id": powell}] and r["tags"] == [{"id": tag["id"]}] for r in res)
    assert client.find_image(images[0]["id"])["performers"] == [{"id": powell}]

    scene = client.find_scene(demo["ids"]["scenes"]["A scene"])
    vf = scene["files"][0]
    assert vf["path"] == str(demo["video"]) and vf["duration"] == 12.5 and (vf["width"], vf["height"]) == (640, 360)
    assert fingerprint(vf, "md5") == hashlib.md5(demo["video"].read_bytes()).hexdigest()
    assert scene["paths"]["stream"].endswith(f"/scene/{scene['id']}/stream")
    res = client.update_scenes([scene["id"]], performer_ids=[powell])
    assert {p["id"] for p in res[0]["performers"]} == {powell, demo["ids"]["performers"]["Tony Blair"]}
    res = client.update_scenes([scene["id"]], performer_ids=[powell], mode="REMOVE")
    assert res[0]["performers"] == [{"id": demo["ids"]["performers"]["Tony Blair"]}]


def test_create_performer_from_stashbox(demo, client):
    assert client.stashbox_endpoints() == [{"endpoint": DEFAULT_ENDPOINT, "name": "StashDB"}]
    assert client.find_performers_by_stash_id(DEFAULT_ENDPOINT, SID_REMOTE) == []
    scraped = client.scrape_stashbox_performer(DEFAULT_ENDPOINT, SID_REMOTE)
    assert scraped["name"] == "Jacques Chirac" and scraped["remote_site_id"] == SID_REMOTE
    created = client.create_performer_from_stashbox(DEFAULT_ENDPOINT, SID_REMOTE)
    assert created["name"] == "Jacques Chirac" and created["country"] == "FR"
    assert created["alias_list"] == ["JC", "Le Bulldozer"]
    assert [(s["endpoint"], s["stash_id"]) for s in created["stash_ids"]] == [(DEFAULT_ENDPOINT, SID_REMOTE)]
    # second time: the linked performer is reused, no duplicate
    assert client.create_performer_from_stashbox(DEFAULT_ENDPOINT, SID_REMOTE)["id"] == created["id"]
    assert [p["id"] for p in client.find_performers_by_stash_id(DEFAULT_ENDPOINT, SID_REMOTE)] == [created["id"]]
    with pytest.raises(StashNotFound):
        client.create_performer_from_stashbox(DEFAULT_ENDPOINT, "00000000-0000-4000-8000-00000000dead")


def test_add_stash_id_keeps_existing_ones(demo, client):
    blair = demo["ids"]["performers"]["Tony Blair"]
    other = "https://fansdb.example/graphql"
    updated = client.add_performer_stash_id(blair, other, SID_OTHER)
    assert [(s["endpoint"], s["stash_id"]) for s in updated["stash_ids"]] == [
        (DEFAULT_ENDPOINT, SID_LOCAL),
        (other, SID_OTHER),
    ]
    again = client.add_performer_stash_id(blair, other, SID_OTHER)  # idempotent
    assert len(again["stash_ids"]) == 2


def test_find_performers_by_name_detects_ambiguity(client):
    assert len(client.find_performers_by_name("Alex Smith")) == 2
    assert [p["name"] for p in client.find_performers_by_name("tony blair")] == ["Tony Blair"]
    assert client.find_performers_by_name("Nobody") == []


def test_plugin_settings(demo, client):
    assert client.plugin_settings() == {}
    demo["server"].query(
        'mutation { configurePlugin(plugin_id: "stash_sense", input: {threshold: 0.5, addTags: true}) }'
    )
    assert client.plugin_settings() == {"threshold": 0.5, "addTags": True}


def test_api_key_from_url(demo):
    c = StashClient.from_url(demo["server"].url, api_key="the-api-key")
    assert c.find_gallery(demo["ids"]["galleries"]["Zipped"])["title"] == "Zipped"


# --- errors -------------------------------------------------------------------------------------


def test_wrong_cookie_is_a_clear_auth_error(demo):
    conn = demo["server"].server_connection()
    conn["SessionCookie"] = {"Name": "session", "Value": "stale"}
    with pytest.raises(StashAuthError, match="401"):
        StashClient.from_plugin_input(conn)


def test_server_down_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StashUnreachable, match="is it running"):
        StashClient.from_plugin_input(
            {"Scheme": "http", "Host": "0.0.0.0", "Port": port, "SessionCookie": {"Name": "session", "Value": "x"}}
        )


def test_graphql_errors_raise(demo, client):
    with pytest.raises(StashGraphQLError, match="Cannot query field"):
        client.call("query { findGallery(id: 1) { nope } }")
    with pytest.raises(StashGraphQLError, match="not found"):
        client.update_galleries([demo["ids"]["galleries"]["Zipped"]], performer_ids=["9999"])


def test_image_404_is_a_clear_error(client):
    with pytest.raises(StashNotFound, match="404"):
        image_source(client, {"id": "9999", "visual_files": []})
    with pytest.raises(StashNotFound):  # listed path gone and not in a zip -> Stash says 404 too
        image_source(client, {"id": "9998", "visual_files": [{"path": "/nonexistent/x.jpg", "zip_file": None}]})


def test_lost_connection_after_start(demo, tmp_path):
    server = DemoStash(demo["server"].db_path, session=SESSION)
    server.start()
    c = StashClient.from_plugin_input(server.server_connection())
    server.stop()
    with pytest.raises(StashUnreachable):
        c.find_gallery("1")
    with pytest.raises(StashUnreachable):
        image_source(c, {"id": "1", "visual_files": []})
