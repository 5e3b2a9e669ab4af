"""What crosses layers, typed in one place: the engine service the jobs and the plugin call, and
the shapes of what identification returns to the UI and stores as suggestions.

Standard library only (the plugin's light paths import it). The engine's own dataclasses
(``engine.pipeline.ImageResult``, ``engine.identify.GroupResult``) travel as their ``to_dict()``
JSON form; these types name that form.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

Item = tuple[str, bytes | str | Path]  # (name, image bytes or a path to the image file)
Progress = Callable[[int], None]  # called with the number of images analysed so far
# Same words as stash_sense.engine.index_file.DAMAGED (a test checks); not imported from there
# because the plugin's light paths must not import the engine package.
DAMAGED_DATABASE = "the face database is damaged: run Verify / download again"


class Thresholds(TypedDict):
    """Effective confidence thresholds (settings override the pack's calibration)."""

    auto: float
    review: float


class Candidate(TypedDict):
    """One candidate performer of a person, as the UI shows it (``jobs.identify.candidate_entry``)."""

    universal_id: str
    name: str
    disambiguation: str | None
    country: str | None
    image_url: str | None
    confidence: float
    band: str  # "auto" | "review" | "low" (engine.decide.band)
    on_target: bool  # the local performer is already on the gallery/image/scene
    local_performer_id: str | None
    rejected: bool
    stash_ids: list[dict]


class Person(TypedDict, total=False):
    """One person found in a target, as the UI shows it and as suggestions are stored."""

    index: int
    unknown: bool
    faces: int
    incidental: bool  # a bystander: never auto-tagged
    image_ids: list[str]
    crop: str | None  # data URL of the best face
    candidates: list[Candidate]
    time_ranges: list[list[float]]  # scenes only
    frame_times: list[float]  # scenes only


class IdentifyResult(TypedDict):
    """The identify operation's answer (gallery or image click)."""

    target: dict[str, str]
    persons: list[Person]
    thresholds: Thresholds
    images: int
    faces: int
    errors: list[dict]
    database: dict
    engine: dict  # {"mode", "provider": {"device", "provider", "reason"}}: where the engine ran, on what


class ServiceError(RuntimeError):
    """A request the engine could not carry out (e.g. a database that does not fit the pack).

    Raised the same way by every service; per-image problems are reported in results instead.
    """


class EngineUnreachable(ServiceError):
    """The remote engine cannot be reached or refuses this plugin (which URL, what failed).

    A bulk run stops on it (resumably) instead of marking every remaining item failed.
    """


class Service(ABC):
    """The engine as a service: identification for groups of images; results are plain JSON values.

    Implemented by the warm worker's client, the engine in this process, and a lazy wrapper that
    starts either on first use (``stash_sense.service``).
    """

    mode: str = "?"  # "worker", "in-process", "remote" or "local": which one actually runs the engine
    remote: bool = False  # the engine runs elsewhere: it sees no local file, pixels travel as bytes

    @abstractmethod
    def identify(self, items: list[Item], progress: Progress | None = None) -> dict:
        """``GroupResult.to_dict()`` for images given as (name, bytes or path); names label results."""

    @abstractmethod
    def analyze(self, items: list[Item], progress: Progress | None = None, scene: bool = False) -> list[dict]:
        """Per image: faces with unrounded detections and base64 float32 embeddings (cacheable).

        ``scene``: the items are a scene's frames (``engine.scenes.analyze_frames``: the detector's
        second passes only where a probe of the faceless frames finds faces)."""

    @abstractmethod
    def identify_analyzed(self, analyzed: list[dict]) -> dict:
        """``identify`` from ``analyze`` output (e.g. restored from a cache): no inference."""

    @abstractmethod
    def info(self) -> dict:
        """pid, pack, threads and loaded databases of whoever runs the engine."""

    @abstractmethod
    def close(self) -> None:
        """Release this service (a worker keeps running for the next invocation)."""

    def database_version(self) -> str:
        """Version(s) of the databases matched against ("" when none is loaded)."""
        return " + ".join(str(db.get("version")) for db in self.info().get("databases") or [])

    def pack_description(self) -> dict | None:
        """The engine's pack signature and detector settings (keys the embedding cache), when the
        engine is remote; None: read the pack on this machine."""
        return None

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
