"""What every resolver group shares: the request context, and Stash's bulk*Update semantics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from graphql import GraphQLError

from ..objects import Ctx
from ..seed import now

if TYPE_CHECKING:
    from ..server import DemoStash


class Resolvers:
    """Base of the resolver groups that make up the root value (one method per root field)."""

    def __init__(self, ctx: Ctx):
        self.ctx = ctx
        self.server: DemoStash = ctx.server

    def bulk_update(self, obj_type: str, table: str, inp: dict) -> list[dict]:
        """Add/remove/set performer and tag links on many objects; unknown ids are errors, like Stash."""
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
                    c.db.execute(f"UPDATE {table} SET updated_at = ? WHERE id = ?", (now(), oid))
                c.db.execute("COMMIT")
            except BaseException:
                c.db.execute("ROLLBACK")
                raise
        builder = {"gallery": c.gallery, "image": c.image, "scene": c.scene}[obj_type]
        return [builder(c.one(f"SELECT * FROM {table} WHERE id = ?", (i,))) for i in ids]
