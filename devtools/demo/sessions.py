"""Stash's session cookies: signed, time-stamped, refreshed on every answer, expired after a max age.

Why: real Stash (gorilla/sessions ``CookieStore``, ``max_session_age`` default 3600 s) encodes the
time of issue in the cookie itself. The plugin gets a fresh cookie in ``server_connection``; every
request authenticated by a cookie is answered with ``Set-Cookie: session=<re-encoded now>``, and a
cookie older than the max age is refused (401 on /graphql, a redirect to the login page for media).
Go reads the *first* ``session`` cookie of the request header, so a client that keeps sending its
first cookie in front of the refreshed one is logged out after an hour. The demo does the same, with
a max age a test can set to seconds.

A fixed ``static`` value (the demo's ``session=`` argument) stands for a browser's login that tests
keep alive by hand; it never expires.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import os
import time

COOKIE_NAME = "session"
DEFAULT_MAX_AGE = 3600.0


class SessionStore:
    """Issues and checks signed session cookies with an issue time, like gorilla's securecookie."""

    def __init__(self, static: str | None, max_age: float = DEFAULT_MAX_AGE):
        self.static = static
        self.max_age = float(max_age)
        self._key = os.urandom(32)

    def issue(self) -> str:
        """A new cookie value stamped now (``MakePluginCookie`` / the refresh on each answer)."""
        stamp = f"{time.time():.6f}".encode()
        return base64.urlsafe_b64encode(stamp + b"|" + self._sign(stamp)).decode()

    def valid(self, value: str | None) -> bool:
        """True for the static login or a correctly signed cookie younger than the max age."""
        if not value:
            return False
        if self.static is not None and hmac.compare_digest(value, self.static):
            return True
        try:
            stamp, signature = base64.urlsafe_b64decode(value.encode()).split(b"|", 1)
            issued = float(stamp)
        except (ValueError, TypeError):
            return False
        return hmac.compare_digest(signature, self._sign(stamp)) and time.time() - issued <= self.max_age

    def set_cookie_header(self) -> str:
        """The ``Set-Cookie`` value Stash sends when it refreshes a session (host-only, path /)."""
        seconds = math.ceil(self.max_age)
        expires = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + seconds))
        return f"{COOKIE_NAME}={self.issue()}; Path=/; Expires={expires}; Max-Age={seconds}; SameSite=Lax"

    def _sign(self, stamp: bytes) -> bytes:
        return hmac.new(self._key, stamp, hashlib.sha256).hexdigest().encode()


def first_cookie(header: str | None, name: str = COOKIE_NAME) -> str | None:
    """The first ``name=`` cookie of a Cookie header, as Go's ``Request.Cookie`` returns it."""
    for part in (header or "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip().strip('"')
    return None
