"""Image root fields: findImage, findImages, bulkImageUpdate."""

from __future__ import annotations

from typing import Any

from ..filters import check_keys, id_set, match_int, match_multi, match_string, paginate, require_ids
from .base import Resolvers

MAX_SQL_IDS = 30000  # below SQLite's limit of 32,766 bound parameters


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
        in_galleries = _gallery_images(c, imf.get("galleries"))
        narrowed = want & in_galleries if want and in_galleries is not None else want or in_galleries
        if narrowed is not None and len(narrowed) > MAX_SQL_IDS:
            narrowed = None  # too many for one IN (...): read every row, the checks below still filter
        marks = ", ".join("?" * len(narrowed or ()))
        rows = c.all(
            "SELECT i.*, f.path fpath, f.size fsize, f.width fw, f.height fh"
            " FROM images i JOIN files f ON f.id = i.file_id"
            + (f" WHERE i.id IN ({marks})" if narrowed is not None else ""),
            tuple(sorted(narrowed or ())),
        )
        # one query per relation for the rows left, and only for the filters asked for: the bulk task
        # reads the images of 50 galleries at a time, and must not cost a scan of the library each time
        only = {r["id"] for r in rows} if narrowed is not None else None
        galleries = c.gallery_images_map("image_id", only) if "galleries" in imf else {}
        performers = c.rel_map("image", "performer", only) if {"performers", "performer_count"} & set(imf) else {}
        tag_map = c.rel_map("image", "tag", only) if "tags" in imf else {}
        out = []
        for r in rows:
            iid = r["id"]
            if want and iid not in want:
                continue
            if "galleries" in imf and not match_multi(galleries.get(iid, set()), imf["galleries"]):
                continue
            perfs = performers.get(iid, set())
            if "performers" in imf and not match_multi(perfs, imf["performers"]):
                continue
            if "performer_count" in imf and not match_int(len(perfs), imf["performer_count"]):
                continue
            if "tags" in imf and not match_multi(tag_map.get(iid, set()), imf["tags"]):
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


def _gallery_images(c: Any, crit: dict | None) -> set[int] | None:
    """Images a ``galleries`` criterion can only be met by (INCLUDES / INCLUDES_ALL of some galleries):
    the rows to read; None when the criterion does not narrow them (absent, EXCLUDES, IS_NULL, ...)."""
    if not crit or crit.get("modifier") not in ("INCLUDES", "INCLUDES_ALL") or not crit.get("value"):
        return None
    wanted = id_set(crit["value"])
    return {i for ids in c.gallery_images_map("gallery_id", wanted).values() for i in ids}
