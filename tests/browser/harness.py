"""The browser harness: a stand-in for Stash's web UI in front of the embedded demo Stash.

Serves, under a reverse-proxy style sub-path (``/stash/``, announced by ``<base href="/stash/">``
exactly as Stash does behind a proxy):

* ``/stash/`` and every client route (``galleries/<id>``, ``images/<id>`` ...): the harness page;
* ``/stash/stash-ui/stash.css``: Stash's real stylesheet (``real_theme=True`` links it instead of the
  approximation below), from ``../shared/stash-ui/build``;
* ``/stash/vendor/...``: React 17, react-dom, react-bootstrap 1.6, Bootstrap 4.6 CSS and FontAwesome
  icons from ``tests/browser/node_modules`` (the versions Stash's UI ships), used to build a minimal
  ``window.PluginApi`` (``harness/plugin-api.js``);
* ``/stash/plugin/stash_sense/javascript`` and ``.../css``: the plugin's UI files listed in the manifest's
  ``ui.javascript`` / ``ui.css``, concatenated in order, as Stash serves them;
* ``/stash/graphql``, ``/stash/image/...``, ``/stash/performer/...``: proxied to the demo Stash with
  its session cookie (the browser never needs to log in).

Requests that ignore the base path (``/graphql`` at the root) get a 404 and are counted in
``stray_requests``, so a test can assert the UI honours the base path.

Run by hand for development: ``python tests/browser/harness.py`` (demo scenario + reference DB),
then open the printed URL.
"""

from __future__ import annotations

import gzip
import mimetypes
import os
import re
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
NODE_MODULES = HERE / "node_modules"
PREFIX = "/stash"

VENDOR = {  # URL name -> file under node_modules
    "react.js": "react/umd/react.development.js",
    "react-dom.js": "react-dom/umd/react-dom.development.js",
    "react-bootstrap.js": "react-bootstrap/dist/react-bootstrap.min.js",
    "bootstrap.css": "bootstrap/dist/css/bootstrap.min.css",
    "fa-solid.js": "@fortawesome/free-solid-svg-icons/index.js",
}

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<base href="{prefix}/">
<link rel="icon" href="data:,">
<title>Stash (Stash Sense harness)</title>
{theme}
<link rel="stylesheet" href="plugin/stash_sense/css">
</head>
<body>
<div id="root"></div>
<script src="vendor/react.js"></script>
<script src="vendor/react-dom.js"></script>
<script src="vendor/react-bootstrap.js"></script>
<script src="vendor/fa-solid.js"></script>
<script src="harness/plugin-api.js"></script>
<script src="plugin/stash_sense/javascript"></script>
<script src="harness/app.js"></script>
</body>
</html>
"""


def plugin_ui_files(kind: str) -> bytes:
    """The files the manifest lists under ``ui.<kind>``, concatenated in order with nothing between
    them: what Stash answers on ``/plugin/{id}/javascript`` and ``/plugin/{id}/css``."""
    manifest = yaml.safe_load((REPO / "stash_sense.yml").read_text(encoding="utf-8"))
    return b"".join((REPO / path).read_bytes() for path in manifest["ui"][kind])


# The page's theme: Bootstrap 4.6 with an approximation of Stash's colours, or (real_theme) Stash's own
# stylesheet from its production build (Bootstrap compiled with Stash's variables, and Stash's styles).
APPROXIMATE_THEME = """<link rel="stylesheet" href="vendor/bootstrap.css">
<link rel="stylesheet" href="harness/stash-theme.css">"""
REAL_THEME = """<link rel="stylesheet" href="stash-ui/stash.css">
<link rel="stylesheet" href="harness/fontawesome-core.css">"""
STASH_UI_ASSETS = Path(os.environ.get("STASH_SENSE_SHARED") or REPO.parent / "shared") / "stash-ui" / "build" / "assets"


def stash_css() -> bytes:
    """Stash's real stylesheet (``assets/index-*.css``, stored gzipped as Stash ships it)."""
    found = sorted(STASH_UI_ASSETS.glob("index-*.css.gz"))
    if len(found) != 1:
        raise FileNotFoundError(f"expected one index-*.css.gz in {STASH_UI_ASSETS}, found {found}")
    return gzip.decompress(found[0].read_bytes())


class Harness:
    """The harness HTTP server on 127.0.0.1 (background thread) in front of ``stash_url``."""

    def __init__(self, stash_url: str, session: str, port: int = 0, real_theme: bool = False):
        self.stash_url = stash_url.rstrip("/")
        self.session = session
        self.theme = REAL_THEME if real_theme else APPROXIMATE_THEME
        self.stray_requests: list[str] = []
        self.graphql_requests = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.harness = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{PREFIX}/"

    def start(self) -> str:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="ui-harness", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> Harness:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    @property
    def harness(self) -> Harness:
        return self.server.harness  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _file(self, path: Path, ctype: str | None = None) -> None:
        if not path.is_file():
            return self._send(404, b"not found", "text/plain")
        ctype = ctype or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype.endswith("javascript"):
            ctype += "; charset=utf-8"
        self._send(200, path.read_bytes(), ctype)

    def _proxy(self, rel: str, body: bytes | None = None) -> None:
        headers = {"Cookie": f"session={self.harness.session}"}
        if body is not None:
            headers["Content-Type"] = self.headers.get("Content-Type") or "application/json"
        req = urllib.request.Request(self.harness.stash_url + rel, data=body, headers=headers, method=self.command)
        try:
            with urllib.request.urlopen(req, timeout=600) as r:
                status, data, ctype = r.status, r.read(), r.headers.get("Content-Type") or "application/octet-stream"
        except urllib.error.HTTPError as e:
            status, data, ctype = e.code, e.read(), e.headers.get("Content-Type") or "text/plain"
        except OSError as e:  # the demo Stash is down: what a dead upstream looks like behind a proxy
            status, data, ctype = 502, f"502 Bad Gateway: {e}".encode(), "text/plain"
        self._send(status, data, ctype)

    def _route(self) -> tuple[str | None, str]:
        path = urlsplit(self.path).path
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            self.harness.stray_requests.append(f"{self.command} {path}")
            return None, path
        return path[len(PREFIX):] or "/", path

    def do_POST(self) -> None:
        rel, _ = self._route()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if rel is None or rel.rstrip("/") != "/graphql":
            return self._send(404, b"404 page not found", "text/plain")
        self.harness.graphql_requests += 1
        self._proxy("/graphql", body)

    def do_GET(self) -> None:
        rel, _ = self._route()
        if rel is None:
            return self._send(404, b"404 page not found", "text/plain")
        if rel.startswith("/vendor/"):
            name = rel[len("/vendor/"):]
            if name not in VENDOR:
                return self._send(404, b"not found", "text/plain")
            return self._file(NODE_MODULES / VENDOR[name])
        if rel.startswith("/harness/"):
            name = rel[len("/harness/"):]
            if not re.fullmatch(r"[\w.-]+", name):
                return self._send(404, b"not found", "text/plain")
            return self._file(HERE / "harness" / name)
        if rel == "/stash-ui/stash.css":
            return self._send(200, stash_css(), "text/css; charset=utf-8")
        if rel == "/plugin/stash_sense/javascript":
            return self._send(200, plugin_ui_files("javascript"), "text/javascript; charset=utf-8")
        if rel == "/plugin/stash_sense/css":
            return self._send(200, plugin_ui_files("css"), "text/css; charset=utf-8")
        if re.fullmatch(r"/(image|performer|scene)/\d+/\w+", rel):
            return self._proxy(rel + (("?" + urlsplit(self.path).query) if urlsplit(self.path).query else ""))
        if rel == "/favicon.ico":
            return self._send(404, b"", "text/plain")
        # any other path is a client-side route of the single-page app
        self._send(200, PAGE.format(prefix=PREFIX, theme=self.harness.theme).encode(), "text/html; charset=utf-8")

    do_HEAD = do_GET


def _main() -> None:  # pragma: no cover - manual development aid
    import shutil
    import sys
    import tempfile
    import time

    sys.path.insert(0, str(REPO))
    os.environ.setdefault("STASH_SENSE_SHARED", str(REPO.parent / "shared"))
    os.environ.setdefault("STASH_SENSE_MODEL_DIR", str(REPO.parent / "shared" / "models"))
    os.environ.setdefault("STASH_SENSE_PACK", "test-mbf128")
    from devtools.demo import scenario as demo
    from devtools.demo.server import DemoStash
    from stash_sense.engine import Engine

    tmp = Path(tempfile.mkdtemp(prefix="stash-sense-harness-"))
    os.environ.setdefault("STASH_SENSE_DATA_DIR", str(tmp / "data"))
    scen = demo.build_scenario(tmp)
    ids = demo.seed_stash(tmp / "stash.sqlite", scen)
    if "--no-db" not in sys.argv:
        from stash_sense.service import databases

        eng = Engine("test-mbf128", threads=2)
        demo.build_reference(eng, scen, tmp / "db")
        eng.close()
        shutil.copytree(tmp / "db", databases.local_db_path())
    server = DemoStash(tmp / "stash.sqlite", session="harness")
    server.start()
    harness = Harness(server.url, "harness")
    print("harness:", harness.start())
    for title, gid in ids["galleries"].items():
        print(f"  {harness.url}galleries/{gid}  {title}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":  # pragma: no cover
    _main()
