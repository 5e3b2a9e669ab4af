"""Image root fields: findImage, findImages, bulkImageUpdate."""

from __future__ import annotations

from typing import Any

from ..filters import check_keys, id_set, match_int, match_multi, match_string, paginate, require_ids
from .base import Resolvers


class ImageResolvers(Resolvers):
    """Image queries and mutations."""

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
        check_keys("image_filter", imf, {"galleries", "performers", "tags", "performer_count", "path"})
        want = id_set(ids) | id_set(image_ids)
        require_ids(c, "images", "image", want)
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
                if not match_multi(gals, imf["galleries"]):
                    continue
            perfs = c.rel_ids("image", iid, "performer")
            if "performers" in imf and not match_multi(perfs, imf["performers"]):
                continue
            if "performer_count" in imf and not match_int(len(perfs), imf["performer_count"]):
                continue
            if "tags" in imf and not match_multi(c.rel_ids("image", iid, "tag"), imf["tags"]):
                continue
            if "path" in imf and not match_string(r["fpath"], imf["path"]):
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
        page = paginate(out, filter, keys, "path")
        return {
            "count": len(out),
            "megapixels": sum(i["mp"] for i in out),
            "filesize": float(sum(i["size"] for i in out)),
            "images": [c.image(i["row"]) for i in page],
        }

    def bulkImageUpdate(self, info: Any, input: dict) -> list[dict]:
        return self.bulk_update("image", "images", input)
