"""Stash's raw-plugin protocol: stdin JSON in, ``\\x01<level>\\x02`` log lines on stderr, one JSON out.

Logging goes through Python's ``logging`` everywhere; ``install_stash_logging`` (called by the plugin
entry only) is what turns records into Stash's line format.

Stash parses the *whole* of stdout as the result, so one stray ``print`` (ours, a library's, or a
native library writing to file descriptor 1) turns the answer into a useless string. ``guard_stdout``
therefore points both ``sys.stdout`` and descriptor 1 at stderr for the duration of the work and
keeps a private handle on the real stdout for the single final JSON object.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from stash_sense.plugin.log_text import safe_log_text
from stash_sense.progress import progress_of

LEVELS = {logging.ERROR: "e", logging.WARNING: "w", logging.INFO: "i", logging.DEBUG: "d"}
# Stash reads stderr with Go's bufio.Scanner: 64 KiB *bytes* per line at most, prefix and newline included.
MAX_LINE_BYTES = 64 * 1024 - 16


class StashLogHandler(logging.Handler):
    """Python ``logging`` records as Stash log lines: ``\x01<level>\x02<text>`` per line on stderr.

    Progress records (``stash_sense.progress``) become Stash's progress bar. A record is one line
    (control characters escaped, so a title cannot start or forge a line) plus its traceback, if
    any; empty lines are dropped (Stash needs a character after the prefix), and every line is cut
    to what Stash's line scanner accepts, in bytes.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(logging.DEBUG)
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = self.stream or sys.__stderr__
            fraction = progress_of(record)
            if fraction is not None:
                stream.write(f"\x01p\x02{fraction:.4f}\n")
            else:
                code = _level_code(record.levelno)
                for line in _lines(record):
                    stream.write(f"\x01{code}\x02{_fit(line)}\n")
            stream.flush()
        except Exception:
            self.handleError(record)


def _lines(record: logging.LogRecord) -> list[str]:
    """One line per record, whatever titles or file names it quotes (``safe_log_text``); a
    traceback attached to it follows, one line per traceback line. Empty lines are dropped."""
    lines = [record.getMessage()]
    if record.exc_info:
        lines += logging.Formatter().formatException(record.exc_info).splitlines()
    return [safe_log_text(line) for line in lines if line.strip()]


def _level_code(levelno: int) -> str:
    """Stash's level letter: the highest level the record reaches, TRACE below DEBUG."""
    return next((code for level, code in LEVELS.items() if levelno >= level), "t")


def _fit(line: str) -> str:
    """``line`` cut to Stash's byte limit without splitting a UTF-8 character."""
    data = line.encode("utf-8")
    return line if len(data) <= MAX_LINE_BYTES else data[:MAX_LINE_BYTES].decode("utf-8", "ignore")


def install_stash_logging() -> None:
    """Every ``stash_sense`` logger (and stashapi's, through the client) speaks Stash's protocol."""
    logger = logging.getLogger("stash_sense")
    if not any(isinstance(h, StashLogHandler) for h in logger.handlers):
        logger.addHandler(StashLogHandler())
    logger.setLevel(logging.DEBUG)
    logger.propagate = False


def read_input(stream: TextIO | None = None) -> dict:
    """The PluginInput Stash wrote on stdin (it closes stdin afterwards)."""
    text = (stream or sys.stdin).read()
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise ValueError(f"the plugin expects Stash's JSON on stdin, got something else ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError("the plugin expects a JSON object on stdin")
    data.setdefault("server_connection", {})
    data["args"] = data.get("args") or {}
    return data


@contextmanager
def guard_stdout() -> Iterator[TextIO]:
    """Send everything written to stdout (Python or native) to stderr; yield the real stdout."""
    sys.stdout.flush()
    saved_fd = os.dup(1)
    os.dup2(2, 1)
    real = os.fdopen(saved_fd, "w", encoding="utf-8", closefd=True)
    previous = sys.stdout
    sys.stdout = sys.stderr
    try:
        yield real
    finally:
        sys.stdout = previous
        sys.stdout.flush()
        os.dup2(real.fileno(), 1)
        real.close()


def result_json(output: Any = None, error_message: str | None = None) -> str:
    """The one object Stash parses: ``{"output": ...}`` or ``{"error": "..."}``."""
    if error_message is not None:
        return json.dumps({"error": error_message})
    return json.dumps({"output": output}, default=str)
