"""Tag root fields: findTag, findTags, tagCreate."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from ..filters import check_keys, id_set, match_string, paginate
from ..seed import now
from .base import Resolvers


class TagResolvers(Resolvers):
    """Tag queries and mutations."""

    def findTag(self, info: Any, id: str) -> dict | None:
        row = self.ctx.one("SELECT * FROM tags WHERE id = ?", (int(id),))
        return self.ctx.tag(row) if row else None

    def findTags(
        self, info: Any, tag_filter: dict | None = None, filter: dict | None = None, ids: list | None = None
    ) -> dict:
        c = self.ctx
        tf = tag_filter or {}
        check_keys("tag_filter", tf, {"name"})
        out = [
            r
            for r in c.all("SELECT * FROM tags")
            if (not ids or r["id"] in id_set(ids)) and ("name" not in tf or match_string(r["name"], tf["name"]))
        ]
        keys = {"name": lambda r: (r["name"].lower(), r["id"]), "id": lambda r: r["id"]}
        page = paginate(out, filter, keys, "name")
        return {"count": len(out), "tags": [c.tag(r) for r in page]}

    def tagCreate(self, info: Any, input: dict) -> dict:
        c = self.ctx
        name = (input.get("name") or "").strip()
        if not name:
            raise GraphQLError("name must not be blank")
        if c.one("SELECT 1 FROM tags WHERE name = ?", (name,)):
            raise GraphQLError(f"tag with name '{name}' already exists")
        ts = now()
        tid = c.db.execute("INSERT INTO tags (name, created_at, updated_at) VALUES (?, ?, ?)", (name, ts, ts)).lastrowid
        return c.tag(c.one("SELECT * FROM tags WHERE id = ?", (tid,)))
