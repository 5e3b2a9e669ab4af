"""The UI (stash_sense/js) in a real browser: Debian's chromium driven by playwright-core.

The harness (tests/browser/harness.py) serves a minimal window.PluginApi built from the React,
react-bootstrap and FontAwesome packages Stash ships, under a reverse-proxy base path (/stash/), and
proxies GraphQL and image routes to the embedded demo Stash, whose runPluginOperation runs the real
Python plugin (stash_sense_plugin.py) as a subprocess. The browser script (tests/browser/run.mjs)
clicks, types and takes screenshots (tests/artifacts/ui-*.png); this side checks what it saw and
what Stash now contains.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from plugin_env import SESSION, install_reference, reference_db  # noqa: F401  (fixture)

from devtools.demo import scenario as demo
from devtools.demo.server import DemoStash

BROWSER_DIR = REPO / "tests" / "browser"
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

sys.path.insert(0, str(BROWSER_DIR))
from harness import Harness  # noqa: E402


def _missing() -> str:
    if not shutil.which("node"):
        return "node is not installed (.ci/run installs nodejs)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no chromium at {CHROMIUM} (apt-get install chromium; .ci/run does it)"
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        return "tests/browser/node_modules is missing (run `npm ci` in tests/browser; .ci/run does it)"
    return ""


pytestmark = pytest.mark.skipif(bool(_missing()), reason=_missing() or "browser available")


def task_default_args() -> dict[str, dict]:
    """The manifest's tasks, as Stash applies their defaultArgs to runPluginTask(task_name=...)."""
    manifest = yaml.safe_load((REPO / "stash_sense.yml").read_text(encoding="utf-8"))
    return {t["name"]: t.get("defaultArgs") or {} for t in manifest.get("tasks") or []}


class UI:
    def __init__(self, server: DemoStash, harness: Harness, ids: dict, tmp: Path):
        self.server, self.harness, self.ids, self.tmp = server, harness, ids, tmp

    def gallery(self, title: str) -> str:
        return self.ids["galleries"][title]

    def gallery_performers(self, title: str) -> list[str]:
        found = self.server.query("query($id: ID!) { findGallery(id: $id) { performers { name } } }",
                                  {"id": self.gallery(title)})
        return sorted(p["name"] for p in found["findGallery"]["performers"])

    def browse(self, scenario: str, prefix: str, **cfg) -> dict:
        """Run one browser scenario; returns what the browser observed (asserts it completed)."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for old in ARTIFACTS.glob(f"{prefix}-*.png"):
            old.unlink()
        config = {"scenario": scenario, "url": self.harness.url, "artifacts": str(ARTIFACTS), "prefix": prefix,
                  "timeoutMs": 240_000, **cfg}
        path = self.tmp / f"{prefix}.json"
        path.write_text(json.dumps(config))
        proc = subprocess.run(["node", str(BROWSER_DIR / "run.mjs"), str(path)], cwd=BROWSER_DIR,
                              capture_output=True, text=True, timeout=600, env=dict(os.environ, CHROMIUM=CHROMIUM))
        assert proc.stdout.strip(), f"browser script printed nothing (rc {proc.returncode}): {proc.stderr[-3000:]}"
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        (ARTIFACTS / f"{prefix}-observed.json").write_text(json.dumps(out, indent=2))
        logs = "\n".join(self.server.logs("error")[-10:])
        assert out["ok"], f"{out.get('error')}\nsteps: {out['steps']}\nplugin errors: {logs}\n{proc.stderr[-2000:]}"
        assert out["pageErrors"] == [], out["pageErrors"]
        assert not [c for c in out["console"] if c.startswith("error")], out["console"]
        assert self.harness.stray_requests == [], f"requests ignored the base path: {self.harness.stray_requests}"
        return out


def _serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_theme: bool = False):
    """Seeded demo Stash (the plugin's demo scenario) + the harness in front of it; no database yet."""
    monkeypatch.setenv("STASH_SENSE_PACK", "test-mbf128")
    scenario = demo.build_scenario(tmp_path)
    ids = demo.seed_stash(tmp_path / "stash.sqlite", scenario)
    server = DemoStash(tmp_path / "stash.sqlite", session=SESSION, task_default_args=task_default_args())
    server.start()
    harness = Harness(server.url, SESSION, real_theme=real_theme)
    harness.start()
    yield UI(server, harness, ids, tmp_path)
    harness.stop()
    server.stop()


@pytest.fixture
def ui(tmp_path, monkeypatch, isolated_data_dir):
    """The harness with its approximation of Stash's theme."""
    yield from _serve(tmp_path, monkeypatch)


@pytest.fixture
def real_theme_ui(tmp_path, monkeypatch, isolated_data_dir):
    """The harness with Stash's own stylesheet (../shared/stash-ui/build)."""
    yield from _serve(tmp_path, monkeypatch, real_theme=True)


def _top(person: dict) -> dict:
    return person["candidates"][0]


def test_identify_gallery_accept_with_keyboard(ui, reference_db):  # noqa: F811
    """Button on a demo gallery -> progress -> modal with the right performers -> Enter accepts the
    focused candidate -> the gallery has the performer in Stash; Esc closes; narrow viewport fits."""
    install_reference(reference_db)
    title = "Rumsfeld and Chirac"
    assert ui.gallery_performers(title) == ["Donald Rumsfeld"]
    out = ui.browse("identify", "ui-identify", galleryId=ui.gallery(title), otherGalleryId=ui.gallery("Blair solo"),
                    accept="Jacques Chirac")

    assert out["buttonText"] == "Identify performers" and out["imageButton"] is True
    assert out["progressSeen"] and out["buttonBusy"] and "Looking for faces in" in out["progressText"]
    persons = out["personsBefore"]
    tops = {_top(p)["name"]: _top(p) for p in persons if not p["unknown"]}
    assert set(tops) == {"Donald Rumsfeld", "Jacques Chirac"}, persons
    rumsfeld, chirac = tops["Donald Rumsfeld"], tops["Jacques Chirac"]
    assert rumsfeld["onTarget"] and rumsfeld["local"]  # already on the gallery, exists locally
    assert not chirac["onTarget"]
    for cand in (rumsfeld, chirac):
        assert cand["confidence"].endswith("%") and cand["band"] in {"auto-apply", "review", "low"}
        assert "XX" in cand["text"]  # country
    for person in persons:
        n = len(person["thumbs"])
        assert person["crop"] and n >= 1 and person["imageCount"].startswith(f"in {n} image")
        if not person["unknown"]:
            assert n in (2, 3)  # each of the two is in 3 images (the detector may miss a face)
        assert all(t["src"].startswith("/stash/image/") and t["loaded"] for t in person["thumbs"]), person["thumbs"]
    unknown = sum(p["unknown"] for p in persons)
    assert "6 images" in out["summary"] and f"{len(persons)} person" in out["summary"]
    assert not unknown or f"({unknown} unknown)" in out["summary"]

    assert out["activeIsPerson"], "the focused person holds the DOM focus"
    assert out["focusTrail"][-1] == "Jacques Chirac"
    assert "Added" in out["acceptMessage"] or "Created" in out["acceptMessage"]
    # Stash itself: the gallery now has the performer (linked, not duplicated)
    assert ui.gallery_performers(title) == ["Donald Rumsfeld", "Jacques Chirac"]
    found = ui.server.query('{ findPerformers(performer_filter: {name: {value: "Jacques Chirac", modifier: EQUALS}})'
                           " { count } }")
    assert found["findPerformers"]["count"] == 1
    # and Stash's page data was refreshed, so the page shows it without a reload
    assert "Jacques Chirac" in out["pagePerformers"] and out["refetches"] >= 1
    after = {_top(p)["name"]: _top(p) for p in out["personsAfter"] if not p["unknown"]}
    assert after["Jacques Chirac"]["onTarget"] and after["Jacques Chirac"]["local"]

    assert out["escClosed"] and out["buttonAfter"] == "Results ready"
    narrow = out["narrow"]
    assert narrow["viewport"] == 390 and not narrow["bodyOverflowX"] and narrow["overflowing"] == [], narrow
    assert narrow["dialogLeft"] >= 0 and narrow["dialogRight"] <= 390


def test_unknown_reject_also_images_and_add_all(ui, reference_db):  # noqa: F811
    """A gallery with two performers and a stranger: the stranger is shown as unknown; a rejected
    candidate stays rejected on a rescan; "Add all above auto threshold" adds both performers, one of
    them also to the images it appears in ("Also add to the images with this person")."""
    install_reference(reference_db)
    title = "Chavez, Powell and a stranger"
    out = ui.browse("bulk", "ui-bulk", galleryId=ui.gallery(title), withImages="Hugo Chavez",
                    keep=["Hugo Chavez", "Colin Powell"])
    before = out["personsBefore"]
    assert any(p["unknown"] and p["label"] == "Unknown person" for p in before), before
    assert {_top(p)["name"] for p in before if not p["unknown"]} == {"Hugo Chavez", "Colin Powell"}
    assert out["addAllText"] == "Add all above auto threshold (2)"
    assert ui.gallery_performers(title) == ["Colin Powell", "Hugo Chavez"]
    chavez = next(p for p in before if _top(p)["name"] == "Hugo Chavez")
    powell = next(p for p in before if _top(p)["name"] == "Colin Powell")

    def image_performers(person: dict) -> list[list[str]]:
        ids = [t["src"].split("/")[3] for t in person["thumbs"]]
        return [sorted(p["name"] for p in ui.server.query(
            "query($id: ID!) { findImage(id: $id) { performers { name } } }", {"id": i})["findImage"]["performers"])
            for i in ids]

    assert image_performers(chavez) == [["Hugo Chavez"]] * len(chavez["thumbs"])  # ticked: on its images too
    assert all("Colin Powell" not in names for names in image_performers(powell))  # not ticked
    assert any("Also on" in m for m in out["messages"]), out["messages"]
    rescanned = [c for p in out["personsRescan"] for c in p["candidates"] if c["id"] == out["rejected"]["id"]]
    assert rescanned and all(c["rejected"] for c in rescanned), out["personsRescan"]
    assert all(c["onTarget"] for p in out["personsRescan"] if not p["unknown"] for c in p["candidates"][:1])


def test_no_database_offers_download_then_identifies(ui, reference_db):  # noqa: F811
    """No face database: the modal says so in plain words and offers the download task; the task
    (from a local release zip, as an offline user would) runs, and the modal then shows the result."""
    release = ui.tmp / "stash-sense-data-demo.zip"
    with zipfile.ZipFile(release, "w", zipfile.ZIP_DEFLATED) as bundle:
        for f in sorted(Path(reference_db).iterdir()):
            bundle.write(f, f.name)  # flat, as releases are published
    ui.server.query('mutation($i: Map!) { configurePlugin(plugin_id: "stash_sense", input: $i) }',
                    {"i": {"databaseSourceUrl": str(release)}})

    out = ui.browse("nodb", "ui-nodb", galleryId=ui.gallery("Blair solo"))
    assert "stash-sense-error-nodb" in out["errorKind"]
    assert "No face database yet" in out["errorText"] and out["downloadButton"]
    assert "Traceback" not in out["errorText"]
    jobs = list(ui.server.jobs.values())
    assert len(jobs) == 1 and jobs[0]["status"] == "FINISHED", jobs
    assert "Download/update face database" in jobs[0]["description"] or "face database" in jobs[0]["description"]
    tops = {_top(p)["name"] for p in out["personsAfterDownload"] if not p["unknown"]}
    assert tops == {"Tony Blair"}


def test_scene_modal_shows_time_ranges_seeks_and_adds(ui, reference_db):  # noqa: F811
    """The scene page button: the two people of a short video of real faces with the seconds they are on
    screen; clicking a time seeks Stash's player (not the marker preview <video> before it on the page);
    "Add to scene" puts the performer on the scene."""
    from scene_env import BLAIR, POWELL, TRUTH, seed_scenes, two_people_video

    install_reference(reference_db)
    ui.server.query('mutation($i: Map!) { configurePlugin(plugin_id: "stash_sense", input: $i) }',
                    {"i": {"sceneFrames": 12}})
    path = two_people_video(ui.tmp / "videos" / "scene.mp4")
    scene_id = seed_scenes(ui.server.db_path, [{"title": "Blair and Powell", "path": str(path)}])["Blair and Powell"]
    out = ui.browse("scene", "ui-scene", sceneId=scene_id, accept=POWELL)

    assert "Identify performers in this scene" in out["title"] and "Blair and Powell" in out["title"]
    shown = {t["top"]: t for t in out["times"] if t["ranges"]}
    assert set(shown) == {BLAIR, POWELL}, out["times"]
    for name, person in shown.items():
        assert abs(person["ranges"][0]["start"] - TRUTH[name][0][0]) <= 1.0, (name, person["ranges"])
        assert all("–" in r["text"] and r["text"].startswith("0:") for r in person["ranges"])
        assert person["frames"].startswith("in ") and "frame" in person["frames"]
    assert all(p["crop"] and not p["thumbs"] for p in out["persons"] if not p["unknown"])
    assert out["seek"]["previewFirst"]  # the first <video> of the page is a marker preview, as in Stash
    assert out["seek"]["currentTime"] == pytest.approx(out["seek"]["start"], abs=0.05)
    assert out["seek"]["previewTime"] == 0
    assert "On this scene" in out["acceptText"]
    found = ui.server.query("query($id: ID!) { findScene(id: $id) { performers { name } } }", {"id": scene_id})
    assert [p["name"] for p in found["findScene"]["performers"]] == [POWELL]


def test_real_theme_button_on_one_line_and_controls_readable(real_theme_ui, reference_db):  # noqa: F811
    """In Stash's own stylesheet: "Identify performers" stays on one line in the gallery toolbar at 1400
    and 1920 px (Stash's details column is 450 px wide from 1200 px on; the label wrapped there), and every
    control of the plugin has text contrast >= 4.5:1 (WCAG AA) against what is painted behind it (Reject
    was outline-secondary: #394b59 on the #30404d modal, about 1.2:1)."""
    install_reference(reference_db)
    ui = real_theme_ui
    out = ui.browse("theme", "ui-theme", galleryId=ui.gallery("Rumsfeld and Chirac"), widths=[1400, 1920])

    assert [fit["viewport"] for fit in out["toolbar"]] == [1400, 1920]
    for fit in out["toolbar"]:
        assert fit["text"] == "Identify performers" and fit["labelLines"] == 1, fit
        assert fit["buttonHeight"] <= fit["iconButtonHeight"] + 1, fit  # as tall as Stash's own icon buttons
        assert fit["insideColumn"] and not fit["columnOverflowX"], fit
    measured = {c["control"] for c in out["contrast"]}
    assert {"stash-sense-btn", "stash-sense-add", "stash-sense-reject", "stash-sense-close"} <= measured, measured
    low = [c for c in out["contrast"] if c["ratio"] < 4.5]
    assert low == [], low
