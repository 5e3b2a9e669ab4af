"""Stash's web UI, served the way Stash's Go server serves it (internal/api/server.go, ui/ui.go).

Why: the plugin's JavaScript runs inside that UI for real users; the demo must host the same
production build (``../shared/stash-ui/build``) with the same quirks so the browser tests meet what
users meet: gzip-only assets, an SPA fallback whose ``<base href>`` follows ``X-Forwarded-Prefix``,
the plugin's files concatenated from its manifest, and the small ``/css`` ``/javascript``
``/customlocales`` routes.
"""

from __future__ import annotations

import gzip
import mimetypes
import os
from dataclasses import dataclass, field
from pathlib import Path

from .resolvers.ui import plugin_manifest

THEME_COLOR = "#202b33"
COMPRESSED = (".js", ".css", ".json", ".svg", ".md")


@dataclass
class Reply:
    """One HTTP answer: status, body, headers."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def not_found() -> Reply:
    return Reply(404, b"404 page not found", {"Content-Type": "text/plain; charset=utf-8"})


def ui_build_dir() -> Path:
    """``$STASH_SENSE_SHARED/stash-ui/build``, else ``<repo>/../shared/stash-ui/build``."""
    repo = Path(__file__).resolve().parents[2]
    return Path(os.environ.get("STASH_SENSE_SHARED", repo.parent / "shared")) / "stash-ui" / "build"


def content_type(name: str) -> str:
    ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return ctype + "; charset=utf-8" if ctype.startswith("text/") or ctype.endswith(("javascript", "json")) else ctype


def index_html(build: Path, prefix: str) -> Reply:
    """The SPA page: theme colour filled in, ``<base href>`` under the reverse proxy's prefix."""
    html = (build / "index.html").read_text(encoding="utf-8")
    html = html.replace("%COLOR%", THEME_COLOR).replace('<base href="/"', f'<base href="{prefix}/"')
    return Reply(200, html.encode(), {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache"})


def static_file(build: Path, rel: str, accepts_gzip: bool) -> Reply | None:
    """A build file; compressed types exist only as ``*.gz`` and are sent with Content-Encoding."""
    path = (build / rel.lstrip("/")).resolve()
    if build.resolve() not in path.parents:
        return None
    headers = {"Content-Type": content_type(path.name)}
    if rel.startswith("/assets/"):
        headers["Cache-Control"] = "max-age=604800"
    gz = path.with_name(path.name + ".gz")
    if path.suffix in COMPRESSED and gz.is_file():
        data = gz.read_bytes()
        if accepts_gzip:
            return Reply(200, data, {**headers, "Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
        return Reply(200, gzip.decompress(data), headers)
    if path.is_file():
        return Reply(200, path.read_bytes(), headers)
    return None


def plugin_file(plugin_dir: str, plugin_id: str, wanted: str, what: str) -> Reply:
    """``/plugin/{id}/javascript|css``: the manifest's ``ui.javascript``/``ui.css`` files, in order,
    concatenated (Stash's routes_plugin.go); ``/plugin/{id}/assets/*``: a file of the plugin folder."""
    if wanted != plugin_id:
        return not_found()
    if what in ("javascript", "css"):
        files = (plugin_manifest(plugin_dir, plugin_id).get("ui") or {}).get(what) or []
        body = b"\n".join((Path(plugin_dir) / f).read_bytes() for f in files)
        ctype = "text/javascript" if what == "javascript" else "text/css"
        return Reply(200, body, {"Content-Type": ctype + "; charset=utf-8", "Cache-Control": "no-cache"})
    if what.startswith("assets/"):
        root = Path(plugin_dir).resolve()
        path = (root / what[len("assets/"):]).resolve()
        if root in path.parents and path.is_file():
            return Reply(200, path.read_bytes(), {"Content-Type": content_type(path.name)})
    return not_found()


def serve(path: str, prefix: str, accepts_gzip: bool, plugin_dir: str, plugin_id: str) -> Reply:
    """Answer a GET for the web UI (anything that is not GraphQL or media)."""
    build = ui_build_dir()
    if path == "/css":
        return Reply(200, b"", {"Content-Type": "text/css; charset=utf-8"})
    if path == "/javascript":
        return Reply(200, b"", {"Content-Type": "text/javascript; charset=utf-8"})
    if path == "/customlocales":
        return Reply(200, b"{}", {"Content-Type": "application/json"})
    parts = path.split("/", 3)
    if len(parts) == 4 and parts[1] == "plugin":
        return plugin_file(plugin_dir, plugin_id, parts[2], parts[3])
    if path in ("/", "/index.html") or "." not in path.rsplit("/", 1)[-1]:
        return index_html(build, prefix)
    return static_file(build, path, accepts_gzip) or not_found()
