"""The stdout/stderr protocol pieces: one JSON object out, nothing else on stdout, prefixed logs."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

from conftest import REPO

from stash_sense import settings as settings_mod
from stash_sense.plugin import protocol
from stash_sense.progress import report_progress

NOISY = r"""
import os, sys
sys.path.insert(0, {repo!r})
import logging
from stash_sense.plugin import protocol
from stash_sense.progress import report_progress
protocol.install_stash_logging()
log = logging.getLogger("stash_sense.test")
with protocol.guard_stdout() as out:
    print("stray print")
    os.write(1, b"native write\n")
    log.info("hello\nworld")
    report_progress(log, 1.7)
    out.write(protocol.result_json({{"ok": True}}) + "\n")
print("after")
"""


def test_guard_keeps_stdout_to_the_result():
    proc = subprocess.run([sys.executable, "-c", NOISY.format(repo=str(REPO))], capture_output=True, text=True)
    assert proc.stdout == '{"output": {"ok": true}}\nafter\n'
    assert "stray print\n" in proc.stderr and "native write\n" in proc.stderr
    assert "\x01i\x02hello\\nworld\n" in proc.stderr and "\x01p\x021.0000\n" in proc.stderr


def test_garbage_on_stdin_gives_one_error_object():
    proc = subprocess.run([sys.executable, str(REPO / "stash_sense_plugin.py")], input="not json",
                          capture_output=True, text=True, env={"STASH_SENSE_SKIP_BOOTSTRAP": "1",
                                                               "PATH": "/usr/bin:/bin"})
    assert json.loads(proc.stdout)["error"].startswith("the plugin expects Stash's JSON")
    assert proc.stdout.count("\n") == 1


def test_settings_defaults_and_parsing():
    s = settings_mod.from_stash({})
    assert (s.auto_confidence, s.create_performers, s.dry_run, s.max_images_per_gallery) == (None, True, False, 200)
    assert s.thresholds({"auto": 0.99, "review": 0.5}) == {"auto": 0.99, "review": 0.5}
    s = settings_mod.from_stash({"autoApplyConfidence": 95, "reviewConfidence": 0.97, "dryRun": "true",
                                 "createPerformers": False, "identifiedTagName": " ", "maxImagesPerGallery": 20})
    assert s.thresholds({"auto": 0.99, "review": 0.5}) == {"auto": 0.95, "review": 0.95}  # review <= auto
    assert (s.dry_run, s.create_performers, s.identified_tag, s.max_images_per_gallery) == (
        True, False, settings_mod.IDENTIFIED_TAG, 20)


def test_stash_log_handler_lines_levels_and_limits():
    """Every record becomes one prefixed line (a title's newline or \\x01 cannot start or forge one),
    plus its traceback; no empty prefix-only line (Stash needs >= 4 bytes); each line fits the
    64 KiB *byte* limit of Stash's line scanner."""
    stream = io.StringIO()
    logger = logging.getLogger("stash_sense.test_handler")
    logger.handlers, logger.propagate = [protocol.StashLogHandler(stream)], False
    logger.setLevel(logging.DEBUG)
    logger.info("")
    logger.warning("Gallery 7 (x\n\x01e\x02forged): nothing added")
    logger.error("é" * 40000)
    logger.debug("quiet")
    report_progress(logger, 0.25)
    try:
        raise ValueError("boom")
    except ValueError:
        logger.error("failed", exc_info=True)
    lines = stream.getvalue().split("\n")[:-1]
    assert lines[0] == "\x01w\x02Gallery 7 (x\\n\\x01e\\x02forged): nothing added"
    assert lines[1].startswith("\x01e\x02é") and len(lines[1].encode()) + 1 <= 64 * 1024
    assert lines[2:4] == ["\x01d\x02quiet", "\x01p\x020.2500"]
    assert lines[4] == "\x01e\x02failed" and lines[5].startswith("\x01e\x02Traceback")
    assert lines[-1] == "\x01e\x02ValueError: boom"
