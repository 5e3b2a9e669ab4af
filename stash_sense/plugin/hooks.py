"""Stash hooks for new content (``Gallery.Create.Post``, ``Scene.Create.Post``, ``Image.Create.Post``)
and the task that identifies what they queued (``jobs.new_content``).

The hook path imports nothing heavy (no engine, no numpy): it reads the settings, queues the id and
at most once per burst asks Stash to run "Identify new content". An image created inside a gallery
is identified as part of that gallery.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

TASK_NAME = "Identify new content"
HOOK_KINDS = {"Gallery": "gallery", "Scene": "scene", "Image": "image"}


def on_hook(ctx: Any) -> dict:
    """One created object: queued when "Identify new galleries and scenes" is on (returns at once)."""
    from stash_sense.jobs.new_content import NewContentQueue
    from stash_sense.stash.queries import RUN_PLUGIN_TASK

    hook = ctx.args.get("hookContext") or {}
    kind = HOOK_KINDS.get(str(hook.get("type") or "").split(".")[0])
    if kind is None or hook.get("id") is None or not ctx.settings.identify_new_content:
        return {"queued": False}
    queue = NewContentQueue()
    try:
        queue.add(kind, str(hook["id"]))
        started = queue.claim()
    finally:
        queue.close()
    if started:
        ctx.client.call(RUN_PLUGIN_TASK, {"plugin_id": "stash_sense", "task_name": TASK_NAME,
                                          "description": TASK_NAME, "args_map": {"mode": "identify_new_content"}})
        log.info(f"Stash Sense: new {kind} {hook['id']} queued; identification starts when the scan settles")
    return {"queued": True, "task_started": started}


def identify_new_content(ctx: Any) -> dict:
    """Task: identify the queued galleries (and the galleries of queued images) and scenes."""
    from stash_sense.jobs.new_content import NewContentQueue, process

    queue = NewContentQueue()
    try:
        queue.claim()  # run from the Tasks menu: hold the marker like a hook-started task
        rounds = process(queue, lambda taken: _identify(ctx, taken))
    finally:
        queue.close()
    return {"rounds": rounds}


def _identify(ctx: Any, taken: dict[str, list[str]]) -> dict:
    """One round, under the library's run lock (never beside a bulk task or an undo)."""
    from stash_sense.jobs.run_lock import exclusive_run

    with exclusive_run("task identify_new_content"):
        return _identify_locked(ctx, taken)


def _identify_locked(ctx: Any, taken: dict[str, list[str]]) -> dict:
    from stash_sense.jobs.galleries import Galleries
    from stash_sense.jobs.scenes import Scenes

    galleries = list(dict.fromkeys(taken["gallery"] + _galleries_of_images(ctx.client, taken["image"])))
    out: dict[str, Any] = {}
    if galleries:
        out["galleries"] = _run(ctx, _chosen(Galleries, galleries, ctx.client.find_gallery), "bulk_galleries")
    if taken["scene"]:
        out["scenes"] = _run(ctx, _chosen(Scenes, taken["scene"], ctx.client.find_scene), "identify_scenes")
    return out


def _galleries_of_images(client: Any, image_ids: list[str]) -> list[str]:
    found: list[str] = []
    for image_id in image_ids:
        found.extend(client.image_gallery_ids(image_id))
    return found


def _chosen(base: type, ids: list[str], find: Callable[[str], dict | None]) -> Any:
    """The kind ``base`` restricted to the given ids (read one by one: a burst is small)."""

    class Chosen(base):  # type: ignore[misc, valid-type]
        def select(self, run: Any) -> tuple[list[dict], str]:
            items = [item for item in (find(i) for i in ids) if item]
            digest = hashlib.sha1(",".join(sorted(ids)).encode()).hexdigest()[:12]
            return items, f"new content {digest}"

    return Chosen()


def _run(ctx: Any, kind: Any, mode: str) -> dict:
    """The bulk job for ``kind`` with the same settings, service, ledger and cache as the tasks."""
    from stash_sense.jobs.options import from_settings
    from stash_sense.jobs.runner import run_items
    from stash_sense.service import access as engine_access
    from stash_sense.service import databases
    from stash_sense.service.lazy import LazyService

    if not databases.database_paths():
        raise engine_access.NoDatabaseError(engine_access.NO_DATABASE)
    options = from_settings(ctx.settings, ctx.client.plugin_settings(), {"mode": "bulk_galleries"},
                            engine_access.calibration_thresholds(), engine_access.pack_name())
    if mode == "identify_scenes":
        from dataclasses import asdict

        from stash_sense.jobs.scenes import SceneOptions

        options = SceneOptions(**{**asdict(options), "untagged": False, "tag": None, "tag_images": False},
                               frames=ctx.settings.scene_frames, markers=ctx.settings.scene_markers)
    service = LazyService(options.pack, engine_access.engine_threads())
    try:
        return run_items(kind, ctx.client, ctx.journal, service, options)
    finally:
        service.close()


OPERATIONS: dict[str, Callable[[Any], Any]] = {
    "new_content_hook": on_hook,
    "identify_new_content": identify_new_content,
}
