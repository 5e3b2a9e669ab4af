"""One run per library at a time (issue 21, item 7): a second bulk task, the command line or an
undo beside a running task is refused with who holds the library; a killed holder leaves no lock."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys

from conftest import REPO
from plugin_env import *  # noqa: F403  (fixtures: empty_stash)

from stash_sense.cli.bulk import _bulk as bulk_command

HOLD = ("import time; from stash_sense.jobs.run_lock import exclusive_run\n"
        "with exclusive_run('task bulk_galleries'):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(600)\n")


def start_holder() -> subprocess.Popen:
    """Another process running a bulk task on this library (its data folder)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    holder = subprocess.Popen([sys.executable, "-c", HOLD], stdout=subprocess.PIPE, env=env, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_second_run_is_refused_naming_the_holder_and_a_killed_holder_frees_the_library(empty_stash, capsys):
    holder = start_holder()
    try:
        held = f"(task bulk_galleries, process {holder.pid} on {socket.gethostname()}, started "
        for mode in ("bulk_galleries", "identify_scenes", "undo_last_run"):
            run = empty_stash.run({"mode": mode})
            assert held in run.error and "is working on this library" in run.error, (mode, run.error)
        command_line = argparse.Namespace(data_dir=None, low_memory=False, stash_url=empty_stash.server.url)
        assert bulk_command(command_line) == 1  # ``python -m stash_sense bulk`` beside the task
        assert held in capsys.readouterr().err
    finally:
        holder.send_signal(signal.SIGKILL)  # a crash: no clean-up runs
        holder.wait()
    assert "is working on this library" not in empty_stash.run({"mode": "bulk_galleries"}).error  # past the lock
    assert empty_stash.run({"mode": "undo_last_run"}).error.startswith("Nothing to undo")
