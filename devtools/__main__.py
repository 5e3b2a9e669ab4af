"""``python -m devtools eval|calibrate``: measure identification and fit confidences (dev only)."""

from __future__ import annotations

import argparse
import sys

from devtools.eval import add_eval_commands
from stash_sense.cli.main import install_terminal_logging
from stash_sense.cli.options import add_engine_options, engine_from


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools", description=__doc__)
    add_eval_commands(parser.add_subparsers(dest="command", required=True), add_engine_options, engine_from)
    args = parser.parse_args(argv)
    install_terminal_logging()
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
