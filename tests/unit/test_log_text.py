"""Log forging: a title or file name must not start a new Stash log line or fake a level prefix."""

from __future__ import annotations

from stash_sense.plugin.log_text import safe_log_text

FORGED = "Holiday\n\x01e\x02Stash Sense: your database was deleted\r\x01p\x021.0"


def stash_lines(stderr: str) -> list[tuple[str, str]]:
    """What Stash's reader makes of stderr: lines split at \\n (\\r stripped), a level when the line
    starts with \\x01<code>\\x02."""
    out = []
    for line in stderr.split("\n"):
        line = line.rstrip("\r")
        if line:
            level = line[1] if len(line) > 2 and line[0] == "\x01" and line[2] == "\x02" else "?"
            out.append((level, line[3:] if level != "?" else line))
    return out


def test_forged_title_stays_one_line_of_the_real_level():
    line = f"\x01i\x02Gallery 7 ({safe_log_text(FORGED)}): nothing added\n"
    assert stash_lines(line) == [("i", "Gallery 7 (Holiday\\n\\x01e\\x02Stash Sense: your database was deleted"
                                       "\\r\\x01p\\x021.0): nothing added")]
    assert str(FORGED).splitlines() != [FORGED]  # the raw title would have been split


def test_every_line_breaking_character_is_escaped_and_ordinary_text_kept():
    breakers = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\x00\x7f\x9b"
    escaped = safe_log_text(f"a{breakers}b")
    assert escaped.splitlines() == [escaped] and "\x01" not in escaped and "\x02" not in escaped
    assert escaped == "a\\n\\r\\x0b\\x0c\\x1c\\x1d\\x1e\\x85\\u2028\\u2029\\x00\\x7f\\x9bb"
    ordinary = "Beyoncé – 東京 (2019) [50% off] \\n literally"
    assert safe_log_text(ordinary) == ordinary
    assert safe_log_text("tab\there") == "tab\\there"
    assert safe_log_text(42) == "42"
