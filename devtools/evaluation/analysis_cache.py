"""Analysed images of `eval`/`calibrate`, cached by file content + engine fingerprint.

Detection and embedding are most of an evaluation's time (minutes on the hard set), while the
person and decision logic (clustering, scoring, calibration) is what changes from one experiment
to the next. With the analyses cached, re-evaluating that logic takes seconds.

The key is the image's bytes (SHA-256) and the engine's fingerprint: the pack's signature (models,
recipes), the detector's settings, the engine's analysis options and the source of the modules
that turn pixels into faces. Change any of those and the entries are simply not found. The cache
is a developer tool (git-ignored ``bench/cache/analysis``); pickle is fine for it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import pickle
import sqlite3
from pathlib import Path

from stash_sense.engine import detector, embedder, imageio, pipeline, recipe
from stash_sense.engine.pipeline import Engine, ImageResult

log = logging.getLogger(__name__)
CACHE_DIR = Path(__file__).resolve().parents[2] / "bench" / "cache" / "analysis"
FORMAT = 1  # bump when what is stored changes
_ANALYSIS_MODULES = (detector, embedder, imageio, pipeline, recipe)


def engine_fingerprint(engine: Engine) -> str:
    """What produced an analysis: pack signature, detector settings, options, analysis code."""
    found = engine.detector
    facts = {"format": FORMAT, "signature": engine.pack.signature(),
             "detector": [found.det_size, found.threshold, found.min_face_size, found.feed_rgb_as_bgr,
                          found.second_passes],
             "max_side": engine.max_side,
             "recipes": {name: e.recipe.fingerprint() for name, e in engine.embedders.items()},
             "code": [hashlib.sha256(Path(m.__file__ or "").read_bytes()).hexdigest() for m in _ANALYSIS_MODULES]}
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def analyze_cached(engine: Engine, images: list[Path], cache_dir: Path | None = CACHE_DIR) -> list[ImageResult]:
    """``engine.analyze(images)`` with results reused from earlier runs of the same engine.

    ``cache_dir`` None analyses everything (no cache). A mirror gate makes results depend on the
    database, so with one set nothing is cached either.
    """
    if cache_dir is None or engine.mirror_gate is not None:
        return engine.analyze(images, names=[str(p) for p in images])
    cache_dir.mkdir(parents=True, exist_ok=True)
    keys = [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in images]
    with sqlite3.connect(cache_dir / f"{engine_fingerprint(engine)}.sqlite") as db:
        db.execute("CREATE TABLE IF NOT EXISTS analysed (key TEXT PRIMARY KEY, result BLOB NOT NULL)")
        stored = _read(db, set(keys))
        missing = [i for i, key in enumerate(keys) if key not in stored]
        log.debug("analysis cache: %d of %d images cached", len(images) - len(missing), len(images))
        fresh = engine.analyze([images[i] for i in missing], names=[str(images[i]) for i in missing]) if missing else []
        for i, result in zip(missing, fresh):
            stored[keys[i]] = result
            db.execute("INSERT OR REPLACE INTO analysed VALUES (?, ?)", (keys[i], pickle.dumps(result)))
    return [_named(stored[key], str(path)) for key, path in zip(keys, images)]


def _read(db: sqlite3.Connection, keys: set[str]) -> dict[str, ImageResult]:
    wanted, found = sorted(keys), {}
    for start in range(0, len(wanted), 500):  # SQLite's limit on bound parameters
        chunk = wanted[start:start + 500]
        rows = db.execute(f"SELECT key, result FROM analysed WHERE key IN ({','.join('?' * len(chunk))})", chunk)
        found.update({key: pickle.loads(blob) for key, blob in rows})
    return found


def _named(result: ImageResult, source: str) -> ImageResult:
    """The cached result under this path (the same bytes may live under several names)."""
    return ImageResult(source=source, faces=[copy.copy(f) for f in result.faces], error=result.error, size=result.size)


class CachedEngine:
    """The engine, with ``analyze`` of image files going through the cache (enrollment in
    ``build_database`` analyses too); everything else is the engine's."""

    def __init__(self, engine: Engine, cache_dir: Path | None = CACHE_DIR) -> None:
        self.engine = engine
        self.cache_dir = cache_dir

    def __getattr__(self, name: str):
        return getattr(self.engine, name)

    def analyze(self, sources, names=None, progress=None) -> list[ImageResult]:
        sources = list(sources)
        if not all(isinstance(s, (str, Path)) for s in sources):
            return self.engine.analyze(sources, names, progress)
        results = analyze_cached(self.engine, [Path(s) for s in sources], self.cache_dir)
        return [_named(r, str(n)) for r, n in zip(results, names)] if names is not None else results
