"""Analysed faces for a gallery's images: from the cache when the file was seen before, from the
engine otherwise, with the reading of the next galleries overlapping the inference of these.

The engine is any object with the worker ``Service`` methods ``analyze`` and
``identify_analyzed`` (the warm worker, the in-process service, or ``IdentifierService`` over an
engine already loaded). Results travel in the worker codec's JSON form, which is also what the
cache stores, so a cached face and a fresh one are indistinguishable to identification.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from stash_sense.jobs.cache import EmbeddingCache, file_key
from stash_sense.library.images import image_source
from stash_sense.stash.errors import StashError


@dataclass
class PreparedGallery:
    """A gallery ready for analysis: its sampled images, what the cache had, what must be inferred."""

    gallery: dict
    images: list[dict]  # sampled, in gallery order
    keys: dict[str, str | None] = field(default_factory=dict)  # image id -> cache key
    cached: dict[str, dict] = field(default_factory=dict)  # image id -> analysed image (from cache)
    sources: dict[str, str | bytes] = field(default_factory=dict)  # image id -> path or bytes, for misses
    errors: list[dict] = field(default_factory=list)  # images that could not be read
    failure: str | None = None  # the whole gallery could not be read
    analysed: dict[str, dict] = field(default_factory=dict)  # image id -> analysed image (after inference)
    links: dict[str, set[str]] | None = None  # its performers and tags when read; None: unknown
    pending: list[dict] = field(default_factory=list)  # adaptive sampling: later rounds' images

    def absorb(self, more: PreparedGallery) -> None:
        """Add a later sampling round (prepared and analysed) of the same gallery."""
        self.images += more.images
        self.keys.update(more.keys)
        self.cached.update(more.cached)
        self.sources.update(more.sources)
        self.errors += more.errors
        self.analysed.update(more.analysed)

    @property
    def id(self) -> str:
        return str(self.gallery["id"])

    def results(self) -> list[dict]:
        """Analysed images in gallery order, named by image id."""
        out = []
        for image in self.images:
            image_id = str(image["id"])
            found = self.cached.get(image_id) or self.analysed.get(image_id)
            if found is not None:
                out.append({**found, "image": image_id})
        return out


def prepare(client: Any, gallery: dict, images: list[dict], cache: EmbeddingCache) -> PreparedGallery:
    """Cache lookups for the sampled images; the pixels (path or bytes) of the ones not cached."""
    prepared = PreparedGallery(gallery, images)
    prepared.keys = {str(i["id"]): file_key(i) for i in images}
    hits = cache.get_many(k for k in prepared.keys.values() if k)
    for image in images:
        image_id = str(image["id"])
        key = prepared.keys[image_id]
        if key in hits:
            prepared.cached[image_id] = hits[key]
            continue
        try:
            prepared.sources[image_id] = image_source(client, image)
        except StashError as exc:
            prepared.errors.append({"image": image_id, "error": str(exc)})
    return prepared


def analyse(service: Any, galleries: list[PreparedGallery], cache: EmbeddingCache) -> int:
    """Run the engine once over the cache misses of several galleries; returns images inferred.

    A file shared by two galleries (same cache key) is analysed once. Analyses go to the cache in one
    transaction, undecodable files included: the key names the bytes (fingerprint, or size+mtime),
    so the same key fails the same way, and a re-run must not decode broken files again. (Files
    Stash could not serve never reach the engine and are not cached.)
    """
    todo: dict[str, tuple[str, str | bytes]] = {}  # name -> (key, source)
    for gallery in galleries:
        for image_id, source in gallery.sources.items():
            key = gallery.keys.get(image_id) or f"uncached:{gallery.id}:{image_id}"
            todo.setdefault(key, (key, source))
    if not todo:
        return 0
    names = list(todo)
    results = service.analyze([(name, todo[name][1]) for name in names])
    by_key = dict(zip(names, results))
    for gallery in galleries:
        for image_id in gallery.sources:
            key = gallery.keys.get(image_id) or f"uncached:{gallery.id}:{image_id}"
            gallery.analysed[image_id] = by_key[key]
    cache.put_many({k: r for k, r in by_key.items() if not k.startswith("uncached:")})
    return len(names)


def prefetch(make: Callable[[], Iterable[PreparedGallery]], depth: int = 4) -> Iterator[PreparedGallery]:
    """Run ``make`` in a reader thread, ``depth`` galleries ahead of the consumer.

    Kept small: a prepared gallery can hold the bytes of up to "max images" zip members.

    GraphQL reads, HTTP downloads of zip members and cache lookups then overlap with inference.
    An exception in the reader is re-raised in the consumer.
    """
    pipe: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def reader() -> None:
        try:
            for item in make():
                while not stop.is_set():
                    try:
                        pipe.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # handed to the consumer
            pipe.put(exc)
            return
        pipe.put(done)

    thread = threading.Thread(target=reader, name="stash-sense-prefetch", daemon=True)
    thread.start()
    try:
        while (item := pipe.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def windows(galleries: Iterable[PreparedGallery], min_images: int = 64,
            max_galleries: int = 32) -> Iterator[list[PreparedGallery]]:
    """Groups of galleries with enough cache misses between them for full engine batches.

    Small galleries alone leave cores idle (a batch of 6 faces runs on one thread); grouping them
    lets detection and embedding use every worker thread.
    """
    group: list[PreparedGallery] = []
    misses = 0
    for gallery in galleries:
        group.append(gallery)
        misses += len(gallery.sources)
        if misses >= min_images or len(group) >= max_galleries:
            yield group
            group, misses = [], 0
    if group:
        yield group
