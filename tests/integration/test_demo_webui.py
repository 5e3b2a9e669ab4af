"""The demo Stash serves Stash's real web UI as Stash does, and answers what that UI asks.

Routes and their quirks (gzip-only assets, SPA fallback with ``<base href>`` from
``X-Forwarded-Prefix``, the plugin's concatenated files), every operation the UI sent in a real run
(``../shared/stash-ui/operations``) answered without errors, media URLs under the proxy's prefix, and
job progress over a ``graphql-transport-ws`` WebSocket. The browser tests (test_browser_ui.py) then
load the UI itself.
"""

from __future__ import annotations

import gzip
import json
import socket
import sys
import textwrap
from dataclasses import dataclass

import pytest
import requests
import yaml
from conftest import REPO
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

from devtools.demo import scenario as demo
from devtools.demo.proxy import SubPathProxy
from devtools.demo.server import DemoStash
from devtools.demo.webui import ui_build_dir

SESSION = "webui-session"
OPERATIONS = ui_build_dir().parent / "operations"

SLOW_TASK = textwrap.dedent(
    r"""
    import json, sys, time
    json.loads(sys.stdin.read())
    for p in ("0.25", "0.5", "0.75"):
        print(f"\x01p\x02{p}", file=sys.stderr, flush=True)
        time.sleep(0.4)
    print(json.dumps({"output": "ok"}))
    """
)


@dataclass
class UIStash:
    """The demo Stash, the sub-path proxy in front of it, the seeded ids, and the UI's URL."""

    server: DemoStash
    proxy: SubPathProxy
    ids: dict
    url: str


@pytest.fixture
def stash(tmp_path):
    scenario = demo.build_scenario(tmp_path)
    ids = demo.seed_stash(tmp_path / "stash.sqlite", scenario)
    script = tmp_path / "slow_task.py"
    script.write_text(SLOW_TASK)
    server = DemoStash(tmp_path / "stash.sqlite", session=SESSION, plugin_command=[sys.executable, str(script)])
    server.start()
    proxy = SubPathProxy(("127.0.0.1", server.port), "/stash", session=SESSION)
    proxy.start()
    yield UIStash(server, proxy, ids, proxy.url)
    proxy.stop()
    server.stop()


def ui_post(stash: UIStash, query: str, variables: dict | None = None, name: str | None = None) -> dict:
    """POST /graphql through the sub-path proxy, as the browser does."""
    body = {"query": query, "variables": variables or {}, "operationName": name}
    r = requests.post(stash.url + "graphql", json=body, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def operation_variables(stash: UIStash) -> dict[str, dict]:
    gallery = stash.ids["galleries"]["Rumsfeld and Chirac"]
    images = {"filter": {"page": 1, "per_page": 40, "sort": "path", "direction": "ASC"},
              "image_filter": {"galleries": {"value": [gallery], "modifier": "INCLUDES_ALL"}}}
    return {"FindGallery": {"id": gallery}, "FindImages": images,
            "FindImagesMetadata": {**images, "filter": {**images["filter"], "per_page": 0}}}


def test_every_operation_of_the_ui_is_answered_completely(stash):
    """Each query the real UI sent at startup and on a gallery page: valid, no errors, no nulls where the
    schema forbids them (a null there is an error that breaks the page), system status OK."""
    summary = json.loads((OPERATIONS / "nonnull_summary.json").read_text())
    variables = operation_variables(stash)
    queries = [n for n, s in summary.items() if s["transport"] == "POST"]
    assert {"Configuration", "SystemStatus", "Plugins", "JobQueue", "FindGallery", "FindImages"} <= set(queries)
    for name in queries:
        body = ui_post(stash, (OPERATIONS / f"{name}.graphql").read_text(), variables.get(name), name)
        assert "errors" not in body and body["data"], (name, body)
    data = ui_post(stash, (OPERATIONS / "SystemStatus.graphql").read_text())["data"]
    assert data["systemStatus"]["status"] == "OK"
    gallery = ui_post(stash, (OPERATIONS / "FindGallery.graphql").read_text(), variables["FindGallery"])["data"]
    assert gallery["findGallery"]["title"] == "Rumsfeld and Chirac"
    assert [p["name"] for p in gallery["findGallery"]["performers"]] == ["Donald Rumsfeld"]
    images = ui_post(stash, (OPERATIONS / "FindImages.graphql").read_text(), variables["FindImages"])["data"]
    thumbs = [i["paths"]["thumbnail"] for i in images["findImages"]["images"]]
    assert len(thumbs) == 6 and all(t.startswith(stash.url + "image/") for t in thumbs), thumbs
    assert requests.get(thumbs[0], timeout=30).headers["Content-Type"] == "image/jpeg"


def test_plugins_list_and_configure_ui_persist(stash):
    """The plugin appears with its tasks, settings and absolute file URLs under the prefix; configureUI
    persists (partial merges), so the UI does not loop on it; no release-notes modal."""
    plugins = ui_post(stash, (OPERATIONS / "Plugins.graphql").read_text())["data"]["plugins"]
    manifest = yaml.safe_load((REPO / "stash_sense.yml").read_text())
    (plugin,) = plugins
    assert plugin["id"] == "stash_sense" and plugin["enabled"] and plugin["name"] == manifest["name"]
    assert plugin["paths"]["javascript"] == [stash.url + "plugin/stash_sense/javascript"]
    assert [t["name"] for t in plugin["tasks"]] == [t["name"] for t in manifest["tasks"]]
    assert [s["name"] for s in plugin["settings"]] == list(manifest["settings"])
    config = (OPERATIONS / "Configuration.graphql").read_text()
    assert ui_post(stash, config)["data"]["configuration"]["ui"]["lastNoteSeen"] >= 20251026
    ui_post(stash, "mutation($p: Map) { configureUI(partial: $p) }", {"p": {"taskDefaults": {"x": 1}}})
    ui = ui_post(stash, config)["data"]["configuration"]["ui"]
    assert ui["taskDefaults"] == {"x": 1} and ui["lastNoteSeen"] >= 20251026


def test_ui_routes_as_stash_serves_them(stash):
    url = stash.url
    build = ui_build_dir()
    page = requests.get(url + "galleries/2", timeout=10)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-cache"
    assert '<base href="/stash/"' in page.text and "%COLOR%" not in page.text and "#202b33" in page.text
    asset = next(p for p in (build / "assets").glob("index-*.js.gz"))
    rel = "assets/" + asset.name[: -len(".gz")]
    raw = requests.get(url + rel, headers={"Accept-Encoding": "gzip"}, stream=True, timeout=10)
    assert raw.headers["Content-Encoding"] == "gzip" and raw.headers["Content-Type"].startswith("text/javascript")
    assert raw.raw.read() == asset.read_bytes()
    plain = requests.get(url + rel, headers={"Accept-Encoding": "identity"}, timeout=10)
    assert "Content-Encoding" not in plain.headers and plain.content == gzip.decompress(asset.read_bytes())
    assert requests.get(url + "favicon.ico", timeout=10).content == (build / "favicon.ico").read_bytes()
    assert requests.get(url + "assets/nope.js", timeout=10).status_code == 404
    assert requests.get(url + "css", timeout=10).headers["Content-Type"].startswith("text/css")
    assert requests.get(url + "javascript", timeout=10).headers["Content-Type"].startswith("text/javascript")
    assert requests.get(url + "customlocales", timeout=10).json() == {}
    manifest = yaml.safe_load((REPO / "stash_sense.yml").read_text())
    for kind in ("javascript", "css"):
        served = requests.get(url + f"plugin/stash_sense/{kind}", timeout=10).content
        assert served == b"\n".join((REPO / f).read_bytes() for f in manifest["ui"][kind])
    assert requests.get(url + "plugin/other/javascript", timeout=10).status_code == 404
    assert requests.get(url + "plugin/stash_sense/assets/stash_sense.yml", timeout=10).content == (
        REPO / "stash_sense.yml").read_bytes()
    assert requests.get(url + "plugin/stash_sense/assets/../../etc/passwd", timeout=10).status_code == 404
    assert stash.proxy.stray_requests == []
    assert requests.get(url.replace("/stash/", "/graphql"), timeout=10).status_code == 404


class WSClient:
    """A minimal graphql-transport-ws client over wsproto, as the UI's graphql-ws 5.x speaks it."""

    def __init__(self, url: str):
        host, port = url.split("//")[1].split("/")[0].split(":")
        path = "/" + url.split("//")[1].split("/", 1)[1]
        self.sock = socket.create_connection((host, int(port)), timeout=20)
        self.ws = WSConnection(ConnectionType.CLIENT)
        request = Request(host=f"{host}:{port}", target=path, subprotocols=["graphql-transport-ws"])
        self.sock.sendall(self.ws.send(request))
        self.pending: list = []
        accepted = self._next_event()
        assert isinstance(accepted, AcceptConnection) and accepted.subprotocol == "graphql-transport-ws"

    def _next_event(self):
        while not self.pending:
            self.ws.receive_data(self.sock.recv(65536))
            self.pending.extend(self.ws.events())
        return self.pending.pop(0)

    def send(self, msg: dict) -> None:
        self.sock.sendall(self.ws.send(TextMessage(json.dumps(msg))))

    def receive(self) -> dict:
        event = self._next_event()
        assert isinstance(event, TextMessage), event
        return json.loads(event.data)


def test_job_progress_over_websocket(stash):
    """A plugin task's progress reaches a jobsSubscribe subscriber: ADD, UPDATEs with rising progress,
    then REMOVE with FINISHED, over the proxy's sub-path like the browser's connection."""
    client = WSClient(stash.url.replace("http://", "ws://") + "graphql")
    client.send({"type": "connection_init", "payload": {}})
    assert client.receive() == {"type": "connection_ack"}
    query = (OPERATIONS / "JobsSubscribe.graphql").read_text()
    client.send({"type": "subscribe", "id": "1", "payload": {"query": query, "operationName": "JobsSubscribe"}})
    client.send({"type": "ping"})
    assert client.receive() == {"type": "pong"}
    job_id = ui_post(stash, 'mutation { runPluginTask(plugin_id: "stash_sense", description: "slow") }')["data"][
        "runPluginTask"]
    updates = []
    while not updates or updates[-1]["type"] != "REMOVE":
        msg = client.receive()
        assert msg["type"] == "next" and msg["id"] == "1" and "errors" not in msg["payload"], msg
        updates.append(msg["payload"]["data"]["jobsSubscribe"])
    assert all(u["job"]["id"] == job_id for u in updates)
    assert updates[0]["type"] == "ADD" and updates[-1]["job"]["status"] == "FINISHED"
    progress = [u["job"]["progress"] for u in updates if u["type"] == "UPDATE" and u["job"]["progress"] is not None]
    assert len(set(progress)) >= 2 and progress == sorted(progress), updates
    client.send({"type": "complete", "id": "1"})
