"""The image sets both engines see, built deterministically so every subprocess gets the same lists.

Subsamples are evenly spaced (never random) so that a quick or CNN run covers the whole set's
range of people and is identical for every engine.
"""

from __future__ import annotations

from pathlib import Path

from bench.common import LFW, PHOTOS
from bench.lfw_splits import build
from devtools.evaluation.harness import Split, make_split, read_identities
from devtools.evaluation.pairs import Pair, read_csv_pairs, read_lfw_pairs

DEEPFACE = PHOTOS
ENROLL = 2  # the eval command's default: enroll 2, query the rest

# Sizes per sample tag: (devtest pairs, identification identities, identification distractors).
# "cnn" is small because dlib's CNN detector takes ~5 s per upsampled LFW image on one CPU core.
SAMPLES = {"full": (None, None, None), "quick": (100, 20, 20), "cnn": (40, 8, 8), "cnn_quick": (6, 2, 2)}
TIMING_IMAGES = {"lfw": 150, "full_size": None}  # None = every image
QUICK_TIMING_IMAGES = {"lfw": 40, "full_size": 12}
CNN_TIMING_IMAGES = {"lfw": 8, "full_size": 0}  # CNN on full-size photos: see README/peers.md


def spread(items: list, count: int | None) -> list:
    """``count`` evenly spaced items (all when count is None or too large)."""
    if count is None or count >= len(items):
        return list(items)
    return [items[i * len(items) // count] for i in range(count)]


def lfw_devtest_pairs(sample: str = "full") -> list[Pair]:
    """pairsDevTest.txt (500 same, then 500 different), balanced when subsampled."""
    pairs = read_lfw_pairs(LFW / "pairsDevTest.txt", LFW)
    count = SAMPLES[sample][0]
    if count is None:
        return pairs
    same = [p for p in pairs if p.same]
    different = [p for p in pairs if not p.same]
    return spread(same, count // 2) + spread(different, count - count // 2)


def deepface_pairs() -> list[Pair]:
    return read_csv_pairs(DEEPFACE / "pairs.csv")


def identification_split(sample: str = "full") -> Split:
    """The eval command's split (harness.make_split) on LFW identities with >= 4 images."""
    folders = build()
    _, id_count, distractor_count = SAMPLES[sample]
    identities = read_identities(folders["eval_ids"])
    distractors = read_identities(folders["eval_distractors"])
    identities = {uid: identities[uid] for uid in spread(sorted(identities), id_count)}
    distractors = {uid: distractors[uid] for uid in spread(sorted(distractors), distractor_count)}
    return make_split(identities, distractors, ENROLL)


def split_images(split: Split) -> list[Path]:
    """Every image the protocol analyses: enrollment, queries and distractors."""
    images = {p for paths in split.enrolled.values() for p in paths}
    images |= {p for paths in split.queries.values() for p in paths}
    return sorted(images | set(split.distractors))


def pair_images(pairs: list[Pair]) -> list[Path]:
    return sorted({p.left for p in pairs} | {p.right for p in pairs})


def timing_images(name: str, quick: bool, detector: str | None = None) -> list[Path]:
    """LFW 250x250 thumbnails (devtest images) or the full-size deepface test photos."""
    table = CNN_TIMING_IMAGES if detector == "cnn" else QUICK_TIMING_IMAGES if quick else TIMING_IMAGES
    if detector == "cnn" and quick:
        table = {k: min(v, 3) for k, v in table.items()}
    if name == "lfw":
        images = pair_images(read_lfw_pairs(LFW / "pairsDevTest.txt", LFW))
    else:
        images = pair_images(deepface_pairs())
    return spread(images, table[name])
