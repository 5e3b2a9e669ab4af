"""Review-band matches stored as suggestions, in the shape the gallery modal reads back.

The shape is the identify operation's (``stash_sense.jobs.identify_target``): per person ``index,
unknown, faces, image_ids, crop, candidates``; per candidate ``universal_id, name,
disambiguation, country, image_url, confidence, band, on_target, local_performer_id, rejected,
stash_ids``. The modal's ``suggestions`` operation refreshes the Stash-side fields when shown.
"""

from __future__ import annotations

from stash_sense.contracts import Person, Thresholds
from stash_sense.jobs.decide import Match
from stash_sense.jobs.identify_target import candidate_entry
from stash_sense.library.images import face_crop
from stash_sense.library.performers import PerformerResolver


def suggestion(index: int, match: Match, thresholds: Thresholds, resolver: PerformerResolver,
               on_target: set[str], source: str | bytes | None) -> Person:
    best = match.person.get("best_face") or {}
    return {
        "index": index,
        "unknown": False,
        "faces": int(match.person.get("faces") or 0),
        "image_ids": match.images,
        "crop": face_crop(source, best.get("box")) if source is not None else None,
        "incidental": bool(match.person.get("incidental")),
        "candidates": [candidate_entry(c["id"], c.get("performer") or {}, c["confidence"], thresholds, resolver,
                                       on_target, False, bool(match.person.get("incidental")))
                       for c in match.candidates],
    }
