"""Batched reads from Stash: the images of many galleries, and their current performers and tags,
in one query.

One ``findImages`` per gallery would cost a round trip (and, in Stash, a query plan) per gallery,
which dominates a warm run where no inference is left to do. Galleries are grouped until their
images add up to ``BATCH_IMAGES``; a gallery bigger than that is read alone, page by page. The
links come with the images (a second root field) so the write-back knows what is already there
without a request of its own, and the bulk job's reader thread does every read.
"""

from __future__ import annotations

from collections.abc import Iterator

from stash_sense.stash import queries as Q
from stash_sense.stash.client import StashClient
from stash_sense.stash.reads import link_sets

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
  findGalleries(ids: $gallery_ids, filter: { per_page: -1 }) { galleries { id performers { id } tags { id } } }
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


Links = dict[str, dict[str, set[str]]]  # gallery id -> {"performer": ids, "tag": ids}


def images_of(client: StashClient, galleries: list[dict]) -> tuple[dict[str, list[dict]], Links]:
    """``{gallery id: images sorted by path}`` and the galleries' links, for a batch from ``batches``."""
    ids = [str(g["id"]) for g in galleries]
    if len(ids) == 1 and int(galleries[0].get("image_count") or 0) > BATCH_IMAGES:
        return {ids[0]: list(client.gallery_images(ids[0]))}, client.links("gallery", ids)
    found = client.call(GALLERIES_IMAGES, {"gallery_ids": ids, "filter": {"per_page": -1, "sort": "path",
                                                                         "direction": "ASC"}})
    out: dict[str, list[dict]] = {i: [] for i in ids}
    for image in found["findImages"]["images"]:
        for gallery in image.get("galleries") or []:
            if str(gallery["id"]) in out:
                out[str(gallery["id"])].append(image)
    return out, link_sets(found["findGalleries"]["galleries"])


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
