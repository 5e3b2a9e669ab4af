"""The self-bootstrapping entry script: venv created once, re-exec with stdin intact, clear failures.

Runs against a fake plugin folder (``bootstrap_env``: the real entry script, a stub
``stash_sense.plugin.main`` and requirements that need nothing from the network), so only
``python -m venv`` is real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bootstrap_env import fake_plugin_folder, load_bootstrap

from devtools.demo.server import DemoStash

boot = load_bootstrap("stash_sense_plugin_under_test")


def fake_venv(folder: Path) -> Path:
    python = boot.venv_python(folder)
    python.parent.mkdir(parents=True)
    python.write_text("")
    return folder


def test_satisfied_follows_the_stamp(tmp_path):
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "requirements.txt").write_text("numpy>=1\n")
    venv = tmp_path / "venv"
    assert not boot.satisfied(venv, plugin)
    fake_venv(venv)
    assert not boot.satisfied(venv, plugin)  # no stamp: never installed
    boot.write_stamp(venv, plugin, "")
    assert boot.satisfied(venv, plugin, "") and boot.satisfied(venv, plugin)
    assert not boot.satisfied(venv, plugin, "/opt/python3.12/bin/python3")  # override changed
    (plugin / "requirements.txt").write_text("numpy>=1\n# a comment only changes nothing\n")
    assert boot.satisfied(venv, plugin, "")
    (plugin / "requirements.txt").write_text("numpy>=2\n")
    assert not boot.satisfied(venv, plugin, "")  # plugin update with new requirements


def test_makefile_stamp_counts_for_a_dev_checkout(tmp_path):
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "requirements.txt").write_text("numpy\n")
    venv = fake_venv(tmp_path / "venv")
    stamp = venv / boot.MAKEFILE_STAMP
    stamp.write_text("")
    os.utime(stamp, (time.time() - 100, time.time() - 100))
    assert not boot.satisfied(venv, plugin)  # requirements newer than the make install
    os.utime(stamp, None)
    assert boot.satisfied(venv, plugin, "") and not boot.satisfied(venv, plugin, "/other/python")


def test_install_commands_and_manual_hint(tmp_path):
    (tmp_path / "requirements.txt").write_text("numpy\n")
    (tmp_path / "requirements-nodeps.txt").write_text("# only comments\n")
    commands = boot.install_commands(tmp_path / ".venv", tmp_path, "/usr/bin/python3")
    assert commands[0] == ["/usr/bin/python3", "-m", "venv", str(tmp_path / ".venv")]
    assert len(commands) == 2 and commands[1][-2:] == ["-r", str(tmp_path / "requirements.txt")]
    assert boot.manual_hint(commands).startswith("Run this by hand, then try again:\n  /usr/bin/python3 -m venv")


def test_python_override_from_stash_settings(tmp_path, monkeypatch):
    monkeypatch.delenv("STASH_SENSE_PYTHON", raising=False)
    with DemoStash(tmp_path / "s.sqlite", session="boot") as server:
        server.query('mutation($i: Map!) { configurePlugin(plugin_id: "stash_sense", input: $i) }',
                     {"i": {"pythonPath": " /opt/py/bin/python3 "}})
        assert boot.python_override({"server_connection": server.server_connection()}) == "/opt/py/bin/python3"
        wrong = {**server.server_connection(), "SessionCookie": {"Value": "nope"}}
        assert boot.python_override({"server_connection": wrong}) == ""
    assert boot.python_override({"server_connection": {"Host": "127.0.0.1", "Port": 1}}) == ""
    monkeypatch.setenv("STASH_SENSE_PYTHON", "/env/python")
    assert boot.python_override({}) == "/env/python"


@pytest.fixture
def fake_plugin(tmp_path) -> Path:
    return fake_plugin_folder(tmp_path / "plugins" / "stash_sense")


def run_entry(plugin: Path, args: dict, **env) -> tuple[dict, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STASH_SENSE_VENV", "STASH_SENSE_PYTHON"))}
    proc = subprocess.run([sys.executable, str(plugin / "stash_sense_plugin.py")],
                          input=json.dumps({"server_connection": {"Host": "127.0.0.1", "Port": 1}, "args": args}),
                          capture_output=True, text=True, env={**clean, "PIP_NO_INDEX": "1", **env}, timeout=300)
    assert proc.stdout.count("\n") == 1, proc.stdout + proc.stderr
    return json.loads(proc.stdout), proc.stderr


def test_the_entry_script_needs_only_the_standard_library(fake_plugin):
    """Stash's own Python may have no packages at all: there the entry script, with the module it shares
    with the client (``stash_sense.hosts``), still answers a click (``-S``: no site-packages)."""
    plugin_input = {"server_connection": {"Host": "127.0.0.1", "Port": 1}, "args": {"mode": "identify_gallery"}}
    proc = subprocess.run([sys.executable, "-S", "-s", str(fake_plugin / "stash_sense_plugin.py")],
                          input=json.dumps(plugin_input), capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"], "PIP_NO_INDEX": "1"}, timeout=60)
    assert "needs a one-time setup" in json.loads(proc.stdout)["error"], proc.stderr


def test_first_run_creates_the_venv_then_reexecs_with_stdin(fake_plugin):
    result, log = run_entry(fake_plugin, {"mode": "download_db", "big": "y" * 200_000})  # a task may install
    venv = fake_plugin / ".venv"
    assert "error" not in result, result
    assert Path(result["output"]["prefix"]).resolve() == venv.resolve()
    assert result["output"]["args"] == {"mode": "download_db", "big": "y" * 200_000}  # stdin handed over intact
    assert "\x01i\x02Stash Sense: preparing its Python environment" in log and "\x01p\x021.0" in log
    assert json.loads((venv / boot.STAMP).read_text())["python"] == ""

    result, log = run_entry(fake_plugin, {"mode": "again"})
    assert result["output"]["args"] == {"mode": "again"} and "preparing" not in log  # later runs: straight in

    (fake_plugin / "requirements.txt").write_text("stash-sense-no-such-package==0.0.1\n")
    result, log = run_entry(fake_plugin, {"mode": "setup"})
    assert result["error"].startswith("Installing Stash Sense's Python packages failed")
    assert "Run this by hand, then try again:" in result["error"] and "-m pip install" in result["error"]
    assert "\x01e\x02Installing Stash Sense's Python packages failed" in log
    assert not boot.satisfied(venv, fake_plugin, "")  # the next run tries again
