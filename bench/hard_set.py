"""A deterministic set of hard photos (issue 17): clean enrollment, degraded queries and distractors.

Built from the LFW splits of bench/lfw_splits.py, so the identities of ``eval_*`` (people with
>= 4 images) never meet those of ``calib_*`` (2-3 images, singles at odd positions):

- ``hard/eval_ids/<person>/``: the first ``EVAL_ENROLL`` images as they are (``0enroll__*``, enrolled
  by ``eval --enroll 2``), then up to ``EVAL_QUERIES`` degraded copies ``<kind>__*.jpg``;
- ``hard/eval_distractors/``: every second eval distractor, degraded;
- ``hard/calib_ids`` / ``hard/calib_distractors``: the same for the calibration split (enroll 1);
- ``hard/adapter_pairs/<person>__<photo>/``: every photo of the calibration split as ``clean.jpg``
  and ``ADAPTER_COPIES`` degraded copies of it, each of another kind (`python -m devtools adapt`).

Every person's queries share one degradation kind (person index modulo the kinds), so a gallery of
that person is a gallery of that kind and ``eval --by-kind`` reports gallery recall per kind.
Degradations are seeded from the file name: the set is the same on every machine.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from bench import lfw_splits
from bench.common import QUICK_RESULTS
from stash_sense.engine.detector import rotate_expanded

OUT = QUICK_RESULTS / "hard"
EVAL_ENROLL, EVAL_QUERIES = 2, 6
ADAPTER_COPIES = 3
CALIB_ENROLL = 1
KIND_SEPARATOR = "__"  # <kind>__<original name>: what `eval --by-kind` reads back
VERSION = "1"  # bump when a degradation changes: the cache is rebuilt


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    assert ok
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def _resize(image: np.ndarray, scale: float) -> np.ndarray:
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def small_in_large(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The person far away in a big frame: face ~22-40 px in a 1280x720 or 1920x1080 photo."""
    small = _resize(image, rng.uniform(0.20, 0.36))  # LFW faces are ~110 px of a 250 px image
    width, height = (1920, 1080) if rng.random() < 0.5 else (1280, 720)
    gradient = np.linspace(rng.uniform(40, 120), rng.uniform(120, 220), width)[None, :, None]
    tint = rng.uniform(0.7, 1.1, size=3)[None, None, :]
    frame = np.broadcast_to(gradient * tint, (height, width, 3)).astype(np.float32)
    frame = cv2.GaussianBlur(frame + rng.normal(0, 25, frame.shape).astype(np.float32), (0, 0), 6)
    frame = np.clip(frame, 0, 255).astype(np.uint8)
    y = int(rng.integers(0, height - small.shape[0]))
    x = int(rng.integers(0, width - small.shape[1]))
    frame[y:y + small.shape[0], x:x + small.shape[1]] = small
    return _jpeg(frame, int(rng.integers(70, 90)))


def thumbnail(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A re-compressed gallery thumbnail: 72-120 px wide (face ~32-53 px), JPEG quality 15-35."""
    return _jpeg(_resize(image, rng.uniform(72, 120) / image.shape[1]), int(rng.integers(15, 36)))


def blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Out of focus (Gaussian, sigma 1.2-2.2) or motion blur (5-11 px line at a random angle)."""
    if rng.random() < 0.5:
        out = cv2.GaussianBlur(image, (0, 0), rng.uniform(1.2, 2.2))
    else:
        length = int(rng.integers(5, 12))
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0 / length
        rotation = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), rng.uniform(0, 180), 1.0)
        kernel = cv2.warpAffine(kernel, rotation, (length, length))
        out = cv2.filter2D(image, -1, kernel / max(kernel.sum(), 1e-6))
    return _jpeg(out, 75)


def dark_noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Club lighting: 25-45% of the light, sensor noise, then JPEG."""
    dark = image.astype(np.float32) * rng.uniform(0.25, 0.45)
    noisy = dark + rng.normal(0, rng.uniform(3, 6), image.shape)
    return _jpeg(np.clip(noisy, 0, 255).astype(np.uint8), 60)


def overexposed(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blown highlights: 1.4-2.0x gain, clipped, and lifted blacks."""
    bright = image.astype(np.float32) * rng.uniform(1.4, 2.0) + rng.uniform(10, 40)
    return _jpeg(np.clip(bright, 0, 255).astype(np.uint8), 75)


def tilt(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """In-plane rotation of 35-80 degrees either way, on a canvas that keeps the whole photo."""
    angle = rng.uniform(35, 80) * (1 if rng.random() < 0.5 else -1)
    turned, _ = rotate_expanded(image, angle, border=cv2.BORDER_REFLECT)
    return _jpeg(turned, 80)


def grayscale(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Black-and-white, lower contrast, JPEG."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    gray = (gray - 128) * rng.uniform(0.6, 0.9) + 128
    return _jpeg(cv2.cvtColor(np.clip(gray, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR), 60)


def partial(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Cut off by the frame: 20-40% of the face (LFW faces span ~75-175 px) lies outside."""
    height, width = image.shape[:2]
    cut = int(75 + rng.uniform(0.2, 0.4) * 100)
    side = int(rng.integers(0, 4))
    crops = {0: image[:, cut:], 1: image[:, :width - cut], 2: image[cut:, :], 3: image[:height - cut, :]}
    return _jpeg(np.ascontiguousarray(crops[side]), 80)


def mixed(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A typical poor web copy: downscaled to 100-150 px, soft, a little tilted, JPEG 25-45."""
    out = cv2.GaussianBlur(_resize(image, rng.uniform(100, 150) / image.shape[1]), (0, 0), 0.8)
    height, width = out.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), rng.uniform(-20, 20), 1.0)
    out = cv2.warpAffine(out, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)
    return _jpeg(out, int(rng.integers(25, 46)))


KINDS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "small_in_large": small_in_large, "thumbnail": thumbnail, "blur": blur, "dark_noise": dark_noise,
    "overexposed": overexposed, "tilt": tilt, "grayscale": grayscale, "partial": partial, "mixed": mixed}


def kind_of(path: Path | str) -> str:
    """The degradation kind a hard-set file name carries (``clean`` for anything else)."""
    name = Path(path).name
    return name.split(KIND_SEPARATOR, 1)[0] if KIND_SEPARATOR in name else "clean"


def _seed(name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{VERSION}:{name}".encode()).digest()[:8], "little")


def degrade(source: Path, kind: str, target: Path) -> None:
    image = cv2.imread(str(source), cv2.IMREAD_COLOR)
    if image is None or min(image.shape[:2]) < 8:
        return  # LFW's hostile 3000x1 strip: nothing to degrade
    out = KINDS[kind](image, np.random.default_rng(_seed(f"{kind}/{source.name}")))
    cv2.imwrite(str(target), out, [cv2.IMWRITE_JPEG_QUALITY, 100])


def _person(source: Path, target: Path, kind: str, enroll: int, queries: int) -> None:
    images = sorted(source.glob("*.jpg"))
    target.mkdir(parents=True, exist_ok=True)
    for image in images[:enroll]:
        link = target / f"0enroll{KIND_SEPARATOR}{image.name}"
        if not link.exists():
            link.symlink_to(image.resolve())
    for image in images[enroll:enroll + queries]:
        out = target / f"{kind}{KIND_SEPARATOR}{image.name}"
        if not out.exists():
            degrade(image, kind, out)


def _adapter_pairs(sources: list[Path], target: Path) -> None:
    """Each calibration photo and copies of it degraded ``ADAPTER_COPIES`` ways (kinds spread by
    the photo's seed; a copy of the person's own kind is the same image as in ``calib_*``)."""
    kinds = list(KINDS)
    for source in sources:
        folder = target / f"{source.parent.name}{KIND_SEPARATOR}{source.stem}"
        folder.mkdir(parents=True, exist_ok=True)
        original = folder / "clean.jpg"  # harness.PAIR_ORIGINAL
        if not original.exists():
            original.symlink_to(source.resolve())
        first = _seed(source.name) % len(kinds)
        for copy in range(ADAPTER_COPIES):
            kind = kinds[(first + copy * len(kinds) // ADAPTER_COPIES) % len(kinds)]
            out = folder / f"{kind}.jpg"
            if not out.exists():
                degrade(source, kind, out)


def build(out: Path = OUT, every: int = 1) -> dict[str, Path]:
    """Every ``every``-th person of each split (1: all of them; a larger step for quick runs)."""
    splits = lfw_splits.build()
    kinds = list(KINDS)
    plan = {"eval_ids": (EVAL_ENROLL, EVAL_QUERIES, every), "eval_distractors": (0, 1, 2 * every),
            "calib_ids": (CALIB_ENROLL, 2, every), "calib_distractors": (0, 1, 2 * every)}
    folders = {}
    for name, (enroll, queries, step) in plan.items():
        people = sorted(p for p in splits[name].iterdir() if p.is_dir())[::step]
        for i, person in enumerate(people):
            _person(person, out / name / person.name, kinds[i % len(kinds)], enroll, queries)
        folders[name] = out / name
    calibration_photos = [image for name in ("calib_ids", "calib_distractors")
                          for person in sorted(p for p in splits[name].iterdir() if p.is_dir())[::every]
                          for image in sorted(person.glob("*.jpg"))]
    _adapter_pairs(calibration_photos, out / "adapter_pairs")
    folders["adapter_pairs"] = out / "adapter_pairs"
    return folders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=1, help="take every N-th person (quick sets)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    out = args.out or (OUT if args.every == 1 else OUT.with_name(f"hard_every{args.every}"))
    for name, folder in build(out, args.every).items():
        files = sum(1 for _ in folder.glob("*/*"))
        print(name, folder, len(list(folder.iterdir())), "people", files, "files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
