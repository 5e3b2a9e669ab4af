"""The Stash Sense page with a 10,000-suggestion queue, measured in Stash's real web UI.

A demo Stash (devtools/demo, Stash's production web UI behind a /stash/ sub-path proxy) gets 500
galleries of real LFW images; the journal gets 10,000 suggestions (20 performers per gallery, drawn
from 1,000 identities, face crops cut from the galleries' real photos), as a bulk run over such a
library leaves them. Chromium (tests/browser/run.mjs, scenario pageBench) clicks the navbar link and
measures the first group shown (first_render_ms), then presses "r" (reject the focused group) five
times, each until the next group is shown with the write done (decision_ms: the median).

    STASH_SENSE_VENV=/work/main/.venv python -m bench.review_page_bench   # -> bench/results/review_page.json
"""

from __future__ import annotations

import base64
import io
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import LFW, REPO, RESULTS

GALLERIES = 500
PER_GALLERY = 20
IDENTITIES = 1000
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def crop_of(path: Path) -> str:
    """A small face crop (the centre of an LFW photo, where its face is) as the journal stores it."""
    from PIL import Image

    with Image.open(path) as image:
        w, h = image.size
        face = image.crop((w // 4, h // 4, 3 * w // 4, 3 * h // 4)).resize((64, 64))
        buffer = io.BytesIO()
        face.convert("RGB").save(buffer, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def seed_library(db_path: Path) -> tuple[dict, list[Path]]:
    from devtools.demo.seed import seed

    photos = sorted(LFW.glob("*/*.jpg"))[:GALLERIES * 2]
    galleries = [{"title": f"Bench gallery {g}", "images": [str(photos[2 * g]), str(photos[2 * g + 1])]}
                 for g in range(GALLERIES)]
    return seed(db_path, galleries), photos


def seed_queue(journal_path: Path, ids: dict, photos: list[Path]) -> int:
    from stash_sense.library.journal import Journal

    rng = random.Random(0)
    journal = Journal(journal_path)
    crops = [crop_of(p) for p in photos[:50]]
    image_ids = ids["images"]
    total = 0
    with journal.transaction():
        for g in range(GALLERIES):
            gallery_id = ids["galleries"][f"Bench gallery {g}"]
            images = [image_ids[str(photos[2 * g])], image_ids[str(photos[2 * g + 1])]]
            persons = []
            for index, k in enumerate(rng.sample(range(IDENTITIES), PER_GALLERY)):
                confidence = round(rng.uniform(0.5, 0.95), 4)
                persons.append({"index": index, "unknown": False, "faces": 2, "image_ids": images,
                                "crop": crops[(g + index) % len(crops)], "incidental": False,
                                "candidates": [{"universal_id": f"stashdb.org:bench-{k:04d}",
                                                "name": f"Bench performer {k:04d}", "confidence": confidence,
                                                "band": "review", "stash_ids": []}]})
            journal.db.execute("DELETE FROM suggestions WHERE target_type = 'gallery' AND target_id = ?",
                               (gallery_id,))
            rows = [("gallery", gallery_id, c["universal_id"], p["index"], c["confidence"], "review",
                     json.dumps({k: v for k, v in p.items() if k != "candidates"}), json.dumps(c), "bench",
                     time.time()) for p in persons for c in p["candidates"]]
            journal.db.executemany("INSERT INTO suggestions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            total += len(rows)
    journal.close()
    return total


def main() -> int:
    from devtools.demo.proxy import SubPathProxy
    from devtools.demo.server import DemoStash

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        os.environ["STASH_SENSE_DATA_DIR"] = str(tmp / "data")
        os.environ.setdefault("STASH_SENSE_PACK", "test-mbf128")
        os.environ.setdefault("STASH_SENSE_WORKER", "0")
        started = time.monotonic()
        ids, photos = seed_library(tmp / "stash.sqlite")
        suggestions = seed_queue(tmp / "data" / "journal.sqlite", ids, photos)
        print(f"seeded {suggestions} suggestions in {time.monotonic() - started:.1f}s", file=sys.stderr)
        server = DemoStash(tmp / "stash.sqlite", session="bench-session")
        server.start()
        proxy = SubPathProxy(("127.0.0.1", server.port), "/stash", session="bench-session")
        proxy.start()
        try:
            config = {"scenario": "pageBench", "url": proxy.url, "artifacts": str(tmp), "prefix": "bench",
                      "timeoutMs": 120_000, "decisions": 5, "key": "r"}
            (tmp / "bench.json").write_text(json.dumps(config))
            proc = subprocess.run(["node", str(REPO / "tests" / "browser" / "run.mjs"), str(tmp / "bench.json")],
                                  cwd=REPO / "tests" / "browser", capture_output=True, text=True, timeout=600,
                                  env=dict(os.environ, CHROMIUM=CHROMIUM))
            out = json.loads(proc.stdout.strip().splitlines()[-1])
        finally:
            proxy.stop()
            server.stop()
    if not out["ok"]:
        print(out.get("error"), proc.stderr[-2000:], file=sys.stderr)
        return 1
    decisions = [d["ms"] for d in out["decisions"]]
    result = {
        "suggestions": suggestions,
        "first_render_ms": out["firstRenderMs"],
        "decision_ms": statistics.median(decisions),
        "decision_ms_all": decisions,
        "shown": out["summary"],
        "targets": {"first_render_ms": 2000, "decision_ms": 1000},
        "how": "Stash's real web UI (demo Stash, /stash/ sub-path proxy), Debian chromium via playwright-core; "
               "first render = navbar link click to the first group shown; decision = 'r' to the next group "
               "shown after the plugin answered (write done); every call is one plugin process as in Stash",
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg(), "python": platform.python_version()},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "review_page.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
