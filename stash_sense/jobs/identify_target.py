"""The identify operations: a gallery or one image -> persons with candidates (the UI contract).

Output per person: ``index, unknown, faces, image_ids, crop, candidates[]``; per candidate:
``universal_id, name, disambiguation, country, image_url, confidence, band, on_target,
local_performer_id, rejected``. Bands and ``unknown`` use the effective thresholds (settings
override the calibration). Non-rejected auto/review candidates are stored as suggestions.
"""

from __future__ import annotations

import logging
import time

from stash_sense.contracts import Candidate, IdentifyResult, Person, Thresholds
from stash_sense.engine.decide import band as decision_band
from stash_sense.jobs.adaptive import StopRule, identify_adaptively, spread_order
from stash_sense.library import images
from stash_sense.library.journal import Journal
from stash_sense.library.performers import PerformerResolver
from stash_sense.service import access as engine_access
from stash_sense.settings import Settings
from stash_sense.stash.client import StashClient
from stash_sense.stash.errors import StashNotFound

log = logging.getLogger(__name__)

MAX_CANDIDATES = 5


def load_target(client: StashClient, target_type: str, target_id: str, max_images: int) -> tuple[list[dict], set[str]]:
    """(images to analyse, performer ids already on the target)."""
    if target_type == "gallery":
        gallery = client.find_gallery(target_id)
        if gallery is None:
            raise StashNotFound(f"Stash has no gallery with id {target_id}")
        found = images.spread(list(client.gallery_images(target_id)), max_images)
        return found, {str(p["id"]) for p in gallery.get("performers") or []}
    if target_type == "image":
        image = client.find_image(target_id)
        if image is None:
            raise StashNotFound(f"Stash has no image with id {target_id}")
        return [image], {str(p["id"]) for p in image.get("performers") or []}
    raise ValueError(f"cannot identify a {target_type!r}: use gallery or image")


def identify_target(client: StashClient, settings: Settings, journal: Journal, target_type: str,
                    target_id: str, max_images: int | None = None) -> IdentifyResult:
    """Analyse the target's images, identify persons, describe them for the UI, store suggestions.

    The engine work goes to the warm worker process (models and databases stay loaded between
    clicks) or, when it cannot run, to an engine in this process.
    """
    started = time.monotonic()
    service = engine_access.service()  # first: no database -> clear error, no downloads
    picked, on_target = load_target(client, target_type, str(target_id), max_images or settings.max_images_per_gallery)
    log.info(f"Stash Sense: analysing {len(picked)} image(s) of {target_type} {target_id} ({service.mode})")
    group, sources, errors = _identify_images(client, service, settings, picked)
    thresholds = settings.thresholds(group["thresholds"])
    persons = describe_persons(group["persons"], thresholds, sources, PerformerResolver(client),
                               on_target, journal.rejected(target_type, str(target_id)))
    version = engine_access.database_info()
    keep_suggestions(journal, target_type, str(target_id), [suggestable(p) for p in persons if not p["unknown"]],
                     version["version"])
    log.info(f"Stash Sense: {len(persons)} person(s) in {target_type} {target_id} "
             f"({time.monotonic() - started:.1f}s)")
    return {"target": {"type": target_type, "id": str(target_id)}, "persons": persons, "thresholds": thresholds,
            "images": group["images"] + len(errors), "faces": group["faces"],
            "errors": errors + group["errors"], "database": version, "engine": engine_line(service)}


def engine_line(service) -> dict:
    """Where the engine ran and on which execution provider (the modal's footer shows it)."""
    try:
        info = service.info()
    except Exception:  # the answer is already complete: a footer detail never fails it
        return {"mode": service.mode, "provider": None}
    return {"mode": service.mode, "provider": info.get("provider")}


def _identify_images(client: StashClient, service, settings: Settings, picked: list[dict]
                     ) -> tuple[dict, dict, list[dict]]:
    """Adaptive sampling (``jobs.adaptive``): rounds of the spread-ordered images, read from Stash
    and analysed round by round, until the persons are decided. Returns (group, sources by image
    id, unreadable images)."""
    sources: dict[str, str | bytes] = {}
    errors: list[dict] = []
    analysed: list[dict] = []

    def analyse_round(batch: list[dict]) -> None:
        found, names, unreadable = images.collect_sources(client, batch)
        errors.extend(unreadable)
        sources.update(zip(names, found))
        if names:
            analysed.extend(service.analyze(list(zip(names, found))))

    def identify() -> dict:  # the stop rule reads the thresholds in force (settings override the calibration)
        group = service.identify_analyzed(analysed)
        return {**group, "thresholds": settings.thresholds(group["thresholds"])}

    if service.remote:  # the engine makes the face crops, and only ``identify`` still has the pixels
        found, names, unreadable = images.collect_sources(client, picked)
        group = service.identify(list(zip(names, found)))
        return group, dict(zip(names, found)), unreadable
    rule = StopRule(ceiling=len(picked))
    group, used = identify_adaptively(rule.cut(spread_order(picked)), rule, analyse_round, identify)
    log.info(f"Stash Sense: {used} of {len(picked)} image(s) analysed before the persons were decided")
    return group, sources, errors


def keep_suggestions(journal: Journal, target_type: str, target_id: str, persons: list, db_version: str | None) -> bool:
    """Store the click's suggestions for the review modal; on a full disk, say so and go on.

    The identification itself is done and already paid for: a disk too full to store the
    suggestions must not cost the user the answer (only the stored copy for later).
    """
    from stash_sense import paths
    from stash_sense.library.disk import disk_full_message, is_disk_full

    try:
        journal.store_suggestions(target_type, target_id, persons, db_version)
    except Exception as exc:
        if not is_disk_full(exc, paths.data_dir()):
            raise
        log.warning(f"Suggestions for {target_type} {target_id} not stored: {disk_full_message(paths.data_dir())}")
        return False
    return True


def describe_persons(persons: list, thresholds: Thresholds, sources: dict, resolver: PerformerResolver,
                     on_target: set[str], rejected: set[str]) -> list[Person]:
    """``persons``: engine ``Person`` objects or their ``to_dict()`` form (what the worker returns)."""
    out = []
    for index, person in enumerate(persons):
        entry = person if isinstance(person, dict) else person.to_dict()
        incidental = bool(entry.get("incidental"))
        candidates = [candidate_entry(c["id"], c.get("performer") or {}, c["confidence"], thresholds, resolver,
                                      on_target, c["id"] in rejected, incidental)
                      for c in ordered_candidates(entry)[:MAX_CANDIDATES]]
        best = entry["best_face"]
        out.append({
            "index": index,
            "unknown": not any(c["confidence"] >= thresholds["review"] and not c["rejected"] for c in candidates),
            "faces": entry["faces"],
            "incidental": incidental,
            "image_ids": entry["images"],
            "crop": best["crop"] if "crop" in best else images.face_crop(sources.get(best["image"]), best["box"]),
            "candidates": candidates,
        })
    return out


def ordered_candidates(person: dict) -> list[dict]:
    """The person's assigned performer first, then the other candidates by confidence."""
    first = [person["identified"]] if person.get("identified") else []
    ids = {c["id"] for c in first}
    rest = sorted((c for c in person.get("candidates") or [] if c["id"] not in ids),
                  key=lambda c: (-c["confidence"], c["id"]))
    return first + rest


def candidate_entry(universal_id: str, record: dict, confidence: float, thresholds: Thresholds,
                    resolver: PerformerResolver, on_target: set[str], rejected: bool, incidental: bool) -> Candidate:
    """One candidate as the UI shows it: the database's record joined with the local performer."""
    local = resolver.find_local(universal_id, record)
    local_id = str(local["id"]) if local else None
    confidence = round(float(confidence), 4)
    return {
        "universal_id": universal_id,
        "name": record.get("name") or universal_id,
        "disambiguation": record.get("disambiguation"),
        "country": record.get("country"),
        "image_url": record.get("image_url") or record.get("image") or (local or {}).get("image_path"),
        "confidence": confidence,
        "band": band(confidence, thresholds, incidental),
        "on_target": local_id is not None and local_id in on_target,
        "local_performer_id": local_id,
        "rejected": rejected,
        "stash_ids": record.get("stash_ids") or [],
    }


def band(confidence: float, thresholds: Thresholds, incidental: bool = False) -> str:
    """``engine.calibration.band`` with the effective thresholds (settings override the calibration)."""
    return decision_band(confidence, thresholds["auto"], thresholds["review"], incidental)


def suggestable(person: Person) -> Person:
    """A person as stored: only the candidates worth proposing again (reviewable, not rejected)."""
    keep = [c for c in person["candidates"] if c["band"] != "low" and not c["rejected"]]
    return {**person, "candidates": keep}

