"""One plugin invocation: read Stash's input, do the mode, print exactly one JSON object.

Errors become ``{"error": "<what a user can act on>"}``; the traceback of an unexpected one goes to
the Stash log, never to stdout.
"""

from __future__ import annotations

import logging
import time

from stash_sense.contracts import ServiceError
from stash_sense.library.outcomes import TaskOutcomes
from stash_sense.plugin import protocol
from stash_sense.plugin.operations import TASK_MODES, Context, UserError, dispatch
from stash_sense.service.access import NoDatabaseError
from stash_sense.stash.errors import StashError

log = logging.getLogger(__name__)


def error_message(exc: BaseException) -> str:
    """The message the user sees (in the browser for operations, in the log for tasks)."""
    from stash_sense import paths
    from stash_sense.library.disk import disk_full_message, is_disk_full

    if isinstance(exc, (StashError, NoDatabaseError, UserError, LookupError, ServiceError)):
        return str(exc)
    if is_disk_full(exc, paths.data_dir()) and not _known_message(exc):
        return disk_full_message(paths.data_dir())
    known = _known_errors()
    if isinstance(exc, known):
        return str(exc)
    return f"Stash Sense failed: {type(exc).__name__}: {exc} (details in the Stash log)"


def _known_errors() -> tuple[type[BaseException], ...]:
    """Errors whose messages are written for users (database, release, model and bulk errors).

    Only classes of modules already imported count: an error cannot come from a module never loaded,
    and importing the engine just to classify an error would cost seconds.
    """
    import sys

    from stash_sense.plugin.tasks import NotImplementedYet

    names = {"stash_sense.engine.database": "DatabaseError", "stash_sense.engine.releases": "ReleaseError",
             "stash_sense.engine.packs": "ModelUnavailable",
             "stash_sense.jobs.run_lock": "RunLocked", "stash_sense.jobs.halt": "RunHalted",
             "stash_sense.library.disk": "DiskFull"}
    loaded = tuple(getattr(sys.modules[m], n) for m, n in names.items() if m in sys.modules)
    return (*loaded, NotImplementedYet)


def _known_message(exc: BaseException) -> bool:
    return isinstance(exc, _known_errors())


def run(plugin_input: dict) -> str:
    """The JSON text to print for one PluginInput (never raises)."""
    ctx = Context(plugin_input)
    started = time.monotonic()
    mode = ctx.args.get("mode") if isinstance(ctx.args, dict) else None  # validated by dispatch
    outcome = _TaskRecord(str(mode or ""))
    try:
        output = dispatch(ctx)
        log.debug(f"Stash Sense: {mode} done in {time.monotonic() - started:.2f}s")
        outcome.finished()
        return protocol.result_json(output)
    except Exception as exc:
        message = error_message(exc)
        log.error(message, exc_info=message.startswith("Stash Sense failed"))
        outcome.finished(message)
        return protocol.result_json(error_message=message)
    finally:
        ctx.close()


class _TaskRecord:
    """Records a task mode's outcome (Stash's job shows FINISHED even for ``{"error"}``); recording
    must never be what fails a task, so a problem with it is only logged."""

    def __init__(self, mode: str):
        self.mode = mode if mode in TASK_MODES else None
        self.store: TaskOutcomes | None = None
        if self.mode:
            try:
                self.store = TaskOutcomes()
                self.store.started(self.mode)
            except Exception as exc:
                log.warning(f"Stash Sense: cannot record the task's outcome ({exc})")

    def finished(self, error: str | None = None) -> None:
        if self.store is None or self.mode is None:
            return
        try:
            self.store.finished(self.mode, error)
            self.store.close()
        except Exception as exc:
            log.warning(f"Stash Sense: cannot record the task's outcome ({exc})")
        self.store = None


def main() -> int:
    protocol.install_stash_logging()
    with protocol.guard_stdout() as stdout:
        try:
            plugin_input = protocol.read_input()
        except ValueError as exc:
            text = protocol.result_json(error_message=str(exc))
        else:
            text = run(plugin_input)
        stdout.write(text + "\n")
        stdout.flush()
    return 0
