"""Command line: ``python -m stash_sense <command>``. Thin: parses arguments, calls the library."""

from __future__ import annotations

import argparse
import logging
import sys

from stash_sense.cli.bulk import add_bulk_commands
from stash_sense.cli.db import add_db_commands
from stash_sense.cli.identify import add_identify_commands
from stash_sense.cli.library import add_library_commands
from stash_sense.cli.options import add_engine_options, engine_from
from stash_sense.cli.serve import add_serve_command


class PlainFormatter(logging.Formatter):
    """Terminal lines: the message alone, "warning: "/"error: " in front of those levels."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return f"{record.levelname.lower()}: {text}" if record.levelno >= logging.WARNING else text


def install_terminal_logging() -> None:
    """Log records as plain text on stderr (stdout stays for results); progress records are DEBUG."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(PlainFormatter("%(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stash_sense", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    add_identify_commands(commands)
    add_db_commands(commands, add_engine_options, engine_from)
    add_bulk_commands(commands, add_engine_options, engine_from)
    add_serve_command(commands)
    add_library_commands(commands)
    args = parser.parse_args(argv)
    install_terminal_logging()
    try:
        return args.run(args)
    except (RuntimeError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
