"""The embedded demo Stash: auth, real-schema validation, mutation semantics, image routes, plugin runner."""

from __future__ import annotations

import hashlib
import json
import sys
import textwrap
import zipfile

import pytest
import requests
from conftest import LFW

from devtools.demo.seed import DEFAULT_ENDPOINT, connect, make_zip, oshash, seed
from devtools.demo.server import DemoStash, validate_document
from stash_sense.stash import queries as Q

SESSION = "s3cr3t"
SID = "0f0f0f0f-1111-4222-8333-444444444444"

FAKE_PLUGIN = textwrap.dedent(
    r"""
    import json, sys, time
    import requests

    inp = json.loads(sys.stdin.read())          # Stash closes stdin after writing PluginInput
    conn, args = inp["server_connection"], inp["args"]

    def log(level, msg):
        print(f"\x01{level}\x02{msg}", file=sys.stderr, flush=True)

    log("i", "started " + json.dumps(args, sort_keys=True))
    mode = args.get("mode")
    if mode == "callback":   # call back into Stash with the session cookie, as a real plugin does
        host = "127.0.0.1" if conn["Host"] == "0.0.0.0" else conn["Host"]
        r = requests.post(f"{conn['Scheme']}://{host}:{conn['Port']}/graphql",
                          json={"query": "{ findGallery(id: 1) { title } }"},
                          cookies={"session": conn["SessionCookie"]["Value"]})
        print(json.dumps({"output": r.json()["data"]}))
    elif mode == "error":
        print(json.dumps({"error": "boom"}))
    elif mode == "raw":
        print("not json")
    elif mode == "exit":
        sys.exit(3)
    elif mode == "progress":
        log("p", "0.5")
        log("w", "careful")
        print("plain stderr line", file=sys.stderr)
        print(json.dumps({"output": "done"}))
    elif mode == "sleep":
        time.sleep(60)
    else:
        print(json.dumps({"output": {"args": args, "plugin_dir": conn["PluginDir"], "host": conn["Host"]}}))
    """
)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    faces = sorted((LFW / "Gerhard_Schroeder").glob("*.jpg"))[:4]
    assert len(faces) == 4, f"need LFW faces under {LFW}"
    zpath = make_zip(tmp / "gs.zip", faces[2:4])
    ids = seed(
        tmp / "db.sqlite",
        galleries=[
            {"title": "Folder", "images": [str(p) for p in faces[:2]], "performers": ["Gerhard Schroeder"]},
            {"title": "Zip", "zip": str(zpath), "tags": ["zipped"]},
        ],
        performers=[
            {"name": "Gerhard Schroeder", "stash_ids": [SID], "local": True},
            {"name": "Doris Schroeder", "stash_ids": ["0f0f0f0f-1111-4222-8333-555555555555"], "local": False},
        ],
        tags=["a", "b"],
    )
    script = tmp / "fake_plugin.py"
    script.write_text(FAKE_PLUGIN)
    server = DemoStash(
        tmp / "db.sqlite",
        session=SESSION,
        api_key="key123",
        plugin_command=[sys.executable, str(script)],
        plugin_dir=tmp,
        task_default_args={"Identify all": {"mode": "progress", "scope": "all"}},
    )
    server.start()
    yield {"server": server, "ids": ids, "faces": faces, "zip": zpath, "tmp": tmp}
    server.stop()


def gql(env, query, variables=None, cookie=SESSION, headers=None):
    cookies = {"session": cookie} if cookie else {}
    r = requests.post(
        env["server"].url + "/graphql",
        json={"query": query, "variables": variables or {}},
        cookies=cookies,
        headers=headers or {},
        timeout=60,
    )
    return r.status_code, r.json()


def data(env, query, variables=None):
    status, body = gql(env, query, variables)
    assert status == 200 and not body.get("errors"), body
    return body["data"]


# --- HTTP, auth, schema -------------------------------------------------------------------------


def test_auth_cookie_apikey_and_401(env):
    assert gql(env, "{ version { version } }")[0] == 200
    assert gql(env, "{ version { version } }", cookie="wrong")[0] == 401
    assert gql(env, "{ version { version } }", cookie=None)[0] == 401
    assert gql(env, "{ version { version } }", cookie=None, headers={"ApiKey": "key123"})[0] == 200
    r = requests.get(env["server"].url + "/image/1/image", timeout=10, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?")  # like Stash: to its login page
    r = requests.get(env["server"].url + "/image/1/image?apikey=key123", timeout=10)
    assert r.status_code == 200


def test_invalid_query_rejected_like_real_stash(env):
    status, body = gql(env, "{ findGallery(id: 1) { id sceneMarkers } }")
    assert status == 422 and "sceneMarkers" in body["errors"][0]["message"]
    assert validate_document("{ findGallery(id: 1) { id sceneMarkers } }")
    assert validate_document(Q.FIND_GALLERY) == []


def test_introspection_and_startup_queries(env):
    d = data(
        env,
        "{ __schema { queryType { name } types { name } } version { version hash build_time }"
        " configuration { general { apiKey } } }",
    )
    assert d["__schema"]["queryType"]["name"] == "Query"
    assert {"Gallery", "Image", "ScrapedPerformer"} <= {t["name"] for t in d["__schema"]["types"]}
    assert d["version"]["version"].startswith("v0.") and d["configuration"]["general"]["apiKey"] == "key123"


def test_unimplemented_filter_is_an_error_not_ignored(env):
    status, body = gql(env, "{ findGalleries(gallery_filter: {organized: true}) { count } }")
    assert status == 200 and "not implemented" in body["errors"][0]["message"]


# --- seed + images ------------------------------------------------------------------------------


def test_seeded_files_have_fingerprints_and_zip_members(env):
    d = data(env, Q.FIND_GALLERY_IMAGES, {"gallery_id": env["ids"]["galleries"]["Zip"], "filter": {"per_page": -1}})
    images = d["findImages"]["images"]
    assert d["findImages"]["count"] == 2
    conn = connect(env["server"].db_path)
    zip_id = conn.execute("SELECT id FROM files WHERE path = ?", (str(env["zip"]),)).fetchone()[0]
    conn.close()
    with zipfile.ZipFile(env["zip"]) as zf:
        for img in images:
            f = img["visual_files"][0]
            member = zf.read(f["basename"])
            fps = {x["type"]: x["value"] for x in f["fingerprints"]}
            assert fps["md5"] == hashlib.md5(member).hexdigest() and fps["oshash"] == oshash(member)
            assert str(f["zip_file_id"]) == str(zip_id) and f["size"] == len(member)
            assert (f["width"], f["height"]) == (250, 250)
            r = requests.get(env["server"].url + f"/image/{img['id']}/image", cookies={"session": SESSION}, timeout=10)
            assert r.status_code == 200 and r.content == member


def test_image_routes(env):
    img_id = env["ids"]["images"][str(env["faces"][0])]
    url = env["server"].url
    r = requests.get(f"{url}/image/{img_id}/image", cookies={"session": SESSION}, timeout=10)
    assert r.content == env["faces"][0].read_bytes() and r.headers["Content-Type"] == "image/jpeg"
    r = requests.get(f"{url}/image/{img_id}/thumbnail", cookies={"session": SESSION}, timeout=10)
    assert r.status_code == 200 and r.content[:2] == b"\xff\xd8"
    assert requests.get(f"{url}/image/424242/image", cookies={"session": SESSION}, timeout=10).status_code == 404


def test_oshash_is_the_opensubtitles_hash():
    data_ = bytes(range(256)) * 1024  # 256 KiB
    assert oshash(data_) == oshash(bytes(data_)) and len(oshash(data_)) == 16
    assert oshash(b"") == "0000000000000000"


# --- mutations ----------------------------------------------------------------------------------


def test_bulk_modes_set_add_remove(env):
    t = env["ids"]["tags"]
    img = env["ids"]["images"][str(env["faces"][1])]
    q = "mutation($input: BulkImageUpdateInput!) { bulkImageUpdate(input: $input) { id tags { id } } }"

    def run(mode, ids):
        res = data(env, q, {"input": {"ids": [img], "tag_ids": {"ids": ids, "mode": mode}}})
        return {x["id"] for x in res["bulkImageUpdate"][0]["tags"]}

    assert run("SET", [t["a"]]) == {t["a"]}
    assert run("ADD", [t["b"]]) == {t["a"], t["b"]}
    assert run("ADD", [t["b"]]) == {t["a"], t["b"]}
    assert run("REMOVE", [t["a"]]) == {t["b"]}
    assert run("SET", []) == set()


def test_performer_create_update_and_tag_create(env):
    create = data(
        env,
        Q.PERFORMER_CREATE,
        {
            "input": {
                "name": "New One",
                "disambiguation": "x",
                "alias_list": ["N1"],
                "stash_ids": [{"endpoint": DEFAULT_ENDPOINT, "stash_id": "s1"}],
            }
        },
    )
    p = create["performerCreate"]
    assert p["alias_list"] == ["N1"] and p["stash_ids"][0]["stash_id"] == "s1"
    status, body = gql(env, Q.PERFORMER_CREATE, {"input": {"name": "New One", "disambiguation": "x"}})
    assert "already exists" in body["errors"][0]["message"]
    upd = data(env, Q.PERFORMER_UPDATE, {"input": {"id": p["id"], "stash_ids": [{"endpoint": "e2", "stash_id": "s2"}]}})
    assert [s["stash_id"] for s in upd["performerUpdate"]["stash_ids"]] == ["s2"]  # list = SET, like Stash
    tag = data(env, Q.TAG_CREATE, {"input": {"name": "fresh"}})["tagCreate"]
    assert data(env, Q.FIND_TAGS_BY_NAME, {"name": "FRESH"})["findTags"]["tags"] == [tag]


def test_scrape_single_performer(env):
    q = Q.SCRAPE_STASHBOX_PERFORMER
    by_id = data(env, q, {"source": {"stash_box_endpoint": DEFAULT_ENDPOINT}, "input": {"query": SID}})
    assert [p["name"] for p in by_id["scrapeSinglePerformer"]] == ["Gerhard Schroeder"]
    by_name = data(env, q, {"source": {"stash_box_index": 0}, "input": {"query": "Schroeder"}})
    assert {p["name"] for p in by_name["scrapeSinglePerformer"]} == {"Gerhard Schroeder", "Doris Schroeder"}
    local = env["ids"]["performers"]["Gerhard Schroeder"]
    by_local = data(env, q, {"source": {"stash_box_endpoint": DEFAULT_ENDPOINT}, "input": {"performer_id": local}})
    assert by_local["scrapeSinglePerformer"][0]["remote_site_id"] == SID
    status, body = gql(env, q, {"source": {"stash_box_endpoint": "https://nope/graphql"}, "input": {"query": SID}})
    assert "not configured" in body["errors"][0]["message"]


# --- plugin runner ------------------------------------------------------------------------------


def test_run_plugin_operation_like_stash(env):
    server = env["server"]
    server.clear_logs()
    out = data(env, Q.RUN_PLUGIN_OPERATION, {"plugin_id": "stash_sense", "args": {"mode": "echo", "n": [1, 2]}})
    assert out["runPluginOperation"] == {
        "args": {"mode": "echo", "n": [1, 2]},
        "plugin_dir": str(env["tmp"]),
        "host": "0.0.0.0",
    }
    assert server.logs("info") == ['started {"mode": "echo", "n": [1, 2]}']
    cb = data(env, Q.RUN_PLUGIN_OPERATION, {"plugin_id": "stash_sense", "args": {"mode": "callback"}})
    assert cb["runPluginOperation"] == {"findGallery": {"title": "Folder"}}
    raw = data(env, Q.RUN_PLUGIN_OPERATION, {"plugin_id": "stash_sense", "args": {"mode": "raw"}})
    assert raw["runPluginOperation"] == "not json\n"


@pytest.mark.parametrize("mode,message", [("error", "boom"), ("exit", "exit status 3")])
def test_plugin_operation_errors_become_graphql_errors(env, mode, message):
    status, body = gql(env, Q.RUN_PLUGIN_OPERATION, {"plugin_id": "stash_sense", "args": {"mode": mode}})
    assert body["data"]["runPluginOperation"] is None and body["errors"][0]["message"] == message


def test_unknown_plugin(env):
    status, body = gql(env, Q.RUN_PLUGIN_OPERATION, {"plugin_id": "other", "args": {}})
    assert "not found" in body["errors"][0]["message"]


def test_run_plugin_task_job_progress_logs_default_args(env):
    server = env["server"]
    server.clear_logs()
    job_id = data(
        env,
        Q.RUN_PLUGIN_TASK,
        {"plugin_id": "stash_sense", "task_name": "Identify all", "args_map": {"scope": "gallery"}},
    )["runPluginTask"]
    job = server.wait_job(job_id)
    assert job["status"] == "FINISHED" and job["progress"] == 1.0
    found = data(env, Q.FIND_JOB, {"id": job_id})["findJob"]
    assert found["status"] == "FINISHED" and found["description"] == "Running plugin task: Identify all"
    assert server.logs("info") == ['started {"mode": "progress", "scope": "gallery"}']  # defaults only fill gaps
    assert server.logs("warning") == ["careful"]
    assert server.logs("error") == ["plain stderr line"]  # unprefixed stderr -> errLog level
    assert server.logs("debug") == ['Plugin returned: "done"']


def test_failed_and_stopped_tasks(env):
    server = env["server"]
    job_id = data(env, Q.RUN_PLUGIN_TASK, {"plugin_id": "stash_sense", "args_map": {"mode": "error"}})["runPluginTask"]
    job = server.wait_job(job_id)
    assert job["status"] == "FINISHED" and job["error"] is None  # like Stash: the error is only logged
    assert "Plugin returned error: boom" in server.logs("error")
    job_id = data(env, Q.RUN_PLUGIN_TASK, {"plugin_id": "stash_sense", "args_map": {"mode": "sleep"}})["runPluginTask"]
    import time

    for _ in range(100):
        if server.jobs[job_id]["status"] == "RUNNING" and job_id in server._procs:
            break
        time.sleep(0.05)
    assert data(env, f'mutation {{ stopJob(job_id: "{job_id}") }}')["stopJob"] is True
    assert server.wait_job(job_id, timeout=10)["status"] == "CANCELLED"
    assert json.dumps(data(env, Q.FIND_JOB, {"id": "999"})) == '{"findJob": null}'


SCAN = "mutation($i: ScanMetadataInput!) { metadataScan(input: $i) }"


def test_scan_creates_images_and_galleries_and_fires_the_manifest_hooks_like_stash(tmp_path):
    """metadataScan: one plugin process per created object with Stash's hook context (input nil for
    a scan), a folder's or zip's gallery hook before its first image's; a second scan creates nothing."""
    faces = sorted((LFW / "Colin_Powell").glob("*.jpg"))[:4]
    library = tmp_path / "library"
    (library / "folder").mkdir(parents=True)
    for face in faces[:2]:
        (library / "folder" / face.name).write_bytes(face.read_bytes())
    make_zip(library / "set.zip", faces[2:])
    (library / "loose").mkdir()
    (library / "loose" / ".nogallery").touch()
    (library / "loose" / faces[0].name).write_bytes(faces[0].read_bytes())
    (tmp_path / "plugin.py").write_text(FAKE_PLUGIN)
    (tmp_path / "stash_sense.yml").write_text(
        "name: Fake\nhooks:\n  - name: new\n    triggeredBy: [Gallery.Create.Post, Image.Create.Post]\n"
        "    defaultArgs:\n      mode: hooked\n  - name: other\n    triggeredBy: [Scene.Create.Post]\n")
    with DemoStash(tmp_path / "db.sqlite", plugin_command=[sys.executable, str(tmp_path / "plugin.py")],
                   plugin_dir=tmp_path, parallel_tasks=2, create_galleries_from_folders=True) as server:
        job = server.query(SCAN, {"i": {"paths": [str(library)]}})["metadataScan"]
        assert server.wait_job(job)["status"] == "FINISHED"
        runs = server.hook_runs
        assert all(r["output"]["args"] == {"mode": "hooked", "hookContext": {
            "id": r["id"], "type": r["type"], "input": None, "inputFields": None}} for r in runs)
        conn = connect(server.db_path)
        images = {row["path"]: row["id"] for row in conn.execute(
            "SELECT f.path, i.id FROM images i JOIN files f ON f.id = i.file_id")}
        galleries = {row["id"]: sorted(r[0] for r in conn.execute(
            "SELECT image_id FROM galleries_images WHERE gallery_id = ?", (row["id"],)))
            for row in conn.execute("SELECT id FROM galleries")}
        conn.close()
        assert len(images) == 5 and len(galleries) == 2 and sorted(map(len, galleries.values())) == [2, 2]
        assert sorted((r["type"], r["id"]) for r in runs) == sorted(
            [("Image.Create.Post", i) for i in images.values()] + [("Gallery.Create.Post", g) for g in galleries])
        order = [(r["type"], r["id"]) for r in runs]
        for gallery_id, image_ids in galleries.items():  # the gallery's hook before any of its images'
            assert order.index(("Gallery.Create.Post", gallery_id)) < min(
                order.index(("Image.Create.Post", i)) for i in image_ids)
        job = server.query(SCAN, {"i": {"paths": [str(library)]}})["metadataScan"]
        assert server.wait_job(job)["status"] == "FINISHED" and len(server.hook_runs) == len(runs)
