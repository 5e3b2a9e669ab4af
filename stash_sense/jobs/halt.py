"""When a bulk run must stop as a whole instead of skipping item after item.

A failed gallery or scene is normally that item's error and the run goes on. Two failures are the
run's, not the item's: Stash gone for good (every remaining item would fail the same way, logging
thousands of "skipped" lines and ending "finished") and a full disk (nothing can be recorded). After
``MAX_UNREACHABLE_IN_A_ROW`` consecutive items that failed while Stash does not answer, or on a full
disk, the run stops with one clear message. It stops *resumably*: the ledger and journal runs stay
open, so starting the task again continues the same journal run and one undo covers both parts.
"""

from __future__ import annotations

from typing import Any

from stash_sense import paths
from stash_sense.library.disk import disk_full_message, free_bytes, is_disk_full
from stash_sense.stash.errors import StashError, StashUnreachable

MAX_UNREACHABLE_IN_A_ROW = 3
LOW_SPACE_BYTES = 16 * 1024 * 1024  # below this a failure is taken for the disk filling up


class RunHalted(RuntimeError):
    """The run stopped as a whole (Stash gone, disk full); starting it again resumes it."""


def item_succeeded(run: Any) -> None:
    """An item that needed nothing from Stash (no match, all cached) says nothing about Stash:
    while failures are counting, the streak ends only when Stash answers again."""
    if getattr(run, "_unreachable_in_a_row", 0) and stash_down(run.client):
        return
    run._unreachable_in_a_row = 0


def item_failed(run: Any, exc: BaseException, what: str) -> None:
    """After one item failed: raise ``RunHalted`` when the run as a whole cannot go on."""
    folder = paths.data_dir()
    if is_disk_full(exc) or free_bytes(folder) < LOW_SPACE_BYTES:
        raise RunHalted(f"{what} stopped: {disk_full_message(folder)}") from exc
    down = stash_down(run.client)
    run._unreachable_in_a_row = getattr(run, "_unreachable_in_a_row", 0) + 1 if down else 0
    if run._unreachable_in_a_row >= MAX_UNREACHABLE_IN_A_ROW:
        raise RunHalted(
            f"{what} stopped: Stash at {run.client.base_url} stopped answering ({down}; "
            f"{run._unreachable_in_a_row} items in a row failed). Nothing is lost: start the task again once "
            "Stash is back and it resumes where it stopped, in the same run (one undo covers both parts).") from exc


def stash_down(client: Any) -> str | None:
    """Why Stash does not answer now (None when it does): tells "Stash gone" from one bad item."""
    try:
        client.ping()
    except StashUnreachable as exc:
        return str(exc)
    except StashError:
        return None
    return None
