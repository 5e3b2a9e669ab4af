"""`pip install "stash-sense[engine]"` from the checkout into a fresh venv gives the `stash-sense`
command and the same server (what devtools/docker/Dockerfile wraps). Needs PyPI (or a wheel cache)."""

from __future__ import annotations

import subprocess
import sys
import venv as venv_module

from conftest import REPO
from plugin_env import *  # noqa: F403  (fixture: reference_db)
from remote_env import engine_data_dir, start_engine

from stash_sense.service.remote_client import RemoteService


def test_pip_install_engine_extra_gives_a_working_server(tmp_path, reference_db):
    target = tmp_path / "fresh"
    venv_module.EnvBuilder(with_pip=True).create(target)
    python = str(target / "bin" / "python")
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, f"{REPO}[engine]"], check=True, capture_output=True, timeout=1200)
    subprocess.run([*pip, "--no-deps", "-r", str(REPO / "requirements-nodeps.txt")], check=True, capture_output=True,
                   timeout=600)
    helped = subprocess.run([str(target / "bin" / "stash-sense"), "serve", "--help"], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    assert helped.returncode == 0 and "--listen" in helped.stdout and "--tls-cert" in helped.stdout
    installed = subprocess.run([python, "-c", "import stash_sense; print(stash_sense.__file__)"], capture_output=True,
                               text=True, cwd=tmp_path, check=True).stdout
    assert str(target) in installed  # the installed copy, not the checkout
    engine = start_engine(engine_data_dir(tmp_path / "engine-data", reference_db), python=python, pythonpath=None)
    try:
        assert RemoteService(engine.url, engine.token).database_version() == "demo"
    finally:
        engine.stop()
    assert sys.executable != python
