"""Warm worker benchmark (issue 5, item 7): what one plugin click costs, cold vs warm.

One click = one fresh Python process (Stash starts one per invocation) that identifies one
20-image gallery. Measured as the wall time of that whole subprocess, plus its own breakdown:

* **cold** - ``InProcessService``: imports, model load, database load, identify (today's cost
  without a worker, and the fallback's cost);
* **first** - the first click with no worker running: it spawns the worker and waits for it;
* **warm** - the worker is already up: light imports, connect, identify over the socket.

The gallery is 20 photos of realistic size (deepface_testset, 330 px - 4600 px) read from disk
by path. The database is a small real one (two photos of each of 9 people, padded with synthetic faces to
a 4,000-face block) *tiled* to the size of the published release (366,794 faces, 108,001
performers; see ``bench.db_bench.tile_index``): faces.json/performers.json are full size and the
index holds the full face count, but it is one 128-d index, not two 512-d ones, so the database
part of the cold load is understated (the published one is ~1 GB; ``bench/results/db.json`` has
its load time). Search never leaves the first block, where the real faces are, so results stay
meaningful; cold and warm results are checked to be identical.

Timings are medians. The machine's load before/after and the CPU used by other processes during
the run are recorded; ``under_load`` says the numbers were taken on a busy machine.

    python -m bench.worker_bench            # 5 cold, 7 warm clicks -> bench/results/worker.json
    python -m bench.worker_bench --quick    # 1 + 2 clicks, smaller database -> bench/cache/

``--packs both`` (default) measures test-mbf128 and the production-shaped replica pack
(``prod_pack`` and ``*_prod_pack`` keys: random weights, time and memory only); ``--packs test``
or ``prod`` one of them, keeping the other's keys in the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Only the standard library at module level: the "warm" child must measure a light import.
from bench.common import PHOTOS, QUICK_RESULTS, REPO, RESULTS, SHARED, add_packs_argument, pack_names
from bench.common import TEST_PACK as PACK

THREADS = 2  # what the plugin uses on a 2-core machine (engine_threads: min(4, cores))
PEOPLE = [f"person0{i}" for i in range(1, 10)]
ENROLL_PER_PERSON = 2
GALLERY_SIZE = 20
FULL_FACES, FULL_PERFORMERS = 366_794, 108_001
BASE_FACES = 4_000  # one tiled block: real faces first, then synthetic ones


# --- the click (runs in a child process) ----------------------------------------------------------

def child(mode: str, images: list[str], pack: str = PACK) -> dict:
    """One plugin invocation: import, get a service, identify the gallery; timings in seconds."""
    started = time.perf_counter()
    if mode == "cold":
        from stash_sense.service.inprocess import InProcessService  # imports the engine

        imported = time.perf_counter()
        service = InProcessService(pack, THREADS)
        service.backend.refresh()  # databases load lazily; count them as set-up, not as identify
    else:
        from stash_sense.service import get_service  # standard library only

        imported = time.perf_counter()
        service = get_service(pack, THREADS)
    ready = time.perf_counter()
    result = service.identify([(Path(p).name, p) for p in images])
    done = time.perf_counter()
    used, pid = service.mode, service.info()["pid"]
    service.close()
    return {"mode": used, "pid": pid, "import_s": imported - started, "service_s": ready - imported,
            "identify_s": done - ready, "in_process_s": done - started, "result": result}


def click(mode: str, images: list[str], env: dict, pack: str = PACK) -> dict:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "bench.worker_bench", "--child", mode, "--pack", pack],
                         input=json.dumps(images),
                         capture_output=True, text=True, env=env, cwd=REPO)
    wall = time.perf_counter() - started
    if out.returncode:
        raise RuntimeError(f"{mode} click failed: {out.stderr.strip()[-2000:]}")
    return {**json.loads(out.stdout), "wall_s": wall}


# --- setup ------------------------------------------------------------------------------------------

def split_photos() -> tuple[dict[str, list[Path]], list[str]]:
    """Two photos per person to enroll; the gallery takes the others, round-robin over people."""
    enroll, rest = {}, []
    for person in PEOPLE:
        photos = sorted((PHOTOS / person).glob("*.jpg"))
        enroll[f"local:{person}"] = photos[:ENROLL_PER_PERSON]
        rest.append(photos[ENROLL_PER_PERSON:])
    gallery = [str(p) for row in zip(*[r + [None] * 10 for r in rest]) for p in row if p is not None]
    return enroll, gallery[:GALLERY_SIZE]


def build_reference(data_dir: Path, enroll: dict[str, list[Path]], faces: int, pack: str = PACK) -> dict:
    """Real faces + synthetic ones as a ``BASE_FACES`` block, tiled to ``faces`` in ``data_dir/local_db``.

    The block must hold more faces than the matcher's k (search never leaves it); the real faces
    are its first ids, so they keep their real owners and identification stays meaningful.
    """
    import io

    import numpy as np
    from voyager import Index

    from bench.db_bench import synthetic_records, tile_index
    from stash_sense.engine import Engine
    from stash_sense.engine.builder import build_database
    from stash_sense.engine.database import all_vectors, load_database, new_index, write_database

    engine = Engine(pack, threads=THREADS)
    build_database(engine, enroll, {uid: {"name": uid.split(":")[1]} for uid in enroll}, data_dir / "tiny_db")
    engine.close()
    tiny = load_database(data_dir / "tiny_db", engine.pack)
    owner, records = synthetic_records(faces, max(1, faces * FULL_PERFORMERS // FULL_FACES))
    owner[:len(tiny.faces)] = tiny.faces
    records.update(tiny.performers)
    indices = {}
    for name, index in tiny.indices.items():
        _, real = all_vectors(index)
        rng = np.random.default_rng(7)
        noise = rng.standard_normal((BASE_FACES - len(real), real.shape[1])).astype(np.float32)
        base = new_index(real.shape[1])
        base.add_items(np.concatenate([real, noise / np.linalg.norm(noise, axis=1, keepdims=True)]),
                       ids=list(range(BASE_FACES)))
        indices[name] = Index.load(io.BytesIO(tile_index(base.as_bytes(), faces)))
    write_database(data_dir / "local_db", engine.pack, owner, records, indices, version="bench-tiled")
    size = sum(f.stat().st_size for f in (data_dir / "local_db").iterdir())
    return {"faces": faces, "performers": len(records), "real_faces": len(tiny.faces), "tiled_block": BASE_FACES,
            "size_mb": round(size / 1e6, 1), "embedders": {n: i.num_dimensions for n, i in tiny.indices.items()}}


# --- machine state ----------------------------------------------------------------------------------

def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    values = [float(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def others_busy_cores(seconds: float = 3.0) -> float:
    """Cores kept busy by other processes while this one sleeps (before the run)."""
    busy0, total0 = cpu_times()
    time.sleep(seconds)
    busy1, total1 = cpu_times()
    return round((busy1 - busy0) / max(total1 - total0, 1.0) * (os.cpu_count() or 1), 2)


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "")
    return {"cores": os.cpu_count(), "cpu": model, "python": sys.version.split()[0], "engine_threads": THREADS}


# --- run ----------------------------------------------------------------------------------------------

def summary(samples: list[dict]) -> dict:
    keys = ("wall_s", "import_s", "service_s", "identify_s")
    return {f"median_{k}": round(statistics.median(s[k] for s in samples), 3) for k in keys} | {
        "samples_wall_s": [round(s["wall_s"], 3) for s in samples]}


def run(quick: bool, pack: str = PACK) -> dict:
    enroll, gallery = split_photos()
    machine_state = {"others_busy_cores_before": others_busy_cores(), "loadavg_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="ssw-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        database = build_reference(data_dir, enroll, 36_679 if quick else FULL_FACES, pack)
        env = {**os.environ, "STASH_SENSE_DATA_DIR": str(data_dir), "STASH_SENSE_WORKER_IDLE": "600",
               "PYTHONPATH": str(REPO), "STASH_SENSE_MODEL_DIR": os.environ.get(
                   "STASH_SENSE_MODEL_DIR", str(SHARED / "models"))}
        cold = [click("cold", gallery, env, pack) for _ in range(1 if quick else 5)]
        first = click("warm", gallery, env, pack)
        warm = [click("warm", gallery, env, pack) for _ in range(2 if quick else 7)]
        subprocess.run([sys.executable, "-m", "stash_sense.service", "stop", "--pack", pack], env=env, cwd=REPO)
    machine_state |= {"loadavg_after": os.getloadavg(), "others_busy_cores_after": others_busy_cores()}
    assert first["mode"] == "worker" and all(w["mode"] == "worker" for w in warm), (first["mode"], warm)
    worker_pids = sorted({w["pid"] for w in [first, *warm]})
    identical = all(c["result"] == cold[0]["result"] for c in cold + [first] + warm)
    busy = max(machine_state["others_busy_cores_before"], machine_state["others_busy_cores_after"])
    load = max(machine_state["loadavg_before"][0], machine_state["loadavg_after"][0])
    return {"what": "one plugin click identifying one 20-image gallery, as a fresh Python process",
            "pack": pack, "gallery": {"images": len(gallery), "source": "deepface_testset (330-4600 px), by path",
                                      "faces": cold[0]["result"]["faces"],
                                      "persons": len(cold[0]["result"]["persons"])},
            "database": database, "machine": machine() | machine_state,
            "under_load": busy >= 0.3 or load >= 1.0,
            "results_identical_cold_warm": identical,
            "cold_in_process": summary(cold), "first_click_starts_worker": summary([first]),
            "warm_worker": summary(warm), "worker_pids": worker_pids,
            "speedup_wall": round(statistics.median(c["wall_s"] for c in cold)
                                  / statistics.median(w["wall_s"] for w in warm), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 cold + 2 warm clicks, 36,679-face database")
    parser.add_argument("--child", choices=("cold", "warm"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--pack", default=PACK, help=argparse.SUPPRESS)  # the child's pack
    add_packs_argument(parser)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, json.loads(sys.stdin.read()), args.pack)))
        return 0
    os.environ.setdefault("STASH_SENSE_MODEL_DIR", str(SHARED / "models"))
    out = args.out or (QUICK_RESULTS / "worker.quick.json" if args.quick else RESULTS / "worker.json")
    result = json.loads(out.read_text()) if out.exists() else {}
    for pack in pack_names(args.packs):
        measured = run(args.quick, pack)
        result.update(measured if pack == PACK else prod_pack_keys(measured))
        print(json.dumps({k: measured[k] for k in ("pack", "cold_in_process", "warm_worker", "speedup_wall",
                                                   "under_load")}, indent=2))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def prod_pack_keys(measured: dict) -> dict:
    """The replica pack's click, beside the test pack's keys: time and memory only."""
    return {"median_wall_s_cold_prod_pack": measured["cold_in_process"]["median_wall_s"],
            "median_wall_s_warm_prod_pack": measured["warm_worker"]["median_wall_s"],
            "speedup_wall_prod_pack": measured["speedup_wall"],
            "prod_pack": {**measured, "note": "random-weight replicas (bench/replicas.py): time and memory only"}}


if __name__ == "__main__":
    sys.exit(main())
