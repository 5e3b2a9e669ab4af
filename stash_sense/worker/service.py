"""The interface plugin code programs against (standard library only, cheap to import)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from stash_sense.worker.items import Item

Progress = Callable[[int], None]  # called with the number of images analysed so far
# Same words as stash_sense.engine.index_file.DAMAGED (a test checks); not imported from there
# because importing the engine costs seconds on every invocation.
DAMAGED_DATABASE = "the face database is damaged: run Verify / download again"


class ServiceError(RuntimeError):
    """A request the engine could not carry out (e.g. a database that does not fit the pack).

    Raised the same way by both services; per-image problems are reported in results instead.
    """


class Service(ABC):
    """Identification for groups of images; results are plain JSON values."""

    mode: str = "?"  # "worker" or "in-process": which one actually runs the engine

    @abstractmethod
    def identify(self, items: list[Item], progress: Progress | None = None) -> dict:
        """``GroupResult.to_dict()`` for images given as (name, bytes or path); names label results."""

    @abstractmethod
    def analyze(self, items: list[Item], progress: Progress | None = None) -> list[dict]:
        """Per image: faces with unrounded detections and base64 float32 embeddings (cacheable)."""

    @abstractmethod
    def identify_analyzed(self, analyzed: list[dict]) -> dict:
        """``identify`` from ``analyze`` output (e.g. restored from a cache): no inference."""

    @abstractmethod
    def info(self) -> dict:
        """pid, pack, threads and loaded databases of whoever runs the engine."""

    @abstractmethod
    def close(self) -> None:
        """Release this service (a worker keeps running for the next invocation)."""

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def error_message(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
