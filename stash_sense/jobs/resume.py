"""Continuing a killed run in the same journal run, so that "Undo last bulk run" undoes all of it.

``WriteBack`` always opens a new journal run. A run killed half way would then leave its changes
split over two journal runs, and undo would take back only the second half. ``ResumingJournal``
is a thin adapter handed to ``WriteBack`` instead of the journal: its ``start_run`` returns the
interrupted run's id; everything else is the journal itself.
"""

from __future__ import annotations

from typing import Any

from stash_sense.library.journal import Journal


class ResumingJournal:
    def __init__(self, journal: Journal, run_id: int):
        self._journal = journal
        self._run_id = run_id

    def start_run(self, kind: str) -> int:
        return self._run_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._journal, name)


def resumable(journal: Journal, run_id: int | None) -> bool:
    """The journal run was left running by a killed process and nobody undid it since."""
    if run_id is None:
        return False
    row = journal.db.execute("SELECT status, undone_at FROM runs WHERE id = ?", (run_id,)).fetchone()
    return row is not None and row["status"] == "running" and row["undone_at"] is None
