"""The engine's one-call entry for a group of images (a gallery, a scene's frames, one image).

Everything above the engine (plugin operation, bulk task, warm worker, scenes) goes through
``Identifier`` so that analysis, clustering, matching and calibrated decisions happen one way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from stash_sense.engine.calibration import Calibration, load_calibration
from stash_sense.engine.database import FaceDatabase
from stash_sense.engine.matching import Matcher
from stash_sense.engine.mirror import DEFAULT_BAND, MirrorGate
from stash_sense.engine.persons import Person, auto_applies, identify_persons, query_faces
from stash_sense.engine.pipeline import Engine, ImageResult, ImageSource


@dataclass
class GroupResult:
    """Persons found in one group of images, with the analysis they came from."""

    persons: list[Person]
    images: list[ImageResult]
    calibration: Calibration

    @property
    def errors(self) -> list[dict]:
        return [{"image": r.source, "error": r.error} for r in self.images if r.error]

    @property
    def identified(self) -> list[Person]:
        """Persons whose assigned performer is applied without review."""
        return [p for p in self.persons if auto_applies(p, self.calibration)]

    def to_dict(self) -> dict:
        persons = []
        for person in self.persons:
            entry = person.to_dict()
            for candidate in [entry["identified"], *entry["candidates"]]:
                if candidate:
                    candidate["band"] = self.calibration.band(candidate["confidence"], person.incidental)
            persons.append(entry)
        return {"persons": persons, "images": len(self.images),
                "faces": sum(len(r.usable_faces) for r in self.images), "errors": self.errors,
                "thresholds": {"auto": self.calibration.auto_threshold,
                               "review": self.calibration.review_threshold}}


class Identifier:
    """An engine, the databases it matches against, and the pack's calibration, loaded once."""

    def __init__(self, engine: Engine, databases: list[FaceDatabase], calibration: Calibration | None = None):
        self.engine = engine
        self.databases = databases
        self.matcher = Matcher(databases, engine.pack)
        self.calibration = calibration or load_calibration(engine.pack)

    def use_mirror_on_demand(self, band: float = DEFAULT_BAND) -> MirrorGate:
        """From now on the engine embeds a face's mirror only where it can change a decision
        against these databases (``stash_sense.engine.mirror``); returns the gate (its counts)."""
        gate = MirrorGate(self.matcher, self.calibration, band)
        self.engine.mirror_gate = gate
        return gate

    def identify(self, sources: Iterable[ImageSource], names: Iterable[str] | None = None,
                 progress: Callable[[int], None] | None = None) -> GroupResult:
        """Analyse the images and identify the persons in them."""
        results = list(self.engine.analyze_iter(sources, names=names, progress=progress))
        return self.identify_results(results)

    def identify_results(self, results: list[ImageResult]) -> GroupResult:
        """Identify persons from already analysed images (e.g. faces restored from a cache)."""
        faces = query_faces(results, self.matcher)
        return GroupResult(identify_persons(faces, self.matcher, self.calibration), results, self.calibration)
