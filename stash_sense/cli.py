"""Command line: ``python -m stash_sense <command>``. Thin: parses arguments, calls the library."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from stash_sense.cli_bulk import add_bulk_commands
from stash_sense.cli_db import add_db_commands
from stash_sense.cli_eval import add_eval_commands
from stash_sense.engine import Engine, available_packs
from stash_sense.engine.packs import DEFAULT_PACK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stash_sense", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    _add_identify(commands)
    add_db_commands(commands, add_engine_options, engine_from)
    add_eval_commands(commands, add_engine_options, engine_from)
    add_bulk_commands(commands, add_engine_options, engine_from)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        return args.run(args)
    except (RuntimeError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pack", default=DEFAULT_PACK, choices=available_packs(), help="model pack")
    parser.add_argument("--threads", type=int, default=2, help="worker threads (default 2)")
    parser.add_argument("--det-size", type=int, default=None, help="detector size (640; 320 = fast)")


def engine_from(args: argparse.Namespace, **kwargs) -> Engine:
    return Engine(args.pack, threads=args.threads, det_size=args.det_size, **kwargs)


def _add_identify(commands) -> None:
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
