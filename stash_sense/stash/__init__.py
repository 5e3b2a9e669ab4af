"""Talking to Stash: a thin client over stashapi plus every GraphQL document we send."""

from .client import (
    StashAuthError,
    StashClient,
    StashError,
    StashGraphQLError,
    StashNotFound,
    StashUnreachable,
    connection_from_plugin_input,
    connection_from_url,
    fingerprint,
    get_client,
    reset_clients,
)

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
