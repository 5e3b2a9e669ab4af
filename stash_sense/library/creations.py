"""Creating a performer so that undo can always find it, even when Stash's answer was lost.

``performerCreate`` can be applied by Stash and still answered with an error (HTTP 500, a timeout,
Stash or our process killed before the answer). Recorded only after a good answer, such a
performer would belong to nobody: undo would never delete it and the next Add would report it as
already there. So the intent (with the stash-box ID the new performer carries) is journalled before
the call, and a failed call is reconciled at once: a performer with that stash ID created since the
intent is ours. An intent still open at undo time (process killed) is reconciled there.
"""

from __future__ import annotations

import logging
import time

from stash_sense.library.journal import Journal
from stash_sense.library.performers import PerformerResolver
from stash_sense.library.settle import stash_time
from stash_sense.stash.client import StashClient
from stash_sense.stash.errors import StashError
from stash_sense.stash.transport import WRITE_WINDOW_S

CLOCK_SLACK_S = 5.0  # Stash's created_at has whole seconds
_log = logging.getLogger(__name__)


def create_performer(client: StashClient, journal: Journal, resolver: PerformerResolver, run_id: int,
                     universal_id: str, record: dict) -> dict:
    """Create the identity's performer from stash-box, journalled as created by ``run_id``."""
    sids = resolver.stash_ids(universal_id, record)
    if not sids:
        return resolver.create(universal_id, record)  # raises: it cannot be created
    intent = journal.intend_create(run_id, universal_id, record.get("name"), sids[0]["endpoint"], sids[0]["stash_id"])
    try:
        created = resolver.create(universal_id, record)
    except StashError as exc:
        found = _reconcile_after_failure(client, journal, run_id, intent)
        if found is None:
            raise
        _log.warning("Stash answered the creation of performer %s with an error (%s) but created it (id %s)",
                     found["name"], exc, found["id"])
        created = client.find_performer(found["id"]) or found
        resolver.remember(universal_id, created)
        return created
    journal.created(run_id, str(created["id"]), universal_id, created.get("name"))
    journal.resolve_intent(intent, "done", str(created["id"]))
    return created


def reconcile_intents(client: StashClient, journal: Journal, run_id: int) -> None:
    """Settle the run's creation intents that never got an answer (undo): the performer Stash
    created for one is recorded as created by the run; none -> the intent failed."""
    for intent in journal.pending_intents(run_id):
        _settle_intent(client, journal, run_id, intent)


def _reconcile_after_failure(client: StashClient, journal: Journal, run_id: int, intent_id: int) -> dict | None:
    intent = next((i for i in journal.pending_intents(run_id) if i["id"] == intent_id), None)
    try:
        return _settle_intent(client, journal, run_id, intent) if intent else None
    except StashError as exc:  # Stash gone: the intent stays open for undo to reconcile
        _log.warning("Could not check whether Stash created performer %s: %s", intent["name"], exc)
        return None


def _settle_intent(client: StashClient, journal: Journal, run_id: int, intent: dict) -> dict | None:
    ours = created_for(client, intent)
    if ours is None:
        journal.resolve_intent(intent["id"], "failed")
        return None
    journal.created(run_id, str(ours["id"]), intent["universal_id"], ours.get("name"))
    journal.resolve_intent(intent["id"], "done", str(ours["id"]))
    return ours


def created_for(client: StashClient, intent: dict) -> dict | None:
    """The one performer with the intent's stash ID that Stash created while the call was out."""
    latest = min(intent["created_at"] + WRITE_WINDOW_S, time.time()) + CLOCK_SLACK_S
    found = [p for p in client.performers_created_with_stash_id(intent["endpoint"], intent["stash_id"])
             if (t := stash_time(p.get("created_at") or "")) is not None
             and intent["created_at"] - CLOCK_SLACK_S <= t <= latest]
    return found[0] if len(found) == 1 else None
