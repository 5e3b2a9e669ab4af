"""Performer root fields, and the stash-box performer scraper."""

from __future__ import annotations

import base64
import json
import re
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from graphql import GraphQLError

from ..filters import check_keys, id_set, match_string, paginate
from ..seed import now
from .base import Resolvers


def validate_aliases(name: str, aliases: list[str]) -> None:
    """Stash's ``ValidateAliases``: no alias equal to the name or to another alias, ignoring case."""
    seen = {name.lower()}
    for alias in aliases:
        if alias.lower() in seen:
            raise GraphQLError(f"performer contains duplicate alias '{alias}'")
        seen.add(alias.lower())


def process_image_input(image: str) -> str:
    """Stash's ``ProcessImageInput``: a data URL as is, a URL downloaded by Stash itself (the creation
    fails when it cannot be). The demo is offline: only a loopback URL can be fetched."""
    if image.startswith("data:"):
        return image
    parts = urlsplit(image)
    if parts.scheme not in ("http", "https"):
        raise GraphQLError(f"processing image: unsupported image input {image[:40]!r}")
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise GraphQLError(f'processing image: Get "{image}": dial tcp: lookup {parts.hostname}: no such host')
    try:
        with urllib.request.urlopen(image, timeout=10) as answer:
            data, ctype = answer.read(), answer.headers.get_content_type()
    except OSError as exc:
        raise GraphQLError(f'processing image: Get "{image}": {exc}') from exc
    return f"data:{ctype};base64," + base64.b64encode(data).decode()


class PerformerResolvers(Resolvers):
    """findPerformer(s), performerCreate/Update/Destroy, scrapeSinglePerformer."""

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
        check_keys("performer_filter", pf, {"name", "stash_id_endpoint", "disambiguation"})
        want = id_set(ids) | id_set(performer_ids)
        out = []
        for r in c.all("SELECT * FROM performers"):
            if want and r["id"] not in want:
                continue
            if "name" in pf and not match_string(r["name"], pf["name"]):
                continue
            if "disambiguation" in pf and not match_string(r["disambiguation"], pf["disambiguation"]):
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
        page = paginate(out, filter, keys, "name")
        return {"count": len(out), "performers": [c.performer(r) for r in page]}

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

    def _set_stash_ids(self, pid: int, stash_ids: list[dict]) -> None:
        db = self.ctx.db
        db.execute("DELETE FROM performer_stash_ids WHERE performer_id = ?", (pid,))
        for s in stash_ids:
            db.execute(
                "INSERT OR IGNORE INTO performer_stash_ids VALUES (?, ?, ?, ?)",
                (pid, s["endpoint"], s["stash_id"], s.get("updated_at") or now()),
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
        validate_aliases(name, input.get("alias_list") or [])
        if input.get("image"):
            input = {**input, "image": process_image_input(input["image"])}
        ts = now()
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
            c.db.execute("UPDATE performers SET updated_at = ? WHERE id = ?", (now(), pid))
            c.db.execute("COMMIT")
        except BaseException:
            c.db.execute("ROLLBACK")
            raise
        return c.performer_by_id(pid)

    def performerDestroy(self, info: Any, input: dict) -> bool:
        pid = int(input["id"])
        self.ctx.db.execute("DELETE FROM links WHERE rel_type = 'performer' AND rel_id = ?", (pid,))
        self.ctx.db.execute("DELETE FROM performer_stash_ids WHERE performer_id = ?", (pid,))
        self.ctx.db.execute("DELETE FROM performers WHERE id = ?", (pid,))
        return True
