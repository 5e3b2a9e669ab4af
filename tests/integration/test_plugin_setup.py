"""First run as Stash runs it: a click never installs (it answers at once and starts the setup task),
one installer at a time, an interrupted install is rebuilt, musl is named, and the environment and
data live beside Stash's configuration, outside the plugins folder Stash walks on every reload.

The plugin folder (``bootstrap_env``) is a copy of the real entry script with a stub
``stash_sense.plugin.main`` and requirements that need nothing from the network, so only
``python -m venv`` is real; Stash is the
demo Stash, which runs plugin operations and tasks like Stash's raw interface.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml
from bootstrap_env import fake_plugin_folder, load_bootstrap
from conftest import REPO

from devtools.demo.seed import seed
from devtools.demo.server import DemoStash

boot = load_bootstrap("stash_sense_plugin_setup_test")


@pytest.fixture
def plugin(tmp_path) -> Path:
    return fake_plugin_folder(tmp_path / "config" / "plugins" / "community" / "stash_sense")


@pytest.fixture
def stash(tmp_path, plugin, monkeypatch):
    """The demo Stash with its config in tmp/config (server_connection.Dir) running the copied plugin."""
    for name in ("STASH_SENSE_VENV", "STASH_SENSE_PYTHON", "STASH_SENSE_DATA_DIR", "STASH_SENSE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    config = tmp_path / "config"
    seed(config / "stash.sqlite", galleries=[], performers=[])
    tasks = yaml.safe_load((REPO / "stash_sense.yml").read_text())["tasks"]
    with DemoStash(config / "stash.sqlite", session="setup", plugin_command=[sys.executable,
                   str(plugin / "stash_sense_plugin.py")], plugin_dir=plugin,
                   task_default_args={t["name"]: t["defaultArgs"] for t in tasks}) as server:
        yield server


def operation(server: DemoStash, args: dict) -> dict:
    """runPluginOperation as the UI sends it: the GraphQL response."""
    status, body = server.execute("mutation($a: Map) { runPluginOperation(plugin_id: \"stash_sense\", args: $a) }",
                                  {"a": args})
    return body


def jobs(server: DemoStash) -> list[dict]:
    return list(server.jobs.values())


def wait_for_jobs(server: DemoStash, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while any(j["status"] not in ("FINISHED", "FAILED", "CANCELLED") for j in jobs(server)):
        assert time.monotonic() < deadline, jobs(server)
        time.sleep(0.2)


def test_task_modes_are_the_manifest_tasks():
    tasks = yaml.safe_load((REPO / "stash_sense.yml").read_text())["tasks"]
    assert {t["defaultArgs"]["mode"] for t in tasks} == boot.TASK_MODES
    assert boot.SETUP_TASK in {t["name"] for t in tasks}


def test_a_click_on_a_fresh_install_starts_setup_and_never_installs(stash, plugin, tmp_path):
    home = tmp_path / "config" / "stash-sense"
    old_venv = plugin / ".venv"  # what an older version made inside the plugins folder
    old_venv.mkdir()
    (old_venv / boot.STAMP).write_text("{}")
    (plugin / "data" / "db").mkdir(parents=True)
    (plugin / "data" / "db" / "manifest.json").write_text('{"version": "old"}')

    body = operation(stash, {"mode": "identify_gallery", "gallery_id": "1"})
    message = body["errors"][0]["message"]
    assert "one-time setup" in message and '"Set up / repair environment" has been started' in message
    # the click answered without running the plugin (an error, not the stub's output) and left the
    # install to the task it started
    assert [j["description"] for j in jobs(stash)] == ["Running plugin task: Set up / repair environment"]
    assert boot.home_dir({"server_connection": stash.server_connection()}) == home

    wait_for_jobs(stash)
    assert [j["status"] for j in jobs(stash)] == ["FINISHED"] and (home / "venv" / boot.STAMP).exists()
    assert not old_venv.exists()  # the old environment left the plugins folder
    assert json.loads((home / "data" / "db" / "manifest.json").read_text()) == {"version": "old"}
    assert not (plugin / "data" / "db").exists()  # data moved out of the plugins folder

    body = operation(stash, {"mode": "identify_gallery", "gallery_id": "1"})
    out = body["data"]["runPluginOperation"]
    assert Path(out["prefix"]).resolve() == (home / "venv").resolve()
    assert out["args"] == {"mode": "identify_gallery", "gallery_id": "1"}
    assert out["data_dir"] == str(home / "data") and len(jobs(stash)) == 1
    assert not any(p.name in (".venv", "data") for p in plugin.iterdir())


def test_a_click_during_setup_answers_at_once(stash, tmp_path):
    venv = tmp_path / "config" / "stash-sense" / "venv"
    with boot.locked(boot.lock_path(venv)) as held:  # a setup is running (holds the install lock)
        assert held and boot.installing_now(venv)
        body = operation(stash, {"mode": "suggestions", "target_type": "gallery", "target_id": "1"})
    assert "still setting up its Python environment" in body["errors"][0]["message"]
    assert jobs(stash) == [] and not venv.exists()  # no second setup, nothing installed
    assert not boot.installing_now(venv)


def test_a_task_waits_for_a_running_install_then_uses_it(plugin, tmp_path, monkeypatch):
    venv = tmp_path / "venv"
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    results: list = []
    with boot.locked(boot.lock_path(venv)):
        worker = threading.Thread(target=lambda: results.append(boot.ensure_environment(venv, plugin, "")))
        worker.start()
        time.sleep(1.0)
        assert worker.is_alive() and not venv.exists()  # the second starter waits for the lock
        boot.install(venv, plugin, "")  # the first installer finishes
    worker.join(120)
    assert results == [None] and boot.satisfied(venv, plugin, "")


def test_an_interrupted_install_is_rebuilt(plugin, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    venv = tmp_path / "venv"
    boot.ensure_environment(venv, plugin, "")
    assert boot.satisfied(venv, plugin, "")
    leftover = venv / "half-installed-package"
    leftover.write_text("")
    boot.marker_path(venv).write_text("12345")  # killed mid-install: the marker was never removed
    assert not boot.satisfied(venv, plugin, "")
    boot.ensure_environment(venv, plugin, "")
    assert "an earlier install was interrupted" in capfd.readouterr().err
    assert boot.satisfied(venv, plugin, "") and not leftover.exists() and not boot.marker_path(venv).exists()


def fake_python(folder: Path, host_type: str, libc: str) -> str:
    """An interpreter stand-in that reports what ``interpreter_facts`` asks (version, host type, libc)."""
    script = folder / "python3"
    script.write_text(f"#!/bin/sh\nprintf '3 12\\n{host_type}\\nlinux\\n{libc}\\n'\n")
    script.chmod(0o755)
    return str(script)


def test_musl_is_named_in_one_message(stash, tmp_path, monkeypatch):
    musl = fake_python(tmp_path, "x86_64-pc-linux-musl", "")
    assert boot.interpreter_facts(musl) == ((3, 12), True)
    assert boot.interpreter_facts(sys.executable)[1] is False  # this machine: glibc
    with pytest.raises(boot.BootstrapError, match="musl libc"):
        boot.check_python(musl)
    monkeypatch.setenv("STASH_SENSE_PYTHON", musl)
    body = operation(stash, {"mode": "identify_gallery", "gallery_id": "1"})
    message = body["errors"][0]["message"]
    assert message == boot.NO_MUSL and "Alpine" in message and "Engine URL" in message
    assert jobs(stash) == []  # no setup task that could only fail


class _SettingsHandler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"data": {"configuration": {"plugins": {"stash_sense": {"pythonPath": "/v6/python"}}}}})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


class _V6Server(HTTPServer):
    address_family = __import__("socket").AF_INET6


@pytest.mark.parametrize("host", ["::", "::1", "[::1]"])
def test_ipv6_hosts_make_valid_urls(host, monkeypatch):
    monkeypatch.delenv("STASH_SENSE_PYTHON", raising=False)
    server = _V6Server(("::1", 0), _SettingsHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        conn = {"Scheme": "http", "Host": host, "Port": server.server_address[1]}
        assert boot.stash_url(conn) == f"http://[::1]:{server.server_address[1]}"
        assert boot.python_override({"server_connection": conn}) == "/v6/python"
    finally:
        server.shutdown()
    assert boot.stash_url({"Host": "0.0.0.0", "Port": 9999}) == "http://127.0.0.1:9999"
    assert boot.stash_url({"Host": "fd00::5", "Port": 1, "Scheme": "https"}) == "https://[fd00::5]:1"


def test_a_click_uses_old_data_until_a_task_moves_it(plugin, tmp_path, monkeypatch):
    monkeypatch.delenv("STASH_SENSE_DATA_DIR", raising=False)
    (plugin / "data" / "db").mkdir(parents=True)
    home = tmp_path / "home"
    boot.use_home_data(home, plugin, migrate=False)
    assert os.environ["STASH_SENSE_DATA_DIR"] == str(plugin / "data") and (plugin / "data" / "db").is_dir()
    monkeypatch.delenv("STASH_SENSE_DATA_DIR")
    boot.use_home_data(home, plugin, migrate=True)
    assert os.environ["STASH_SENSE_DATA_DIR"] == str(home / "data") and (home / "data" / "db").is_dir()
    assert not (plugin / "data").exists()


def test_home_is_beside_stash_config(tmp_path, monkeypatch):
    for name in ("STASH_SENSE_VENV", "STASH_SENSE_HOME"):
        monkeypatch.delenv(name, raising=False)
    home = boot.home_dir({"server_connection": {"Dir": str(tmp_path / "cfg")}})
    assert home == tmp_path / "cfg" / "stash-sense"
    assert boot.venv_dir(tmp_path / "cfg" / "plugins" / "x", home) == home / "venv"
    assert boot.home_dir({"server_connection": {}}) is None
    assert boot.venv_dir(tmp_path / "p", None) == tmp_path / "p" / ".venv"  # outside Stash: as before
    monkeypatch.setenv("STASH_SENSE_HOME", str(tmp_path / "elsewhere"))
    assert boot.home_dir({"server_connection": {"Dir": "/x"}}) == tmp_path / "elsewhere"
