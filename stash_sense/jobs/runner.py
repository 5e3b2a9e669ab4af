"""One job runner for every bulk run: items (galleries or scenes) -> persons -> performers added or
stored for review, resumable after a kill and undoable as one journal run.

An ``ItemKind`` (``galleries.GALLERIES``, ``scenes.SCENES``) says how to select its items and how to
turn one into analysed faces; everything else is shared: the ledger that knows what is done, the
journal run, the per-item error handling, the decision, the writes, the review suggestions, the
summary and the log lines.

Order of work per item, and why it is safe to kill at any point: the analysis is cached as soon
as it exists; the write-back journals each change before sending it and only adds what is
missing; the item is marked done in the ledger after its writes. A killed run started again
(same kind, same signature) resumes the same ledger run and the same journal run, skips what it
finished, and redoes the rest without writing anything twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Protocol

from stash_sense.contracts import EngineUnreachable, Service, Thresholds
from stash_sense.jobs import halt
from stash_sense.jobs.cache import EmbeddingCache, engine_fingerprint
from stash_sense.jobs.decide import Decision, Match, decide
from stash_sense.jobs.ledger import Ledger
from stash_sense.jobs.options import BulkOptions
from stash_sense.jobs.prefetched_performers import PrefetchedResolver
from stash_sense.jobs.review import suggestion
from stash_sense.library.journal import Journal
from stash_sense.library.performers import PerformerResolver
from stash_sense.library.settle import settle
from stash_sense.library.writeback import WriteBack
from stash_sense.progress import Eta, report_progress
from stash_sense.service.access import NO_DATABASE, NoDatabaseError
from stash_sense.stash.client import StashClient
from stash_sense.stash.errors import StashError

log = logging.getLogger(__name__)


class ItemFailed(RuntimeError):
    """This item cannot be processed (nothing readable, Stash error); the run goes on."""


@dataclass
class Analysed:
    """One item's analysed faces, ready for the shared decision and writes."""

    group: dict  # identify_analyzed's result: persons, faces
    images: int  # analysed images (or frames)
    links: dict[str, set[str]] | None  # performers and tags on the item; None: not read
    unreadable: int = 0
    inferred: int = 0
    cached: int = 0
    crop_source: Callable[[Match], str | bytes | None] = lambda match: None  # pixels for the review crop
    review_fields: Callable[[Match], dict] = lambda match: {}  # extra fields of a stored suggestion
    results: list[dict] = field(default_factory=list)  # the analysed images (library face index)
    cache_keys: dict[str, str | None] = field(default_factory=dict)  # image -> embedding cache key


class ItemKind(Protocol):
    """What differs between galleries and scenes."""

    target: str  # Stash object type: "gallery" | "scene"
    noun: str  # plural for the summary: "galleries" | "scenes"
    summary_names: dict[str, str]  # Summary field -> key in the run's output

    def select(self, run: Run) -> tuple[list[dict], str]:
        """(items, selection text that identifies this choice of items for resuming)."""

    def ledger_id(self, item: dict) -> str: ...

    def analysed(self, run: Run, todo: list[dict]) -> Iterator[tuple[dict, Callable[[], Analysed]]]:
        """Each item with the call that analyses it (raising ``ItemFailed`` or ``StashError``)."""

    def after_add(self, run: Run, item_id: str, performers: list[tuple[Match, str]], new: set[str]) -> None:
        """Kind-specific writes once performers were added (image tags, scene markers)."""


@dataclass
class Summary:
    """Counts of one run (the task's output and its last log line)."""

    selected: int = 0
    processed: int = 0
    skipped: int = 0  # already done with the same database version and settings
    images: int = 0  # analysed (cached or not)
    inferred: int = 0  # images that went through the engine
    cached: int = 0  # images restored from the embedding cache
    faces: int = 0
    added: int = 0  # performers added
    created: int = 0  # performers created
    suggested: int = 0  # persons stored for review
    markers: int = 0
    errors: int = 0  # items that failed + unreadable images
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    dry_run: bool = False
    resumed: bool = False
    journal_run_id: int | None = None
    started: float = field(default_factory=time.monotonic, repr=False)

    def finish(self, names: dict[str, str]) -> dict:
        """The output dict, with the kind's key names (``galleries``, ``failed_scenes``, ...)."""
        self.seconds = round(time.monotonic() - self.started, 2)
        out = asdict(self)
        out.pop("started")
        return {names.get(k, k): v for k, v in out.items() if names.get(k, k)}

    def line(self, noun: str, images: str) -> str:
        rate = self.images / self.seconds if self.seconds else 0.0
        return (f"Stash Sense {'bulk' if noun == 'galleries' else noun}: {self.processed} of {self.selected} {noun} "
                f"processed ({self.skipped} already done), {self.images} {images} ({self.cached} from cache, "
                f"{rate:.1f}/s), {self.faces} faces, {self.added} performers added ({self.created} created), "
                f"{self.suggested} suggested for review, {self.errors} errors, {self.seconds:.1f}s"
                + (" [dry run]" if self.dry_run else ""))


@dataclass
class Run:
    """What one run works with."""

    client: StashClient
    journal: Journal
    service: Service
    options: BulkOptions
    cache: EmbeddingCache
    ledger: Ledger
    kind: ItemKind
    summary: Summary
    writeback: WriteBack | None = None
    signature: str = ""
    db_version: str | None = None
    bulk_run_id: int = 0


def run_items(kind: ItemKind, client: StashClient, journal: Journal, service: Service, options: BulkOptions,
              cache: EmbeddingCache | None = None, ledger: Ledger | None = None) -> dict:
    """Run (or resume) ``kind``'s job over its selected items; returns the summary."""
    fingerprint = engine_fingerprint(options.pack, service.pack_description()) if cache is None else ""
    run = Run(client, journal, service, options, cache or EmbeddingCache(fingerprint),
              ledger or Ledger(), kind, Summary(dry_run=options.dry_run))
    run.db_version = database_version(service)
    run.signature = options.signature(run.db_version)
    items, selection = kind.select(run)
    run.summary.selected = len(items)
    todo = _open(run, items, selection)
    log.info(f"Stash Sense {kind.noun}: {len(todo)} of {len(items)} {kind.noun} to process"
             + (f" (resuming run {run.bulk_run_id})" if run.summary.resumed else "")
             + (" [dry run]" if options.dry_run else ""))
    report_progress(log, run.summary.skipped / max(run.summary.selected, 1))
    eta = Eta(len(todo), kind.target.capitalize(), kind.noun, done_before=run.summary.skipped)
    for done, (item, analyse) in enumerate(kind.analysed(run, todo), 1):
        _one(run, item, analyse)
        report_progress(log, (run.summary.skipped + done) / max(run.summary.selected, 1))
        line = eta.line(done)
        if line:
            log.info(line)
    return _close(run)


def database_version(service: Service) -> str:
    """Version(s) of the databases the engine matches against; none installed is an error."""
    version = service.database_version()
    if not version:
        raise NoDatabaseError(NO_DATABASE)
    return version


def _open(run: Run, items: list[dict], selection: str) -> list[dict]:
    """Start or resume the ledger and journal runs; the items left to do.

    A killed run of the same kind, signature and selection is resumed in its own journal run; a
    resumed run skips what it finished, and without force, what was done with the same signature.
    """
    options, summary = run.options, run.summary
    interrupted = None if options.dry_run else run.ledger.interrupted_run(options.kind, run.signature, selection)
    if interrupted is not None and not run.journal.resumable(interrupted["journal_run_id"]):
        interrupted = None  # its journal run was undone or closed since: start afresh
    if interrupted is not None:  # a write the killed process never saw answered: decide it while it is fresh
        settle(run.client, run.journal, run.journal.mutations(interrupted["journal_run_id"]))
    run.writeback = WriteBack(run.client, run.journal, options.kind, dry_run=options.dry_run,
                              create_performers=options.create_performers,
                              continue_run=interrupted["journal_run_id"] if interrupted is not None else None)
    run.writeback.resolver = PrefetchedResolver(run.client)  # one read of all performers, not one per person
    summary.journal_run_id = run.writeback.run_id
    if interrupted is not None:
        run.bulk_run_id, summary.resumed = int(interrupted["id"]), True
    elif not options.dry_run:
        run.bulk_run_id = run.ledger.start_run(options.kind, run.signature, selection, run.writeback.run_id)
    skip = run.ledger.done_in(run.bulk_run_id)
    if not options.force:
        skip |= run.ledger.done_with(run.signature)
    todo = [item for item in items if run.kind.ledger_id(item) not in skip]
    summary.skipped = len(items) - len(todo)
    return todo


def _close(run: Run) -> dict:
    result = run.summary.finish(run.kind.summary_names)
    if not run.options.dry_run:
        run.writeback.finish(result)
        run.ledger.finish_run(run.bulk_run_id, result)
    report_progress(log, 1.0)
    log.info(run.summary.line(run.kind.noun, run.kind.summary_names.get("images", "images")))
    return result


def _one(run: Run, item: dict, analyse: Callable[[], Analysed]) -> None:
    """Identify, write and record one item; a failure is logged and the run goes on."""
    started = time.monotonic()
    item_id, label = str(item["id"]), run.kind.target.capitalize()
    try:
        line = _identify_and_write(run, item, analyse())
    except EngineUnreachable as exc:  # the engine is gone: stop; the run stays open, the next one resumes it
        raise EngineUnreachable(f"{exc}. The task stopped before {label.lower()} {item_id} and wrote nothing "
                                "for it: run it again to resume") from exc
    except Exception as exc:
        run.summary.errors += 1
        run.summary.failed.append(item_id)
        log.error(f"{label} {item_id} ({item.get('title') or ''}) skipped: {exc}")
        halt.item_failed(run, exc, f"Stash Sense {run.kind.noun}")  # Stash gone or disk full: the run stops
        if not run.options.dry_run:
            run.ledger.mark(run.kind.ledger_id(item), run.signature, "failed", run.bulk_run_id, {"error": str(exc)})
        return
    halt.item_succeeded(run)
    run.summary.processed += 1
    log.info(f"{line} ({time.monotonic() - started:.2f}s)")


def _identify_and_write(run: Run, item: dict, analysed: Analysed) -> str:
    item_id, summary = str(item["id"]), run.summary
    if not run.service.remote:  # the face index needs numpy/Voyager, which a light plugin side has not
        from stash_sense.jobs import library_index

        library_index.record(run, item, analysed)
    summary.images += analysed.images
    summary.inferred += analysed.inferred
    summary.cached += analysed.cached
    summary.errors += analysed.unreadable
    summary.faces += int(analysed.group.get("faces") or 0)
    rejected = run.journal.rejected(run.kind.target, item_id)
    decision = decide(analysed.group, run.options.auto, run.options.review, rejected)
    links = analysed.links
    if links is None:
        links = run.client.links(run.kind.target, [item_id])[item_id]
    added = _write_matches(run, item_id, decision, links)
    review = _write_review(run, item_id, decision, links, analysed)
    if not run.options.dry_run:
        run.ledger.mark(run.kind.ledger_id(item), run.signature, "done", run.bulk_run_id,
                        {"added": added, "review": review, "unknown": decision.unknown})
    return item_line(run.kind.target, item, analysed, added, review)


def item_line(target: str, item: dict, analysed: Analysed, added: list[str], review: list[str]) -> str:
    """One log line per item: what was added and what waits for review."""
    title = item.get("title") or f"{target} {item['id']}"
    noun = "frames" if target == "scene" else "images"
    parts = [f"{analysed.images} {noun}, {int(analysed.group.get('faces') or 0)} faces",
             f"added {', '.join(added)}" if added else "nothing added"]
    if review:
        parts.append(f"for review: {', '.join(review)}")
    if analysed.unreadable:
        parts.append(f"{analysed.unreadable} unreadable image(s)")
    return f"{target.capitalize()} {item['id']} ({title}): " + "; ".join(parts)


def _write_matches(run: Run, item_id: str, decision: Decision, links: dict[str, set[str]]) -> list[str]:
    """Add the confident performers (and the "identified" tag); returns their names for the log."""
    writeback = run.writeback
    performers, would_create = _resolve_performers(run, decision, f"{run.kind.target.capitalize()} {item_id}")
    if not performers:
        return would_create
    ids = [p for _, p in performers]
    tag = writeback.tag_id(run.options.identified_tag)
    new = set(ids) - links["performer"]
    if new or (tag and tag not in links["tag"]):
        plan = writeback.add(run.kind.target, [item_id], performer_ids=ids, tag_ids=[tag])
        new = set(plan.get(item_id, {}).get("performer", []))
        run.summary.added += len(new)
    run.kind.after_add(run, item_id, performers, new)
    return [name_of(m) if p in new else f"{name_of(m)} (already on it)" for m, p in performers] + would_create


def _resolve_performers(run: Run, decision: Decision, where: str) -> tuple[list[tuple[Match, str]], list[str]]:
    """(match, local performer id) for each confident match: found, linked or created from stash-box.

    A match whose performer cannot be had goes back to review instead of failing the item; in a
    dry run nothing is created and the second list names who would be.
    """
    performers, would_create = [], []
    for match in list(decision.add):
        try:
            performer_id, created = run.writeback.performer_for(match.universal_id, match.record)
        except (LookupError, StashError) as exc:
            log.warning(f"{where}: cannot add {name_of(match)} ({exc}); kept for review")
            decision.add.remove(match)
            decision.review.append(match)
            continue
        run.summary.created += int(bool(created and performer_id))
        if performer_id:
            performers.append((match, performer_id))
        else:
            would_create.append(f"{name_of(match)} (would be created)")
    return performers, would_create


def _write_review(run: Run, item_id: str, decision: Decision, links: dict[str, set[str]],
                  analysed: Analysed) -> list[str]:
    """Store the review-band matches and tag the item for review; returns their names."""
    resolver: PerformerResolver = run.writeback.resolver
    on_target = set(links["performer"])
    pending = [m for m in decision.review if not _already_there(resolver, m, on_target)]
    if not pending:
        return []
    thresholds = Thresholds(auto=run.options.auto, review=run.options.review)
    remote = run.service.remote
    persons = [{**suggestion(i, m, thresholds, resolver, on_target, None if remote else analysed.crop_source(m)),
                **analysed.review_fields(m)} for i, m in enumerate(pending)]
    if remote:
        _remote_crops(run, pending, analysed, persons)
    if not run.options.dry_run:
        run.journal.store_suggestions(run.kind.target, item_id, persons, run.db_version)
    tag = run.writeback.tag_id(run.options.review_tag)
    if tag is None or tag not in links["tag"]:
        run.writeback.add(run.kind.target, [item_id], tag_ids=[tag])
    run.summary.suggested += len(pending)
    return [f"{name_of(m)} ({m.confidence:.2f})" for m in pending]


def _remote_crops(run: Run, pending: list[Match], analysed: Analysed, persons: list) -> None:
    """Review crops made by the remote engine (the plugin's light side cannot decode images)."""
    wanted = [(i, analysed.crop_source(m), (m.person.get("best_face") or {}).get("box"))
              for i, m in enumerate(pending)]
    wanted = [w for w in wanted if w[1] is not None and w[2]]
    if not wanted:
        return
    crops = run.service.image_crops([(str(i), source) for i, source, _ in wanted],  # type: ignore[attr-defined]
                                    [box for _, _, box in wanted])
    for (i, _, _), crop in zip(wanted, crops):
        persons[i]["crop"] = crop


def _already_there(resolver: PerformerResolver, match: Match, on_target: set[str]) -> bool:
    local = resolver.find_local(match.universal_id, match.record)
    return local is not None and str(local["id"]) in on_target


def name_of(match: Match) -> str:
    return str(match.record.get("name") or match.universal_id)
