"""Operations of the Stash Sense page (``/plugin/stash-sense`` in Stash's UI): the review queue,
the run history with undo of any run, the database/engine state and the threshold preview.

Each answers fast and without loading the engine: the page must open on a library with a missing
or broken database and say what to do (``page_status`` reports the problem instead of failing).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from stash_sense.jobs import review_queue as queue
from stash_sense.library.journal import QueueFilter
from stash_sense.service import access as engine_access

log = logging.getLogger(__name__)

NO_DATABASE_HINT = ('No face database is installed. Click "Download / update" below (or run the task '
                    '"Download/update face database"), or build one from your performers with '
                    '"Build local reference from my performers".')


def review_queue(ctx: Any) -> dict:
    args = ctx.args
    tag_targets = queue.tagged_targets(ctx.client, args["tag_id"]) if args.get("tag_id") else None
    where = QueueFilter(target_types=(args["target_type"],) if args.get("target_type") else (),
                        min_confidence=args.get("min_confidence", 0.0), max_confidence=args.get("max_confidence", 1.0),
                        performer=args.get("performer"), target_ids=tag_targets)
    thresholds = ctx.settings.thresholds(engine_access.calibration_thresholds())
    return queue.queue_page(ctx.client, ctx.journal, where, thresholds, args.get("page", 1), args.get("per_page", 20))


def review_decide(ctx: Any) -> dict:
    try:
        return queue.decide(ctx.client, ctx.journal, ctx.settings, ctx.args["universal_id"], ctx.args["targets"],
                            ctx.args["decision"])
    except queue.AlreadyDecided as exc:
        return {"already_decided": True, "message": str(exc), "added": []}


def runs(ctx: Any) -> dict:
    page, per_page = ctx.args.get("page", 1), ctx.args.get("per_page", 50)
    total, items = ctx.journal.runs_page(per_page, (page - 1) * per_page)
    for item in items:
        summary = item.get("summary") or {}
        summary.pop("restore", None)  # the claimed rows (face crops): only undo needs them
    return {"total": total, "page": page, "per_page": per_page, "runs": items}


def undo_preview(ctx: Any) -> dict:
    return queue.undo_preview(ctx.client, ctx.journal, ctx.args["run_id"])


def undo_run(ctx: Any) -> dict:
    """Undo one run from the Runs tab; an undone naming also takes its faces out of the local database."""
    from stash_sense.plugin import library_ops

    undone = queue.undo_any(ctx.client, ctx.journal, ctx.settings, ctx.args["run_id"])
    library_ops.after_undo(ctx)
    return undone


def page_status(ctx: Any) -> dict:
    """Databases, engine and thresholds; every part that fails says why instead of failing the page."""
    out: dict[str, Any] = {"databases": _databases(), "engine": _engine()}
    if not out["databases"]:
        out["problem"] = NO_DATABASE_HINT
    try:
        out["thresholds"] = ctx.settings.thresholds(engine_access.calibration_thresholds())
        out["calibration"] = _calibration()
    except Exception as exc:  # a broken pack file: the page still opens
        out["problem"] = f"The model pack's calibration cannot be read ({exc}); reinstall the plugin."
    return out


def _databases() -> list[dict]:
    import json

    from stash_sense.engine.releases import installed_info
    from stash_sense.service import databases

    out = []
    release = installed_info(databases.release_root())
    for path in databases.database_paths():
        entry: dict[str, Any] = {"path": str(path), "kind": "local" if path == databases.local_db_path() else "release",
                                 "size_bytes": sum(p.stat().st_size for p in path.rglob("*") if p.is_file())}
        try:
            manifest = json.loads((path / "manifest.json").read_text())
            performers = json.loads((path / "performers.json").read_text())
            entry.update(version=str(manifest.get("version")), pack=manifest.get("pack"),
                         performers=manifest.get("performer_count") or len(performers),
                         faces=sum(int(r.get("face_count") or 0) for r in performers.values()))
        except (OSError, ValueError, AttributeError) as exc:
            entry["problem"] = (f"Broken database files ({type(exc).__name__}); verify it, roll back or download "
                                "it again.")
        if entry["kind"] == "release":
            entry["previous"] = release.get("previous")
        out.append(entry)
    return out


def _engine() -> dict:
    """Worker (running or not) or in-process, memory mode; no engine is started to find out."""
    import os

    from stash_sense.service import databases
    from stash_sense.service.launcher import is_live
    from stash_sense.service.location import worker_paths

    pack = engine_access.pack_name()
    worker_allowed = os.environ.get("STASH_SENSE_WORKER", "1") != "0"
    live = worker_allowed and is_live(worker_paths(pack).socket)
    return {"pack": pack, "mode": "worker" if worker_allowed else "in-process",
            "state": "running" if live else "stopped (starts on the next identification)",
            "running": live, "memory": databases.memory_mode(), "threads": engine_access.engine_threads()}


def _calibration() -> dict:
    """What the calibrated thresholds meant on the pack's calibration data."""
    import json
    from pathlib import Path

    path = Path(engine_access.__file__).resolve().parents[1] / "engine" / "packs" / \
        f"{engine_access.pack_name()}.calibration.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    return {"auto": data.get("auto_threshold"), "review": data.get("review_threshold"),
            "auto_precision": 0.99, "review_precision": 0.90, "fitted_on": data.get("fitted_on") or {}}


def check_update(ctx: Any) -> dict:
    """The latest release at the configured source, looked up without downloading it."""
    from stash_sense.engine.releases import ReleaseError, find_release, installed_info
    from stash_sense.service import databases

    source = str(ctx.settings.database_source_url)
    installed = installed_info(databases.release_root()).get("version")
    if not source.startswith("https://api.github.com/"):
        return {"source": source, "installed": installed, "latest": None,
                "message": "The source is a file or direct link; its version is known only after download."}
    try:
        latest = find_release(source)
    except ReleaseError as exc:
        return {"source": source, "installed": installed, "latest": None, "message": str(exc)}
    return {"source": source, "installed": installed, "latest": latest.version, "size": latest.size,
            "update_available": latest.version != installed}


def verify_db(ctx: Any) -> dict:
    from stash_sense.engine.releases import verify_active
    from stash_sense.service import databases

    bad = verify_active(databases.release_root())
    return {"ok": not bad, "damaged": bad}


def rollback_db(ctx: Any) -> dict:
    from stash_sense.engine.releases import rollback
    from stash_sense.service import databases

    path = rollback(databases.release_root())
    engine_access.forget()
    return {"active": str(path)}


def stop_worker(ctx: Any) -> dict:
    from stash_sense.service.launcher import stop_worker as stop

    return {"stopped": stop(engine_access.pack_name())}


def threshold_preview(ctx: Any) -> dict:
    """How many stored suggestions an auto threshold of ``auto`` would have tagged automatically."""
    return {"auto": ctx.args["auto"], **ctx.journal.count_at_or_above(ctx.args["auto"])}


OPERATIONS: dict[str, Callable[[Any], Any]] = {
    "review_queue": review_queue, "review_decide": review_decide, "runs": runs, "undo_preview": undo_preview,
    "undo_run": undo_run, "page_status": page_status, "check_update": check_update, "verify_db": verify_db,
    "rollback_db": rollback_db, "stop_worker": stop_worker, "threshold_preview": threshold_preview,
}
