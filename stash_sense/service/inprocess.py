"""The engine loaded in the calling process.

The fallback when the worker cannot run (no AF_UNIX, unusable data folder, spawn failure), and
the reference the worker must match: both go through ``Backend`` with items normalised the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stash_sense.contracts import Progress, Service, ServiceError
from stash_sense.service.backend import Backend
from stash_sense.service.errors import error_message
from stash_sense.service.items import Item, join_items, split_items

if TYPE_CHECKING:
    from stash_sense.engine.identify import Identifier


class InProcessService(Service):
    """Cold: pays the full model and database load in every process that creates one."""

    mode = "in-process"

    def __init__(self, pack: str, threads: int = 2, *, identifier: Identifier | None = None) -> None:
        """``identifier``: run over one the caller holds (CLI, benchmarks, tests that count runs)."""
        self.backend = _guard(lambda: Backend(pack, threads, identifier=identifier))

    def identify(self, items: list[Item], progress: Progress | None = None) -> dict:
        return _guard(lambda: self.backend.identify(_as_sent(items), progress))

    def analyze(self, items: list[Item], progress: Progress | None = None, scene: bool = False) -> list[dict]:
        return _guard(lambda: self.backend.analyze(_as_sent(items), progress, scene))

    def identify_analyzed(self, analyzed: list[dict]) -> dict:
        return _guard(lambda: self.backend.identify_analyzed(analyzed))

    def info(self) -> dict:
        return {**_guard(self.backend.info), "mode": self.mode}

    def close(self) -> None:
        self.backend.close()


def _as_sent(items: list[Item]) -> list[tuple[str, bytes | str]]:
    """Items exactly as the worker would receive them (absolute paths, bytes)."""
    return join_items(*split_items(items))


def _guard(call):
    """Engine failures as ``ServiceError`` with the message the worker would relay."""
    try:
        return call()
    except ServiceError:
        raise
    except Exception as exc:
        raise ServiceError(error_message(exc)) from exc
