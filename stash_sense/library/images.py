"""Getting the pixels of Stash images: from disk when we can, over HTTP when we must.

Stash runs the plugin on its own machine, so a plain file path is readable directly (no copy, and
the engine reads it lazily in its worker threads). Members of zip galleries (path ``<zip>/<member>``,
not a real file) and anything else we cannot open (permissions, another container, a missing file)
are fetched from Stash at ``/image/{id}/image`` with the plugin's session cookie / ApiKey.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from stash_sense.stash.client import StashClient
from stash_sense.stash.errors import StashError
from stash_sense.stash.files import is_zip_member

CROP_SIZE = 112
CROP_MARGIN = 0.25  # extra context around the detector box, per side


def primary_file(image: dict) -> dict:
    files = image.get("visual_files") or image.get("files") or []
    return files[0] if files else {}


def _readable_file(path: str | None) -> bool:
    return bool(path) and os.path.isfile(path) and os.access(path, os.R_OK)


def image_source(client: StashClient, image: dict) -> str | bytes:
    """A path the engine can open, or the image bytes; raises StashError when Stash cannot serve it."""
    file = primary_file(image)
    if not is_zip_member(file) and _readable_file(file.get("path")):
        return file["path"]
    return client.fetch(f"/image/{image['id']}/image", what=f"image {image['id']}")


def collect_sources(client: StashClient, images: Iterable[dict]) -> tuple[list, list[str], list[dict]]:
    """(sources, image ids, errors) for the images that could be read; one error per unreadable image."""
    sources, names, errors = [], [], []
    for image in images:
        try:
            sources.append(image_source(client, image))
            names.append(str(image["id"]))
        except StashError as exc:
            errors.append({"image": str(image["id"]), "error": str(exc)})
    return sources, names, errors


def spread(items: list, limit: int) -> list:
    """At most ``limit`` items evenly spread over the list (a long gallery is sampled, not truncated)."""
    if limit <= 0 or len(items) <= limit:
        return list(items)
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def face_crop(source: str | bytes, box: list[float] | None, size: int = CROP_SIZE) -> str | None:
    """A small JPEG of one face as a data URL (``engine.crops``: the engine's loader lines the box up)."""
    from stash_sense.engine.crops import face_crop as crop

    return crop(source, box, size)


def crop_rgb(rgb, box: list[float], size: int = CROP_SIZE) -> str | None:
    """A square crop around ``box`` with margin, as a JPEG data URL (``engine.crops``)."""
    from stash_sense.engine.crops import crop_rgb as crop

    return crop(rgb, box, size)
