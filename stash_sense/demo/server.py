"""Embedded demo Stash: the subset of the Stash server that Stash Sense talks to.

Why: tests (and a local demo) need a Stash that behaves like the real one where it matters, without
Go, ffmpeg or a library scan. The GraphQL schema is the real Stash SDL (../shared/stash-schema), so a
query that real Stash would reject is rejected here too. Only the resolvers we use exist; other
fields resolve to null (and fail if non-null), and unsupported filter keys raise instead of being
silently ignored. Data lives in SQLite (see ``seed.py``).

Also mimics how Stash runs a raw plugin: PluginInput JSON on stdin (then closed), stdout read to EOF
and parsed as ``{"output"|"error"}``, stderr parsed line by line with the ``\\x01<level>\\x02`` protocol.
"""

from __future__ import annotations

import glob
import io
import json
import mimetypes
import os
import random
import re
import socket
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable, Iterable
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from graphql import GraphQLError, GraphQLSchema, build_schema, graphql_sync, parse, validate

from . import seed as _seed_module  # noqa: F401  (ensures the submodule is loaded)
from .seed import connect as _connect
from .seed import init_db as _init_db
from .seed import now as _now

REPO = Path(__file__).resolve().parents[2]
PLUGIN_ID = "stash_sense"
LEVELS = {"t": "trace", "d": "debug", "i": "info", "w": "warning", "e": "error", "p": "progress"}

# --- schema -------------------------------------------------------------------------------------


def schema_dir() -> Path:
    """The real Stash SDL: $STASH_SENSE_SHARED/stash-schema, else <repo>/../shared/stash-schema."""
    shared = Path(os.environ.get("STASH_SENSE_SHARED", REPO.parent / "shared"))
    return shared / "stash-schema"


_SCHEMA: GraphQLSchema | None = None


def load_schema(directory: str | os.PathLike | None = None) -> GraphQLSchema:
    """Build the Stash schema from its SDL files (cached for the default location)."""
    global _SCHEMA
    if directory is None and _SCHEMA is not None:
        return _SCHEMA
    d = Path(directory) if directory is not None else schema_dir()
    files = sorted(f for f in glob.glob(str(d / "**" / "*.graphql"), recursive=True)
                   if "versions" not in Path(f).relative_to(d).parts)  # older releases' schemas live there
    if not files:
        raise FileNotFoundError(f"no Stash schema (*.graphql) under {d}; set STASH_SENSE_SHARED")
    schema = build_schema("\n".join(Path(f).read_text(encoding="utf-8") for f in files))
    if directory is None:
        _SCHEMA = schema
    return schema


def validate_document(query: str, schema: GraphQLSchema | None = None) -> list[GraphQLError]:
    """Validation errors of a document against the Stash schema (empty list = valid)."""
    try:
        doc = parse(query)
    except GraphQLError as exc:
        return [exc]
    return list(validate(schema or load_schema(), doc))


# --- filtering helpers (Stash criterion semantics, on Python values) ----------------------------


def _ids(values: Iterable[Any] | None) -> set[int]:
    return {int(v) for v in values or []}


def _match_string(value: str | None, crit: dict) -> bool:
    mod, want = crit["modifier"], crit.get("value") or ""
    v = (value or "").lower()
    if mod == "EQUALS":
        return v == want.lower()
    if mod == "NOT_EQUALS":
        return v != want.lower()
    if mod == "INCLUDES":
        return want.lower() in v
    if mod == "EXCLUDES":
        return want.lower() not in v
    if mod == "MATCHES_REGEX":
        return re.search(want, value or "", re.I) is not None
    if mod == "IS_NULL":
        return not value
    if mod == "NOT_NULL":
        return bool(value)
    raise GraphQLError(f"demo Stash: string modifier {mod} not implemented")


def _match_int(value: int, crit: dict) -> bool:
    mod, a, b = crit["modifier"], crit["value"], crit.get("value2")
    ops: dict[str, Callable[[], bool]] = {
        "EQUALS": lambda: value == a,
        "NOT_EQUALS": lambda: value != a,
        "GREATER_THAN": lambda: value > a,
        "LESS_THAN": lambda: value < a,
        "BETWEEN": lambda: b is not None and a <= value <= b,
        "NOT_BETWEEN": lambda: b is not None and not a <= value <= b,
    }
    if mod not in ops:
        raise GraphQLError(f"demo Stash: int modifier {mod} not implemented")
    return ops[mod]()


def _match_multi(have: set[int], crit: dict) -> bool:
    mod, want = crit["modifier"], _ids(crit.get("value"))
    if _ids(crit.get("excludes")) & have:
        return False
    if mod == "INCLUDES":
        return bool(want & have) if want else True
    if mod == "INCLUDES_ALL":
        return want <= have
    if mod == "EXCLUDES":
        return not (want & have)
    if mod == "IS_NULL":
        return not have
    if mod == "NOT_NULL":
        return bool(have)
    raise GraphQLError(f"demo Stash: multi modifier {mod} not implemented")


def _check_keys(kind: str, filt: dict, supported: set[str]) -> None:
    extra = set(filt) - supported
    if extra:
        raise GraphQLError(f"demo Stash: {kind} keys {sorted(extra)} not implemented")


def _paginate(items: list[dict], filt: dict | None, sort_keys: dict[str, Callable[[dict], Any]], default: str) -> list:
    """Apply FindFilterType: q is handled by callers; sort, direction, page, per_page (25; -1 = all)."""
    filt = filt or {}
    sort = filt.get("sort") or default
    if sort == "random" or sort.startswith("random_"):
        random.Random(0).shuffle(items)
    else:
        if sort not in sort_keys:
            raise GraphQLError(f"demo Stash: sort {sort!r} not implemented")
        items.sort(key=sort_keys[sort], reverse=(filt.get("direction") == "DESC"))
    per_page = filt.get("per_page")
    per_page = 25 if per_page is None else per_page
    if per_page < 0:
        return items
    page = max(1, filt.get("page") or 1)
    return items[(page - 1) * per_page : page * per_page]


def _resolve(*pos: Any, **args: Any) -> Any:
    """Default field resolver without named ``source``/``info`` parameters: Stash has fields whose
    arguments are called ``source`` (scrapeSinglePerformer), which clash with graphql-core's default."""
    parent, info = pos
    name = info.field_name
    value = parent.get(name) if isinstance(parent, dict) else getattr(parent, name, None)
    return value(info, **args) if callable(value) else value


# --- request context + object builders ----------------------------------------------------------


class Ctx:
    """Per-request state: a SQLite connection and the base URL used for ``paths.*`` (like Stash)."""

    def __init__(self, server: DemoStash, base_url: str):
        self.server = server
        self.base_url = base_url
        self.db = _connect(server.db_path)

    def close(self) -> None:
        self.db.close()

    def one(self, sql: str, args: tuple = ()) -> Any:
        return self.db.execute(sql, args).fetchone()

    def all(self, sql: str, args: tuple = ()) -> list:
        return self.db.execute(sql, args).fetchall()

    def config(self, key: str, default: Any) -> Any:
        row = self.one("SELECT value FROM config WHERE key = ?", (key,))
        return json.loads(row["value"]) if row else default

    def set_config(self, key: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO config VALUES (?, ?)", (key, json.dumps(value)))

    def rel_ids(self, obj_type: str, obj_id: int, rel_type: str) -> set[int]:
        rows = self.all(
            "SELECT rel_id FROM links WHERE obj_type=? AND obj_id=? AND rel_type=?", (obj_type, obj_id, rel_type)
        )
        return {r["rel_id"] for r in rows}

    # builders: dicts whose callables graphql-core's default resolver calls lazily as value(info, **args)

    def folder(self, folder_id: int | None) -> dict | None:
        row = folder_id and self.one("SELECT * FROM folders WHERE id = ?", (folder_id,))
        if not row:
            return None
        return {
            "__typename": "Folder",
            "id": row["id"],
            "path": row["path"],
            "zip_file": lambda info: self.file(row["zip_file_id"], "BasicFile"),
            "mod_time": _now(),
            "created_at": _now(),
            "updated_at": _now(),
        }

    def file(self, file_id: int | None, typename: str | None = None) -> dict | None:
        row = file_id and self.one("SELECT * FROM files WHERE id = ?", (file_id,))
        if not row:
            return None
        if typename is None:
            typename = {"image": "ImageFile", "video": "VideoFile", "zip": "GalleryFile"}[row["kind"]]
        fps = [{"type": t, "value": row[t]} for t in ("md5", "oshash", "phash") if row[t]]
        out = {
            "__typename": typename,
            "id": row["id"],
            "path": row["path"],
            "basename": row["basename"],
            "parent_folder_id": row["parent_folder_id"],
            "zip_file_id": row["zip_file_id"],
            "parent_folder": lambda info: self.folder(row["parent_folder_id"]),
            "zip_file": lambda info: self.file(row["zip_file_id"], "BasicFile"),
            "mod_time": row["mod_time"],
            "size": row["size"],
            "fingerprints": fps,
            "fingerprint": lambda info, type: next((f["value"] for f in fps if f["type"] == type), None),
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }
        if typename in ("ImageFile", "VideoFile"):
            out.update(format=row["format"] or "", width=row["width"] or 0, height=row["height"] or 0)
        if typename == "VideoFile":
            out.update(
                duration=row["duration"] or 0.0, video_codec="h264", audio_codec="aac", frame_rate=30.0, bit_rate=0
            )
        return out

    def _common(self, row: Any) -> dict:
        return {"id": row["id"], "created_at": row["created_at"], "updated_at": row["updated_at"]}

    def performer(self, row: Any) -> dict:
        pid = row["id"]
        stamp = re.sub(r"\D", "", row["updated_at"])

        def stash_ids(info: Any) -> list[dict]:
            rows = self.all("SELECT * FROM performer_stash_ids WHERE performer_id = ? ORDER BY rowid", (pid,))
            return [{"endpoint": r["endpoint"], "stash_id": r["stash_id"], "updated_at": r["updated_at"]} for r in rows]

        def count(obj_type: str) -> Callable[[Any], int]:
            return lambda info: self.one(
                "SELECT COUNT(*) c FROM links WHERE obj_type=? AND rel_type='performer' AND rel_id=?", (obj_type, pid)
            )["c"]

        return {
            **self._common(row),
            "__typename": "Performer",
            "name": row["name"],
            "disambiguation": row["disambiguation"],
            "alias_list": json.loads(row["alias_list"] or "[]"),
            "country": row["country"],
            "gender": row["gender"],
            "urls": [],
            "favorite": False,
            "ignore_auto_tag": False,
            "tags": [],
            # like Stash: ?t=<updated> busts caches; &default=true marks "no image, silhouette served"
            "image_path": f"{self.base_url}/performer/{pid}/image?t={stamp}"
            + ("" if row["image"] else "&default=true"),
            "stash_ids": stash_ids,
            "scene_count": count("scene"),
            "image_count": count("image"),
            "gallery_count": count("gallery"),
            "custom_fields": {},
        }

    def performer_by_id(self, pid: int) -> dict | None:
        row = self.one("SELECT * FROM performers WHERE id = ?", (pid,))
        return self.performer(row) if row else None

    def tag(self, row: Any) -> dict:
        return {
            **self._common(row),
            "__typename": "Tag",
            "name": row["name"],
            "aliases": [],
            "stash_ids": [],
            "parents": [],
            "children": [],
            "favorite": False,
            "ignore_auto_tag": False,
        }

    def related(self, obj_type: str, obj_id: int, rel_type: str) -> list[dict]:
        table = {"performer": "performers", "tag": "tags"}[rel_type]
        rows = self.all(
            f"SELECT t.* FROM {table} t JOIN links l ON l.rel_id = t.id"
            " WHERE l.obj_type=? AND l.obj_id=? AND l.rel_type=? ORDER BY t.name",
            (obj_type, obj_id, rel_type),
        )
        return [self.performer(r) if rel_type == "performer" else self.tag(r) for r in rows]

    def _links(self, obj_type: str, obj_id: int) -> dict:
        return {
            "performers": lambda info: self.related(obj_type, obj_id, "performer"),
            "tags": lambda info: self.related(obj_type, obj_id, "tag"),
            "urls": [],
            "organized": False,
            "studio": None,
        }

    def image(self, row: Any) -> dict:
        iid = row["id"]
        mtime = self.one("SELECT mod_time FROM files WHERE id = ?", (row["file_id"],))["mod_time"]
        t = re.sub(r"\D", "", mtime)
        return {
            **self._common(row),
            **self._links("image", iid),
            "__typename": "Image",
            "title": row["title"],
            "files": lambda info: [self.file(row["file_id"], "ImageFile")],
            "visual_files": lambda info: [self.file(row["file_id"])],
            "paths": {
                "image": f"{self.base_url}/image/{iid}/image?t={t}",
                "thumbnail": f"{self.base_url}/image/{iid}/thumbnail?t={t}",
                "preview": None,
            },
            "galleries": lambda info: [
                self.gallery(r)
                for r in self.all(
                    "SELECT g.* FROM galleries g JOIN galleries_images gi ON gi.gallery_id = g.id"
                    " WHERE gi.image_id = ?",
                    (iid,),
                )
            ],
        }

    def image_by_id(self, iid: int) -> dict | None:
        row = self.one("SELECT * FROM images WHERE id = ?", (iid,))
        return self.image(row) if row else None

    def gallery(self, row: Any) -> dict:
        gid = row["id"]
        return {
            **self._common(row),
            **self._links("gallery", gid),
            "__typename": "Gallery",
            "title": row["title"],
            "files": lambda info: [self.file(row["zip_file_id"], "GalleryFile")] if row["zip_file_id"] else [],
            "folder": lambda info: self.folder(row["folder_id"]),
            "image_count": lambda info: self.one(
                "SELECT COUNT(*) c FROM galleries_images WHERE gallery_id = ?", (gid,)
            )["c"],
            "chapters": [],
            "scenes": [],
            "cover": None,
            "paths": {
                "cover": f"{self.base_url}/gallery/{gid}/cover",
                "preview": f"{self.base_url}/gallery/{gid}/preview",
            },
        }

    def scene(self, row: Any) -> dict:
        sid = row["id"]
        return {
            **self._common(row),
            **self._links("scene", sid),
            "__typename": "Scene",
            "title": row["title"],
            "files": lambda info: [self.file(row["file_id"], "VideoFile")] if row["file_id"] else [],
            "paths": {
                "screenshot": f"{self.base_url}/scene/{sid}/screenshot",
                "stream": f"{self.base_url}/scene/{sid}/stream",
            },
            "stash_ids": [],
            "galleries": [],
            "groups": [],
            "scene_markers": lambda info: [
                self.scene_marker(m)
                for m in self.all("SELECT * FROM scene_markers WHERE scene_id = ? ORDER BY seconds", (sid,))
            ],
        }

    def scene_marker(self, row: Any) -> dict:
        mid, sid = row["id"], row["scene_id"]
        return {
            **self._common(row),
            "__typename": "SceneMarker",
            "title": row["title"],
            "seconds": row["seconds"],
            "end_seconds": row["end_seconds"],
            "scene": lambda info: self.scene(self.one("SELECT * FROM scenes WHERE id = ?", (sid,))),
            "primary_tag": lambda info: self.tag(self.one("SELECT * FROM tags WHERE id = ?", (row["primary_tag_id"],))),
            "tags": [],
            "stream": f"{self.base_url}/scene/{sid}/scene_marker/{mid}/stream",
            "preview": f"{self.base_url}/scene/{sid}/scene_marker/{mid}/preview",
            "screenshot": f"{self.base_url}/scene/{sid}/scene_marker/{mid}/screenshot",
        }


# --- resolvers ----------------------------------------------------------------------------------


class Root:
    """Root value for Query and Mutation: one method per implemented root field."""

    def __init__(self, ctx: Ctx):
        self.ctx = ctx
        self.server = ctx.server

    # -- system

    def version(self, info: Any) -> dict:
        return {"version": "v0.30.1", "hash": "d3m0s7a5h", "build_time": "2025-12-18 00:00:00"}

    def configuration(self, info: Any) -> dict:
        c = self.ctx

        def plugins(info: Any, include: list[str] | None = None) -> dict:
            all_cfg = c.config("plugins", {})
            return {k: v for k, v in all_cfg.items() if include is None or k in include}

        boxes = c.config("stash_boxes", [])
        return {
            "general": {
                "apiKey": self.server.api_key or "",
                "stashBoxes": [
                    {
                        "endpoint": b["endpoint"],
                        "name": b.get("name", ""),
                        "api_key": "",
                        "max_requests_per_minute": 240,
                    }
                    for b in boxes
                ],
            },
            "plugins": plugins,
            "ui": {},
        }

    def configurePlugin(self, info: Any, plugin_id: str, input: dict) -> dict:
        cfg = self.ctx.config("plugins", {})
        cfg[plugin_id] = input
        self.ctx.set_config("plugins", cfg)
        return input

    # -- finds

    def findGallery(self, info: Any, id: str) -> dict | None:
        row = self.ctx.one("SELECT * FROM galleries WHERE id = ?", (int(id),))
        return self.ctx.gallery(row) if row else None

    def findGalleries(
        self, info: Any, gallery_filter: dict | None = None, filter: dict | None = None, ids: list | None = None
    ) -> dict:
        c = self.ctx
        gf = gallery_filter or {}
        _check_keys(
            "gallery_filter", gf, {"performer_count", "performers", "tags", "image_count", "title", "id", "is_zip"}
        )
        rows = c.all("SELECT * FROM galleries")
        out = []
        for r in rows:
            gid = r["id"]
            if ids and gid not in _ids(ids):
                continue
            perfs = c.rel_ids("gallery", gid, "performer")
            tags = c.rel_ids("gallery", gid, "tag")
            n_img = c.one("SELECT COUNT(*) c FROM galleries_images WHERE gallery_id = ?", (gid,))["c"]
            if "performer_count" in gf and not _match_int(len(perfs), gf["performer_count"]):
                continue
            if "performers" in gf and not _match_multi(perfs, gf["performers"]):
                continue
            if "tags" in gf and not _match_multi(tags, gf["tags"]):
                continue
            if "image_count" in gf and not _match_int(n_img, gf["image_count"]):
                continue
            if "title" in gf and not _match_string(r["title"], gf["title"]):
                continue
            if "id" in gf and not _match_int(gid, gf["id"]):
                continue
            if "is_zip" in gf and bool(r["zip_file_id"]) != gf["is_zip"]:
                continue
            q = (filter or {}).get("q")
            if q and q.lower() not in (r["title"] or "").lower():
                continue
            out.append({"id": gid, "title": r["title"] or "", "row": r})
        keys = {"id": lambda g: g["id"], "title": lambda g: (g["title"].lower(), g["id"]), "path": lambda g: g["id"]}
        page = _paginate(out, filter, keys, "path")
        return {"count": len(out), "galleries": [c.gallery(g["row"]) for g in page]}

    def findImage(self, info: Any, id: str | None = None, checksum: str | None = None) -> dict | None:
        c = self.ctx
        if id is not None:
            return c.image_by_id(int(id))
        row = c.one("SELECT i.id FROM images i JOIN files f ON f.id = i.file_id WHERE f.md5 = ?", (checksum,))
        return c.image_by_id(row["id"]) if row else None

    def findImages(
        self,
        info: Any,
        image_filter: dict | None = None,
        filter: dict | None = None,
        ids: list | None = None,
        image_ids: list | None = None,
    ) -> dict:
        c = self.ctx
        imf = image_filter or {}
        _check_keys("image_filter", imf, {"galleries", "performers", "tags", "performer_count", "path"})
        want = _ids(ids) | _ids(image_ids)
        rows = c.all(
            "SELECT i.*, f.path fpath, f.size fsize, f.width fw, f.height fh"
            " FROM images i JOIN files f ON f.id = i.file_id"
        )
        out = []
        for r in rows:
            iid = r["id"]
            if want and iid not in want:
                continue
            if "galleries" in imf:
                gals = {
                    g["gallery_id"] for g in c.all("SELECT gallery_id FROM galleries_images WHERE image_id=?", (iid,))
                }
                if not _match_multi(gals, imf["galleries"]):
                    continue
            perfs = c.rel_ids("image", iid, "performer")
            if "performers" in imf and not _match_multi(perfs, imf["performers"]):
                continue
            if "performer_count" in imf and not _match_int(len(perfs), imf["performer_count"]):
                continue
            if "tags" in imf and not _match_multi(c.rel_ids("image", iid, "tag"), imf["tags"]):
                continue
            if "path" in imf and not _match_string(r["fpath"], imf["path"]):
                continue
            q = (filter or {}).get("q")
            if q and q.lower() not in ((r["title"] or "") + r["fpath"]).lower():
                continue
            out.append(
                {
                    "id": iid,
                    "path": r["fpath"],
                    "title": r["title"] or r["fpath"],
                    "row": r,
                    "size": r["fsize"],
                    "mp": (r["fw"] or 0) * (r["fh"] or 0) / 1e6,
                }
            )
        keys = {
            "path": lambda i: (i["path"], i["id"]),
            "id": lambda i: i["id"],
            "title": lambda i: (i["title"].lower(), i["id"]),
            "filesize": lambda i: (i["size"], i["id"]),
        }
        page = _paginate(out, filter, keys, "path")
        return {
            "count": len(out),
            "megapixels": sum(i["mp"] for i in out),
            "filesize": float(sum(i["size"] for i in out)),
            "images": [c.image(i["row"]) for i in page],
        }

    def findScene(self, info: Any, id: str | None = None, checksum: str | None = None) -> dict | None:
        c = self.ctx
        if id is not None:
            row = c.one("SELECT * FROM scenes WHERE id = ?", (int(id),))
        else:
            row = c.one("SELECT s.* FROM scenes s JOIN files f ON f.id = s.file_id WHERE f.md5 = ?", (checksum,))
        return c.scene(row) if row else None

    def findScenes(
        self, info: Any, scene_filter: dict | None = None, filter: dict | None = None, ids: list | None = None
    ) -> dict:
        c = self.ctx
        sf = scene_filter or {}
        _check_keys("scene_filter", sf, {"performer_count", "performers", "tags", "id"})
        out = []
        for r in c.all("SELECT * FROM scenes"):
            sid = r["id"]
            if ids and sid not in _ids(ids):
                continue
            perfs = c.rel_ids("scene", sid, "performer")
            if "performer_count" in sf and not _match_int(len(perfs), sf["performer_count"]):
                continue
            if "performers" in sf and not _match_multi(perfs, sf["performers"]):
                continue
            if "tags" in sf and not _match_multi(c.rel_ids("scene", sid, "tag"), sf["tags"]):
                continue
            if "id" in sf and not _match_int(sid, sf["id"]):
                continue
            out.append({"id": sid, "title": r["title"] or "", "row": r})
        keys = {"id": lambda s: s["id"], "title": lambda s: (s["title"].lower(), s["id"]), "path": lambda s: s["id"]}
        page = _paginate(out, filter, keys, "id")
        return {"count": len(out), "scenes": [c.scene(s["row"]) for s in page]}

    def findPerformer(self, info: Any, id: str) -> dict | None:
        return self.ctx.performer_by_id(int(id))

    def findPerformers(
        self,
        info: Any,
        performer_filter: dict | None = None,
        filter: dict | None = None,
        ids: list | None = None,
        performer_ids: list | None = None,
    ) -> dict:
        c = self.ctx
        pf = performer_filter or {}
        _check_keys("performer_filter", pf, {"name", "stash_id_endpoint", "disambiguation"})
        want = _ids(ids) | _ids(performer_ids)
        out = []
        for r in c.all("SELECT * FROM performers"):
            if want and r["id"] not in want:
                continue
            if "name" in pf and not _match_string(r["name"], pf["name"]):
                continue
            if "disambiguation" in pf and not _match_string(r["disambiguation"], pf["disambiguation"]):
                continue
            if "stash_id_endpoint" in pf:
                crit = pf["stash_id_endpoint"]
                sids = c.all("SELECT * FROM performer_stash_ids WHERE performer_id = ?", (r["id"],))
                if crit.get("endpoint"):
                    sids = [s for s in sids if s["endpoint"] == crit["endpoint"]]
                mod = crit["modifier"]
                if mod == "EQUALS":
                    ok = any(s["stash_id"] == crit.get("stash_id") for s in sids)
                elif mod == "NOT_EQUALS":
                    ok = not any(s["stash_id"] == crit.get("stash_id") for s in sids)
                elif mod == "IS_NULL":
                    ok = not sids
                elif mod == "NOT_NULL":
                    ok = bool(sids)
                else:
                    raise GraphQLError(f"demo Stash: stash_id modifier {mod} not implemented")
                if not ok:
                    continue
            q = (filter or {}).get("q")
            if q and q.lower() not in r["name"].lower():
                continue
            out.append(r)
        keys = {"name": lambda r: (r["name"].lower(), r["id"]), "id": lambda r: r["id"]}
        page = _paginate(out, filter, keys, "name")
        return {"count": len(out), "performers": [c.performer(r) for r in page]}

    def findTag(self, info: Any, id: str) -> dict | None:
        row = self.ctx.one("SELECT * FROM tags WHERE id = ?", (int(id),))
        return self.ctx.tag(row) if row else None

    def findTags(
        self, info: Any, tag_filter: dict | None = None, filter: dict | None = None, ids: list | None = None
    ) -> dict:
        c = self.ctx
        tf = tag_filter or {}
        _check_keys("tag_filter", tf, {"name"})
        out = [
            r
            for r in c.all("SELECT * FROM tags")
            if (not ids or r["id"] in _ids(ids)) and ("name" not in tf or _match_string(r["name"], tf["name"]))
        ]
        keys = {"name": lambda r: (r["name"].lower(), r["id"]), "id": lambda r: r["id"]}
        page = _paginate(out, filter, keys, "name")
        return {"count": len(out), "tags": [c.tag(r) for r in page]}

    def findJob(self, info: Any, input: dict) -> dict | None:
        job = self.server.jobs.get(str(input["id"]))
        return dict(job) if job else None

    def jobQueue(self, info: Any) -> list[dict]:
        return [dict(j) for j in self.server.jobs.values() if j["status"] in ("READY", "RUNNING", "STOPPING")]

    # -- stash-box

    def scrapeSinglePerformer(self, info: Any, source: dict, input: dict) -> list[dict]:
        """Stash semantics: query (a UUID = that exact stash-box performer, else a name search), or
        performer_id = search by the local performer's name."""
        c = self.ctx
        endpoint = source.get("stash_box_endpoint")
        boxes = c.config("stash_boxes", [])
        if endpoint is None and source.get("stash_box_index") is not None:
            idx = source["stash_box_index"]
            endpoint = boxes[idx]["endpoint"] if 0 <= idx < len(boxes) else None
        if endpoint is None or endpoint not in {b["endpoint"] for b in boxes}:
            raise GraphQLError(f"stash-box endpoint {endpoint!r} is not configured")
        query = input.get("query")
        if query is None and input.get("performer_id") is not None:
            local = c.one("SELECT name FROM performers WHERE id = ?", (int(input["performer_id"]),))
            if local is None:
                raise GraphQLError(f"performer with id {input['performer_id']} not found")
            query = local["name"]
        if not query:
            raise GraphQLError("query or performer_id is required")
        query = query.strip()
        if re.fullmatch(r"[0-9a-fA-F-]{36}", query):
            rows = c.all(
                "SELECT * FROM stashbox_performers WHERE endpoint = ? AND stash_id = ?", (endpoint, query.lower())
            )
        else:
            rows = c.all(
                "SELECT * FROM stashbox_performers"
                " WHERE endpoint = ? AND (name LIKE ? OR aliases LIKE ?) ORDER BY name",
                (endpoint, f"%{query}%", f"%{query}%"),
            )
        out = []
        for r in rows:
            images = json.loads(r["images"] or "[]")
            out.append(
                {
                    "__typename": "ScrapedPerformer",
                    "remote_site_id": r["stash_id"],
                    "name": r["name"],
                    "disambiguation": r["disambiguation"],
                    "gender": r["gender"],
                    "country": r["country"],
                    "aliases": r["aliases"] or None,
                    "urls": json.loads(r["urls"] or "[]"),
                    "images": images,
                    "image": images[0] if images else None,
                    "tags": [],
                }
            )
        return out

    # -- mutations

    def _bulk(self, obj_type: str, table: str, inp: dict) -> list[dict]:
        c = self.ctx
        ids = [int(i) for i in inp.get("ids") or []]
        for i in ids:
            if not c.one(f"SELECT 1 FROM {table} WHERE id = ?", (i,)):
                raise GraphQLError(f"{obj_type} with id {i} not found")
        for key, rel_type, rel_table in (("performer_ids", "performer", "performers"), ("tag_ids", "tag", "tags")):
            upd = inp.get(key)
            if not upd:
                continue
            rel_ids = [int(r) for r in upd.get("ids") or []]
            for r in rel_ids:
                if not c.one(f"SELECT 1 FROM {rel_table} WHERE id = ?", (r,)):
                    raise GraphQLError(f"{rel_type} with id {r} not found")
            c.db.execute("BEGIN IMMEDIATE")
            try:
                for oid in ids:
                    if upd["mode"] == "SET":
                        c.db.execute(
                            "DELETE FROM links WHERE obj_type=? AND obj_id=? AND rel_type=?", (obj_type, oid, rel_type)
                        )
                    for r in rel_ids:
                        if upd["mode"] == "REMOVE":
                            c.db.execute(
                                "DELETE FROM links WHERE obj_type=? AND obj_id=? AND rel_type=? AND rel_id=?",
                                (obj_type, oid, rel_type, r),
                            )
                        else:
                            c.db.execute(
                                "INSERT OR IGNORE INTO links VALUES (?, ?, ?, ?)", (obj_type, oid, rel_type, r)
                            )
                    c.db.execute(f"UPDATE {table} SET updated_at = ? WHERE id = ?", (_now(), oid))
                c.db.execute("COMMIT")
            except BaseException:
                c.db.execute("ROLLBACK")
                raise
        builder = {"gallery": c.gallery, "image": c.image, "scene": c.scene}[obj_type]
        return [builder(c.one(f"SELECT * FROM {table} WHERE id = ?", (i,))) for i in ids]

    def bulkGalleryUpdate(self, info: Any, input: dict) -> list[dict]:
        return self._bulk("gallery", "galleries", input)

    def bulkImageUpdate(self, info: Any, input: dict) -> list[dict]:
        return self._bulk("image", "images", input)

    def bulkSceneUpdate(self, info: Any, input: dict) -> list[dict]:
        return self._bulk("scene", "scenes", input)

    def _set_stash_ids(self, pid: int, stash_ids: list[dict]) -> None:
        db = self.ctx.db
        db.execute("DELETE FROM performer_stash_ids WHERE performer_id = ?", (pid,))
        for s in stash_ids:
            db.execute(
                "INSERT OR IGNORE INTO performer_stash_ids VALUES (?, ?, ?, ?)",
                (pid, s["endpoint"], s["stash_id"], s.get("updated_at") or _now()),
            )

    def performerCreate(self, info: Any, input: dict) -> dict:
        c = self.ctx
        name = (input.get("name") or "").strip()
        if not name:
            raise GraphQLError("name must not be blank")
        disamb = input.get("disambiguation")
        if c.one(
            "SELECT 1 FROM performers WHERE name = ? COLLATE NOCASE AND COALESCE(disambiguation,'') = ?",
            (name, disamb or ""),
        ):
            # real Stash refuses duplicate name+disambiguation
            raise GraphQLError(f"performer with name '{name}' already exists")
        ts = _now()
        c.db.execute("BEGIN IMMEDIATE")
        try:
            pid = c.db.execute(
                "INSERT INTO performers"
                " (name, disambiguation, alias_list, country, gender, image, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    disamb,
                    json.dumps(input.get("alias_list") or []),
                    input.get("country"),
                    input.get("gender"),
                    input.get("image"),
                    ts,
                    ts,
                ),
            ).lastrowid
            self._set_stash_ids(pid, input.get("stash_ids") or [])
            c.db.execute("COMMIT")
        except BaseException:
            c.db.execute("ROLLBACK")
            raise
        return c.performer_by_id(pid)

    def performerUpdate(self, info: Any, input: dict) -> dict:
        c = self.ctx
        pid = int(input["id"])
        if not c.one("SELECT 1 FROM performers WHERE id = ?", (pid,)):
            raise GraphQLError(f"performer with id {pid} not found")
        c.db.execute("BEGIN IMMEDIATE")
        try:
            for key in ("name", "disambiguation", "country", "gender", "image"):
                if key in input:
                    c.db.execute(f"UPDATE performers SET {key} = ? WHERE id = ?", (input[key], pid))
            if "alias_list" in input:
                c.db.execute(
                    "UPDATE performers SET alias_list = ? WHERE id = ?", (json.dumps(input["alias_list"] or []), pid)
                )
            if "stash_ids" in input:  # a list replaces the whole set, like real Stash
                self._set_stash_ids(pid, input["stash_ids"] or [])
            c.db.execute("UPDATE performers SET updated_at = ? WHERE id = ?", (_now(), pid))
            c.db.execute("COMMIT")
        except BaseException:
            c.db.execute("ROLLBACK")
            raise
        return c.performer_by_id(pid)

    def tagCreate(self, info: Any, input: dict) -> dict:
        c = self.ctx
        name = (input.get("name") or "").strip()
        if not name:
            raise GraphQLError("name must not be blank")
        if c.one("SELECT 1 FROM tags WHERE name = ?", (name,)):
            raise GraphQLError(f"tag with name '{name}' already exists")
        ts = _now()
        tid = c.db.execute("INSERT INTO tags (name, created_at, updated_at) VALUES (?, ?, ?)", (name, ts, ts)).lastrowid
        return c.tag(c.one("SELECT * FROM tags WHERE id = ?", (tid,)))

    def sceneMarkerCreate(self, info: Any, input: dict) -> dict:
        c = self.ctx
        sid, tid = int(input["scene_id"]), int(input["primary_tag_id"])
        if not c.one("SELECT 1 FROM scenes WHERE id = ?", (sid,)):
            raise GraphQLError(f"scene with id {sid} not found")
        if not c.one("SELECT 1 FROM tags WHERE id = ?", (tid,)):
            raise GraphQLError(f"tag with id {tid} not found")
        ts = _now()
        mid = c.db.execute(
            "INSERT INTO scene_markers (scene_id, title, seconds, end_seconds, primary_tag_id, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (sid, input["title"], float(input["seconds"]), input.get("end_seconds"), tid, ts, ts),
        ).lastrowid
        return c.scene_marker(c.one("SELECT * FROM scene_markers WHERE id = ?", (mid,)))

    def performerDestroy(self, info: Any, input: dict) -> bool:
        pid = int(input["id"])
        self.ctx.db.execute("DELETE FROM links WHERE rel_type = 'performer' AND rel_id = ?", (pid,))
        self.ctx.db.execute("DELETE FROM performer_stash_ids WHERE performer_id = ?", (pid,))
        self.ctx.db.execute("DELETE FROM performers WHERE id = ?", (pid,))
        return True

    def sceneMarkerDestroy(self, info: Any, id: str) -> bool:
        return self.sceneMarkersDestroy(info, [id])

    def sceneMarkersDestroy(self, info: Any, ids: list) -> bool:
        for i in ids:
            self.ctx.db.execute("DELETE FROM scene_markers WHERE id = ?", (int(i),))
        return True

    # -- plugins

    def runPluginOperation(self, info: Any, plugin_id: str, args: dict | None = None) -> Any:
        return self.server.run_plugin_operation(plugin_id, args or {})

    def runPluginTask(
        self,
        info: Any,
        plugin_id: str,
        task_name: str | None = None,
        description: str | None = None,
        args: list[dict] | None = None,
        args_map: dict | None = None,
    ) -> str:
        merged: dict[str, Any] = {}
        for a in args or []:  # deprecated PluginArgInput form
            v = a.get("value") or {}
            merged[a["key"]] = next((v[k] for k in ("str", "i", "b", "f", "o", "a") if v.get(k) is not None), None)
        merged.update(args_map or {})
        return self.server.start_plugin_task(plugin_id, task_name, description, merged)

    def stopJob(self, info: Any, job_id: str) -> bool:
        return self.server.stop_job(job_id)


# --- HTTP ---------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj).encode())

    def _authorized(self) -> bool:
        stash = self.server.stash
        if stash.api_key:
            if self.headers.get("ApiKey") == stash.api_key:
                return True
            if parse_qs(urlsplit(self.path).query).get("apikey", [None])[0] == stash.api_key:
                return True
        cookie = SimpleCookie()
        try:
            cookie.load(self.headers.get("Cookie") or "")
        except Exception:
            return False
        morsel = cookie.get("session")
        return morsel is not None and morsel.value == stash.session

    def do_POST(self) -> None:
        if urlsplit(self.path).path.rstrip("/") != "/graphql":
            return self._send(404, b"404 page not found", "text/plain")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self._authorized():
            return self._json(401, {"errors": [{"message": "unauthorized"}]})
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            return self._json(400, {"errors": [{"message": "invalid JSON body"}]})
        status, result = self.server.stash.execute(
            req.get("query") or "", req.get("variables"), req.get("operationName"), f"http://{self.headers.get('Host')}"
        )
        self._json(status, result)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        m = re.fullmatch(r"/(image|scene|performer)/(\d+)/(image|thumbnail|stream|screenshot)", path)
        if not m:
            return self._send(404, b"404 page not found", "text/plain")
        if not self._authorized():
            return self._send(401, b"401 Unauthorized", "text/plain")
        data, ctype = self.server.stash.read_file_bytes(m.group(1), int(m.group(2)), m.group(3))
        if data is None:
            return self._send(404, b"404 page not found", "text/plain")
        span = _byte_range(self.headers.get("Range"), len(data))
        if span is None:
            return self._send(200, data, ctype)
        start, end = span  # a video player (or FFmpeg) seeking: only the asked-for bytes, like Stash
        self.send_response(206)
        self.send_header("Content-Type", ctype)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Connection", "close")  # FFmpeg reuses a connection unless told otherwise
        self.close_connection = True
        self.end_headers()
        self.wfile.write(data[start : end + 1])


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` -> inclusive (start, end); None for no/odd ranges."""
    m = re.fullmatch(r"bytes=(\d*)-(\d*)", (header or "").strip())
    if not m or size == 0 or not (m.group(1) or m.group(2)):
        return None
    if m.group(1):
        start, end = int(m.group(1)), int(m.group(2)) if m.group(2) else size - 1
    else:
        start, end = max(0, size - int(m.group(2))), size - 1
    if start >= size:
        return None
    return start, min(end, size - 1)


class _HTTPServer(ThreadingHTTPServer):
    """Tracks open (keep-alive) connections so stop() really cuts clients off, like a dead Stash."""

    daemon_threads = True
    stash: DemoStash

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.open_sockets: set[socket.socket] = set()

    def process_request(self, request: Any, client_address: Any) -> None:
        self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.open_sockets.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        for sock in list(self.open_sockets):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


# --- the server object --------------------------------------------------------------------------


class DemoStash:
    """A running demo Stash (GraphQL + image routes + plugin runner) on 127.0.0.1.

    ``plugin_command`` defaults to ``[python, <repo>/stash_sense_plugin.py]``; ``task_default_args``
    maps a task name to the ``defaultArgs`` Stash would apply for ``runPluginTask(task_name=...)``.
    """

    def __init__(
        self,
        db_path: str | os.PathLike,
        port: int = 0,
        session: str = "demo-session",
        api_key: str | None = None,
        plugin_command: list[str] | None = None,
        *,
        plugin_id: str = PLUGIN_ID,
        plugin_dir: str | os.PathLike | None = None,
        task_default_args: dict[str, dict] | None = None,
        err_log_level: str = "error",
        schema: GraphQLSchema | None = None,
    ):
        self.db_path = str(db_path)
        self.requested_port = port
        self.session = session
        self.api_key = api_key
        self.plugin_command = list(plugin_command or [sys.executable, str(REPO / "stash_sense_plugin.py")])
        self.plugin_id = plugin_id
        self.plugin_dir = str(plugin_dir or REPO)
        self.task_default_args = task_default_args or {}
        self.err_log_level = err_log_level
        self.schema = schema or load_schema()
        self.log_entries: list[tuple[str, str]] = []
        self.jobs: dict[str, dict] = {}
        self._procs: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self._task_lock = threading.Lock()  # Stash's job queue runs one job at a time
        self._job_seq = 0
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        _init_db(self.db_path)

    # -- lifecycle

    def start(self) -> str:
        """Serve in a background thread; returns the base URL (``http://127.0.0.1:<port>``)."""
        self._httpd = _HTTPServer(("127.0.0.1", self.requested_port), _Handler)
        self._httpd.stash = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="demo-stash", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        for job_id in list(self._procs):
            self.stop_job(job_id)
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd.close_connections()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> DemoStash:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("demo Stash is not running")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def server_connection(self, host: str = "0.0.0.0") -> dict:
        """The ``server_connection`` Stash puts in PluginInput (Host is often 0.0.0.0 in real Stash)."""
        return {
            "Scheme": "http",
            "Host": host,
            "Port": self.port,
            "SessionCookie": {
                "Name": "session",
                "Value": self.session,
                "Path": "",
                "Domain": "",
                "Expires": "0001-01-01T00:00:00Z",
                "RawExpires": "",
                "MaxAge": 0,
                "Secure": False,
                "HttpOnly": False,
                "SameSite": 0,
                "Raw": "",
                "Unparsed": None,
            },
            "Dir": str(Path(self.db_path).resolve().parent),
            "PluginDir": self.plugin_dir,
        }

    # -- GraphQL

    def execute(
        self, query: str, variables: dict | None = None, operation_name: str | None = None, base_url: str | None = None
    ) -> tuple[int, dict]:
        """Run one GraphQL request; (HTTP status, response body). 422 for invalid documents, like gqlgen."""
        try:
            doc = parse(query)
        except GraphQLError as exc:
            return 422, {"errors": [exc.formatted], "data": None}
        errors = validate(self.schema, doc)
        if errors:
            return 422, {"errors": [e.formatted for e in errors], "data": None}
        ctx = Ctx(self, base_url or (self.url if self._httpd else "http://127.0.0.1"))
        try:
            result = graphql_sync(
                self.schema,
                query,
                root_value=Root(ctx),
                context_value=ctx,
                variable_values=variables,
                operation_name=operation_name,
                field_resolver=_resolve,
            )
        finally:
            ctx.close()
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [e.formatted for e in result.errors]
        return 200, body

    def query(self, query: str, variables: dict | None = None) -> dict:
        """In-process GraphQL for tests/demo; raises on errors."""
        _, body = self.execute(query, variables)
        if body.get("errors"):
            raise RuntimeError("; ".join(e["message"] for e in body["errors"]))
        return body["data"]

    # -- files

    def read_file_bytes(self, kind: str, obj_id: int, what: str) -> tuple[bytes | None, str]:
        """Bytes for /image/{id}/image|thumbnail and /scene/{id}/stream (zip members read from the zip)."""
        conn = _connect(self.db_path)
        try:
            if kind == "image" and what in ("image", "thumbnail"):
                row = conn.execute(
                    "SELECT f.*, z.path zpath FROM images i JOIN files f ON f.id = i.file_id"
                    " LEFT JOIN files z ON z.id = f.zip_file_id WHERE i.id = ?",
                    (obj_id,),
                ).fetchone()
            elif kind == "performer" and what == "image":
                performer = conn.execute("SELECT image FROM performers WHERE id = ?", (obj_id,)).fetchone()
                return _performer_image(performer["image"] if performer else None)
            elif kind == "scene" and what in ("stream", "screenshot"):
                row = conn.execute(
                    "SELECT f.*, NULL zpath FROM scenes s JOIN files f ON f.id = s.file_id WHERE s.id = ?", (obj_id,)
                ).fetchone()
                if row is not None and what == "screenshot":
                    return _screenshot(row["path"])
            else:
                row = None
        finally:
            conn.close()
        if row is None:
            return None, ""
        try:
            if row["zpath"]:
                member = os.path.relpath(row["path"], row["zpath"]).replace(os.sep, "/")
                with zipfile.ZipFile(row["zpath"]) as zf:
                    data = zf.read(member)
            else:
                data = Path(row["path"]).read_bytes()
        except (OSError, KeyError):
            return None, ""
        ctype = mimetypes.guess_type(row["basename"])[0] or "application/octet-stream"
        if what == "thumbnail":
            data, ctype = _thumbnail(data), "image/jpeg"
        return data, ctype

    # -- plugins

    def logs(self, level: str | None = None) -> list[str]:
        """Messages the plugin logged (stderr protocol), optionally only one level."""
        with self._lock:
            return [m for lv, m in self.log_entries if level is None or lv == level]

    def clear_logs(self) -> None:
        with self._lock:
            self.log_entries.clear()

    def _log(self, level: str, message: str) -> None:
        with self._lock:
            self.log_entries.append((level, message))

    def _plugin_input(self, args: dict) -> dict:
        return {"server_connection": self.server_connection(), "args": args}

    def _check_plugin(self, plugin_id: str) -> None:
        if plugin_id != self.plugin_id:
            raise GraphQLError(f"plugin {plugin_id!r} not found")

    def _run(self, args: dict, job: dict | None = None) -> tuple[Any, str | None]:
        """Run the plugin like Stash's raw interface; returns (output, error)."""
        env = dict(os.environ)
        parent = str(Path(self.plugin_dir).resolve().parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), parent) if p)
        proc = subprocess.Popen(
            self.plugin_command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        if job is not None:
            with self._lock:
                self._procs[job["id"]] = proc
        reader = threading.Thread(target=self._read_stderr, args=(proc.stderr, job), daemon=True)
        reader.start()
        try:
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(json.dumps(self._plugin_input(args)).encode())
                proc.stdin.close()
            except BrokenPipeError:
                pass
            out = proc.stdout.read()
            rc = proc.wait()
            reader.join()
        finally:
            if job is not None:
                with self._lock:
                    self._procs.pop(job["id"], None)
        text = out.decode("utf-8", "replace")
        output: Any = text
        error: str | None = None
        try:
            parsed = json.loads(text)
            if isinstance(parsed, dict):
                output = parsed.get("output")
                error = parsed.get("error")
        except ValueError:
            pass  # not JSON: Stash returns the raw stdout
        if rc != 0 and error is None:
            error = f"exit status {rc}" if rc > 0 else f"signal: killed ({-rc})"
        return output, error

    def _read_stderr(self, stream: Any, job: dict | None) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if len(line) >= 4 and line[0] == "\x01" and line[2] == "\x02" and line[1] in LEVELS:
                level, text = LEVELS[line[1]], line[3:].strip()
            else:
                level, text = self.err_log_level, line.strip()
            if not text or level == "none":
                continue
            if level == "progress":
                if job is not None:
                    try:
                        job["progress"] = min(max(float(text), 0.0), 1.0)
                    except ValueError:
                        pass
                continue
            self._log(level, text)
        stream.close()

    def run_plugin_operation(self, plugin_id: str, args: dict) -> Any:
        """Synchronous ``runPluginOperation``: output returned, ``{"error"}`` becomes a GraphQL error."""
        self._check_plugin(plugin_id)
        output, error = self._run(args)
        if error is not None:
            raise GraphQLError(error)
        return output

    def start_plugin_task(self, plugin_id: str, task_name: str | None, description: str | None, args: dict) -> str:
        """Queue ``runPluginTask``: defaultArgs fill missing keys; returns the job id at once."""
        self._check_plugin(plugin_id)
        if task_name is not None:
            if task_name not in self.task_default_args and self.task_default_args:
                raise GraphQLError(f"task {task_name!r} not found in plugin {plugin_id!r}")
            for k, v in (self.task_default_args.get(task_name) or {}).items():
                args.setdefault(k, v)
        with self._lock:
            self._job_seq += 1
            job_id = str(self._job_seq)
        job = {
            "id": job_id,
            "status": "READY",
            "subTasks": [],
            "description": f"Running plugin task: {description or task_name or plugin_id}",
            "progress": None,
            "startTime": None,
            "endTime": None,
            "addTime": _now(),
            "error": None,
        }
        self.jobs[job_id] = job
        threading.Thread(target=self._run_job, args=(job, args), daemon=True).start()
        return job_id

    def _run_job(self, job: dict, args: dict) -> None:
        with self._task_lock:
            if job["status"] == "CANCELLED":
                return
            job.update(status="RUNNING", startTime=_now())
            try:
                output, error = self._run(args, job)
            except Exception as exc:  # e.g. the command does not exist
                output, error = None, str(exc)
            if job["status"] == "STOPPING":
                job.update(status="CANCELLED", endTime=_now())
                return
            if error is not None:
                self._log("error", f"Plugin returned error: {error}")
                job.update(status="FAILED", error=error, endTime=_now())
            else:
                if output is not None:
                    self._log("debug", f"Plugin returned: {json.dumps(output)[:2000]}")
                job.update(status="FINISHED", progress=1.0, endTime=_now())

    def stop_job(self, job_id: str) -> bool:
        """Stash kills a raw plugin's process without warning."""
        job = self.jobs.get(str(job_id))
        if job is None:
            return False
        with self._lock:
            proc = self._procs.get(str(job_id))
        if job["status"] == "READY":
            job["status"] = "CANCELLED"
        elif proc is not None:
            job["status"] = "STOPPING"
            proc.kill()
        return True

    def wait_job(self, job_id: str, timeout: float = 60.0) -> dict:
        """Block until a task job ends (tests)."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.jobs[str(job_id)]
            if job["status"] in ("FINISHED", "FAILED", "CANCELLED"):
                return dict(job)
            time.sleep(0.05)
        raise TimeoutError(f"job {job_id} still {self.jobs[str(job_id)]['status']} after {timeout}s")


def _performer_image(image: str | None) -> tuple[bytes | None, str]:
    """A performer's image as stored by performerCreate/seed: a data URL or a local file path.

    Remote URLs (stash-box images) are not fetched by the demo: 404, like an image Stash could not get.
    """
    if not image:
        return None, ""
    if image.startswith("data:"):
        import base64

        header, _, payload = image.partition(",")
        return base64.b64decode(payload), header[5:].split(";")[0] or "image/jpeg"
    if os.path.isabs(image) and os.path.isfile(image):
        return Path(image).read_bytes(), mimetypes.guess_type(image)[0] or "image/jpeg"
    return None, ""


def _screenshot(path: str) -> tuple[bytes | None, str]:
    """Like Stash's generated screenshot: the frame at 20% of the video, as JPEG (404 if undecodable)."""
    import cv2

    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    try:
        count = capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0
        capture.set(cv2.CAP_PROP_POS_FRAMES, int(count * 0.2))
        ok, frame = capture.read()
    finally:
        capture.release()
    if not ok or frame is None:
        return None, ""
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes(), "image/jpeg"


def _thumbnail(data: bytes, size: int = 640) -> bytes:
    """Downscaled JPEG, as Stash serves for /thumbnail; original bytes if Pillow cannot decode."""
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            im = im.convert("RGB")
            im.thumbnail((size, size))
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=85)
            return buf.getvalue()
    except Exception:
        return data
