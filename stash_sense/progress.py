"""Task progress as a logging record, so the jobs need no knowledge of who shows it.

The plugin's Stash log handler turns such a record into Stash's progress bar; anywhere else it is
an ordinary DEBUG line (hidden by the command line's INFO level). ``Eta`` adds the human side of
a long run: an INFO line with the count, the recent rate and the time left.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable

PROGRESS = "stash_sense_progress"  # the LogRecord attribute that carries the fraction


def report_progress(logger: logging.Logger, fraction: float) -> None:
    """Log ``fraction`` (clamped to 0..1) as task progress."""
    value = min(max(float(fraction), 0.0), 1.0)
    logger.debug("progress %.1f%%", value * 100, extra={PROGRESS: value})


def progress_of(record: logging.LogRecord) -> float | None:
    """The fraction a progress record carries, or None for any other record."""
    return getattr(record, PROGRESS, None)


ETA_INTERVAL_ENV = "STASH_SENSE_ETA_INTERVAL_S"  # seconds between ETA lines (tests: 0 = every item)
ETA_INTERVAL_S = 60.0  # a line a minute: readable in Stash's task log over a multi-day run
RATE_WINDOW_S = 600.0  # the rate of the last ten minutes: follows a slower or faster stretch of the library


def format_duration(seconds: float) -> str:
    """Two largest units, for a reader: ``3 d 4 h``, ``2 h 5 min``, ``4 min 10 s``, ``12 s``."""
    total = max(0, round(seconds))
    parts = [(total // 86400, "d"), (total % 86400 // 3600, "h"), (total % 3600 // 60, "min"), (total % 60, "s")]
    first = next((i for i, (value, _) in enumerate(parts) if value), len(parts) - 1)
    return " ".join(f"{value} {unit}" for value, unit in parts[first:first + 2] if value or first == len(parts) - 1)


class Eta:
    """Progress with rate and remaining time for long runs: ``Gallery 120/10000 — 2.1 galleries/min —
    ETA 3 d 4 h``. The rate is the recent one (items done over the last ``window_s``), not the whole
    run's, so the estimate follows the library's slow and fast stretches; remaining = items left /
    that rate. ``line`` answers at most once per ``interval_s`` so a multi-day log stays readable.
    """

    def __init__(self, total: int, label: str, noun: str, done_before: int = 0,
                 interval_s: float | None = None, window_s: float = RATE_WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.label, self.noun, self.done_before = total, label, noun, done_before
        self.interval_s = eta_interval() if interval_s is None else interval_s
        self.window_s, self.clock = window_s, clock
        self.samples: deque[tuple[float, int]] = deque([(clock(), 0)])  # (time, items done in this run)
        self.last_line = self.samples[0][0]

    def per_second(self, now: float, done: int) -> float:
        """Items per second since the oldest sample inside the window (or the run's start)."""
        while len(self.samples) > 1 and now - self.samples[1][0] >= self.window_s:
            self.samples.popleft()
        started, done_then = self.samples[0]
        return (done - done_then) / (now - started) if now > started else 0.0

    def line(self, done: int) -> str | None:
        """The progress line after ``done`` items of this run, or None before the interval is up."""
        now = self.clock()
        rate = self.per_second(now, done)
        self.samples.append((now, done))
        if now - self.last_line < self.interval_s:
            return None
        self.last_line = now
        remaining = max(self.total - done, 0)
        eta = format_duration(remaining / rate) if rate > 0 else "unknown"
        return (f"{self.label} {self.done_before + done}/{self.done_before + self.total} — "
                f"{rate * 60:.1f} {self.noun}/min — ETA {eta}")


def eta_interval() -> float:
    """Seconds between ETA lines: ``$STASH_SENSE_ETA_INTERVAL_S`` or a minute."""
    try:
        return max(0.0, float(os.environ.get(ETA_INTERVAL_ENV, ETA_INTERVAL_S)))
    except ValueError:
        return ETA_INTERVAL_S
