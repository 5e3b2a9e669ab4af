"""Batched reads from Stash: the images of many galleries in one query.

One ``findImages`` per gallery would cost a round trip (and, in Stash, a query plan) per gallery,
which dominates a warm run where no inference is left to do. Galleries are grouped until their
images add up to ``BATCH_IMAGES``; a gallery bigger than that is read alone, page by page.
"""

from __future__ import annotations

from collections.abc import Iterator

from stash_sense.stash import queries as Q
from stash_sense.stash.client import StashClient

BATCH_IMAGES = 2000
BATCH_GALLERIES = 50

GALLERIES_IMAGES = (
    """
query StashSenseBulkGalleryImages($gallery_ids: [ID!], $filter: FindFilterType) {
  findImages(image_filter: { galleries: { value: $gallery_ids, modifier: INCLUDES } }, filter: $filter) {
    count
    images {"""
    + Q.IMAGE_FIELDS
    + """      galleries { id }
    }
  }
}
"""
)


def batches(galleries: list[dict]) -> Iterator[list[dict]]:
    """Consecutive groups of galleries whose images fit one query."""
    group: list[dict] = []
    images = 0
    for gallery in galleries:
        count = int(gallery.get("image_count") or 0)
        if group and (images + count > BATCH_IMAGES or len(group) >= BATCH_GALLERIES):
            yield group
            group, images = [], 0
        group.append(gallery)
        images += count
    if group:
        yield group


def images_of(client: StashClient, galleries: list[dict]) -> dict[str, list[dict]]:
    """``{gallery id: images sorted by path}`` for a batch from ``batches``."""
    ids = [str(g["id"]) for g in galleries]
    if len(ids) == 1 and int(galleries[0].get("image_count") or 0) > BATCH_IMAGES:
        return {ids[0]: list(client.gallery_images(ids[0]))}
    found = client.call(GALLERIES_IMAGES, {"gallery_ids": ids, "filter": {"per_page": -1, "sort": "path",
                                                                         "direction": "ASC"}})["findImages"]
    out: dict[str, list[dict]] = {i: [] for i in ids}
    for image in found["images"]:
        for gallery in image.get("galleries") or []:
            if str(gallery["id"]) in out:
                out[str(gallery["id"])].append(image)
    return out


def select_galleries(client: StashClient, *, untagged: bool, tag_name: str | None) -> list[dict]:
    """Every gallery of the selection, read before any is processed.

    Read up front because processing changes the selection ("without performers" shrinks as
    performers are added), which would make page-by-page reading skip galleries.
    """
    tag_id = None
    if tag_name:
        tag = client.find_tag_by_name(tag_name)
        if tag is None or tag["name"].lower() != tag_name.lower():
            raise LookupError(f"No tag named {tag_name!r} in Stash: nothing to select")
        tag_id = tag["id"]
    return list(client.iter_galleries(without_performers=untagged, tag_id=tag_id, per_page=500))
