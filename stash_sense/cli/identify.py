"""``identify``: detect faces in image files (and match them once a database exists)."""

from __future__ import annotations

import argparse
import json
import sys

from stash_sense.cli.options import add_engine_options, engine_from


def add_identify_commands(commands) -> None:
    parser = commands.add_parser("identify", help="detect faces in images (and match them once a database exists)")
    parser.add_argument("paths", nargs="+", help="image files")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_engine_options(parser)
    parser.set_defaults(run=_identify)


def _identify(args: argparse.Namespace) -> int:
    engine = engine_from(args)
    results = engine.analyze(args.paths)
    if args.json:
        json.dump([r.to_dict() for r in results], sys.stdout, indent=2)
        print()
        return 0
    for result in results:
        if result.error:
            print(f"{result.source}: ERROR {result.error}")
            continue
        skipped = len(result.faces) - len(result.usable_faces)
        print(f"{result.source}: {len(result.usable_faces)} face(s), {skipped} skipped")
        for face in result.faces:
            d = face.detection
            box = ",".join(f"{v:.0f}" for v in d.bbox)
            status = f"skipped ({d.skipped})" if d.skipped else "ok"
            print(f"  box [{box}] det {d.score:.2f} size {d.size:.0f}px quality {d.quality:.2f} {status}")
    return 0
