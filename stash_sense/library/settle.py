"""Which journalled link writes Stash really applied, when its answer did not say.

A write can fail without telling whether it happened: HTTP 500 after Stash committed, a timeout,
Stash killed mid-request, our process killed before the answer. The journal then holds the
intent ("pending"), and undo must not take back an id Stash never added for us: the user may have
added that performer by hand since, and undo would remove the user's link.

A pending link mutation (ids we were adding to a target's performers or tags) is settled by
reading the target now, with Stash's ``updated_at`` of it:

- none of its ids is on the target: the write never landed -> ``failed`` (nothing to undo);
- they are there and Stash last changed the target within the write's own window (recorded at
  ``created_at``, the request bounded by the client's timeouts): nothing touched the target after
  our request, so the ids are ours -> ``done``;
- they are there but the target changed later: the user may have added them -> ``unknown``; undo
  keeps them and says so, rather than guess.

Right after a failed request the window always holds, so the answer is exact; at undo time (or when
a killed run resumes) it is exact unless the target was edited after the lost write.
"""

from __future__ import annotations

import logging
from datetime import datetime

from stash_sense.library.journal import Journal
from stash_sense.stash.client import StashClient
from stash_sense.stash.errors import StashError, StashNotFound
from stash_sense.stash.transport import WRITE_WINDOW_S

LINK_FIELDS = ("performer", "tag")
LINK_TARGETS = ("gallery", "image", "scene")
UNKNOWN = "unknown"
_log = logging.getLogger(__name__)


def is_link(mutation: dict) -> bool:
    return mutation["target_type"] in LINK_TARGETS and mutation["field"] in LINK_FIELDS


def settle(client: StashClient, journal: Journal, mutations: list[dict], *, strict: bool = False) -> dict[int, str]:
    """Decide the pending link mutations among ``mutations`` (journal rows); returns
    ``{mutation id: done | failed | unknown}`` for those Stash could be asked about.

    ``strict`` (undo): Stash not answering is an error, so nothing unproven is taken back.
    """
    decided: dict[int, str] = {}
    pending = [m for m in mutations if m["status"] == "pending" and is_link(m)]
    for target_type, target_id in dict.fromkeys((m["target_type"], m["target_id"]) for m in pending):
        try:
            links, stamps = client.link_state(target_type, [target_id])
        except StashNotFound:
            links, stamps = {target_id: {field: set() for field in LINK_FIELDS}}, {target_id: ""}
        except StashError as exc:  # Stash unreachable: stays pending, settled by the next undo or resume
            if strict:
                raise
            _log.warning("Could not check %s %s after an unanswered write: %s", target_type, target_id, exc)
            continue
        for mutation in (m for m in pending if (m["target_type"], m["target_id"]) == (target_type, target_id)):
            current = links[target_id][mutation["field"]]
            status = verdict(mutation, current, stamps[target_id])
            journal.confirm(mutation["id"], sorted(current), status=status)
            mutation["status"], mutation["after"] = status, sorted(current)
            decided[mutation["id"]] = status
    return decided


def verdict(mutation: dict, current: set[str], updated_at: str) -> str:
    """done / failed / unknown for one pending mutation, from the target's links and change time now."""
    if not set(mutation["added"]) & current:
        return "failed"
    changed = stash_time(updated_at)
    if changed is not None and changed <= mutation["created_at"] + WRITE_WINDOW_S:
        return "done"
    return UNKNOWN


def stash_time(text: str) -> float | None:
    """Seconds since the epoch of Stash's RFC 3339 ``updated_at`` (None if absent or unreadable)."""
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except (AttributeError, ValueError):
        return None


def unverified(mutations: list[dict]) -> list[dict]:
    """The ``unknown`` link writes, as undo reports them: left in place because they may be the user's."""
    return [{"target_type": m["target_type"], "target_id": m["target_id"], "field": m["field"],
             "ids": sorted(set(m["added"]) & set(m["after"] or []))} for m in mutations if m["status"] == UNKNOWN]
