"""``make demo-ui``: the demo library in Stash's real web UI, with the plugin installed, until Ctrl-C.

Why: a person (or a reviewer) can click "Identify performers" on a gallery, a scene or an image and
see the plugin exactly as Stash users do, without installing Stash. Seeds the demo galleries (real
LFW faces), a short scene of two people with two markers, and a reference database built from other
images of the same people; serves the UI behind a reverse proxy on a sub-path (like nginx in front of
Stash) and prints the URLs. Everything lives in a temporary folder removed on exit.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from devtools.demo import scenario as demo
from devtools.demo.proxy import SubPathProxy
from devtools.demo.run import PACK, build_reference
from devtools.demo.server import DemoStash
from devtools.demo.webui import ui_build_dir
from stash_sense.service.launcher import stop_worker

SESSION = "demo-ui-session"


def manifest_tasks() -> dict[str, dict]:
    """The manifest's tasks with their defaultArgs, which Stash applies to runPluginTask."""
    import yaml

    from devtools.demo.schema import REPO

    manifest = yaml.safe_load((REPO / "stash_sense.yml").read_text(encoding="utf-8"))
    return {t["name"]: t.get("defaultArgs") or {} for t in manifest.get("tasks") or []}


def add_scene(server: DemoStash, folder: Path) -> str:
    """A 10 s VP8 scene (Blair, then Powell) with two markers, as the scene page shows them."""
    from bench.scene_videos import Appearance, SceneSpec, write_scene
    from devtools.demo.seed import seed

    def photos(person: str) -> list[Path]:
        return sorted((demo.lfw_dir() / person).glob("*.jpg"))[12:16]

    spec = SceneSpec(size=(480, 270), duration=10.0, fps=5, fourcc="VP80", appearances=[
        Appearance("Tony_Blair", 0, 4, photos("Tony_Blair"), slot=0),
        Appearance("Colin_Powell", 3, 8, photos("Colin_Powell"), slot=1)])
    path = write_scene(spec, folder / "videos" / "blair_and_powell.webm")
    scene = {"title": "Blair and Powell", "path": str(path), "width": 480, "height": 270, "duration": 10.0}
    scene_id = seed(server.db_path, [], [], scenes=[scene])["scenes"]["Blair and Powell"]
    tag = server.query('mutation { tagCreate(input: {name: "Face"}) { id } }')["tagCreate"]["id"]
    for seconds in (1.0, 6.0):
        server.query("mutation($i: SceneMarkerCreateInput!) { sceneMarkerCreate(input: $i) { id } }",
                     {"i": {"scene_id": scene_id, "title": f"At {seconds:.0f} s", "seconds": seconds,
                            "primary_tag_id": tag}})
    return scene_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_UI_PORT", 9999)))
    parser.add_argument("--prefix", default="/stash", help="reverse-proxy sub-path the UI is served under")
    args = parser.parse_args(argv)
    if not (ui_build_dir() / "index.html").is_file():
        print(f"Stash's web UI build is missing: {ui_build_dir()} (set STASH_SENSE_SHARED)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="stash-sense-demo-ui-") as tmp:
        folder = Path(tmp)
        os.environ.update(STASH_SENSE_DATA_DIR=str(folder / "data"), STASH_SENSE_PACK=PACK)
        scenario = demo.build_scenario(folder)
        build_reference(scenario)
        ids = demo.seed_stash(folder / "stash.sqlite", scenario)
        with DemoStash(folder / "stash.sqlite", session=SESSION, task_default_args=manifest_tasks()) as server:
            scene_id = add_scene(server, folder)
            with SubPathProxy(("127.0.0.1", server.port), args.prefix, session=SESSION, port=args.port) as proxy:
                print(f"\nStash's web UI with Stash Sense: {proxy.url}")
                for title, gallery_id in ids["galleries"].items():
                    print(f"  gallery  {proxy.url}galleries/{gallery_id}  {title}")
                print(f"  scene    {proxy.url}scenes/{scene_id}  Blair and Powell (with markers)")
                print(f"  tasks    {proxy.url}settings?tab=tasks  settings: {proxy.url}settings?tab=plugins")
                print("Ctrl-C to stop.", flush=True)
                try:
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    print("\nstopping")
        stop_worker(PACK)
    return 0


if __name__ == "__main__":
    sys.exit(main())
