"""The engine: images -> detected faces -> aligned crops -> embeddings, for a whole batch.

Decoding, detection and alignment of different images run in a thread pool (OpenCV, Pillow
and onnxruntime release the GIL); the aligned faces of a chunk of images are then embedded in
one equal share per worker, while the next chunk's decoding and detection queue behind them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np

from stash_sense.engine import onnx_session
from stash_sense.engine.detector import DetectedFace, FaceDetector, UnusableImageError, crop_sharpness
from stash_sense.engine.embedder import Embedder, l2_normalise
from stash_sense.engine.imageio import DEFAULT_MAX_SIDE, ImageDecodeError, load_rgb
from stash_sense.engine.packs import Pack, load_pack, resolve_model
from stash_sense.engine.recipe import Recipe, align_face

ImageSource = str | Path | bytes | np.ndarray
CHUNK_IMAGES = 64  # images in flight at once: bounds memory on huge galleries


@dataclass
class Face:
    """A detected face and, when it passed the quality gates, its embeddings per embedder."""

    detection: DetectedFace
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)
    crop: np.ndarray | None = None  # aligned RGB crop (kept for UI thumbnails / clustering)

    @property
    def usable(self) -> bool:
        return self.detection.skipped is None

    def to_dict(self) -> dict:
        return self.detection.to_dict()


@dataclass
class ImageResult:
    source: str
    faces: list[Face] = field(default_factory=list)
    error: str | None = None
    size: tuple[int, int] | None = None  # width, height as analysed

    @property
    def usable_faces(self) -> list[Face]:
        return [f for f in self.faces if f.usable]

    def primary_face(self) -> Face | None:
        """The subject of a single-person photo: the usable face nearest the centre, larger first.

        Used for enrollment and verification, where a bystander must not stand in for the subject.
        """
        if not self.usable_faces or not self.size:
            return None
        centre = np.array(self.size, np.float32) / 2

        def off_centre(face: Face) -> float:
            box = face.detection.bbox
            middle = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
            return float(np.linalg.norm(middle - centre)) / max(face.detection.size, 1.0)

        return min(self.usable_faces, key=off_centre)

    def to_dict(self) -> dict:
        return {"image": self.source, "error": self.error,
                "size": list(self.size) if self.size else None,
                "faces": [f.to_dict() for f in self.faces]}


class Engine:
    """A loaded model pack. Create once per process; ``analyze`` is safe to call repeatedly."""

    def __init__(self, pack: Pack | str, threads: int = 2, det_size: int | None = None,
                 threshold: float | None = None, min_face_size: int | None = None,
                 max_side: int = DEFAULT_MAX_SIDE, alignment: str | None = None,
                 keep_crops: bool = False, second_passes: bool = True) -> None:
        self.pack = load_pack(pack) if isinstance(pack, str) else pack
        self.threads = max(1, int(threads))
        self.max_side = max_side
        self.keep_crops = keep_crops
        det = self.pack.detector
        # Parallelism comes from the pool; one intra-op thread per session avoids oversubscription.
        self.detector = FaceDetector(resolve_model(det.model), det_size=det_size or det.det_size,
                                     threshold=det.threshold if threshold is None else threshold,
                                     min_face_size=det.min_face_size if min_face_size is None else min_face_size,
                                     threads=1, feed_rgb_as_bgr=det.feed_rgb_as_bgr,
                                     second_passes=second_passes)
        self.embedders = {
            spec.name: Embedder(spec.name, resolve_model(spec.model),
                                _with_alignment(spec.recipe, alignment), threads=1)
            for spec in self.pack.embedders}
        self.provider = onnx_session.last_choice.to_dict()  # device asked for, provider used, why not
        self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="stash-sense")
        # Mirror on demand (stash_sense.engine.mirror): unmirrored embeddings -> which faces still
        # need their mirror pass. None: every face is flip-averaged (enrollment always is).
        self.mirror_gate: Callable[[dict[str, np.ndarray]], np.ndarray] | None = None

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def analyze(self, sources: Iterable[ImageSource], names: Iterable[str] | None = None,
                progress: Callable[[int], None] | None = None) -> list[ImageResult]:
        """Analyse images in order; a bad image yields an ``error`` result, never an exception."""
        return list(self.analyze_iter(sources, names, progress))

    def analyze_iter(self, sources: Iterable[ImageSource], names: Iterable[str] | None = None,
                     progress: Callable[[int], None] | None = None,
                     search_faceless: bool = True) -> Iterator[ImageResult]:
        """Streaming form of ``analyze`` for long jobs: results come out in input order.

        ``search_faceless=False`` skips the detector's second passes on images where the first
        pass finds no face (``FaceDetector.detect``; scenes decide per frame, see ``engine.scenes``).
        """
        labelled = zip(sources, names) if names is not None else ((s, _label(s)) for s in sources)
        detect = functools.partial(self._detect_one, search_faceless=search_faceless)
        done = 0
        detecting = self._submit_detection(labelled, detect)
        while detecting:
            results = [future.result() for future in detecting]
            # The next chunk's decoding and detection is queued behind this chunk's embedding, so
            # a worker that finishes its share of the embedding early picks it up instead of idling.
            queued: list[list[Future]] = []
            self._embed_results(results, then=functools.partial(self._queue_detection, labelled, queued, detect))
            detecting = queued[0] if queued else self._submit_detection(labelled, detect)
            for result in results:
                done += 1
                if progress:
                    progress(done)
                yield result

    def _queue_detection(self, labelled: Iterator, queued: list[list[Future]], detect: Callable) -> None:
        queued.append(self._submit_detection(labelled, detect))

    def _submit_detection(self, labelled: Iterator, detect: Callable) -> list[Future]:
        chunk = list(islice(labelled, CHUNK_IMAGES))
        return [self._pool.submit(detect, *item) for item in chunk]

    def embed_crops(self, crops: list[np.ndarray], then: Callable[[], object] | None = None
                    ) -> dict[str, np.ndarray]:
        """Embeddings of aligned crops by every embedder of the pack, split evenly over the pool.

        ``then`` runs once the first embedding work is queued (the next chunk's detection). With a
        ``mirror_gate`` (mirror on demand, ``engine.mirror``) and flip-averaging recipes, the crops
        are embedded unmirrored first and only the faces the gate names get their mirror pass.
        """
        flips = {name for name, e in self.embedders.items() if e.recipe.flip_average}
        gated = self.mirror_gate is not None and bool(flips) and len(crops) > 0
        views = {name: self._forward_split(e, crops, mirrored=False) if gated else self._embed_split(e, crops)
                 for name, e in self.embedders.items()}
        if then:
            then()
        raw = {name: _gather(parts, self.embedders[name].dim) for name, parts in views.items()}
        if not gated:
            return raw
        assert self.mirror_gate is not None
        need = np.flatnonzero(self.mirror_gate({name: l2_normalise(r) for name, r in raw.items()}))
        if len(need):
            chosen = [crops[i] for i in need]
            mirrors = {name: self._forward_split(self.embedders[name], chosen, mirrored=True) for name in flips}
            for name, parts in mirrors.items():
                raw[name][need] = (raw[name][need] + _gather(parts, self.embedders[name].dim)) / 2.0
        return {name: l2_normalise(r) for name, r in raw.items()}

    def _embed_split(self, embedder: Embedder, crops: list[np.ndarray]) -> list[Future]:
        return [self._pool.submit(embedder.embed, part) for part in self._even_parts(crops)]

    def _forward_split(self, embedder: Embedder, crops: list[np.ndarray], mirrored: bool) -> list[Future]:
        return [self._pool.submit(embedder.forward_views, part, mirrored) for part in self._even_parts(crops)]

    def _even_parts(self, crops: list[np.ndarray]) -> list[list[np.ndarray]]:
        """One equal share per worker (44 faces on 2 workers: 22 and 22, not 32 and 12); each
        share is still run in model batches of at most ``batch_size`` (memory stays bounded)."""
        share = -(-len(crops) // self.threads) if crops else 0
        return [crops[i:i + share] for i in range(0, len(crops), share)] if share else []

    def _detect_one(self, source: ImageSource, name: str, search_faceless: bool = True) -> ImageResult:
        result = ImageResult(source=name)
        try:
            rgb = source if isinstance(source, np.ndarray) else load_rgb(source, self.max_side)
        except ImageDecodeError as exc:
            result.error = str(exc)
            return result
        result.size = (int(rgb.shape[1]), int(rgb.shape[0]))
        try:
            detections = self.detector.detect(rgb, search_faceless)
        except UnusableImageError as exc:
            result.error = str(exc)
            return result
        recipe = next(iter(self.embedders.values())).recipe
        for detection in detections:
            face = Face(detection=detection)
            if face.usable:
                face.crop = align_face(rgb, detection.landmarks, detection.bbox, recipe)
                detection.sharpness = crop_sharpness(face.crop)
            result.faces.append(face)
        return result

    def _embed_results(self, results: list[ImageResult], then: Callable[[], object] | None = None) -> None:
        faces = [f for r in results for f in r.faces if f.crop is not None]
        embeddings = self.embed_crops([f.crop for f in faces if f.crop is not None], then)
        for i, face in enumerate(faces):
            face.embeddings = {name: vectors[i] for name, vectors in embeddings.items()}
            if not self.keep_crops:
                face.crop = None


def _gather(parts: list[Future], dim: int) -> np.ndarray:
    arrays = [part.result() for part in parts]
    return np.concatenate(arrays).astype(np.float32) if arrays else np.zeros((0, dim), np.float32)


def _with_alignment(recipe: Recipe, alignment: str | None) -> Recipe:
    """Override alignment (ablation only: measures what dropping alignment costs)."""
    if alignment is None or alignment == recipe.alignment:
        return recipe
    return Recipe(**{**recipe.to_dict(), "alignment": alignment})


def _label(source: ImageSource) -> str:
    if isinstance(source, (str, Path)):
        return str(source)
    return f"<{type(source).__name__}>"
