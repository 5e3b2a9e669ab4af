"""Gallery root fields: findGallery, findGalleries, bulkGalleryUpdate."""

from __future__ import annotations

from typing import Any

from ..filters import check_keys, id_set, match_int, match_multi, match_string, paginate, require_ids
from .base import Resolvers


class GalleryResolvers(Resolvers):
    """Gallery queries and mutations."""

    def findGallery(self, info: Any, id: str) -> dict | None:
        row = self.ctx.one("SELECT * FROM galleries WHERE id = ?", (int(id),))
        return self.ctx.gallery(row) if row else None

    def findGalleries(
        self, info: Any, gallery_filter: dict | None = None, filter: dict | None = None, ids: list | None = None
    ) -> dict:
        c = self.ctx
        gf = gallery_filter or {}
        check_keys(
            "gallery_filter", gf, {"performer_count", "performers", "tags", "image_count", "title", "id", "is_zip"}
        )
        require_ids(c, "galleries", "gallery", ids)
        wanted = id_set(ids) or None
        marks = ", ".join("?" * len(wanted or ()))
        where = f" WHERE id IN ({marks})" if wanted else ""
        rows = c.all("SELECT * FROM galleries" + where, tuple(sorted(wanted or ())))
        # one query per relation for the whole answer, and only for the filters asked for: the bulk task
        # reads 50 galleries at a time out of thousands, and must not cost a scan of the library each time
        performers = c.rel_map("gallery", "performer", wanted) if {"performer_count", "performers"} & set(gf) else {}
        tag_map = c.rel_map("gallery", "tag", wanted) if "tags" in gf else {}
        counts = c.gallery_images_map("gallery_id", wanted) if "image_count" in gf else {}
        out = []
        for r in rows:
            gid = r["id"]
            perfs, tags, n_img = performers.get(gid, set()), tag_map.get(gid, set()), len(counts.get(gid, ()))
            if "performer_count" in gf and not match_int(len(perfs), gf["performer_count"]):
                continue
            if "performers" in gf and not match_multi(perfs, gf["performers"]):
                continue
            if "tags" in gf and not match_multi(tags, gf["tags"]):
                continue
            if "image_count" in gf and not match_int(n_img, gf["image_count"]):
                continue
            if "title" in gf and not match_string(r["title"], gf["title"]):
                continue
            if "id" in gf and not match_int(gid, gf["id"]):
                continue
            if "is_zip" in gf and bool(r["zip_file_id"]) != gf["is_zip"]:
                continue
            q = (filter or {}).get("q")
            if q and q.lower() not in (r["title"] or "").lower():
                continue
            out.append({"id": gid, "title": r["title"] or "", "row": r})
        keys = {"id": lambda g: g["id"], "title": lambda g: (g["title"].lower(), g["id"]), "path": lambda g: g["id"]}
        page = paginate(out, filter, keys, "path")
        return {"count": len(out), "galleries": [c.gallery(g["row"]) for g in page]}

    def bulkGalleryUpdate(self, info: Any, input: dict) -> list[dict]:
        return self.bulk_update("gallery", "galleries", input)
