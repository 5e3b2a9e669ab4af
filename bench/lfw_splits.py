"""Disjoint LFW identity folders for calibration and evaluation (symlinks into ../shared).

- eval_ids: identities with >= 4 images (enroll 2, query the rest)
- eval_distractors: every other identity with 1 image (even positions)
- calib_ids: identities with 2-3 images (calibration enrolls 1)
- calib_distractors: the other identities with 1 image (odd positions)
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench.common import LFW

OUT = Path(__file__).resolve().parent / "cache" / "lfw"


def build(out: Path = OUT) -> dict[str, Path]:
    people = sorted((d for d in LFW.iterdir() if d.is_dir()), key=lambda d: d.name)
    counts = {d: len(list(d.glob("*.jpg"))) for d in people}
    singles = [d for d in people if counts[d] == 1]
    groups = {
        "eval_ids": [d for d in people if counts[d] >= 4],
        "eval_distractors": singles[0::2],
        "calib_ids": [d for d in people if counts[d] in (2, 3)],
        "calib_distractors": singles[1::2],
    }
    folders = {}
    for name, members in groups.items():
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        for person in members:
            link = folder / person.name
            if not link.exists():
                link.symlink_to(person, target_is_directory=True)
        folders[name] = folder
    return folders


if __name__ == "__main__":
    for name, folder in build().items():
        print(name, folder, len(list(folder.iterdir())), file=sys.stderr)
