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
        rows = c.all("SELECT * FROM galleries")
        out = []
        for r in rows:
            gid = r["id"]
            if ids and gid not in id_set(ids):
                continue
            perfs = c.rel_ids("gallery", gid, "performer")
            tags = c.rel_ids("gallery", gid, "tag")
            n_img = c.one("SELECT COUNT(*) c FROM galleries_images WHERE gallery_id = ?", (gid,))["c"]
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
