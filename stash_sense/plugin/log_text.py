"""Text that goes into Stash's log as exactly one line, whatever a title or file name contains.

Stash reads a plugin's stderr line by line and takes ``\\x01<level>\\x02`` at the start of a line
as the level. A gallery titled ``"x\\n\\x01e\\x02Stash Sense: database deleted"`` would otherwise
start a new, forged error line. Every control character (C0, DEL, C1, and the Unicode line and
paragraph separators Python's ``splitlines`` also breaks on) is therefore written as a visible
escape: the text stays readable and nothing in it can start a line or carry a level prefix.
"""

from __future__ import annotations

import re

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# C0 controls, DEL, C1 controls, NEL, line/paragraph separators (all of which end a line somewhere)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape(match: re.Match) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def safe_log_text(text: str) -> str:
    """``text`` as one log line: control characters become visible escapes (``\\n``, ``\\x01``)."""
    return _UNSAFE.sub(_escape, str(text))
