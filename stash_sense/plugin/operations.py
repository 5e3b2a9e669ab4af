"""``args.mode`` -> what the plugin does. The shapes here are the contract with the UI (issue 6).

Operations (``runPluginOperation``, answer goes to the browser): identify_gallery, identify_image,
identify_scene, apply, reject, suggestions. Tasks (``runPluginTask``, progress bar, output only logged):
download_db, enroll_local, undo_last_run, and the bulk modes (``tasks.py``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import cached_property
from typing import Any

from stash_sense import settings as settings_mod
from stash_sense.jobs.identify_target import band, identify_target
from stash_sense.library.journal import Journal
from stash_sense.library.performers import PerformerResolver
from stash_sense.library.undo import rollback
from stash_sense.library.writeback import WriteBack
from stash_sense.plugin import hooks, library_ops
from stash_sense.plugin import tasks as bulk
from stash_sense.progress import report_progress
from stash_sense.service import access as engine_access
from stash_sense.stash.client import StashClient

log = logging.getLogger(__name__)

TARGET_TYPES = ("gallery", "image", "scene")


class UserError(ValueError):
    """Bad or missing arguments; the message goes to the user as is."""


class Context:
    """What one plugin invocation works with; everything is opened on first use."""

    def __init__(self, plugin_input: dict):
        self.server_connection = plugin_input.get("server_connection") or {}
        self.args = plugin_input.get("args") or {}

    @cached_property
    def client(self) -> StashClient:
        return StashClient.from_plugin_input(self.server_connection)

    @cached_property
    def settings(self) -> settings_mod.Settings:
        """Read once per call; "Low memory" reaches the engine worker through its environment."""
        raw = self.client.plugin_settings()
        settings = settings_mod.from_stash(raw)
        note = settings_mod.zero_threshold_note(raw)
        if note:
            log.warning(note)
        os.environ["STASH_SENSE_MEMORY"] = "low" if settings.low_memory else "full"
        if settings.device not in settings_mod.DEVICES:
            raise UserError(f"Setting \"Device\": {settings.device!r} is not one of {', '.join(settings_mod.DEVICES)}")
        os.environ["STASH_SENSE_DEVICE"] = settings.device  # the worker's build id includes it
        if settings.engine_url:  # the remote engine (stash_sense.service.remote_engine); else Stash's env
            os.environ["STASH_SENSE_ENGINE_URL"] = settings.engine_url
            os.environ["STASH_SENSE_ENGINE_TOKEN"] = settings.engine_token
        if settings.engine_stash_url:
            os.environ["STASH_SENSE_ENGINE_STASH_URL"] = settings.engine_stash_url
        return settings

    @cached_property
    def journal(self) -> Journal:
        return Journal()

    @property
    def dry_run(self) -> bool:
        """``args.dry_run`` (per call) wins over the setting."""
        value = self.args.get("dry_run")
        return settings_mod.parse_flag(value, self.settings.dry_run)

    def writeback(self, kind: str) -> WriteBack:
        return WriteBack(self.client, self.journal, kind, dry_run=self.dry_run,
                         create_performers=self.settings.create_performers)

    def close(self) -> None:
        if "journal" in self.__dict__:
            self.journal.close()


def arg(args: dict, name: str, *, choices: tuple | None = None) -> str:
    value = args.get(name)
    if value is None or str(value).strip() == "":
        raise UserError(f"missing argument {name!r}")
    value = str(value).strip()
    if choices and value not in choices:
        raise UserError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


# --- identify -----------------------------------------------------------------------------------


def click_journal(ctx: Context) -> Journal:
    """The journal for an identify click; on a disk too full to open it, a read-only stand-in:
    the click still answers, only its suggestions are not stored (``FullDiskJournal``)."""
    from stash_sense import paths
    from stash_sense.library.disk import disk_full_message, is_disk_full
    from stash_sense.library.full_disk_journal import FullDiskJournal
    from stash_sense.library.journal import journal_path

    try:
        return ctx.journal
    except Exception as exc:
        if not is_disk_full(exc, paths.data_dir()):
            raise
        log.warning(f"Stash Sense: {disk_full_message(paths.data_dir())} This identification's suggestions "
                    "will not be stored.")
        return FullDiskJournal(journal_path())  # type: ignore[return-value]


def identify_gallery(ctx: Context) -> dict:
    max_images = ctx.args.get("max_images")
    return identify_target(ctx.client, ctx.settings, click_journal(ctx), "gallery", arg(ctx.args, "gallery_id"),
                           int(max_images) if max_images else None)


def identify_image(ctx: Context) -> dict:
    return identify_target(ctx.client, ctx.settings, click_journal(ctx), "image", arg(ctx.args, "image_id"))


def identify_scene(ctx: Context) -> dict:
    """A scene's frames; a video that cannot be read is this scene's error, in plain words."""
    from stash_sense.jobs.identify_scene import identify_scene_target

    scene_id = arg(ctx.args, "scene_id")
    frames = ctx.args.get("frames")
    try:
        return identify_scene_target(ctx.client, ctx.settings, click_journal(ctx), scene_id,
                                     int(frames) if frames else None)
    except Exception as exc:  # engine.video.VideoError, not imported: a remote engine's plugin has no OpenCV
        if type(exc).__name__ != "VideoError":
            raise
        raise UserError(f"Scene {scene_id}: cannot read its video: {exc}") from exc


# --- apply / reject / suggestions -------------------------------------------------------------------


def performer_record(journal: Journal, target_type: str, target_id: str, universal_id: str) -> dict:
    """What we know about an identity: the stored suggestion, else the databases' performer records."""
    for person in journal.suggestions(target_type, target_id):
        for candidate in person["candidates"]:
            if candidate["universal_id"] == universal_id:
                return candidate
    return engine_access.database_record(universal_id)


def apply(ctx: Context) -> dict:
    target_type = arg(ctx.args, "target_type", choices=TARGET_TYPES)
    target_id = arg(ctx.args, "target_id")
    universal_id = arg(ctx.args, "universal_id")
    image_ids = [str(i) for i in ctx.args.get("image_ids") or [] if str(i) != target_id or target_type != "image"]
    record = performer_record(ctx.journal, target_type, target_id, universal_id)
    writeback = ctx.writeback("apply")
    try:
        performer_id, created = writeback.performer_for(universal_id, record)
        tag_id = writeback.tag_id(ctx.settings.identified_tag)
        on_target = writeback.add(target_type, [target_id], performer_ids=[performer_id], tag_ids=[tag_id])
        on_images = writeback.add("image", image_ids, performer_ids=[performer_id]) if image_ids else {}
        marker = _first_appearance_marker(ctx, writeback, target_type, target_id, universal_id, record)
        writeback.finish({"target": [target_type, target_id], "universal_id": universal_id})
    except Exception as exc:
        rollback(ctx.client, ctx.journal, writeback.run_id, str(exc))
        raise
    added: dict[str, list[str]] = {"gallery" if target_type == "image" else target_type: [], "image": []}
    for kind, plan in ((target_type, on_target), ("image", on_images)):
        added.setdefault(kind, []).extend(i for i, p in plan.items() if p["performer"])
    out = {"performer_id": performer_id, "created": created, "added": added}
    if target_type == "scene":
        out["marker_id"] = marker
    if ctx.dry_run:
        out["dry_run"] = True
    return out


def _first_appearance_marker(ctx: Context, writeback: WriteBack, target_type: str, target_id: str,
                             universal_id: str, record: dict) -> str | None:
    """With "sceneMarkers" on: a marker where the person was first seen (from the stored suggestion,
    or ``args.seconds``)."""
    from stash_sense.library.markers import add_marker, first_appearance

    if target_type != "scene" or not settings_mod.parse_flag(ctx.args.get("markers"), ctx.settings.scene_markers):
        return None
    seconds = ctx.args.get("seconds")
    if seconds is None:
        seconds = next((first_appearance(p.get("time_ranges")) for p in ctx.journal.suggestions("scene", target_id)
                        if any(c["universal_id"] == universal_id for c in p["candidates"])), None)
    if seconds is None:
        log.warning(f"Stash Sense: no appearance time known for {universal_id} in scene {target_id}; no marker")
        return None
    name = str(record.get("name") or universal_id)
    return add_marker(writeback, target_id, name, float(seconds), ctx.settings.identified_tag)


def reject(ctx: Context) -> dict:
    target_type = arg(ctx.args, "target_type", choices=TARGET_TYPES)
    target_id, universal_id = arg(ctx.args, "target_id"), arg(ctx.args, "universal_id")
    ctx.journal.reject(target_type, target_id, universal_id)
    ctx.journal.clear_suggestions(target_type, target_id, universal_id)
    log.info(f"Stash Sense: will not propose {universal_id} for {target_type} {target_id} again")
    return {"rejected": True}


def suggestions(ctx: Context) -> dict:
    """Stored suggestions, refreshed against Stash (on_target, local performer) and rejections."""
    target_type = arg(ctx.args, "target_type", choices=TARGET_TYPES)
    target_id = arg(ctx.args, "target_id")
    thresholds = ctx.settings.thresholds(engine_access.calibration_thresholds())
    persons = ctx.journal.suggestions(target_type, target_id)
    rejected = ctx.journal.rejected(target_type, target_id)
    on_target = ctx.client.links(target_type, [target_id])[target_id]["performer"] if persons else set()
    resolver = PerformerResolver(ctx.client)
    for person in persons:
        for candidate in person["candidates"]:
            local = resolver.find_local(candidate["universal_id"], candidate)
            candidate["local_performer_id"] = str(local["id"]) if local else None
            candidate["on_target"] = candidate["local_performer_id"] in on_target
            candidate["rejected"] = candidate["universal_id"] in rejected
            candidate["band"] = band(candidate["confidence"], thresholds, bool(person.get("incidental")))
        person["candidates"] = [c for c in person["candidates"] if not c["rejected"]]
        person["unknown"] = not any(c["confidence"] >= thresholds["review"] for c in person["candidates"])
    return {"target": {"type": target_type, "id": target_id}, "persons": [p for p in persons if p["candidates"]],
            "thresholds": thresholds}


# --- tasks --------------------------------------------------------------------------------------


def undo_last_run(ctx: Context) -> dict:
    from stash_sense.jobs.run_lock import exclusive_run
    from stash_sense.library.undo import undo_last

    if ctx.dry_run:
        run = ctx.journal.last_undoable_run(ctx.args.get("run_kind"))
        log.info(f"[dry run] would undo run {run['id'] if run else None}")
        return {"run_id": run["id"] if run else None, "dry_run": True}
    with exclusive_run("task undo_last_run"):  # not under a bulk run that is still writing
        undone = undo_last(ctx.client, ctx.journal, ctx.args.get("run_kind") or None)
        library_ops.after_undo(ctx)
    return undone


def _not_with_a_remote_engine(ctx: Context, task: str, instead: str) -> None:
    """Database tasks act on this machine's data folder; a remote engine reads its own."""
    ctx.settings  # noqa: B018 (read: "Engine URL" decides)
    if engine_access.is_remote():
        raise UserError(f"\"{task}\" installs into this machine's data folder, but the plugin uses the engine at "
                        f"{os.environ.get('STASH_SENSE_ENGINE_URL')}, which reads its own: {instead}")


def download_db(ctx: Context) -> dict:
    _not_with_a_remote_engine(ctx, "Download/update face database",
                              "run `stash-sense db download` where the engine runs (with its --data-dir as "
                              "STASH_SENSE_DATA_DIR)")
    from stash_sense.engine.database import read_manifest
    from stash_sense.engine.packs import load_pack
    from stash_sense.engine.releases import install_release
    from stash_sense.service import databases

    source = str(ctx.args.get("url") or ctx.settings.database_source_url)
    log.info(f"Stash Sense: downloading the face database from {source}")
    path = install_release(source, load_pack(engine_access.pack_name()), databases.release_root(),
                           progress=_download_progress())
    engine_access.forget()
    manifest = read_manifest(path)
    log.info(f"Stash Sense: face database {manifest.get('version')} installed")
    return {"installed": manifest.get("version"), "performers": manifest.get("performer_count"), "path": str(path)}


def _download_progress() -> Callable[[int, int | None], None]:
    last = [-1.0]

    def report(done: int, total: int | None) -> None:
        if total:
            fraction = done / total
            if fraction - last[0] >= 0.01 or done >= total:
                last[0] = fraction
                report_progress(log, fraction)

    return report


def enroll_local(ctx: Context) -> dict:
    _not_with_a_remote_engine(ctx, "Build local reference from my performers",
                              "run the task with \"Engine URL\" empty on a Stash that can run the engine, then "
                              "copy data/local_db into the engine's data folder")
    from stash_sense.jobs.enroll import enroll_local as run

    return run(ctx.client, ctx.journal, ctx.settings)


def _bulk(mode: str) -> Callable[[Context], Any]:
    return lambda ctx: bulk.run_bulk(ctx, mode, ctx.args)


def setup(ctx: Context) -> dict:
    """"Set up / repair environment" reaching the plugin itself: the bootstrap has done the work (or
    was skipped); the environment this runs in is the answer."""
    import sys

    return {"environment": sys.prefix, "python": sys.executable, "ready": True}


# Modes Stash runs as tasks (stash_sense.yml): their outcome is recorded, as Stash's job keeps none
# every task of the manifest: the UI asks how the one it started ended (task_outcome)
TASK_MODES = frozenset({"setup", "download_db", "enroll_local", "undo_last_run", "bulk_galleries",
                        "bulk_galleries_untagged", "bulk_galleries_tagged", "identify_scenes", "unknown_people",
                        "library_index_rebuild", "identify_new_content"})


def task_outcome(ctx: Context) -> dict:
    """How the last run of a task ended (``task``: its mode; ``since``: the job's ``startTime``, so an
    older run is not mistaken for it): what the UI shows when Stash says FINISHED regardless."""
    from datetime import datetime

    from stash_sense.library.outcomes import TaskOutcomes

    mode = str(ctx.args.get("task") or "")
    if mode not in TASK_MODES:
        raise UserError(f"unknown task {mode!r}; expected one of {', '.join(sorted(TASK_MODES))}")
    since_text = str(ctx.args.get("since") or "")
    try:
        since = datetime.fromisoformat(since_text).timestamp() - 1.0 if since_text else 0.0
    except ValueError as exc:
        raise UserError(f"since must be a time such as Stash's job startTime, not {since_text!r}") from exc
    outcomes = TaskOutcomes()
    try:
        return outcomes.last(mode, since)
    finally:
        outcomes.close()


OPERATIONS: dict[str, Callable[[Context], Any]] = {
    "task_outcome": task_outcome,
    "setup": setup,
    "identify_gallery": identify_gallery,
    "identify_image": identify_image,
    "identify_scene": identify_scene,
    "apply": apply,
    "reject": reject,
    "suggestions": suggestions,
    "download_db": download_db,
    "enroll_local": enroll_local,
    "undo_last_run": undo_last_run,
    "bulk_galleries": _bulk("bulk_galleries"),
    "bulk_galleries_untagged": _bulk("bulk_galleries_untagged"),
    "bulk_galleries_tagged": _bulk("bulk_galleries_tagged"),
    "identify_scenes": _bulk("identify_scenes"),
    **library_ops.OPERATIONS,
    **hooks.OPERATIONS,
}


def _page_operations() -> dict[str, Callable[[Context], Any]]:
    from stash_sense.plugin.page import OPERATIONS as PAGE

    return PAGE


OPERATIONS.update(_page_operations())


def dispatch(ctx: Context) -> Any:
    """Run the mode on its arguments checked and normalised against the one schema (``arguments``)."""
    from stash_sense.plugin.arguments import ArgumentError, validate

    try:
        ctx.args = validate(ctx.args)
    except ArgumentError as exc:
        raise UserError(str(exc)) from exc
    return OPERATIONS[ctx.args["mode"]](ctx)
