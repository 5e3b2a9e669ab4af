"""The typed reads: each verb one query document from ``queries.py`` and the part of its answer
callers use, so no caller digs through GraphQL envelopes or builds filters itself.

Reads change nothing in Stash, which is why ``StashSession.call`` may retry them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from . import queries as Q
from .errors import StashGraphQLError, StashNotFound
from .session import StashSession

PLUGIN_ID = "stash_sense"


class StashReads(StashSession):
    """Everything Stash Sense asks Stash, one method per question."""

    # -- galleries / images / scenes

    def find_gallery(self, gallery_id: str | int) -> dict | None:
        """Gallery with its performers (not its images: Gallery has no image list field)."""
        return self.call(Q.FIND_GALLERY, {"id": str(gallery_id)})["findGallery"]

    def gallery_images_page(
        self, gallery_id: str | int, *, page: int = 1, per_page: int = 100
    ) -> tuple[int, list[dict]]:
        """One page of a gallery's images, ordered by path so pages are stable."""
        filt = {"page": page, "per_page": per_page, "sort": "path", "direction": "ASC"}
        res = self.call(Q.FIND_GALLERY_IMAGES, {"gallery_id": str(gallery_id), "filter": filt})["findImages"]
        return res["count"], res["images"]

    def gallery_images(self, gallery_id: str | int, *, per_page: int = 100) -> Iterator[dict]:
        """All images of a gallery, fetched page by page (no single huge response)."""
        yield from all_pages(lambda page: self.gallery_images_page(gallery_id, page=page, per_page=per_page), per_page)

    def find_galleries(
        self,
        *,
        without_performers: bool = False,
        tag_id: str | int | None = None,
        page: int = 1,
        per_page: int = 100,
    ) -> tuple[int, list[dict]]:
        """One page of galleries (all, or only those without performers, and/or having a tag)."""
        gfilter: dict[str, Any] = {}
        if without_performers:
            gfilter["performer_count"] = {"value": 0, "modifier": "EQUALS"}
        if tag_id is not None:
            gfilter["tags"] = {"value": [str(tag_id)], "modifier": "INCLUDES", "depth": 0}
        variables = {
            "gallery_filter": gfilter or None,
            "filter": {"page": page, "per_page": per_page, "sort": "id", "direction": "ASC"},
        }
        res = self.call(Q.FIND_GALLERIES, variables)["findGalleries"]
        return res["count"], res["galleries"]

    def iter_galleries(
        self, *, without_performers: bool = False, tag_id: str | int | None = None, per_page: int = 100
    ) -> Iterator[dict]:
        """All matching galleries, page by page."""
        yield from all_pages(lambda page: self.find_galleries(
            without_performers=without_performers, tag_id=tag_id, page=page, per_page=per_page), per_page)

    def find_image(self, image_id: str | int) -> dict | None:
        return self.call(Q.FIND_IMAGE, {"id": str(image_id)})["findImage"]

    def find_scene(self, scene_id: str | int) -> dict | None:
        return self.call(Q.FIND_SCENE, {"id": str(scene_id)})["findScene"]

    def scenes_page(self, *, page: int = 1, per_page: int = 100) -> tuple[int, list[dict]]:
        found = self.call(Q.FIND_SCENES_PAGE, {"filter": {"page": page, "per_page": per_page, "sort": "id",
                                                          "direction": "ASC"}})["findScenes"]
        return int(found["count"]), found["scenes"]

    def iter_scenes(self, *, per_page: int = 100) -> Iterator[dict]:
        yield from all_pages(lambda page: self.scenes_page(page=page, per_page=per_page), per_page)

    def scene_markers(self, scene_id: str | int) -> list[dict]:
        found = self.call(Q.SCENE_MARKERS, {"id": str(scene_id)})["findScene"]
        if found is None:
            raise StashNotFound(f"Stash has no scene with id {scene_id}")
        return found["scene_markers"]

    # -- performers

    def find_performer(self, performer_id: str | int) -> dict | None:
        return self.call(Q.FIND_PERFORMER, {"id": str(performer_id)})["findPerformer"]

    def performer_usage(self, performer_id: str | int) -> int | None:
        """Scenes + images + galleries the performer is on; None when it no longer exists."""
        found = self.call(Q.PERFORMER_USAGE, {"id": str(performer_id)})["findPerformer"]
        return None if found is None else sum(found[k] or 0 for k in ("scene_count", "image_count", "gallery_count"))

    def find_performers_by_stash_id(self, endpoint: str, stash_id: str) -> list[dict]:
        """Local performers already linked to this stash-box ID (normally 0 or 1)."""
        res = self.call(Q.FIND_PERFORMERS_BY_STASH_ID, {"endpoint": endpoint, "stash_id": stash_id})
        return res["findPerformers"]["performers"]

    def performers_created_with_stash_id(self, endpoint: str, stash_id: str) -> list[dict]:
        """``[{"id", "name", "created_at"}]`` of the performers linked to this stash-box ID."""
        res = self.call(Q.PERFORMERS_CREATED_WITH_STASH_ID, {"endpoint": endpoint, "stash_id": stash_id})
        return res["findPerformers"]["performers"]

    def image_gallery_ids(self, image_id: str | int) -> list[str]:
        """Ids of the galleries an image is in (none when the image is gone)."""
        image = self.call(Q.IMAGE_GALLERIES, {"id": str(image_id)})["findImage"] or {}
        return [str(g["id"]) for g in image.get("galleries") or []]

    def find_performers_by_name(self, name: str) -> list[dict]:
        """Exact-name matches; more than one means the name alone is ambiguous."""
        return self.call(Q.FIND_PERFORMERS_BY_NAME, {"name": name})["findPerformers"]["performers"]

    # -- tags

    def find_tag_by_name(self, name: str) -> dict | None:
        tags = self.call(Q.FIND_TAGS_BY_NAME, {"name": name})["findTags"]["tags"]
        exact = [t for t in tags if t["name"] == name]
        return (exact or tags or [None])[0]

    # -- current links of targets (journal "before" state)

    def links(self, target_type: str, ids: list) -> dict[str, dict[str, set[str]]]:
        """``{id: {"performer": {ids}, "tag": {ids}}}`` for galleries, images or scenes."""
        return link_sets(self._link_objects(target_type, ids))

    def link_state(self, target_type: str, ids: list) -> tuple[dict[str, dict[str, set[str]]], dict[str, str]]:
        """``links()`` plus ``{id: updated_at}`` (Stash's RFC 3339 time of the object's last change),
        from one read: what the journal compares to tell our write from a later one."""
        found = self._link_objects(target_type, ids)
        return link_sets(found), {str(o["id"]): o.get("updated_at") or "" for o in found}

    def _link_objects(self, target_type: str, ids: list) -> list[dict]:
        ids = [str(i) for i in ids]
        if target_type == "gallery":
            found = self._find_many(Q.GALLERY_LINKS, ids, "findGalleries", "galleries")
        elif target_type == "image":
            found = self._find_many(Q.IMAGE_LINKS, ids, "findImages", "images")
        elif target_type == "scene":
            found = [s for s in (self.call(Q.SCENE_LINKS, {"id": i})["findScene"] for i in ids) if s]
        else:
            raise ValueError(f"unknown target type {target_type!r}")
        missing = [i for i in ids if i not in {str(o["id"]) for o in found}]
        if missing:
            raise StashNotFound(f"Stash has no {target_type} with id {', '.join(missing)}")
        return found

    def find_existing(self, query: str, ids: list[str], field: str, key: str) -> list[dict]:
        """``find*(ids:)`` over ids some of which may have been deleted: Stash fails the whole query
        on the first missing id, so that id is dropped and the rest asked again."""
        ids = list(ids)
        while ids:
            try:
                return self._find_many(query, ids, field, key)
            except StashNotFound as exc:
                gone = re.search(r"with id (\d+)$", str(exc))
                if gone is None or gone.group(1) not in ids:
                    raise
                ids.remove(gone.group(1))
        return []

    def _find_many(self, query: str, ids: list[str], field: str, key: str) -> list[dict]:
        """``find*(ids:)``: Stash fails the whole query on an id it does not have ("gallery with id 7
        not found") where one might expect it left out; that is StashNotFound, as for one id."""
        try:
            return self.call(query, {"ids": ids})[field][key]
        except StashGraphQLError as exc:
            missing = re.search(r"(\w+) with id (\d+) not found", str(exc))
            if missing:
                raise StashNotFound(f"Stash has no {missing.group(1)} with id {missing.group(2)}") from exc
            raise

    # -- local enrollment

    def performers_page(self, *, page: int = 1, per_page: int = 100) -> tuple[int, list[dict]]:
        """One page of all performers (with image path and stash ids), by id."""
        filt = {"page": page, "per_page": per_page, "sort": "id", "direction": "ASC"}
        res = self.call(Q.FIND_PERFORMERS_PAGE, {"filter": filt})["findPerformers"]
        return res["count"], res["performers"]

    def solo_images(self, performer_id: str | int, *, limit: int = 50) -> list[dict]:
        """Images tagged with exactly this one performer."""
        filt = {"page": 1, "per_page": limit, "sort": "path", "direction": "ASC"}
        res = self.call(Q.FIND_SOLO_IMAGES, {"performer_id": str(performer_id), "filter": filt})
        return res["findImages"]["images"]

    def solo_galleries(self, performer_id: str | int, *, limit: int = 20) -> list[dict]:
        """Galleries tagged with exactly this one performer."""
        filt = {"page": 1, "per_page": limit, "sort": "id", "direction": "ASC"}
        res = self.call(Q.FIND_SOLO_GALLERIES, {"performer_id": str(performer_id), "filter": filt})
        return res["findGalleries"]["galleries"]

    # -- stash-box

    def stashbox_endpoints(self) -> list[dict]:
        """Configured stash-box instances: ``[{"endpoint", "name"}]``."""
        return self.call(Q.STASHBOX_ENDPOINTS)["configuration"]["general"]["stashBoxes"] or []

    def scrape_stashbox_performer(self, endpoint: str, stash_id: str) -> dict | None:
        """The stash-box performer with this ID, scraped through Stash (Stash holds the API key)."""
        res = self.call(
            Q.SCRAPE_STASHBOX_PERFORMER,
            {"source": {"stash_box_endpoint": endpoint}, "input": {"query": stash_id}},
        )["scrapeSinglePerformer"]
        return next((p for p in res if p.get("remote_site_id") == stash_id), None)

    # -- plugin settings

    def plugin_settings(self, plugin_id: str = PLUGIN_ID) -> dict:
        """Saved settings of a plugin; ``{}`` until the user saves them (always default in code)."""
        plugins = self.call(Q.PLUGIN_CONFIG, {"ids": [plugin_id]})["configuration"]["plugins"] or {}
        return dict(plugins.get(plugin_id) or {})


def all_pages(page_of: Callable[[int], tuple[int, list[dict]]], per_page: int) -> Iterator[dict]:
    """Every item of a paged find*, asked one page at a time (``page_of(page)`` gives count and
    items) until a page comes back empty or the count is reached: no single huge response."""
    page = 1
    while True:
        count, items = page_of(page)
        yield from items
        if not items or page * per_page >= count:
            return
        page += 1


def link_sets(objects: list[dict]) -> dict[str, dict[str, set[str]]]:
    """``{id: {"performer": {ids}, "tag": {ids}}}`` from objects read with ``performers { id } tags { id }``."""
    return {str(o["id"]): {"performer": {str(p["id"]) for p in o["performers"]},
                           "tag": {str(t["id"]) for t in o["tags"]}} for o in objects}
