"""The engine work itself, shared by the worker process and the in-process fallback.

Both services run every request through ``Backend`` and return ``to_plain`` JSON values, so the
worker and the fallback cannot drift apart in what they compute or how results look.
"""

from __future__ import annotations

import logging
import os
import time

from stash_sense.contracts import Progress
from stash_sense.engine.identify import Identifier
from stash_sense.engine.pipeline import Engine
from stash_sense.engine.scenes import analyze_frames
from stash_sense.service.codec import image_from_dict, image_to_dict
from stash_sense.service.databases import open_databases
from stash_sense.service.versions import database_fingerprint
from stash_sense.service.wire import to_plain

log = logging.getLogger(__name__)


class Backend:
    """A loaded engine plus the databases on disk, reloaded (models kept) when those change.

    Databases are loaded on first use, not in the constructor: a database that does not load
    fails each request with its reason, and one fixed on disk is picked up without a restart.
    """

    def __init__(self, pack: str, threads: int = 2, *, identifier: Identifier | None = None) -> None:
        """``identifier``: one the caller already loaded (CLI, benchmarks, tests); its databases are
        used as given, never reloaded from disk, and closing the backend leaves them to the caller."""
        self.engine = identifier.engine if identifier is not None else Engine(pack, threads=threads)
        self.identifier = identifier
        self._fingerprint: list | None = None
        self._owned = identifier is None

    def refresh(self) -> Identifier:
        """Reload the databases when the installed or enrolled ones differ from the loaded ones."""
        if not self._owned and self.identifier is not None:
            return self.identifier
        fingerprint = database_fingerprint()
        if self.identifier is None or fingerprint != self._fingerprint:
            self._release()  # let the old (possibly 1 GB) databases go before loading new ones
            self.identifier = Identifier(self.engine, open_databases(self.engine.pack))
            self._fingerprint = fingerprint
        return self.identifier

    def identify(self, items: list[tuple[str, bytes | str]], progress: Progress | None = None) -> dict:
        identifier = self.refresh()
        names = [name for name, _ in items]
        result = identifier.identify([source for _, source in items], names=names, progress=progress)
        return to_plain(result.to_dict())

    def analyze(self, items: list[tuple[str, bytes | str]], progress: Progress | None = None,
                scene: bool = False) -> list[dict]:
        sources, names = [s for _, s in items], [n for n, _ in items]
        results = analyze_frames(self.engine, sources, names, progress) if scene else \
            self.engine.analyze(sources, names=names, progress=progress)
        return to_plain([image_to_dict(r) for r in results])

    def identify_analyzed(self, analyzed: list[dict]) -> dict:
        identifier = self.refresh()
        return to_plain(identifier.identify_results([image_from_dict(a) for a in analyzed]).to_dict())

    def info(self) -> dict:
        identifier = self.refresh()
        return to_plain({"pid": os.getpid(), "pack": self.engine.pack.name, "threads": self.engine.threads,
                         "provider": getattr(self.engine, "provider", None),
                         "databases": [{"path": str(db.path), "version": db.version}
                                       for db in identifier.databases]})

    def _release(self) -> None:
        if self.identifier is not None:
            for db in self.identifier.databases:
                db.close()
        self.identifier = None

    def close(self) -> None:
        if self._owned:
            self._release()
            self.engine.close()


def warm_backend(pack: str, threads: int) -> Backend:
    """The engine loaded for a serving process (local worker or remote engine), databases included.

    A database that does not load is logged and the process serves anyway: each request then
    reports the reason, and a database fixed on disk is picked up without a restart."""
    started = time.monotonic()
    backend = Backend(pack, threads)
    try:
        backend.refresh()
    except Exception:
        log.exception("databases could not be loaded")
    log.info("engine and databases loaded in %.1fs", time.monotonic() - started)
    return backend
