"""Engine options shared by every command that runs the engine."""

from __future__ import annotations

import argparse

from stash_sense.engine import Engine, available_packs
from stash_sense.paths import DEFAULT_PACK


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pack", default=DEFAULT_PACK, choices=available_packs(), help="model pack")
    parser.add_argument("--threads", type=int, default=2, help="worker threads (default 2)")
    parser.add_argument("--det-size", type=int, default=None, help="detector size (640; 320 = fast)")
    add_device_option(parser)


def add_device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default=None,
                        choices=["auto", "cpu", "cuda", "rocm", "directml", "coreml", "openvino"],
                        help="execution provider (default: $STASH_SENSE_DEVICE or auto = best available, else CPU)")


def engine_from(args: argparse.Namespace, **kwargs) -> Engine:
    apply_device(args)
    return Engine(args.pack, threads=args.threads, det_size=args.det_size, **kwargs)


def apply_device(args: argparse.Namespace) -> None:
    """``--device`` reaches every session (and a worker started from here) through the environment."""
    import os

    if getattr(args, "device", None):
        os.environ["STASH_SENSE_DEVICE"] = args.device
