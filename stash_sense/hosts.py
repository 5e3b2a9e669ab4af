"""Where Stash is, from where it says it listens: the one rule for the client and the bootstrap.

Standard library only: ``stash_sense_plugin.py`` imports this before any requirement is installed
(it reads the plugin's settings from Stash with urllib), and the client imports it to build its
URLs, so both reach Stash at the same address and check its certificate under the same rule.
"""

from __future__ import annotations

import ipaddress


def url_host(host: str) -> str:
    """The host part of a URL to Stash: an any-address becomes loopback, an IPv6 literal gets brackets.

    Stash's ``host`` setting (sent as ``server_connection.Host``) is where it listens: ``0.0.0.0``
    or ``::`` is not an address to connect to, and ``http://::1:9999`` is not a URL.
    """
    host = host.strip()
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if bare in ("", "0.0.0.0"):
        return "127.0.0.1" if bare else "localhost"
    if bare == "::":
        return "[::1]"
    return f"[{bare}]" if ":" in bare else bare


def is_loopback(host: str) -> bool:
    """``localhost``, ``127.x.x.x`` or ``::1`` (brackets allowed): Stash on this very machine."""
    bare = host.strip().strip("[]")
    if bare == "localhost":
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


def verify_certificate(scheme: str, host: str, verify_ssl: bool = True) -> bool:
    """Check Stash's TLS certificate, except on loopback.

    Stash with its own certificate (``Scheme: https`` in ``server_connection``) is reached on
    127.0.0.1, a name its certificate cannot carry, and a self-signed one has no CA either; on
    loopback nothing travels over a network, so there is nothing for the check to protect.
    """
    return verify_ssl and not (scheme == "https" and is_loopback(host))
