"""Engine options shared by every command that runs the engine."""

from __future__ import annotations

import argparse

from stash_sense.engine import Engine, available_packs
from stash_sense.paths import DEFAULT_PACK


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pack", default=DEFAULT_PACK, choices=available_packs(), help="model pack")
    parser.add_argument("--threads", type=int, default=2, help="worker threads (default 2)")
    parser.add_argument("--det-size", type=int, default=None, help="detector size (640; 320 = fast)")


def engine_from(args: argparse.Namespace, **kwargs) -> Engine:
    return Engine(args.pack, threads=args.threads, det_size=args.det_size, **kwargs)
