"""The two engine calls the bulk job needs, over an ``Identifier`` already loaded in this process.

Same inputs and outputs as the worker ``Service`` (``analyze`` -> codec JSON per image,
``identify_analyzed`` -> ``GroupResult.to_dict()``), for callers that hold an engine anyway: the
CLI, the benchmark and the tests (which count the real ONNX runs of that engine).
"""

from __future__ import annotations

from typing import Any

from stash_sense.engine.identify import Identifier
from stash_sense.service.codec import image_from_dict, image_to_dict
from stash_sense.service.wire import to_plain


class IdentifierService:
    mode = "local"

    def __init__(self, identifier: Identifier):
        self.identifier = identifier

    def analyze(self, items: list[tuple[str, Any]], progress: Any = None) -> list[dict]:
        results = self.identifier.engine.analyze([s for _, s in items], names=[n for n, _ in items],
                                                 progress=progress)
        return to_plain([image_to_dict(r) for r in results])

    def identify_analyzed(self, analyzed: list[dict]) -> dict:
        result = self.identifier.identify_results([image_from_dict(a) for a in analyzed])
        return to_plain(result.to_dict())

    def info(self) -> dict:
        return {"pack": self.identifier.engine.pack.name, "threads": self.identifier.engine.threads,
                "databases": [{"path": str(db.path), "version": db.version} for db in self.identifier.databases]}

    def close(self) -> None:
        """The identifier belongs to the caller."""
