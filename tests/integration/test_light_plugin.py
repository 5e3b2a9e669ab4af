"""The light plugin side against a remote engine, as the official (Alpine) Stash image would run it.

The plugin's bootstrap builds its environment with "Engine URL" set: only requirements-light.txt
goes in (requests, stashapp-tools). That environment then runs a gallery click, the bulk gallery
task, a scene click and the scene task against the demo Stash and ``stash-sense serve`` on
127.0.0.1 (in the development venv). A ``sitecustomize`` in the light environment records every
attempt to import an engine package (numpy, cv2, onnxruntime, voyager, insightface, PIL), even one
that code would catch: any attempt fails the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from plugin_env import *  # noqa: F403  (fixtures: stash, empty_stash, reference_db)
from plugin_env import Run
from remote_env import engine_data_dir, start_engine
from scene_env import BLAIR, POWELL, seed_scenes, two_people_video

ENGINE_PACKAGES = ("numpy", "cv2", "onnxruntime", "voyager", "insightface", "PIL", "scipy", "skimage", "onnx")
BLOCKER = f'''
import os, sys

FORBIDDEN = {ENGINE_PACKAGES!r}


class _EngineImportBlocker:
    """Records and refuses every import of an engine package (the light side must never try)."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in FORBIDDEN:
            with open(os.environ.get("STASH_SENSE_IMPORT_LOG", os.devnull), "a") as log:
                log.write(name + "\\n")
            raise ImportError(f"engine package {{name}} imported on the light plugin side")
        return None


sys.meta_path.insert(0, _EngineImportBlocker())
'''


@pytest.fixture(scope="module")
def light_venv(tmp_path_factory) -> Path:
    """Built by the plugin's own bootstrap (mode "setup") with an engine URL set."""
    venv = tmp_path_factory.mktemp("light") / "venv"
    env = dict(os.environ, STASH_SENSE_VENV=str(venv), STASH_SENSE_ENGINE_URL="tcp://127.0.0.1:9",
               STASH_SENSE_DATA_DIR=str(venv.parent / "data"))
    proc = subprocess.run([sys.executable, str(REPO / "stash_sense_plugin.py")],
                          input=json.dumps({"server_connection": {}, "args": {"mode": "setup"}}).encode(),
                          capture_output=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    assert json.loads(proc.stdout)["output"]["light"] is True
    python = venv / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    installed = subprocess.run([python, "-m", "pip", "list", "--format=json"], capture_output=True, text=True,
                               check=True).stdout
    names = {p["name"].lower() for p in json.loads(installed)}
    assert "stashapp-tools" in names and not names & {"numpy", "onnxruntime", "opencv-python-headless", "pillow",
                                                       "voyager", "insightface"}, names
    Path(site, "sitecustomize.py").write_text(BLOCKER)
    return venv


def run_light(venv: Path, stash, args: dict, import_log: Path) -> Run:
    """The plugin as Stash starts it, with the light environment's Python."""
    env = dict(os.environ, STASH_SENSE_VENV=str(venv), STASH_SENSE_IMPORT_LOG=str(import_log))
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([str(venv / "bin" / "python"), str(REPO / "stash_sense_plugin.py")],
                          input=json.dumps({"server_connection": stash.server.server_connection(),
                                            "args": args}).encode(),
                          capture_output=True, env=env, timeout=600, cwd=str(venv.parent))
    return Run(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def output(run: Run) -> dict:
    """The operation's output; the plugin's log (with any traceback) when it failed."""
    assert "error" not in run.result, run.stderr[-4000:]
    return run.output


def top_names(out: dict) -> set[str]:
    return {p["candidates"][0]["name"] for p in out["persons"] if not p["unknown"]}


def test_light_plugin_runs_click_bulk_and_scenes_on_a_remote_engine(light_venv, empty_stash, reference_db,
                                                                     tmp_path):
    import_log = tmp_path / "engine-imports.txt"
    blocked = subprocess.run([str(light_venv / "bin" / "python"), "-c", "import numpy"], capture_output=True,
                             text=True, env=dict(os.environ, STASH_SENSE_IMPORT_LOG=str(tmp_path / "probe.txt")))
    assert blocked.returncode != 0 and (tmp_path / "probe.txt").read_text() == "numpy\n"  # the blocker works
    video = two_people_video(tmp_path / "videos" / "blair_powell.mp4")
    scene = seed_scenes(empty_stash.server.db_path, [{"title": "Blair and Powell", "path": str(video),
                                                      "duration": 10.0}])["Blair and Powell"]
    engine = start_engine(engine_data_dir(tmp_path / "engine-data", reference_db))
    try:
        empty_stash.configure({**engine.settings(), "sceneFrames": 12, "engineStashUrl": empty_stash.server.url})
        click = run_light(light_venv, empty_stash, {"mode": "identify_gallery",
                                                    "gallery_id": empty_stash.gallery("Rumsfeld and Chirac")},
                          import_log)
        out = output(click)
        assert top_names(out) == {"Donald Rumsfeld", "Jacques Chirac"}
        assert all(p["crop"].startswith("data:image/jpeg;base64,") for p in out["persons"])
        bulk = output(run_light(light_venv, empty_stash, {"mode": "bulk_galleries"}, import_log))
        assert bulk["added"] >= 3 and bulk["failed_galleries"] == [], bulk
        assert "Jacques Chirac" in empty_stash.gallery_performers("Rumsfeld and Chirac")
        shot = output(run_light(light_venv, empty_stash, {"mode": "identify_scene", "scene_id": scene}, import_log))
        assert top_names(shot) == {BLAIR, POWELL}
        assert all(p["time_ranges"] and p["crop"].startswith("data:image/jpeg") for p in shot["persons"]
                   if not p["unknown"])
        scenes = output(run_light(light_venv, empty_stash, {"mode": "identify_scenes"}, import_log))
        assert scenes["added"] == 2 and scenes["failed_scenes"] == [], scenes
    finally:
        engine.stop()
    assert not import_log.exists() or import_log.read_text() == "", import_log.read_text()
