"""The bulk scenes task: every scene -> sampled frames -> persons -> performers added to the scene
or stored for review; resumable, skippable on re-runs, undoable as one journal run.

The gallery job's machinery, per scene: the ledger (keyed ``scene:<id>`` so scene and gallery ids
never collide) decides what is done; the embedding cache holds each frame's faces
(``scene_frames``); ``decide`` splits persons into add / review; ``WriteBack`` journals every
change. A scene whose video cannot be read (broken, audio only, unreachable) is logged with the
reason and recorded as failed, and the run goes on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from stash_sense.jobs import halt
from stash_sense.jobs.cache import EmbeddingCache
from stash_sense.jobs.decide import Decision, decide
from stash_sense.jobs.galleries import Run, already_there, close_run, name_of, open_run, resolve_performers
from stash_sense.jobs.ledger import Ledger
from stash_sense.jobs.options import BulkOptions
from stash_sense.jobs.report import Finishable, Reporter
from stash_sense.jobs.review import suggestion
from stash_sense.jobs.scene_frames import SCREENSHOT, SceneFrames, scene_frames
from stash_sense.library.journal import Journal
from stash_sense.stash.client import StashClient

KIND = "identify_scenes"


@dataclass(frozen=True)
class SceneOptions(BulkOptions):
    frames: int = 60
    markers: bool = False

    @property
    def kind(self) -> str:
        return KIND


@dataclass
class SceneSummary(Finishable):
    scenes: int = 0  # selected
    processed: int = 0
    skipped: int = 0  # already done with the same database version and settings
    frames: int = 0  # analysed (cached or not), screenshots included
    inferred: int = 0
    cached: int = 0
    faces: int = 0
    added: int = 0
    created: int = 0
    suggested: int = 0
    markers: int = 0
    errors: int = 0
    failed_scenes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    dry_run: bool = False
    resumed: bool = False
    journal_run_id: int | None = None
    started: float = field(default_factory=time.monotonic, repr=False)

    def line(self) -> str:
        return (f"Stash Sense scenes: {self.processed} of {self.scenes} scenes processed ({self.skipped} already "
                f"done), {self.frames} frames ({self.cached} from cache), {self.faces} faces, {self.added} "
                f"performers added ({self.created} created), {self.suggested} suggested for review, "
                f"{self.markers} markers, {self.errors} errors, {self.seconds:.1f}s"
                + (" [dry run]" if self.dry_run else ""))


def run_scenes(client: StashClient, journal: Journal, service: Any, options: SceneOptions,
               reporter: Reporter | None = None, cache: EmbeddingCache | None = None,
               ledger: Ledger | None = None) -> dict:
    """Run (or resume) identification over every scene; returns the summary."""
    from stash_sense.jobs.cache import engine_fingerprint
    from stash_sense.jobs.galleries import database_version

    run = Run(client, journal, service, options, reporter or Reporter(),
              cache or EmbeddingCache(engine_fingerprint(options.pack)), ledger or Ledger(),
              summary=SceneSummary(dry_run=options.dry_run))
    run.db_version = database_version(service)
    run.signature = options.signature(run.db_version)
    scenes = list(client.iter_scenes(per_page=500))
    run.summary.scenes = len(scenes)
    todo = open_run(run, scenes, f"scenes;force={options.force}", ledger_id)
    run.reporter.info(f"Stash Sense scenes: {len(todo)} of {len(scenes)} scenes to process"
                      + (f" (resuming run {run.bulk_run_id})" if run.summary.resumed else "")
                      + (" [dry run]" if options.dry_run else ""))
    for done, scene in enumerate(todo, 1):
        _one(run, scene)
        run.reporter.progress((run.summary.skipped + done) / max(run.summary.scenes, 1))
    return close_run(run)


def ledger_id(scene: dict) -> str:
    return f"scene:{scene['id']}"


def _one(run: Run, scene: dict) -> None:
    """Identify and write one scene; any failure is this scene's, logged, and the run goes on."""
    started = time.monotonic()
    try:
        line = _identify_and_write(run, scene)
    except Exception as exc:
        run.summary.errors += 1
        run.summary.failed_scenes.append(str(scene["id"]))
        run.reporter.error(f"Scene {scene['id']} ({scene.get('title') or ''}) skipped: {exc}")
        halt.item_failed(run, exc, "Stash Sense scenes")  # Stash gone or disk full: the whole run stops
        if not run.options.dry_run:
            run.ledger.mark(ledger_id(scene), run.signature, "failed", run.bulk_run_id, {"error": str(exc)})
        return
    halt.item_succeeded(run)
    run.summary.processed += 1
    run.reporter.info(f"{line} ({time.monotonic() - started:.2f}s)")


def _identify_and_write(run: Run, scene: dict) -> str:
    from stash_sense.library.scene_source import screenshot, video_source

    scene_id = str(scene["id"])
    source, headers = video_source(run.client, scene)
    frames = scene_frames(run.service, run.cache, scene, source, headers, run.options.frames,
                          screenshot(run.client, scene))
    run.summary.frames += len(frames.results)
    run.summary.inferred += frames.inferred
    run.summary.cached += frames.cached
    group = run.service.identify_analyzed(frames.results) if frames.results else {"persons": [], "faces": 0}
    run.summary.faces += int(group.get("faces") or 0)
    _add_time_ranges(group, frames)
    decision = decide(group, run.options.auto, run.options.review, run.journal.rejected("scene", scene_id))
    links = run.client.links("scene", [scene_id])[scene_id]
    added = _write_matches(run, scene_id, decision, links)
    review = _write_review(run, scene_id, decision, links)
    if not run.options.dry_run:
        run.ledger.mark(ledger_id(scene), run.signature, "done", run.bulk_run_id,
                        {"added": added, "review": review, "unknown": decision.unknown})
    title = scene.get("title") or f"scene {scene_id}"
    parts = [f"{len(frames.results)} frames, {int(group.get('faces') or 0)} faces",
             f"added {', '.join(added)}" if added else "nothing added"]
    if review:
        parts.append(f"for review: {', '.join(review)}")
    return f"Scene {scene_id} ({title}): " + "; ".join(parts)


def _add_time_ranges(group: dict, frames: SceneFrames) -> None:
    """Each person's time ranges (engine.scenes.time_ranges over the sampled times)."""
    from stash_sense.engine.scenes import time_ranges

    by_name = {f"{t:.3f}s": t for t in frames.times}
    duration = float(frames.video.get("duration") or 0.0)
    for person in group.get("persons") or []:
        seen = [by_name[i] for i in person.get("images") or [] if i in by_name]
        person["time_ranges"] = [[round(a, 3), round(b, 3)]
                                 for a, b in time_ranges(frames.times, seen, duration)]


def _write_matches(run: Run, scene_id: str, decision: Decision, links: dict) -> list[str]:
    """Add the confident performers to the scene (plus, if set, a marker at each first appearance)."""
    from stash_sense.library.markers import add_marker, first_appearance

    writeback = run.writeback
    performers, names = resolve_performers(run, decision, f"Scene {scene_id}")
    if not performers:
        return names
    ids = [p for _, p in performers]
    plan = writeback.add("scene", [scene_id], performer_ids=ids, tag_ids=[writeback.tag_id(run.options.identified_tag)])
    new = set(plan.get(scene_id, {}).get("performer", []))
    run.summary.added += len(new)
    for match, performer_id in performers:
        seconds = first_appearance(match.person.get("time_ranges"))
        if run.options.markers and performer_id in new and seconds is not None:
            run.summary.markers += int(add_marker(writeback, scene_id, name_of(match), seconds,
                                                  run.options.identified_tag) is not None)
    return names + [name_of(m) if p in new or p not in links["performer"] else f"{name_of(m)} (already on it)"
                    for m, p in performers]


def _write_review(run: Run, scene_id: str, decision: Decision, links: dict) -> list[str]:
    """Store the review-band matches (with their time ranges) and tag the scene for review."""
    resolver = run.writeback.resolver
    on_target = set(links["performer"])
    pending = [m for m in decision.review if not already_there(resolver, m, on_target)]
    if not pending:
        return []
    thresholds = {"auto": run.options.auto, "review": run.options.review}
    persons = []
    for index, match in enumerate(pending):
        person = suggestion(index, match, thresholds, resolver, on_target, None)
        person["time_ranges"] = match.person.get("time_ranges") or []
        person["image_ids"] = []
        person["frame_times"] = sorted(float(i[:-1]) for i in match.images if i != SCREENSHOT)
        persons.append(person)
    if not run.options.dry_run:
        run.journal.store_suggestions("scene", scene_id, persons, run.db_version)
    tag = run.writeback.tag_id(run.options.review_tag)
    if tag is None or tag not in links["tag"]:
        run.writeback.add("scene", [scene_id], tag_ids=[tag])
    run.summary.suggested += len(pending)
    return [f"{name_of(m)} ({m.confidence:.2f})" for m in pending]
