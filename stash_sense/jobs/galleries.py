"""The bulk job: every selected gallery -> sampled images -> persons -> performers added or queued
for review, resumable after a kill and undoable as one journal run.

Order of work per gallery, and why it is safe to kill at any point: the analysis is cached as soon
as it exists; the write-back journals each change before sending it and only adds what is
missing; the gallery is marked done in the ledger after its writes. A killed run started again
(same kind, same signature) resumes the same ledger run and the same journal run, skips what it
finished, and redoes the rest without writing anything twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from stash_sense.jobs import fetch, halt
from stash_sense.jobs.analysis import PreparedGallery, analyse, prefetch, prepare, windows
from stash_sense.jobs.cache import EmbeddingCache
from stash_sense.jobs.decide import Decision, decide
from stash_sense.jobs.ledger import Ledger
from stash_sense.jobs.options import BulkOptions
from stash_sense.jobs.performers import PrefetchedResolver
from stash_sense.jobs.report import Reporter, Summary, gallery_line
from stash_sense.jobs.resume import ResumingJournal, resumable
from stash_sense.jobs.review import suggestion
from stash_sense.jobs.sampling import sample
from stash_sense.library.images import image_source
from stash_sense.library.journal import Journal
from stash_sense.library.performers import PerformerResolver
from stash_sense.library.writeback import WriteBack
from stash_sense.stash.client import StashClient, StashError


class GalleryFailed(RuntimeError):
    """This gallery cannot be processed (nothing readable, Stash error); the run goes on."""


@dataclass
class Run:
    """What one run (of galleries or of scenes) works with."""

    client: StashClient
    journal: Journal
    service: Any  # worker Service protocol: analyze, identify_analyzed, info
    options: BulkOptions
    reporter: Reporter
    cache: EmbeddingCache
    ledger: Ledger
    writeback: WriteBack | None = None
    signature: str = ""
    db_version: str | None = None
    bulk_run_id: int = 0
    summary: Any = None  # report.Summary (galleries) or scene_job.SceneSummary


def run_bulk(client: StashClient, journal: Journal, service: Any, options: BulkOptions,
             reporter: Reporter | None = None, cache: EmbeddingCache | None = None,
             ledger: Ledger | None = None) -> dict:
    """Run (or resume) a bulk identification over the selected galleries; returns the summary."""
    from stash_sense.jobs.cache import engine_fingerprint

    run = Run(client, journal, service, options, reporter or Reporter(),
              cache or EmbeddingCache(engine_fingerprint(options.pack)), ledger or Ledger())
    run.summary = Summary(dry_run=options.dry_run)
    run.db_version = database_version(service)
    run.signature = options.signature(run.db_version)
    galleries = fetch.select_galleries(client, untagged=options.untagged, tag_name=options.tag)
    todo = _open_run(run, galleries)
    run.reporter.info(f"Stash Sense bulk: {len(todo)} of {len(galleries)} galleries to process"
                      + (f" (resuming run {run.bulk_run_id})" if run.summary.resumed else "")
                      + (" [dry run]" if options.dry_run else ""))
    _process(run, todo)
    return close_run(run)


def database_version(service: Any) -> str:
    """Version(s) of the databases the engine matches against; none installed is an error."""
    from stash_sense.service.access import NO_DATABASE, NoDatabaseError

    if hasattr(service, "database_version"):  # cheap: without loading the engine
        version = service.database_version()
    else:
        version = " + ".join(str(db.get("version")) for db in service.info().get("databases") or [])
    if not version:
        raise NoDatabaseError(NO_DATABASE)
    return version


def _open_run(run: Run, galleries: list[dict]) -> list[dict]:
    options = run.options
    run.summary.galleries = len(galleries)
    selection = f"untagged={options.untagged};tag={options.tag};force={options.force}"
    return open_run(run, galleries, selection, lambda gallery: str(gallery["id"]))


def open_run(run: Run, items: list[dict], selection: str, ledger_id: Callable[[dict], str]) -> list[dict]:
    """Start or resume the ledger and journal runs (galleries and scenes alike); the items left to do.

    A killed run of the same kind, signature and selection is resumed in its own journal run; a
    resumed run skips what it finished, and without force, what was done with the same signature.
    """
    options, summary = run.options, run.summary
    interrupted = None if options.dry_run else run.ledger.interrupted_run(options.kind, run.signature, selection)
    journal: Any = run.journal
    if interrupted is not None and resumable(run.journal, interrupted["journal_run_id"]):
        journal = ResumingJournal(run.journal, interrupted["journal_run_id"])
    elif interrupted is not None:
        interrupted = None  # its journal run was undone or closed since: start afresh
    run.writeback = WriteBack(run.client, journal, options.kind, dry_run=options.dry_run,
                              create_performers=options.create_performers)
    run.writeback.resolver = PrefetchedResolver(run.client)  # one read of all performers, not one per person
    summary.journal_run_id = run.writeback.run_id
    if interrupted is not None:
        run.bulk_run_id, summary.resumed = int(interrupted["id"]), True
    elif not options.dry_run:
        run.bulk_run_id = run.ledger.start_run(options.kind, run.signature, selection, run.writeback.run_id)
    skip = run.ledger.done_in(run.bulk_run_id)
    if not options.force:
        skip |= run.ledger.done_with(run.signature)
    todo = [item for item in items if ledger_id(item) not in skip]
    summary.skipped = len(items) - len(todo)
    return todo


def close_run(run: Run) -> dict:
    result = run.summary.finish()
    if not run.options.dry_run:
        run.writeback.finish(result)
        run.ledger.finish_run(run.bulk_run_id, result)
    run.reporter.progress(1.0)
    run.reporter.info(run.summary.line())
    return result


# --- the loop -----------------------------------------------------------------------------------------


def _process(run: Run, todo: list[dict]) -> None:
    done = 0
    run.reporter.progress(run.summary.skipped / max(run.summary.galleries, 1))
    for window in windows(prefetch(lambda: _prepared(run, todo))):
        _analyse_window(run, window)
        for prepared in window:
            _finish_one(run, prepared)
            done += 1
            run.reporter.progress((run.summary.skipped + done) / max(run.summary.galleries, 1))


def _prepared(run: Run, todo: list[dict]) -> Iterator[PreparedGallery]:
    """Galleries with their sampled images and links read from Stash and looked up in the cache
    (reader thread). The next batch's query is already in flight while this one is handed out: in
    a warm run nothing else hides Stash's answer time."""
    batches = list(fetch.batches(todo))
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


def _read_batch(run: Run, batch: list[dict]) -> tuple[dict, fetch.Links] | None:
    try:
        return fetch.images_of(run.client, batch)
    except StashError:  # one bad gallery must not fail its batch: read them one by one
        return None


def _prepare_one(run: Run, gallery: dict, found: tuple[dict, fetch.Links] | None) -> PreparedGallery:
    gallery_id = str(gallery["id"])
    try:
        images, links = found if found is not None else fetch.images_of(run.client, [gallery])
        prepared = prepare(run.client, gallery, sample(images[gallery_id], run.options.max_images), run.cache)
        prepared.links = links.get(gallery_id)
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


def _finish_one(run: Run, prepared: PreparedGallery) -> None:
    """Identify, write and record one gallery; a failure is logged and the run goes on."""
    started = time.monotonic()
    try:
        line = _identify_and_write(run, prepared)
    except Exception as exc:
        run.summary.errors += 1
        run.summary.failed_galleries.append(prepared.id)
        run.reporter.error(f"Gallery {prepared.id} ({prepared.gallery.get('title') or ''}) skipped: {exc}")
        halt.item_failed(run, exc, "Stash Sense bulk")  # Stash gone or disk full: the whole run stops
        if not run.options.dry_run:
            run.ledger.mark(prepared.id, run.signature, "failed", run.bulk_run_id, {"error": str(exc)})
        return
    halt.item_succeeded(run)
    run.summary.processed += 1
    run.reporter.info(f"{line} ({time.monotonic() - started:.2f}s)")


def _identify_and_write(run: Run, prepared: PreparedGallery) -> str:
    if prepared.failure:
        raise GalleryFailed(prepared.failure)
    results = prepared.results()
    errors = prepared.errors + [{"image": r["image"], "error": r["error"]} for r in results if r.get("error")]
    if prepared.images and len(errors) >= len(prepared.images):
        raise GalleryFailed(f"none of its {len(prepared.images)} image(s) could be read "
                            f"(image {errors[0]['image']}: {errors[0]['error']})")
    for error in errors:
        run.reporter.warning(f"Gallery {prepared.id}: image {error['image']} unreadable: {error['error']}")
    run.summary.errors += len(errors)
    run.summary.images += len(results)
    run.summary.cached += len(prepared.cached)
    group = run.service.identify_analyzed(results) if results else {"persons": [], "faces": 0}
    run.summary.faces += int(group.get("faces") or 0)
    decision = decide(group, run.options.auto, run.options.review, run.journal.rejected("gallery", prepared.id))
    added = _write_matches(run, prepared, decision, prepared.links)
    review = _write_review(run, prepared, decision, prepared.links)
    if not run.options.dry_run:
        run.ledger.mark(prepared.id, run.signature, "done", run.bulk_run_id,
                        {"added": added, "review": review, "unknown": decision.unknown})
    return gallery_line(prepared.gallery, len(results), int(group.get("faces") or 0), added, review, len(errors))


def _write_matches(run: Run, prepared: PreparedGallery, decision: Decision, links: dict | None) -> list[str]:
    """Add the confident performers to the gallery (and its images, if set); returns their names."""
    writeback = run.writeback
    performers, would_create = resolve_performers(run, decision, f"Gallery {prepared.id}")
    if not performers:
        return would_create
    ids = [p for _, p in performers]
    tag = writeback.tag_id(run.options.identified_tag)
    new = set(ids) - links["performer"] if links is not None else set(ids)
    if links is None or new or (tag and tag not in links["tag"]):
        plan = writeback.add("gallery", [prepared.id], performer_ids=ids, tag_ids=[tag])
        new = set(plan.get(prepared.id, {}).get("performer", []))
        run.summary.added += len(new)
    if run.options.tag_images:
        for match, performer_id in performers:
            writeback.add("image", match.images, performer_ids=[performer_id])
    return [name_of(m) if p in new else f"{name_of(m)} (already on it)" for m, p in performers] + would_create


def resolve_performers(run, decision: Decision, where: str) -> tuple[list[tuple], list[str]]:
    """(match, local performer id) for each confident match: found, linked or created from stash-box.

    A match whose performer cannot be had goes back to review instead of failing the item; in a
    dry run nothing is created and the second list names who would be.
    """
    performers, would_create = [], []
    for match in list(decision.add):
        try:
            performer_id, created = run.writeback.performer_for(match.universal_id, match.record)
        except (LookupError, StashError) as exc:
            run.reporter.warning(f"{where}: cannot add {name_of(match)} ({exc}); kept for review")
            decision.add.remove(match)
            decision.review.append(match)
            continue
        run.summary.created += int(bool(created and performer_id))
        if performer_id:
            performers.append((match, performer_id))
        else:
            would_create.append(f"{name_of(match)} (would be created)")
    return performers, would_create


def _write_review(run: Run, prepared: PreparedGallery, decision: Decision, links: dict | None) -> list[str]:
    """Store the review-band matches and tag the gallery for review; returns their names."""
    resolver: PerformerResolver = run.writeback.resolver
    on_target = set(links["performer"]) if links else run.client.links("gallery", [prepared.id])[prepared.id][
        "performer"]
    pending = [m for m in decision.review if not already_there(resolver, m, on_target)]
    if not pending:
        return []
    thresholds = {"auto": run.options.auto, "review": run.options.review}
    by_id = {str(i["id"]): i for i in prepared.images}
    persons = [suggestion(i, m, thresholds, resolver, on_target, _source(run, by_id, m)) for i, m in
               enumerate(pending)]
    if not run.options.dry_run:
        run.journal.store_suggestions("gallery", prepared.id, persons, run.db_version)
    tag = run.writeback.tag_id(run.options.review_tag)
    if links is None or (tag and tag not in links["tag"]):
        run.writeback.add("gallery", [prepared.id], tag_ids=[tag])
    run.summary.suggested += len(pending)
    return [f"{name_of(m)} ({m.confidence:.2f})" for m in pending]


def already_there(resolver: PerformerResolver, match, on_target: set[str]) -> bool:
    local = resolver.find_local(match.universal_id, match.record)
    return local is not None and str(local["id"]) in on_target


def _source(run: Run, by_id: dict, match) -> str | bytes | None:
    """Pixels of the person's best face image, for the crop the review modal shows."""
    image = by_id.get(str((match.person.get("best_face") or {}).get("image")))
    try:
        return image_source(run.client, image) if image else None
    except StashError:
        return None


def name_of(match) -> str:
    return str(match.record.get("name") or match.universal_id)
