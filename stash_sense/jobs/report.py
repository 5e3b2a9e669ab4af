"""What a bulk run tells the user: a log line per gallery, the progress bar, and a summary.

In Stash the lines go through the plugin protocol (task log, progress bar of the task view);
from the command line they go to stderr as plain text. The job only sees ``Reporter``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field


class Reporter:
    """Plain-text reporter (command line); ``PluginReporter`` speaks Stash's protocol."""

    def info(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def warning(self, message: str) -> None:
        print(f"warning: {message}", file=sys.stderr, flush=True)

    def error(self, message: str) -> None:
        print(f"error: {message}", file=sys.stderr, flush=True)

    def progress(self, fraction: float) -> None:
        """The command line shows progress through the per-gallery lines."""


class PluginReporter(Reporter):
    def info(self, message: str) -> None:
        from stash_sense.plugin import protocol

        protocol.info(message)

    def warning(self, message: str) -> None:
        from stash_sense.plugin import protocol

        protocol.warning(message)

    def error(self, message: str) -> None:
        from stash_sense.plugin import protocol

        protocol.error(message)

    def progress(self, fraction: float) -> None:
        from stash_sense.plugin import protocol

        protocol.progress(fraction)


class Finishable:
    """A run summary (a dataclass with ``seconds`` and ``started``) closed into a JSON-able dict."""

    def finish(self) -> dict:
        self.seconds = round(time.monotonic() - self.started, 2)
        out = asdict(self)
        out.pop("started")
        return out


@dataclass
class Summary(Finishable):
    """Counts of one run (the task's output and its last log line)."""

    galleries: int = 0  # selected
    processed: int = 0
    skipped: int = 0  # already done with the same database version and settings
    images: int = 0  # analysed (cached or not)
    inferred: int = 0  # images that went through the engine
    cached: int = 0  # images restored from the embedding cache
    faces: int = 0
    added: int = 0  # performers added to galleries
    created: int = 0  # performers created
    suggested: int = 0  # persons stored for review
    errors: int = 0  # galleries that failed + unreadable images
    failed_galleries: list[str] = field(default_factory=list)
    seconds: float = 0.0
    dry_run: bool = False
    resumed: bool = False
    journal_run_id: int | None = None
    started: float = field(default_factory=time.monotonic, repr=False)

    def line(self) -> str:
        rate = self.images / self.seconds if self.seconds else 0.0
        return (f"Stash Sense bulk: {self.processed} of {self.galleries} galleries processed "
                f"({self.skipped} already done), {self.images} images ({self.cached} from cache, {rate:.1f}/s), "
                f"{self.faces} faces, {self.added} performers added ({self.created} created), "
                f"{self.suggested} suggested for review, {self.errors} errors, {self.seconds:.1f}s"
                + (" [dry run]" if self.dry_run else ""))


def gallery_line(gallery: dict, images: int, faces: int, added: list[str], review: list[str],
                 errors: int) -> str:
    """One log line per gallery: what was added and what waits for review."""
    title = gallery.get("title") or f"gallery {gallery['id']}"
    parts = [f"{images} images, {faces} faces"]
    parts.append(f"added {', '.join(added)}" if added else "nothing added")
    if review:
        parts.append(f"for review: {', '.join(review)}")
    if errors:
        parts.append(f"{errors} unreadable image(s)")
    return f"Gallery {gallery['id']} ({title}): " + "; ".join(parts)
