"""What can go wrong talking to Stash, as one exception family.

stashapi logs GraphQL errors and returns partial data (or ``{}``); the client turns every failure
into a ``StashError`` subclass instead, so callers catch one type and show ``str(exc)`` to the user,
and the subclasses say what to do about it (retry a read, fix credentials, update Stash).
"""

from __future__ import annotations


class StashError(Exception):
    """Any failure talking to Stash; ``str(exc)`` is meant to be shown to the user."""


class StashUnreachable(StashError):
    """No HTTP answer at all (Stash not running, wrong host/port)."""


class StashAuthError(StashError):
    """HTTP 401/403: wrong or expired session cookie / API key."""


class StashGraphQLError(StashError):
    """Stash answered with GraphQL ``errors`` (invalid query, failed mutation)."""

    def __init__(self, message: str, errors: list[dict] | None = None):
        super().__init__(message)
        self.errors = errors or []


class StashNotFound(StashError):
    """The requested object or file does not exist in Stash (e.g. image 404)."""


class StashTimeout(StashUnreachable):
    """Stash accepted the connection but did not answer in time (hung or overloaded)."""


class StashServerError(StashError):
    """HTTP 5xx without a GraphQL error: Stash failed internally (a read may succeed when retried)."""


class StashTooOld(StashError):
    """Stash older than ``queries.MIN_STASH_VERSION``: our documents would fail its schema."""
