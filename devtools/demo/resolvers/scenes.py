"""Scene and scene-marker root fields."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from ..filters import check_keys, id_set, match_int, match_multi, paginate
from ..seed import now
from .base import Resolvers


class SceneResolvers(Resolvers):
    """findScene(s), bulkSceneUpdate, scene markers."""

    def sceneMarkerTags(self, info: Any, scene_id: str) -> list[dict]:
        """The scene's markers grouped by primary tag (the scene page's Markers tab and marker wall)."""
        c = self.ctx
        rows = c.all("SELECT * FROM scene_markers WHERE scene_id = ? ORDER BY seconds", (int(scene_id),))
        groups: dict[int, list] = {}
        for r in rows:
            groups.setdefault(r["primary_tag_id"], []).append(c.scene_marker(r))
        return [{"tag": c.tag(c.one("SELECT * FROM tags WHERE id = ?", (tid,))), "scene_markers": markers}
                for tid, markers in groups.items()]

    def sceneStreams(self, info: Any, id: str | None = None) -> list[dict]:
        scene = self.findScene(info, id) if id is not None else None
        return scene["sceneStreams"] if scene else []

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
        check_keys("scene_filter", sf, {"performer_count", "performers", "tags", "id"})
        out = []
        for r in c.all("SELECT * FROM scenes"):
            sid = r["id"]
            if ids and sid not in id_set(ids):
                continue
            perfs = c.rel_ids("scene", sid, "performer")
            if "performer_count" in sf and not match_int(len(perfs), sf["performer_count"]):
                continue
            if "performers" in sf and not match_multi(perfs, sf["performers"]):
                continue
            if "tags" in sf and not match_multi(c.rel_ids("scene", sid, "tag"), sf["tags"]):
                continue
            if "id" in sf and not match_int(sid, sf["id"]):
                continue
            out.append({"id": sid, "title": r["title"] or "", "row": r})
        keys = {"id": lambda s: s["id"], "title": lambda s: (s["title"].lower(), s["id"]), "path": lambda s: s["id"]}
        page = paginate(out, filter, keys, "id")
        return {"count": len(out), "scenes": [c.scene(s["row"]) for s in page]}

    def bulkSceneUpdate(self, info: Any, input: dict) -> list[dict]:
        return self.bulk_update("scene", "scenes", input)

    def sceneMarkerCreate(self, info: Any, input: dict) -> dict:
        c = self.ctx
        sid, tid = int(input["scene_id"]), int(input["primary_tag_id"])
        if not c.one("SELECT 1 FROM scenes WHERE id = ?", (sid,)):
            raise GraphQLError(f"scene with id {sid} not found")
        if not c.one("SELECT 1 FROM tags WHERE id = ?", (tid,)):
            raise GraphQLError(f"tag with id {tid} not found")
        ts = now()
        mid = c.db.execute(
            "INSERT INTO scene_markers (scene_id, title, seconds, end_seconds, primary_tag_id, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (sid, input["title"], float(input["seconds"]), input.get("end_seconds"), tid, ts, ts),
        ).lastrowid
        return c.scene_marker(c.one("SELECT * FROM scene_markers WHERE id = ?", (mid,)))

    def sceneMarkerDestroy(self, info: Any, id: str) -> bool:
        return self.sceneMarkersDestroy(info, [id])

    def sceneMarkersDestroy(self, info: Any, ids: list) -> bool:
        for i in ids:
            self.ctx.db.execute("DELETE FROM scene_markers WHERE id = ?", (int(i),))
        return True
