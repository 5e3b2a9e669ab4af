"""New galleries, scenes and images identified automatically (setting "Identify new galleries and scenes").

Stash runs one plugin process per hook, inside the request that created the object, during a scan
one per new file: a hook must be cheap. It only records the id in a queue (SQLite, no engine) and,
when no processing task is pending, asks Stash to run the task once. The task waits until no id
has been queued for ``QUIET_S`` seconds (a scan adds files in bursts), then identifies what the
queue holds with the bulk machinery (ledger, embedding cache, review rules, one undoable journal
run per kind), removes it from the queue and repeats while ids keep coming.

Exactly one task at a time: the pending marker is created with O_EXCL by whoever starts one. The
task removes the marker *before* its last look at the queue and takes it again if anything is
left, so an id queued at any moment is seen either by that look or by the hook that then creates
the marker: nothing is stranded and no second task starts.

The Stash adapter (``plugin/hooks.py``) only turns a hook into ``queue_created`` and the task into
``run_task``; the queue, the debounce and the identification live here.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stash_sense import paths
from stash_sense.library.store import open_store

QUIET_S = 20.0  # seconds without a new id before the task starts identifying
STALE_S = 6 * 3600.0  # a marker this old belongs to a task that died: it no longer blocks
KINDS = ("gallery", "scene", "image")

SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS queue (kind TEXT NOT NULL, item_id TEXT NOT NULL, queued_at REAL NOT NULL,
    PRIMARY KEY (kind, item_id));
"""


def quiet_seconds() -> float:
    """``STASH_SENSE_NEW_CONTENT_QUIET_S`` overrides the debounce (tests, impatient users)."""
    try:
        return float(os.environ.get("STASH_SENSE_NEW_CONTENT_QUIET_S", QUIET_S))
    except ValueError:
        return QUIET_S


class NewContentQueue:
    """The ids hooks recorded and the one-task-at-a-time marker, in the plugin data folder."""

    def __init__(self, folder: Path | None = None):
        folder = Path(folder or paths.data_dir())
        folder.mkdir(parents=True, exist_ok=True)
        self.db = open_store(folder / "new_content.sqlite", SCHEMA)
        self.marker = folder / "new_content.task"

    def add(self, kind: str, item_id: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"cannot queue a {kind!r}")
        self.db.execute("INSERT OR REPLACE INTO queue VALUES (?, ?, ?)", (kind, str(item_id), time.time()))

    def snapshot(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {kind: [] for kind in KINDS}
        for kind, item_id in self.db.execute("SELECT kind, item_id FROM queue ORDER BY queued_at"):
            out[kind].append(item_id)
        return out

    def remove(self, taken: dict[str, list[str]]) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany("DELETE FROM queue WHERE kind = ? AND item_id = ?",
                            [(kind, i) for kind, ids in taken.items() for i in ids])
        self.db.execute("COMMIT")

    def last_queued(self) -> float | None:
        return self.db.execute("SELECT MAX(queued_at) FROM queue").fetchone()[0]

    def claim(self) -> bool:
        """Create the pending-task marker; False when a live task already holds it."""
        try:
            if time.time() - self.marker.stat().st_mtime > STALE_S:
                self.marker.unlink(missing_ok=True)
        except FileNotFoundError:
            pass
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return True
        except FileExistsError:
            return False

    def release(self) -> None:
        self.marker.unlink(missing_ok=True)

    @classmethod
    def release_in(cls, folder: Path | None = None) -> None:
        queue = cls(folder)
        try:
            queue.release()
        finally:
            queue.close()

    def wait_until_quiet(self, quiet_s: float, sleep: Callable[[float], None] = time.sleep) -> None:
        """Return once nothing was queued for ``quiet_s`` seconds (a scan has finished its burst)."""
        while (last := self.last_queued()) is not None and (left := quiet_s - (time.time() - last)) > 0:
            sleep(min(left, 1.0))

    def close(self) -> None:
        self.db.close()


def process(queue: NewContentQueue, identify: Callable[[dict[str, list[str]]], dict],
            quiet_s: float | None = None) -> list[dict]:
    """The task: debounce, identify what is queued, repeat while ids keep coming; one summary per round."""
    rounds = []
    while True:
        queue.wait_until_quiet(quiet_seconds() if quiet_s is None else quiet_s)
        taken = queue.snapshot()
        try:
            if any(taken.values()):
                rounds.append(identify(taken))
                queue.remove(taken)
        finally:  # a failed round keeps its ids queued; the next hook starts a task again
            queue.release()
        if not any(queue.snapshot().values()) or not queue.claim():
            return rounds


def queue_created(kind: str, item_id: str, start_task: Callable[[], Any], folder: Path | None = None) -> dict:
    """What a hook does for one created object: queue its id; the first hook of a burst starts the
    task (``start_task``, e.g. Stash's ``runPluginTask``). Nothing heavy is imported on this path."""
    queue = NewContentQueue(folder)
    try:
        queue.add(kind, item_id)
        started = queue.claim()
    finally:
        queue.close()
    if started:
        try:
            start_task()
        except BaseException:  # no task was started: the next hook must be able to start one
            NewContentQueue.release_in(folder)
            raise
    return {"queued": True, "task_started": started}


def run_task(client: Any, journal: Any, settings: Any) -> dict:
    """The task: identify the queued galleries (and the galleries of queued images) and scenes."""
    queue = NewContentQueue()
    try:
        queue.claim()  # run from the Tasks menu: hold the marker like a hook-started task
        rounds = process(queue, lambda taken: identify(client, journal, settings, taken))
    finally:
        queue.close()
    return {"rounds": rounds}


def identify(client: Any, journal: Any, settings: Any, taken: dict[str, list[str]]) -> dict:
    """One round, under the library's run lock (never beside a bulk task or an undo)."""
    from stash_sense.jobs.galleries import Galleries
    from stash_sense.jobs.run_lock import exclusive_run
    from stash_sense.jobs.scenes import Scenes

    with exclusive_run("task identify_new_content"):
        galleries = list(dict.fromkeys(taken["gallery"] + _galleries_of_images(client, taken["image"])))
        out: dict[str, Any] = {}
        if galleries:
            out["galleries"] = _run(client, journal, settings, _chosen(Galleries, galleries, client.find_gallery),
                                    "bulk_galleries")
        if taken["scene"]:
            out["scenes"] = _run(client, journal, settings, _chosen(Scenes, taken["scene"], client.find_scene),
                                 "identify_scenes")
        return out


def _galleries_of_images(client: Any, image_ids: list[str]) -> list[str]:
    """An image created inside a gallery is identified as part of that gallery."""
    found: list[str] = []
    for image_id in image_ids:
        found.extend(client.image_gallery_ids(image_id))
    return found


def _chosen(base: type, ids: list[str], find: Callable[[str], dict | None]) -> Any:
    """The kind ``base`` restricted to the given ids (read one by one: a burst is small)."""

    class Chosen(base):
        def select(self, run: Any) -> tuple[list[dict], str]:
            items = [item for item in (find(i) for i in ids) if item]
            digest = hashlib.sha1(",".join(sorted(ids)).encode()).hexdigest()[:12]
            return items, f"new content {digest}"

    return Chosen()


def _run(client: Any, journal: Any, settings: Any, kind: Any, mode: str) -> dict:
    """The bulk job for ``kind`` with the same settings, service, ledger and cache as the tasks."""
    from stash_sense.jobs.options import from_settings
    from stash_sense.jobs.runner import run_items
    from stash_sense.service import access as engine_access
    from stash_sense.service import databases
    from stash_sense.service.lazy import LazyService

    if not databases.database_paths():
        raise engine_access.NoDatabaseError(engine_access.NO_DATABASE)
    options = from_settings(settings, client.plugin_settings(), {"mode": "bulk_galleries"},
                            engine_access.calibration_thresholds(), engine_access.pack_name())
    if mode == "identify_scenes":
        from dataclasses import asdict

        from stash_sense.jobs.scenes import SceneOptions

        options = SceneOptions(**{**asdict(options), "untagged": False, "tag": None, "tag_images": False},
                               frames=settings.scene_frames, markers=settings.scene_markers)
    service = LazyService(options.pack, engine_access.engine_threads())
    try:
        return run_items(kind, client, journal, service, options)
    finally:
        service.close()
