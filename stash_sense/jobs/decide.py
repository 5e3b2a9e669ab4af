"""From the persons found in a gallery to what the bulk task does about each of them.

confidence >= auto -> add the performer (unless the person is a one-image bystander);
review <= confidence < auto -> store the suggestion and
tag the gallery for review; below -> nothing. A performer the user rejected for this gallery is
never proposed again: the person falls back to its next candidate. Each performer goes to at most
one person of the gallery, most confident person first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stash_sense.engine.decide import band
from stash_sense.jobs.identify_target import ordered_candidates


@dataclass
class Match:
    """One person's chosen candidate."""

    universal_id: str
    confidence: float
    record: dict  # the database's performer record (name, stash_ids, ...)
    images: list[str]  # image ids the person is in
    person: dict  # the person as identification reported it
    candidates: list[dict] = field(default_factory=list)  # reviewable candidates, best first


@dataclass
class Decision:
    add: list[Match] = field(default_factory=list)
    review: list[Match] = field(default_factory=list)
    unknown: int = 0  # persons with no candidate at or above the review threshold


def decide(group: dict, auto: float, review: float, rejected: set[str]) -> Decision:
    """Split a ``GroupResult.to_dict()`` into matches to add and matches to review."""
    decision = Decision()
    taken: set[str] = set()
    for person in sorted(group.get("persons") or [], key=_best_confidence, reverse=True):
        options = [c for c in ordered_candidates(person) if c["id"] not in rejected and c["id"] not in taken
                   and c["confidence"] >= review]
        if not options:
            decision.unknown += 1
            continue
        best = options[0]
        taken.add(best["id"])
        match = Match(best["id"], float(best["confidence"]), best.get("performer") or {},
                      [str(i) for i in person.get("images") or []], person, options)
        auto_ok = band(best["confidence"], auto, review, bool(person.get("incidental"))) == "auto"
        (decision.add if auto_ok else decision.review).append(match)
    return decision


def _best_confidence(person: dict) -> float:
    return max((c["confidence"] for c in ordered_candidates(person)), default=0.0)
