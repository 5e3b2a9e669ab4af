"""Per-request context of the demo Stash and the builders that turn SQLite rows into GraphQL objects.

Why one place: every resolver returns the same shapes (Gallery, Image, Scene, Performer, ...), with
absolute media URLs built from the request's base URL like Stash does. Builders return dicts whose
callables the field resolver calls lazily, so nested fields cost a query only when asked for.
"""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .media import has_image
from .seed import connect, now

if TYPE_CHECKING:
    from .server import DemoStash


class Ctx:
    """Per-request state: a SQLite connection and the base URL used for ``paths.*`` (like Stash)."""

    def __init__(self, server: DemoStash, base_url: str):
        self.server = server
        self.base_url = base_url
        self.db = connect(server.db_path)

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

    def rel_map(self, obj_type: str, rel_type: str, obj_ids: set[int] | None = None) -> dict[int, set[int]]:
        """``rel_ids`` of many objects in one query (all of them when ``obj_ids`` is None): a filter
        over a whole library must not cost a query per object."""
        sql, args = "SELECT obj_id, rel_id FROM links WHERE obj_type=? AND rel_type=?", [obj_type, rel_type]
        out: dict[int, set[int]] = {}
        for obj_id, rel_id in self.all(sql + _only("obj_id", obj_ids), (*args, *sorted(obj_ids or ()))):
            out.setdefault(obj_id, set()).add(rel_id)
        return out

    def gallery_images_map(self, key: str, ids: set[int] | None = None) -> dict[int, set[int]]:
        """gallery id -> image ids (``key="gallery_id"``) or image id -> gallery ids (``"image_id"``)."""
        other = "image_id" if key == "gallery_id" else "gallery_id"
        out: dict[int, set[int]] = {}
        for k, v in self.all(f"SELECT {key}, {other} FROM galleries_images WHERE 1" + _only(key, ids),
                             tuple(sorted(ids or ()))):
            out.setdefault(k, set()).add(v)
        return out

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
            "mod_time": now(),
            "created_at": now(),
            "updated_at": now(),
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
            + ("" if has_image(row["image"]) else "&default=true"),
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
                "preview": "",
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
            # the player's sources (Stash lists the direct stream first, then transcodes)
            "sceneStreams": lambda info: self.scene_streams(sid, row["file_id"]),
            "scene_markers": lambda info: [
                self.scene_marker(m)
                for m in self.all("SELECT * FROM scene_markers WHERE scene_id = ? ORDER BY seconds", (sid,))
            ],
        }

    def scene_streams(self, sid: int, file_id: int | None) -> list[dict]:
        """The player's sources: Stash lists the direct stream first (then transcodes the demo lacks)."""
        f = file_id and self.one("SELECT basename FROM files WHERE id = ?", (file_id,))
        if not f:
            return []
        mime = mimetypes.guess_type(f["basename"])[0] or "video/mp4"
        return [{"url": f"{self.base_url}/scene/{sid}/stream", "mime_type": mime, "label": "Direct stream"}]

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


def _only(column: str, ids: set[int] | None) -> str:
    """`` AND column IN (?, ...)`` for a set of ids, nothing for None (every row)."""
    return "" if ids is None else f" AND {column} IN ({', '.join('?' * len(ids))})"
