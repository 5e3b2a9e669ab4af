"""Talking to Stash: a thin client over stashapi plus every GraphQL document we send."""

from .client import StashClient, get_client, reset_clients
from .connection import connection_from_plugin_input, connection_from_url
from .errors import StashAuthError, StashError, StashGraphQLError, StashNotFound, StashUnreachable
from .files import fingerprint

__all__ = [
    "StashAuthError",
    "StashClient",
    "StashError",
    "StashGraphQLError",
    "StashNotFound",
    "StashUnreachable",
    "connection_from_plugin_input",
    "connection_from_url",
    "fingerprint",
    "get_client",
    "reset_clients",
]
