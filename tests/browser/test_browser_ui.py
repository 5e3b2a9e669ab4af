"""The plugin inside Stash's REAL web UI, in a real browser (Debian's chromium driven by playwright-core).

The demo Stash serves the production build of Stash's own front end (../shared/stash-ui/build) as
Stash does, behind a reverse proxy on a sub-path (``/stash/``, announced by ``X-Forwarded-Prefix``);
Stash's plugin loader loads the plugin's JavaScript and CSS from the manifest's lists, and
runPluginOperation/runPluginTask run the real Python plugin (stash_sense_plugin.py) as a subprocess.
The browser script (tests/browser/run.mjs) clicks, types and takes screenshots
(tests/artifacts/ui-*.png); this side checks what it saw and what Stash now contains.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from plugin_env import SESSION, install_reference, reference_db  # noqa: F401  (fixture)

from devtools.demo import scenario as demo
from devtools.demo.proxy import SubPathProxy
from devtools.demo.server import DemoStash
from devtools.demo.webui import ui_build_dir
from stash_sense import settings as settings_mod
from stash_sense.stash.client import StashClient

BROWSER_DIR = REPO / "tests" / "browser"
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
MIN_CONTRAST = 4.5  # WCAG AA for normal text


def _missing() -> str:
    if not shutil.which("node"):
        return "node is not installed (.ci/run installs nodejs)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no chromium at {CHROMIUM} (apt-get install chromium; .ci/run does it)"
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        return "tests/browser/node_modules is missing (run `npm ci` in tests/browser; .ci/run does it)"
    if not (ui_build_dir() / "index.html").is_file():
        return f"Stash's web UI build is missing ({ui_build_dir()})"
    return ""


pytestmark = pytest.mark.skipif(bool(_missing()), reason=_missing() or "browser available")


def task_default_args() -> dict[str, dict]:
    """The manifest's tasks, as Stash applies their defaultArgs to runPluginTask(task_name=...)."""
    manifest = yaml.safe_load((REPO / "stash_sense.yml").read_text(encoding="utf-8"))
    return {t["name"]: t.get("defaultArgs") or {} for t in manifest.get("tasks") or []}


@dataclass
class UI:
    server: DemoStash
    proxy: SubPathProxy
    ids: dict
    tmp: Path

    def gallery(self, title: str) -> str:
        return self.ids["galleries"][title]

    def performers_of(self, kind: str, obj_id: str) -> list[str]:
        found = self.server.query(f"query($id: ID!) {{ find{kind}(id: $id) {{ performers {{ name }} }} }}",
                                  {"id": obj_id})
        return sorted(p["name"] for p in found[f"find{kind}"]["performers"])

    def gallery_performers(self, title: str) -> list[str]:
        return self.performers_of("Gallery", self.gallery(title))

    def browse(self, scenario: str, prefix: str, **cfg) -> dict:
        """Run one browser scenario; returns what the browser observed (asserts it completed cleanly)."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for old in ARTIFACTS.glob(f"{prefix}-*.png"):
            old.unlink()
        config = {"scenario": scenario, "url": self.proxy.url, "artifacts": str(ARTIFACTS), "prefix": prefix,
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
        assert console_errors(out) == [], (out["console"], out["httpErrors"])
        assert self.proxy.stray_requests == [], f"requests ignored the base path: {self.proxy.stray_requests}"
        return out


def console_errors(out: dict) -> list[str]:
    """Console errors, less one "failed to load" per request we blocked from leaving 127.0.0.1
    (Stash's player asks Google for the Chromecast script)."""
    errors = [c for c in out["console"] if c.startswith("error")]
    for _ in out["external"]:
        blocked = next((e for e in errors if "net::ERR_FAILED" in e), None)
        if blocked:
            errors.remove(blocked)
    return errors


@pytest.fixture
def ui(tmp_path, monkeypatch, isolated_data_dir):
    """Seeded demo Stash (the plugin's demo scenario) behind a /stash/ reverse proxy; no database yet."""
    monkeypatch.setenv("STASH_SENSE_PACK", "test-mbf128")
    yield from serve_ui(tmp_path)


def serve_ui(tmp_path: Path, galleries: list | None = None):
    """The demo Stash seeded with ``galleries`` (default: the demo's) behind the proxy, until resumed."""
    scenario = demo.build_scenario(tmp_path, galleries=galleries)
    ids = demo.seed_stash(tmp_path / "stash.sqlite", scenario)
    server = DemoStash(tmp_path / "stash.sqlite", session=SESSION, task_default_args=task_default_args())
    server.start()
    proxy = SubPathProxy(("127.0.0.1", server.port), "/stash", session=SESSION)
    proxy.start()
    yield UI(server, proxy, ids, tmp_path)
    proxy.stop()
    server.stop()


def image_of(ui: UI, basename: str) -> str:
    """The Stash id of the seeded image with this file name."""
    return next(i for path, i in ui.ids["images"].items() if path.endswith("/" + basename))


def names_in(card_text: str) -> list[str]:
    """The demo's performers named on one of Stash's performer cards (its text has counts too)."""
    return [name for name in ("Donald Rumsfeld", "Jacques Chirac", "Tony Blair", "Colin Powell") if name in card_text]


def _top(person: dict) -> dict:
    return person["candidates"][0]


def test_gallery_button_modal_add_and_stash_page_refresh(ui, reference_db):  # noqa: F811
    """The button in Stash's gallery toolbar -> the modal with the right performers -> Enter adds the
    focused one -> Stash's own gallery page lists the performer (its cache refreshed, no reload);
    the image page's button identifies that image."""
    install_reference(reference_db)
    title = "Rumsfeld and Chirac"
    chirac_image = image_of(ui, "Jacques_Chirac_0005.jpg")
    out = ui.browse("gallery", "ui-gallery", galleryId=ui.gallery(title), imageId=chirac_image, accept="Jacques Chirac")

    assert out["buttonText"] == "Identify performers"
    assert [names_in(card) for card in out["performersBefore"]] == [["Donald Rumsfeld"]]
    tops = {_top(p)["name"]: _top(p) for p in out["personsBefore"] if not p["unknown"]}
    assert set(tops) == {"Donald Rumsfeld", "Jacques Chirac"}, out["personsBefore"]
    assert tops["Donald Rumsfeld"]["onTarget"] and not tops["Jacques Chirac"]["onTarget"]
    for person in out["personsBefore"]:  # thumbnails load under the proxy's sub-path
        assert all(t["src"].startswith("/stash/image/") and t["loaded"] for t in person["thumbs"]), person["thumbs"]
    assert "6 images" in out["summary"]
    assert "Added" in out["acceptMessage"] or "Created" in out["acceptMessage"]
    assert ui.gallery_performers(title) == ["Donald Rumsfeld", "Jacques Chirac"]
    assert sorted(n for card in out["performersAfter"] for n in names_in(card)) == ["Donald Rumsfeld", "Jacques Chirac"]
    assert [_top(p)["name"] for p in out["imagePersons"] if not p["unknown"]] == ["Jacques Chirac"]


def test_modal_controls_readable_in_stash_theme(ui, reference_db):  # noqa: F811
    """Every labelled button, badge (auto/review/low, "on gallery", ...), link and "done" text of the
    modal (Add, Reject, Scan again, ...) has text contrast >= 4.5:1 against what is behind it in
    Stash's dark theme."""
    install_reference(reference_db)
    out = ui.browse("gallery", "ui-contrast", galleryId=ui.gallery("Chavez, Powell and a stranger"),
                    imageId=image_of(ui, "Hugo_Chavez_0005.jpg"), accept="Hugo Chavez")
    assert out["rejectButtons"] >= 1 and any("stash-sense-reject" in c["cls"] for c in out["contrast"])
    assert any("badge" in c["cls"] for c in out["contrast"]) and any("text-success" in c["cls"]
                                                                     for c in out["contrast"])
    low = [c for c in out["contrast"] if c["ratio"] < MIN_CONTRAST]
    assert low == [], low


def test_toolbar_button_on_one_line(ui):
    """"Identify performers" does not wrap in Stash's gallery toolbar at common desktop widths."""
    out = ui.browse("widths", "ui-widths", galleryId=ui.gallery("Rumsfeld and Chirac"))
    assert {w: m["lines"] for w, m in out["widths"].items()} == {"1400": 1, "1920": 1}, out["widths"]


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
    image_ids = [t["src"].split("/image/")[1].split("/")[0] for t in chavez["thumbs"]]
    assert [ui.performers_of("Image", i) for i in image_ids] == [["Hugo Chavez"]] * len(image_ids)
    rescanned = [c for p in out["personsRescan"] for c in p["candidates"] if c["id"] == out["rejected"]["id"]]
    assert rescanned and all(c["rejected"] for c in rescanned), out["personsRescan"]


def test_no_database_offers_download_then_identifies(ui, reference_db):  # noqa: F811
    """No face database: the modal says so in plain words and offers the download task; the task
    (from a local release zip, as an offline user would) runs, and the modal then shows the result."""
    release = ui.tmp / "stash-sense-data-demo.zip"
    with zipfile.ZipFile(release, "w", zipfile.ZIP_DEFLATED) as bundle:
        for f in sorted(Path(reference_db).iterdir()):
            bundle.write(f, f.name)  # flat, as releases are published
    ui.server.query('mutation($i: Map!) { configurePlugin(plugin_id: "stash_sense", input: $i) }',
                    {"i": {"databaseSourceUrl": str(release)}})
    out = ui.browse("nodb", "ui-nodb", galleryId=ui.gallery("Rumsfeld and Chirac"))
    assert "stash-sense-error-nodb" in out["errorKind"] and out["downloadButton"]
    assert "No face database yet" in out["errorText"] and "Traceback" not in out["errorText"]
    jobs = list(ui.server.jobs.values())
    assert len(jobs) == 1 and jobs[0]["status"] == "FINISHED", jobs
    tops = {_top(p)["name"] for p in out["personsAfterDownload"] if not p["unknown"]}
    assert tops == {"Donald Rumsfeld", "Jacques Chirac"}


def test_scene_with_markers_seeks_the_real_player(ui, reference_db):  # noqa: F811
    """On a scene with markers (whose previews are <video>s before the player, as in Stash), a time in
    the modal seeks Stash's video.js player, not a preview; "Add to scene" adds the performer."""
    from scene_env import BLAIR, POWELL, TRUTH, seed_scenes
    from scene_env import webm_two_people_video as video

    install_reference(reference_db)
    ui.server.query('mutation($i: Map!) { configurePlugin(plugin_id: "stash_sense", input: $i) }',
                    {"i": {"sceneFrames": 12}})
    path = video(ui.tmp / "videos" / "scene.webm")
    scene_id = seed_scenes(ui.server.db_path, [{"title": "Blair and Powell", "path": str(path), "width": 480,
                                                "height": 270, "duration": 10.0}])["Blair and Powell"]
    tag = ui.server.query('mutation { tagCreate(input: {name: "Face"}) { id } }')["tagCreate"]["id"]
    for seconds in (1.0, 6.0):
        ui.server.query("mutation($i: SceneMarkerCreateInput!) { sceneMarkerCreate(input: $i) { id } }",
                        {"i": {"scene_id": scene_id, "title": f"at {seconds}", "seconds": seconds,
                               "primary_tag_id": tag}})
    out = ui.browse("scene", "ui-scene", sceneId=scene_id, accept=POWELL)

    assert out["videos"][0] != "vjs-tech" and "vjs-tech" in out["videos"], out["videos"]  # previews come first
    shown = {t["top"]: t for t in out["times"] if t["ranges"]}
    assert set(shown) == {BLAIR, POWELL}, out["times"]
    assert abs(shown[POWELL]["ranges"][0]["start"] - TRUTH[POWELL][0][0]) <= 1.0
    assert out["seek"]["player"] == pytest.approx(out["seek"]["start"], abs=0.05), out["seek"]
    assert "On this scene" in out["acceptText"]
    assert ui.performers_of("Scene", scene_id) == [POWELL]


def test_settings_saved_on_stash_settings_page_reach_the_plugin(ui):
    """Settings edited on Stash's Settings > Plugins page (number, text, switch) are what the plugin reads;
    a threshold typed as a percentage survives Stash's parseInt."""
    wanted = {"sceneFrames": 12, "identifiedTagName": "Seen by Sense", "dryRun": True, "autoApplyConfidence": 95}
    ui.browse("settings", "ui-settings", settings=wanted)
    client = StashClient.from_plugin_input(ui.server.server_connection())
    settings = settings_mod.from_stash(client.plugin_settings())
    assert (settings.scene_frames, settings.identified_tag, settings.dry_run) == (12, "Seen by Sense", True)
    assert settings.thresholds({"auto": 0.99, "review": 0.5})["auto"] == pytest.approx(0.95)


def test_task_from_stash_tasks_page_shows_moving_progress(ui, reference_db):  # noqa: F811
    """"Identify performers in all galleries" started from Stash's Tasks page: the job's progress bar
    (fed by the plugin's progress lines over the job subscription) moves, and the task finishes."""
    install_reference(reference_db)
    task = "Identify performers in all galleries"
    out = ui.browse("tasks", "ui-tasks", task=task)
    (job,) = ui.server.jobs.values()
    assert job["status"] == "FINISHED" and task in job["description"], job
    seen = [p for p in out["progress"] if p == p]  # NaN while the bar has no value yet
    distinct = sorted(set(seen))
    assert len(distinct) >= 2 and seen == sorted(seen), distinct
    assert ui.gallery_performers("Rumsfeld and Chirac") == ["Donald Rumsfeld", "Jacques Chirac"]
