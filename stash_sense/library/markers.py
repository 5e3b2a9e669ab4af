"""Scene markers at a performer's first appearance (setting "sceneMarkers", off by default).

A marker is journalled like a performer link (target scene, field ``marker``, ``added`` = the new
marker's id), so "Undo" deletes exactly the markers Stash Sense made and never one a user made.
Unlike a link, a marker's id exists only once Stash created it, so it is recorded right after the
mutation: a kill in that instant leaves one unjournalled marker (visible, titled with the name).
Markers need a primary tag; the "identified" bookkeeping tag is used.
"""

from __future__ import annotations

import logging

from stash_sense.library.writeback import WriteBack

log = logging.getLogger(__name__)

SAME_PLACE_S = 1.0  # a marker with the same title this close already marks the appearance


def first_appearance(time_ranges: list | None) -> float | None:
    """Start of the first range a person is on screen (seconds), if any."""
    starts = [float(r[0]) for r in time_ranges or [] if r]
    return min(starts) if starts else None


def add_marker(writeback: WriteBack, scene_id: str, title: str, seconds: float, tag_name: str) -> str | None:
    """Create the marker unless an equal one is there; returns its id (None: none made)."""
    client = writeback.client
    existing = client.scene_markers(scene_id)
    if any(m["title"] == title and abs(float(m["seconds"]) - seconds) < SAME_PLACE_S for m in existing):
        return None
    if writeback.dry_run:
        log.info(f"[dry run] would add marker {title!r} at {seconds:.1f}s to scene {scene_id}")
        return None
    tag_id = writeback.tag_id(tag_name)
    marker = client.create_scene_marker(scene_id, title, round(seconds, 2), tag_id)
    mutation = writeback.journal.record(writeback.run_id, "scene", str(scene_id), "marker", [str(marker["id"])],
                                        [str(m["id"]) for m in existing])
    writeback.journal.confirm(mutation, [str(m["id"]) for m in existing] + [str(marker["id"])])
    log.info(f"Added marker {title!r} at {seconds:.1f}s to scene {scene_id}")
    return str(marker["id"])


def remove_markers(client, scene_id: str, ids: set[str]) -> list[str]:
    """Delete those of ``ids`` still on the scene (undo); returns the ids deleted."""
    from stash_sense.stash.errors import StashNotFound

    try:
        present = {str(m["id"]) for m in client.scene_markers(scene_id)}
    except StashNotFound:
        return []
    gone = sorted(ids & present)
    client.destroy_scene_markers(gone)
    return gone
