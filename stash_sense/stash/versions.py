"""Which Stash versions we talk to: the oldest schema our documents are validated against.

Refusing an older Stash up front gives one clear message instead of a GraphQL error on whichever
document first uses a field that Stash does not have yet.
"""

from __future__ import annotations

from typing import Any

from . import queries as Q
from .errors import StashTooOld


def check_version(version: Any) -> None:
    """Refuse a Stash older than the oldest schema our documents are tested against, in one message.

    ``version`` is stashapi's ``StashVersion`` (or anything with major/minor/patch). A build without
    a release tag parses as 0.0.0: unknown, so it is let through rather than refused.
    """
    found = (int(version.major), int(version.minor), int(version.patch))
    if found == (0, 0, 0) or found >= Q.MIN_STASH_VERSION:
        return
    need = "v" + ".".join(map(str, Q.MIN_STASH_VERSION))
    raise StashTooOld(f"Stash Sense needs Stash {need} or newer; this Stash is v{'.'.join(map(str, found))}. "
                      "Update Stash, then run Stash Sense again.")
