"""Stash hooks for new content (``Gallery.Create.Post``, ``Scene.Create.Post``, ``Image.Create.Post``)
and the "Identify new content" task: the adapter only. Queueing, debounce and identification are
``jobs.new_content``.

The hook path imports nothing heavy (no engine, no numpy): Stash runs one plugin process per hook,
inside the scan that created the object, and waits for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TASK_NAME = "Identify new content"
HOOK_KINDS = {"Gallery": "gallery", "Scene": "scene", "Image": "image"}


def on_hook(ctx: Any) -> dict:
    """One created object (``args.hookContext`` = {id, type, input, inputFields}): queued when
    "Identify new galleries and scenes" is on; the first of a burst asks Stash to run the task."""
    from stash_sense.jobs.new_content import queue_created
    from stash_sense.stash.queries import RUN_PLUGIN_TASK

    hook = ctx.args.get("hookContext") or {}
    kind = HOOK_KINDS.get(str(hook.get("type") or "").split(".")[0])
    if kind is None or hook.get("id") is None or not ctx.settings.identify_new_content:
        return {"queued": False}
    return queue_created(kind, str(hook["id"]), lambda: ctx.client.call(RUN_PLUGIN_TASK, {
        "plugin_id": "stash_sense", "task_name": TASK_NAME, "description": TASK_NAME,
        "args_map": {"mode": "identify_new_content"}}))


def identify_new_content(ctx: Any) -> dict:
    """Task: identify what the hooks queued (``jobs.new_content.run_task``)."""
    from stash_sense.jobs.new_content import run_task

    return run_task(ctx.client, ctx.journal, ctx.settings)


OPERATIONS: dict[str, Callable[[Any], Any]] = {
    "new_content_hook": on_hook,
    "identify_new_content": identify_new_content,
}
