"""The writes, and only of two kinds: adding links and objects, or undoing what we added.

Bulk updates take ``mode`` ADD or REMOVE and refuse SET, which would drop links the user made;
a performer's stash ids are read and appended to, never replaced, except to undo our own link.
Mutations are never retried (``StashSession.call``): a retried write could apply twice. What a run
adds is journalled by ``stash_sense.library`` so that it can be undone.
"""

from __future__ import annotations

import logging
from typing import Any

from . import queries as Q
from .errors import StashGraphQLError, StashNotFound
from .reads import StashReads

_log = logging.getLogger(__name__)


class StashWrites(StashReads):
    """Mutations; the reads they need first (a performer's current stash ids) come from ``StashReads``."""

    # -- scene markers

    def create_scene_marker(self, scene_id: str | int, title: str, seconds: float, primary_tag_id: str | int) -> dict:
        inp = {"scene_id": str(scene_id), "title": title, "seconds": float(seconds),
               "primary_tag_id": str(primary_tag_id)}
        return self.call(Q.SCENE_MARKER_CREATE, {"input": inp})["sceneMarkerCreate"]

    def destroy_scene_markers(self, ids: list) -> None:
        if ids:
            self.call(Q.SCENE_MARKERS_DESTROY, {"ids": [str(i) for i in ids]})

    # -- performers

    def create_performer(
        self,
        *,
        name: str,
        disambiguation: str | None = None,
        stash_ids: list[dict] | None = None,
        image: str | None = None,
        alias_list: list[str] | None = None,
        country: str | None = None,
        gender: str | None = None,
    ) -> dict:
        """performerCreate; ``stash_ids`` items are ``{"endpoint", "stash_id"}``."""
        inp: dict[str, Any] = {"name": name}
        for key, value in (
            ("disambiguation", disambiguation),
            ("image", image),
            ("alias_list", alias_list),
            ("country", country),
            ("gender", gender),
        ):
            if value:
                inp[key] = value
        if stash_ids:
            inp["stash_ids"] = [{"endpoint": s["endpoint"], "stash_id": s["stash_id"]} for s in stash_ids]
        return self.call(Q.PERFORMER_CREATE, {"input": inp})["performerCreate"]

    def add_performer_stash_id(self, performer_id: str | int, endpoint: str, stash_id: str) -> dict:
        """Link an existing performer to a stash-box ID, keeping the IDs it already has.

        performerUpdate's ``stash_ids`` replaces the whole list, so read it first and append.
        """
        performer = self.find_performer(performer_id)
        if performer is None:
            raise StashNotFound(f"Stash has no performer {performer_id}")
        current = performer.get("stash_ids") or []
        if any(s["endpoint"] == endpoint and s["stash_id"] == stash_id for s in current):
            return performer
        return self.set_performer_stash_ids(performer_id, [*current, {"endpoint": endpoint, "stash_id": stash_id}])

    def set_performer_stash_ids(self, performer_id: str | int, stash_ids: list[dict]) -> dict:
        """Replace a performer's stash ids (the list is SET in Stash): the current ones plus one, or
        those left when undo takes back a link we made."""
        clean = [{k: s[k] for k in ("endpoint", "stash_id", "updated_at") if s.get(k) is not None} for s in stash_ids]
        return self.call(Q.PERFORMER_UPDATE, {"input": {"id": str(performer_id), "stash_ids": clean}})[
            "performerUpdate"
        ]

    def create_performer_from_stashbox(self, endpoint: str, stash_id: str) -> dict:
        """Local performer for a stash-box ID: the existing one if linked, else created from stash-box data."""
        existing = self.find_performers_by_stash_id(endpoint, stash_id)
        if existing:
            return existing[0]
        scraped = self.scrape_stashbox_performer(endpoint, stash_id)
        if scraped is None or not scraped.get("name"):
            raise StashNotFound(f"stash-box {endpoint} has no performer {stash_id}")
        gender = scraped.get("gender")
        valid_genders = {"MALE", "FEMALE", "TRANSGENDER_MALE", "TRANSGENDER_FEMALE", "INTERSEX", "NON_BINARY"}
        fields: dict[str, Any] = dict(
            name=scraped["name"],
            disambiguation=scraped.get("disambiguation"),
            stash_ids=[{"endpoint": endpoint, "stash_id": stash_id}],
            alias_list=clean_aliases(scraped["name"], (scraped.get("aliases") or "").split(",")) or None,
            country=scraped.get("country"),
            gender=gender if gender in valid_genders else None,
        )
        image = (scraped.get("images") or [None])[0]
        try:
            return self.create_performer(image=image, **fields)
        except StashGraphQLError as exc:
            if not image or "processing image" not in str(exc):
                raise
        # Stash downloads the picture itself and fails the whole creation when it cannot (offline,
        # stash-box image host down): the performer matters more than its picture
        _log.warning(f"Stash could not download the picture of {scraped['name']} ({image}); "
                     "creating the performer without it")
        return self.create_performer(**fields)

    def destroy_performer(self, performer_id: str | int) -> None:
        self.call(Q.PERFORMER_DESTROY, {"input": {"id": str(performer_id)}})

    # -- tags

    def find_or_create_tag(self, name: str) -> dict:
        return self.find_tag_by_name(name) or self.call(Q.TAG_CREATE, {"input": {"name": name}})["tagCreate"]

    # -- bulk updates

    def _bulk(
        self, query: str, field: str, ids: list, performer_ids: list | None, tag_ids: list | None, mode: str
    ) -> list[dict]:
        if mode not in ("ADD", "REMOVE"):
            raise ValueError("mode must be ADD (apply) or REMOVE (undo); SET would drop existing links")
        inp: dict[str, Any] = {"ids": [str(i) for i in ids]}
        if performer_ids:
            inp["performer_ids"] = {"ids": [str(i) for i in performer_ids], "mode": mode}
        if tag_ids:
            inp["tag_ids"] = {"ids": [str(i) for i in tag_ids], "mode": mode}
        if not ids or len(inp) == 1:
            return []
        return self.call(query, {"input": inp})[field] or []

    def update_galleries(
        self, ids: list, *, performer_ids: list | None = None, tag_ids: list | None = None, mode: str = "ADD"
    ) -> list[dict]:
        """Add (or, for undo, remove) performers/tags on galleries without touching the others."""
        return self._bulk(Q.BULK_GALLERY_UPDATE, "bulkGalleryUpdate", ids, performer_ids, tag_ids, mode)

    def update_images(
        self, ids: list, *, performer_ids: list | None = None, tag_ids: list | None = None, mode: str = "ADD"
    ) -> list[dict]:
        return self._bulk(Q.BULK_IMAGE_UPDATE, "bulkImageUpdate", ids, performer_ids, tag_ids, mode)

    def update_scenes(
        self, ids: list, *, performer_ids: list | None = None, tag_ids: list | None = None, mode: str = "ADD"
    ) -> list[dict]:
        return self._bulk(Q.BULK_SCENE_UPDATE, "bulkSceneUpdate", ids, performer_ids, tag_ids, mode)


def clean_aliases(name: str, aliases: list[str]) -> list[str]:
    """Aliases Stash accepts: trimmed, none equal to the name or to another alias ignoring case
    (performerCreate refuses the whole performer otherwise: "performer contains duplicate alias")."""
    seen = {name.strip().lower()}
    out = []
    for alias in (a.strip() for a in aliases):
        if alias and alias.lower() not in seen:
            seen.add(alias.lower())
            out.append(alias)
    return out
