"""Stash's raw-plugin protocol: stdin JSON in, ``\\x01<level>\\x02`` log lines on stderr, one JSON out.

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

LEVELS = {"trace": "t", "debug": "d", "info": "i", "warning": "w", "error": "e", "progress": "p"}
MAX_LINE = 60000  # Stash reads stderr with a 64 KiB line scanner; longer lines break its reader


def log(level: str, message: object) -> None:
    """One log line per message line, in Stash's level-prefixed format, on the real stderr."""
    code = LEVELS[level]
    for line in (str(message).splitlines() or [""]):
        sys.__stderr__.write(f"\x01{code}\x02{line[:MAX_LINE]}\n")
    sys.__stderr__.flush()


def debug(message: object) -> None:
    log("debug", message)


def info(message: object) -> None:
    log("info", message)


def warning(message: object) -> None:
    log("warning", message)


def error(message: object) -> None:
    log("error", message)


def progress(fraction: float) -> None:
    """Task progress bar (ignored by Stash for runPluginOperation)."""
    log("progress", f"{min(max(float(fraction), 0.0), 1.0):.4f}")


class _ProtocolHandler(logging.Handler):
    """Python ``logging`` records of our libraries (e.g. the worker's fallback notice) as Stash log lines."""

    def emit(self, record: logging.LogRecord) -> None:
        level = "error" if record.levelno >= logging.ERROR else (
            "warning" if record.levelno >= logging.WARNING else "info" if record.levelno >= logging.INFO else "debug")
        log(level, self.format(record))


def route_library_logging() -> None:
    """Send the ``stash_sense`` loggers through the protocol instead of bare stderr lines."""
    logger = logging.getLogger("stash_sense")
    if not any(isinstance(h, _ProtocolHandler) for h in logger.handlers):
        logger.addHandler(_ProtocolHandler())
        logger.setLevel(logging.INFO)
        logger.propagate = False


class StashLogger:
    """Logger object for stashapi (``conn["Logger"]``): its messages go through our protocol."""

    def __getattr__(self, name: str):
        level = {"warn": "warning", "exit": "error", "result": "debug"}.get(name, name)
        level = level if level in LEVELS else "info"
        if level == "progress":
            return lambda p, *a, **k: progress(p)
        return lambda msg="", *a, **k: log(level, msg)


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
