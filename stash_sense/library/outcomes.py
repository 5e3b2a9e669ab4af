"""The outcome of each plugin task's last run (started, finished, failed with what message).

Why: Stash ends a plugin task as FINISHED even when the plugin answered ``{"error": ...}``; the job
carries no error. A UI that started a task (the database download) and sees it finished must still
be able to tell the user that it failed and why: it asks for the outcome recorded here.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from stash_sense import paths
from stash_sense.library.store import open_store

SCHEMA = """
CREATE TABLE IF NOT EXISTS task_outcomes (
  mode TEXT PRIMARY KEY, status TEXT NOT NULL, error TEXT, started_at REAL NOT NULL, finished_at REAL
);
"""


def outcomes_path() -> Path:
    return paths.data_dir() / "task_outcomes.sqlite"


class TaskOutcomes:
    """Last run per task mode: ``running`` until it ends ``ok`` or ``failed`` (with the user's message)."""

    def __init__(self, path: Path | None = None):
        self.db: sqlite3.Connection = open_store(Path(path or outcomes_path()), SCHEMA)

    def close(self) -> None:
        self.db.close()

    def started(self, mode: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO task_outcomes VALUES (?, 'running', NULL, ?, NULL)",
                        (mode, time.time()))

    def finished(self, mode: str, error: str | None = None) -> None:
        self.db.execute("UPDATE task_outcomes SET status = ?, error = ?, finished_at = ? WHERE mode = ?",
                        ("failed" if error else "ok", error, time.time(), mode))

    def last(self, mode: str, since: float = 0.0) -> dict:
        """The last run of ``mode`` started at or after ``since`` (epoch seconds); ``unknown`` if none
        (the task never reached the plugin: Stash could not start it, or the setup failed first)."""
        row = self.db.execute("SELECT * FROM task_outcomes WHERE mode = ? AND started_at >= ?",
                              (mode, since)).fetchone()
        if row is None:
            return {"mode": mode, "status": "unknown", "error": None}
        return {"mode": mode, "status": row["status"], "error": row["error"], "started_at": row["started_at"],
                "finished_at": row["finished_at"]}
