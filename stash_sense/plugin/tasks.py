"""Bulk tasks: "Identify performers in all galleries" / "... in galleries without performers"
(``stash_sense.jobs``), run from Stash's Tasks menu with the progress bar and log.

The engine comes from the warm worker (``stash_sense.service.get_service``), or in this process
when the worker cannot run. "Identify scenes" (``identify_scenes``) runs ``stash_sense.jobs.scenes``
with the same service, ledger, cache and journal.
"""

from __future__ import annotations

from typing import Any

GALLERY_MODES = ("bulk_galleries", "bulk_galleries_untagged", "bulk_galleries_tagged")


class NotImplementedYet(RuntimeError):
    """A task that exists in the manifest but whose implementation has not landed."""


def run_bulk(ctx: Any, mode: str, args: dict) -> dict:
    """Entry point of the bulk task modes (``bulk_galleries``, ``bulk_galleries_untagged``, ``identify_scenes``);
    one run per library at a time (``run_lock``)."""
    from stash_sense import paths
    from stash_sense.jobs.run_lock import exclusive_run
    from stash_sense.library.disk import require_free_space

    with exclusive_run(f"task {mode}"):
        require_free_space(paths.data_dir())  # not a run that fills the disk half way
        return _run_bulk(ctx, mode, args)


def _run_bulk(ctx: Any, mode: str, args: dict) -> dict:
    if mode == "identify_scenes":
        return run_scene_task(ctx, {**args, "mode": mode})
    if mode not in GALLERY_MODES:
        raise NotImplementedYet(f"The task {mode!r} is not implemented yet in this version of Stash Sense; "
                                "identify galleries one by one from the gallery page meanwhile")
    return run_gallery_task(ctx, {**args, "mode": mode})


def run_gallery_task(ctx: Any, args: dict) -> dict:
    from stash_sense.jobs.galleries import run_bulk as run_job
    from stash_sense.jobs.options import from_settings
    from stash_sense.service import access as engine_access
    from stash_sense.service import databases
    from stash_sense.service.lazy import LazyService

    if not databases.database_paths():  # before loading any model: a clear message, no downloads
        raise engine_access.NoDatabaseError(engine_access.NO_DATABASE)
    raw = ctx.client.plugin_settings()
    options = from_settings(ctx.settings, raw, args, engine_access.calibration_thresholds(),
                            engine_access.pack_name())
    service = LazyService(options.pack, engine_access.engine_threads())
    try:
        return run_job(ctx.client, ctx.journal, service, options)
    finally:
        service.close()


def run_scene_task(ctx: Any, args: dict) -> dict:
    """The "Identify scenes" task: settings as for galleries plus frames per scene and markers."""
    from dataclasses import asdict

    from stash_sense.jobs.options import from_settings
    from stash_sense.jobs.scenes import SceneOptions, run_scenes
    from stash_sense.service import access as engine_access
    from stash_sense.service import databases
    from stash_sense.service.lazy import LazyService
    from stash_sense.settings import parse_flag

    if not databases.database_paths():
        raise engine_access.NoDatabaseError(engine_access.NO_DATABASE)
    settings = ctx.settings
    base = from_settings(settings, ctx.client.plugin_settings(), {**args, "mode": "bulk_galleries"},
                         engine_access.calibration_thresholds(), engine_access.pack_name())
    frames = int(float(args.get("frames") or 0)) or settings.scene_frames
    options = SceneOptions(**{**asdict(base), "untagged": False, "tag": None, "tag_images": False},
                           frames=frames, markers=parse_flag(args.get("markers"), settings.scene_markers))
    service = LazyService(options.pack, engine_access.engine_threads())
    try:
        return run_scenes(ctx.client, ctx.journal, service, options)
    finally:
        service.close()
