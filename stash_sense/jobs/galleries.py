"""Galleries as bulk items: every selected gallery -> sampled images -> analysed faces.

The shared run (``runner.run_items``) decides, writes and records; this module only says which
galleries, and how their images become analysed faces: read in batches from Stash while the
previous window is inferred, cache hits restored, misses sent to the engine a window at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

from stash_sense.contracts import Service
from stash_sense.jobs import gallery_reads
from stash_sense.jobs.adaptive import StopRule, identify_adaptively, spread_order
from stash_sense.jobs.analysis import PreparedGallery, analyse, prefetch, prepare, windows
from stash_sense.jobs.cache import EmbeddingCache
from stash_sense.jobs.decide import Match
from stash_sense.jobs.ledger import Ledger
from stash_sense.jobs.options import BulkOptions
from stash_sense.jobs.runner import Analysed, ItemFailed, Run, run_items
from stash_sense.jobs.sampling import sample
from stash_sense.library.images import image_source
from stash_sense.library.journal import Journal
from stash_sense.stash.client import StashClient
from stash_sense.stash.errors import StashError

log = logging.getLogger(__name__)


class Galleries:
    target = "gallery"
    noun = "galleries"
    summary_names = {"selected": "galleries", "failed": "failed_galleries", "markers": ""}

    def select(self, run: Run) -> tuple[list[dict], str]:
        options = run.options
        galleries = gallery_reads.select_galleries(run.client, untagged=options.untagged, tag_name=options.tag)
        return galleries, f"untagged={options.untagged};tag={options.tag};force={options.force}"

    def ledger_id(self, item: dict) -> str:
        return str(item["id"])

    def analysed(self, run: Run, todo: list[dict]) -> Iterator[tuple[dict, Callable[[], Analysed]]]:
        for window in windows(prefetch(lambda: _prepared(run, todo))):
            _analyse_window(run, window)
            for prepared in window:
                yield prepared.gallery, lambda prepared=prepared: _analysed(run, prepared)

    def after_add(self, run: Run, item_id: str, performers: list[tuple[Match, str]], new: set[str]) -> None:
        """With "tag images" on, each performer also goes on the images they are in."""
        if run.options.tag_images:
            for match, performer_id in performers:
                run.writeback.add("image", match.images, performer_ids=[performer_id])


GALLERIES = Galleries()


def run_bulk(client: StashClient, journal: Journal, service: Service, options: BulkOptions,
             cache: EmbeddingCache | None = None, ledger: Ledger | None = None) -> dict:
    """Run (or resume) a bulk identification over the selected galleries; returns the summary."""
    return run_items(GALLERIES, client, journal, service, options, cache, ledger)


def _analysed(run: Run, prepared: PreparedGallery) -> Analysed:
    if prepared.failure:
        raise ItemFailed(prepared.failure)
    group = _identify_rounds(run, prepared) if prepared.pending else None
    results = prepared.results()
    errors = prepared.errors + [{"image": r["image"], "error": r["error"]} for r in results if r.get("error")]
    if prepared.images and len(errors) >= len(prepared.images):
        raise ItemFailed(f"none of its {len(prepared.images)} image(s) could be read "
                         f"(image {errors[0]['image']}: {errors[0]['error']})")
    for error in errors:
        log.warning(f"Gallery {prepared.id}: image {error['image']} unreadable: {error['error']}")
    if group is None:
        group = run.service.identify_analyzed(results) if results else {"persons": [], "faces": 0}
    by_id = {str(i["id"]): i for i in prepared.images}
    return Analysed(group, len(results), prepared.links, unreadable=len(errors), cached=len(prepared.cached),
                    crop_source=lambda match: _source(run, by_id, match), results=results, cache_keys=prepared.keys)


def _identify_rounds(run: Run, prepared: PreparedGallery) -> dict:
    """Adaptive sampling past the first round (analysed with its window): further rounds of the
    gallery's spread-ordered images until its persons are decided (``jobs.adaptive``)."""
    rule = _stop_rule(run.options)
    first, pending = prepared.images, prepared.pending
    prepared.pending = []

    def analyse_round(images: list[dict]) -> None:
        if images is first:
            return  # analysed with its window
        more = prepare(run.client, prepared.gallery, images, run.cache)
        run.summary.inferred += analyse(run.service, [more], run.cache)
        prepared.absorb(more)

    def identify() -> dict:
        results = [r for r in prepared.results() if not r.get("error")]
        return run.service.identify_analyzed(results) if results else {"persons": [], "faces": 0}

    rounds = [first] + [pending[i:i + rule.patience] for i in range(0, len(pending), rule.patience)]
    group, _ = identify_adaptively(rounds, rule, analyse_round, identify)
    return group


def _stop_rule(options: BulkOptions) -> StopRule:
    return StopRule(auto=options.auto, review=options.review, ceiling=options.max_images)


def _prepared(run: Run, todo: list[dict]) -> Iterator[PreparedGallery]:
    """Galleries with their sampled images and links read from Stash and looked up in the cache
    (reader thread). The next batch's query is already in flight while this one is handed out: in
    a warm run nothing else hides Stash's answer time."""
    batches = list(gallery_reads.batches(todo))
    pool = ThreadPoolExecutor(1, thread_name_prefix="stash-sense-batch")
    try:
        reads = [pool.submit(_read_batch, run, batch) for batch in batches[:1]]
        for number, batch in enumerate(batches):
            if number + 1 < len(batches):
                reads.append(pool.submit(_read_batch, run, batches[number + 1]))
            found = reads[number].result()
            reads[number] = None  # a batch's images are let go once handed out
            for gallery in batch:
                yield _prepare_one(run, gallery, found)
    finally:  # a stopped or failed run does not wait for a read it will not use
        pool.shutdown(wait=False, cancel_futures=True)


def _read_batch(run: Run, batch: list[dict]) -> tuple[dict, gallery_reads.Links] | None:
    try:
        return gallery_reads.images_of(run.client, batch)
    except StashError:  # one bad gallery must not fail its batch: read them one by one
        return None


def _prepare_one(run: Run, gallery: dict, found: tuple[dict, gallery_reads.Links] | None) -> PreparedGallery:
    gallery_id = str(gallery["id"])
    try:
        images, links = found if found is not None else gallery_reads.images_of(run.client, [gallery])
        picked = sample(images[gallery_id], run.options.max_images)
        pending: list[dict] = []
        if run.options.adaptive:
            rounds = _stop_rule(run.options).cut(spread_order(picked))
            picked, pending = rounds[0], [image for later in rounds[1:] for image in later]
        prepared = prepare(run.client, gallery, picked, run.cache)
        prepared.links = links.get(gallery_id)
        prepared.pending = pending
        return prepared
    except StashError as exc:
        failed = PreparedGallery(gallery, [])
        failed.failure = str(exc)
        return failed


def _analyse_window(run: Run, window: list[PreparedGallery]) -> None:
    """Inference for the window's cache misses; if the engine fails, retry gallery by gallery."""
    try:
        run.summary.inferred += analyse(run.service, window, run.cache)
        return
    except Exception as exc:
        if len(window) == 1:
            window[0].failure = f"analysis failed: {exc}"
            return
    for prepared in window:
        _analyse_window(run, [prepared])


def _source(run: Run, by_id: dict, match) -> str | bytes | None:
    """Pixels of the person's best face image, for the crop the review modal shows."""
    image = by_id.get(str((match.person.get("best_face") or {}).get("image")))
    try:
        return image_source(run.client, image) if image else None
    except StashError:
        return None
