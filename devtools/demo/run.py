"""``make demo``: the plugin on a demo library, exactly as Stash runs it, scored against the truth.

Seeds the embedded demo Stash with galleries of real LFW faces (several people per gallery, a zip
gallery, a performer already on a gallery, a stranger), builds a reference database from *other*
images of the same people, then runs the plugin's task "Identify performers in all galleries"
through ``runPluginTask`` like Stash's Tasks menu does (one plugin process, progress, log lines),
and prints what was tagged with the precision against the known truth. The run lives in a
temporary folder (the server is stopped); what it downloads without ../shared (sample faces,
models) stays in the demo cache (``samples.demo_cache()``) for the next run. Missing samples or
models offline end in one message naming that folder.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from devtools.demo import scenario as demo
from devtools.demo.samples import SamplesUnavailable, demo_cache, shared_dir
from devtools.demo.server import DemoStash
from stash_sense.engine.packs import ModelUnavailable
from stash_sense.service.launcher import stop_worker
from stash_sense.stash import queries as Q

# The small test pack from ../shared/models when it is there; else the published pack, whose models
# are downloaded (sha256-checked) on first use.
PACK = "test-mbf128" if (shared_dir() / "models").is_dir() else "stash-sense-v1"


def operation(server: DemoStash, args: dict) -> dict:
    """runPluginOperation, as the browser calls it (the demo server runs the plugin as Stash does)."""
    return server.query(Q.RUN_PLUGIN_OPERATION, {"plugin_id": "stash_sense", "args": args})["runPluginOperation"]


def gallery_performers(server: DemoStash, gallery_id: str) -> set[str]:
    found = server.query("query($id: ID!) { findGallery(id: $id) { performers { name } } }", {"id": gallery_id})
    return {p["name"] for p in found["findGallery"]["performers"]}


def build_reference(scenario: demo.Scenario) -> None:
    from stash_sense.service import databases
    from stash_sense.service.access import engine_for

    started = time.monotonic()
    report = demo.build_reference(engine_for(), scenario, databases.local_db_path())
    print(f"reference database: {len(scenario.reference)} people, {report.faces_added} faces from images that "
          f"appear in no gallery ({time.monotonic() - started:.1f}s)")


def show_identify(server: DemoStash, title: str, gallery_id: str) -> float:
    """The gallery page's "Identify performers" button: runPluginOperation, what the modal lists."""
    started = time.monotonic()
    out = operation(server, {"mode": "identify_gallery", "gallery_id": gallery_id})
    latency = time.monotonic() - started
    print(f"  [{title}] {out['images']} images, {out['faces']} faces, {len(out['persons'])} person(s), {latency:.1f}s")
    for person in out["persons"]:
        best = person["candidates"][0] if person["candidates"] else None
        shown = f"{best['name']} {best['confidence']:.1%} ({best['band']})" if best else "-"
        print(f"    person {person['index']}: {person['faces']} face(s) in {len(person['image_ids'])} image(s), "
              f"best: {'unknown' if person['unknown'] else shown}")
    return latency


def bulk_task(server: DemoStash) -> dict:
    """"Identify performers in all galleries" from the Tasks menu: runPluginTask, progress, log lines."""
    job_id = server.query(Q.RUN_PLUGIN_TASK, {"plugin_id": "stash_sense", "task_name": None,
                                              "description": "Identify performers in all galleries",
                                              "args_map": {"mode": "bulk_galleries"}})["runPluginTask"]
    job = server.wait_job(job_id, timeout=600)
    for line in server.logs():
        if line.startswith(("Gallery ", "Stash Sense bulk:", "Created performer", "Linked performer")):
            print(f"  log: {line}")
    print()
    if job["status"] != "FINISHED":
        raise RuntimeError(f"the bulk task ended {job['status']}: {job.get('error')}")
    return job


def main() -> int:
    """The demo, or one message (no traceback) when its samples or models cannot be had."""
    try:
        return run_demo()
    except (SamplesUnavailable, ModelUnavailable) as exc:
        print(f"make demo: {exc}", file=sys.stderr)
        return 2


def keep_models_in_cache(data_dir: Path) -> None:
    """Models the run downloads land in the demo cache (``data/models`` links there), not in the
    temporary folder that is deleted at the end."""
    models = demo_cache() / "models"
    models.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "models").symlink_to(models, target_is_directory=True)


def run_demo() -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="stash-sense-demo-") as tmp:
        tmp_path = Path(tmp)
        os.environ.update(STASH_SENSE_DATA_DIR=str(tmp_path / "data"), STASH_SENSE_PACK=PACK)
        if PACK != "test-mbf128":  # the published pack's models are downloaded, once
            keep_models_in_cache(tmp_path / "data")
        scenario = demo.build_scenario(tmp_path)
        build_reference(scenario)
        ids = demo.seed_stash(tmp_path / "stash.sqlite", scenario)
        before: dict[str, set[str]] = {}
        with DemoStash(tmp_path / "stash.sqlite") as server:
            print(f"demo Stash at {server.url}: {len(ids['galleries'])} galleries, {len(ids['images'])} images\n")
            before = {title: gallery_performers(server, gallery_id) for title, gallery_id in ids["galleries"].items()}
            bulk_started = time.monotonic()
            job = bulk_task(server)
            tagged = correct = 0
            for title, gallery_id in ids["galleries"].items():
                after = gallery_performers(server, gallery_id)
                assert before[title] <= after, "a performer was removed"
                applied = sorted(after - before[title])
                tagged += len(applied)
                correct += sum(1 for name in applied if name in scenario.truth[title])
                print(f"[{title}] truth: {', '.join(sorted(scenario.truth[title])) or 'nobody known'}; "
                      f"already on it: {', '.join(sorted(before[title])) or 'nobody'}; "
                      f"added: {', '.join(applied) or 'nothing'}")
            missed = sum(len(scenario.truth[t] - gallery_performers(server, g)) for t, g in ids["galleries"].items())
        print(f"\ntagged {tagged} performer(s): precision {correct / tagged if tagged else 1.0:.2%}, "
              f"{missed} true performer(s) not tagged; no pre-existing performer removed")
        print(f"bulk task {job['status'].lower()} in {time.monotonic() - bulk_started:.1f}s (one plugin process, "
              f"like Stash's task queue)")
        print("\nthe gallery page button, twice (a new plugin process each click; the engine worker stays warm):")
        stop_worker(PACK)  # the bulk task left it warm: show the first click starting it
        with DemoStash(tmp_path / "stash.sqlite") as server:
            title, gallery_id = next(iter(ids["galleries"].items()))
            first, second = show_identify(server, title, gallery_id), show_identify(server, title, gallery_id)
        stop_worker(PACK)
        print(f"click latency: {first:.1f}s (starts the worker), then {second:.1f}s warm; "
              f"demo total {time.monotonic() - started:.0f}s")
    return 0 if tagged and correct == tagged else 1


if __name__ == "__main__":
    sys.exit(main())
