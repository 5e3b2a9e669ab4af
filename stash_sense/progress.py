"""Task progress as a logging record, so the jobs need no knowledge of who shows it.

The plugin's Stash log handler turns such a record into Stash's progress bar; anywhere else it is
an ordinary DEBUG line (hidden by the command line's INFO level).
"""

from __future__ import annotations

import logging

PROGRESS = "stash_sense_progress"  # the LogRecord attribute that carries the fraction


def report_progress(logger: logging.Logger, fraction: float) -> None:
    """Log ``fraction`` (clamped to 0..1) as task progress."""
    value = min(max(float(fraction), 0.0), 1.0)
    logger.debug("progress %.1f%%", value * 100, extra={PROGRESS: value})


def progress_of(record: logging.LogRecord) -> float | None:
    """The fraction a progress record carries, or None for any other record."""
    return getattr(record, PROGRESS, None)
