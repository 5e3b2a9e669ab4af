"""Whole-library bench (issue 16 item 6): the bulk task over 1,000 and 10,000 galleries, to show that
its cost and memory per gallery stay flat as the library grows (nothing O(n^2) in listing, ledger,
journal, review queue or library face index), and that a run killed half way resumes exactly.

The library: every gallery holds ``IMAGES_PER_GALLERY`` LFW images of one of ``PERSONS`` people of
the reference database (never an image the database was built from); every tenth gallery's second
image is of a stranger who is in no database (so review suggestions and unknown faces exist too).
Images are reused across galleries (``POOL`` per person, ``STRANGERS`` strangers: 786 source images
for 10,000 galleries), each use a copy of the JPEG with its own name appended after the end marker:
the same pixels, another file fingerprint (md5, oshash), as two files of a real library would be.

Warm cache, on purpose: the embedding cache is keyed by that fingerprint, so a cold run would infer
all 20,000 images, and at the engine's constant cost per image (``bench.bulk_bench``,
``bench.prod_pack_bench``) that would both hide any superlinear bookkeeping and not fit a 2-core
machine shared by eight engineers. Instead the engine analyses each source image once (``analyse``)
and those analyses are stored in the run's embedding cache under each copy's own cache key, read
from the fingerprints Stash reports (``prefill``: identical pixels give the identical analysis, so
the cache holds exactly what inference would have put there). The measured run then does
everything a run over a library does except inference: list the galleries, read them in batches,
look up the cache, identify against the reference database, decide, write to Stash (journalled),
store review suggestions, mark the ledger, update the library face index. Cold seconds per gallery
= these + images per gallery / the engine's images per second. ``--cold 1000`` adds a cold run.

Per size: a fresh demo Stash (its own process, as a real Stash is), a fresh plugin data folder, one
uninterrupted run of the job in a child process (peak RSS = that process's VmHWM), the Stash
process's CPU time, precision/recall of the tags, and the sizes of the ledger, embedding cache,
journal and library face index. On the smaller size, the resume check: the same library seeded
again, the job SIGKILLed once half of the galleries are done, run again; it must resume the same
ledger and journal runs, process exactly the galleries not done, write nothing twice (no two
applied journal entries adding the same link) and leave Stash exactly as the uninterrupted run did.

    nice -n 10 python -m bench.library_scale_bench            # 1,000 and 10,000 -> bench/results/library_scale.json
    python -m bench.library_scale_bench --quick                 # 200 and 1,000 -> bench/cache/library_scale.quick.json
    python -m bench.library_scale_bench --sizes 200 --profile   # + cProfile -> bench/cache/library_scale_200.prof

Speed figures taken on a busy machine are marked by the load average recorded before and after each
run; the memory, size and ratio figures are not affected by load. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bulk_bench import REFERENCE_IMAGES, enrolled_library
from bench.common import LFW, QUICK_RESULTS, REPO, RESULTS
from bench.common import TEST_PACK as PACK

IMAGES_PER_GALLERY = 2
PERSONS = 120  # reference identities (the same for every size: identification costs the same)
POOL = 8  # gallery images per person (past the reference ones): the source images analysed once
STRANGER_EVERY = 10
STRANGERS = 100
THREADS = 2
GALLERY_LINKS = "{ findGalleries(filter: {per_page: -1}) { galleries { title performers { name } tags { name } } } }"


# --- the library -----------------------------------------------------------------------------------------


def _people() -> tuple[list[tuple[str, list[Path]]], list[Path]]:
    """(known persons with their images, stranger images), deterministic."""
    known, strangers = [], []
    for folder in sorted(p for p in LFW.iterdir() if p.is_dir()):
        images = sorted(folder.glob("*.jpg"))
        if len(images) >= REFERENCE_IMAGES + 2 and len(known) < PERSONS:
            known.append((folder.name, images))
        elif len(images) <= 2 and len(strangers) < STRANGERS:
            strangers.append(images[0])
    return known, strangers


def build_library(galleries: int, folder: Path) -> dict:
    """Seed input, truth, reference images and records (the shape ``bench.bulk_bench`` seeds from)."""
    known, strangers = _people()
    lib = enrolled_library(known, local=lambda: True) | {"sources": {}}
    folder.mkdir(parents=True, exist_ok=True)
    folder = folder.resolve()  # the demo Stash records resolved paths
    for index in range(galleries):
        name, images = known[index % len(known)]
        pool = images[REFERENCE_IMAGES:REFERENCE_IMAGES + POOL]
        sources = [pool[(index // len(known) + k) % len(pool)] for k in range(IMAGES_PER_GALLERY)]
        if index % STRANGER_EVERY == STRANGER_EVERY - 1:
            sources[-1] = strangers[index // STRANGER_EVERY % len(strangers)]
        title = f"Library gallery {index + 1:05d}"
        paths = [_distinct_copy(source, folder / f"g{index + 1:05d}_{k}.jpg") for k, source in enumerate(sources)]
        lib["sources"].update((str(path), str(source)) for path, source in zip(paths, sources))
        lib["galleries"].append({"title": title, "images": [str(p) for p in paths]})
        lib["truth"][title] = {name.replace("_", " ")}
    return lib


def _distinct_copy(source: Path, target: Path) -> Path:
    """The same JPEG with its own name appended after the end marker: same pixels, other fingerprint."""
    if not target.exists():
        target.write_bytes(source.read_bytes() + target.name.encode())
    return target


# --- one job run in its own process ----------------------------------------------------------------------


def job_main(spec_path: str) -> int:
    """Child process, one of three steps (``spec["step"]``), each with the engine loaded:

    - ``analyse``: the engine's analysis of every source image, once (what inference gives any copy);
    - ``prefill``: those analyses stored in the plugin's embedding cache under each copy's own cache
      key, read from Stash's fingerprints as the job reads them (same pixels, so the same analysis);
    - ``run``: the bulk job as ``bench.bulk_bench.run_job`` runs it; writes its summary and VmHWM.
    """
    from bench.bulk_bench import run_job
    from stash_sense.engine.database import load_database
    from stash_sense.engine.identify import Identifier
    from stash_sense.engine.pipeline import Engine

    spec = json.loads(Path(spec_path).read_text())
    engine = Engine(PACK, threads=THREADS)
    identifier = Identifier(engine, [load_database(Path(spec["reference"]), engine.pack)])
    try:
        if spec["step"] == "analyse":
            _analyse_sources(identifier, spec)
        elif spec["step"] == "prefill":
            _prefill_cache(identifier, spec)
        else:
            cpu = _own_cpu_seconds()
            _profiled(lambda: _write_summary(run_job(_Server(spec["url"]), identifier, Path(spec["data"])), spec, cpu),
                      spec.get("profile"))
    finally:
        engine.close()
    return 0


class _Server:
    def __init__(self, url: str):
        self.url = url


def _profiled(call, profile: str | None) -> None:
    if not profile:
        call()
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.runcall(call)
    profiler.dump_stats(profile)


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _write_summary(summary: dict, spec: dict, cpu_before: float) -> None:
    """The job's summary with its peak RSS and CPU time (CPU time hardly depends on the machine's load)."""
    summary["peak_rss_mb"] = round(_vm_hwm_kb(os.getpid()) / 1024, 1)
    summary["cpu_seconds"] = round(_own_cpu_seconds() - cpu_before, 2)
    Path(spec["out"]).write_text(json.dumps(summary))
    with open(QUICK_RESULTS / "library_scale_jobs.jsonl", "a") as trace:  # every job's summary, for inspection
        trace.write(json.dumps({"galleries": summary.get("galleries"), **summary}) + "\n")


def _service(identifier):
    from stash_sense.service.inprocess import InProcessService

    return InProcessService(identifier.engine.pack.name, identifier=identifier)


def _analyse_sources(identifier, spec: dict) -> None:
    sources = sorted(set(json.loads(Path(spec["sources"]).read_text()).values()))
    results = _service(identifier).analyze([(source, source) for source in sources])
    Path(spec["out"]).write_text(json.dumps(dict(zip(sources, results))))


def _prefill_cache(identifier, spec: dict) -> None:
    from bench.bulk_bench import API_KEY
    from stash_sense.jobs.cache import EmbeddingCache, engine_fingerprint, file_key
    from stash_sense.stash import queries as Q
    from stash_sense.stash.client import StashClient

    sources = json.loads(Path(spec["sources"]).read_text())
    analysed = json.loads(Path(spec["analysed"]).read_text())
    client = StashClient.from_url(spec["url"], API_KEY)
    images = client.call("query { findImages(filter: {per_page: -1}) { images {" + Q.IMAGE_FIELDS + "} } }")
    entries = {}
    for image in images["findImages"]["images"]:
        key, path = file_key(image), image["visual_files"][0]["path"]
        entries[key] = analysed[sources[path]]
    os.environ["STASH_SENSE_DATA_DIR"] = spec["data"]
    cache = EmbeddingCache(engine_fingerprint(PACK, _service(identifier).pack_description()))
    try:
        cache.put_many(entries)
    finally:
        cache.close()


def _vm_hwm_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_job(step: str, work: Path, **spec) -> tuple[subprocess.Popen, Path]:
    spec = {"step": step, "out": str(work / f"job-{step}.json"), **{k: str(v) for k, v in spec.items() if v}}
    (work / f"job-{step}-spec.json").write_text(json.dumps(spec))
    Path(spec["out"]).unlink(missing_ok=True)
    command = [sys.executable, "-m", "bench.library_scale_bench", "--job", str(work / f"job-{step}-spec.json")]
    return subprocess.Popen(command, cwd=REPO), Path(spec["out"])


def run_job_process(step: str, work: Path, **spec) -> Path:
    """A step of ``job_main`` in a child process; the file it wrote."""
    process, out = start_job(step, work, **spec)
    if process.wait() != 0:
        raise RuntimeError(f"the bench's {step} step exited with {process.returncode}")
    return out


# --- measurements ----------------------------------------------------------------------------------------


def data_sizes(data: Path, galleries: int) -> dict:
    """Bytes of each store (with its -wal file), total and per gallery."""
    def size(*names: str) -> int:
        return sum(p.stat().st_size for name in names for p in [data / name] if p.exists())

    index = sum(p.stat().st_size for p in (data / "library_index").rglob("*") if p.is_file())
    out = {"ledger_bytes": size("bulk.sqlite", "bulk.sqlite-wal"),
           "cache_bytes": size("embeddings.sqlite", "embeddings.sqlite-wal"),
           "journal_bytes": size("journal.sqlite", "journal.sqlite-wal"),
           "library_index_bytes": index}
    out.update({k.replace("_bytes", "_bytes_per_gallery"): round(v / galleries) for k, v in list(out.items())})
    return out


def stash_state(server) -> dict[str, tuple]:
    """Performer and tag names on every gallery (what a resumed run must reproduce exactly)."""
    found = server.query(GALLERY_LINKS)["findGalleries"]["galleries"]
    return {g["title"]: (sorted(p["name"] for p in g["performers"]), sorted(t["name"] for t in g["tags"]))
            for g in found}


def measure(lib: dict, work: Path, shared: dict, profile: Path | None, warm: bool = True) -> tuple[dict, dict]:
    """One uninterrupted run over a freshly seeded library: (figures, Stash's state after it).

    ``warm``: the embedding cache is filled first (``prefill``), so the run does no inference.
    """
    from bench.bulk_bench import precision_recall, seed_stash

    galleries = len(lib["galleries"])
    started = time.monotonic()
    server = seed_stash(work / "stash", lib)
    seed_seconds = round(time.monotonic() - started, 1)
    data = work / "data"
    shutil.rmtree(data, ignore_errors=True)
    try:
        if warm:
            run_job_process("prefill", work, url=server.url, data=data, **shared)
        stash_cpu = _cpu_seconds(server.process.pid)
        out = run_job_process("run", work, url=server.url, data=data, reference=shared["reference"], profile=profile)
        summary = json.loads(out.read_text())
        stash_cpu = _cpu_seconds(server.process.pid) - stash_cpu
        stash_rss = _vm_hwm_kb(server.process.pid) / 1024
        quality = precision_recall(server, lib["truth"])
        state = stash_state(server)
    finally:
        server.stop()
    figures = {
        "galleries": galleries, "images": summary["images"], "inferred": summary["inferred"],
        "cached": summary["cached"], "processed": summary["processed"],
        "errors": summary["errors"], "seconds": summary["seconds"],
        "seconds_per_gallery": round(summary["seconds"] / galleries, 4),
        "cpu_seconds_per_gallery": round(summary["cpu_seconds"] / galleries, 4),
        "images_per_s": summary["images_per_s"], "peak_rss_mb": summary["peak_rss_mb"],
        "stash_cpu_seconds_per_gallery": round(stash_cpu / galleries, 5),
        "stash_peak_rss_mb": round(stash_rss, 1), "seed_seconds": seed_seconds,
        "added": summary["added"], "suggested": summary["suggested"], "faces": summary["faces"],
        "loadavg_before": summary["loadavg_before"], "loadavg_after": summary["loadavg_after"],
        **quality, **data_sizes(data, galleries),
    }
    return figures, state


def resume_check(lib: dict, work: Path, shared: dict, expected: dict) -> dict:
    """Kill the job (SIGKILL) once half the galleries are done, run it again, check the result."""
    from bench.bulk_bench import seed_stash

    galleries = len(lib["galleries"])
    server = seed_stash(work / "stash-resume", lib)
    data = work / "data-resume"
    shutil.rmtree(data, ignore_errors=True)
    try:
        run_job_process("prefill", work, url=server.url, data=data, **shared)
        process, _ = start_job("run", work, url=server.url, data=data, reference=shared["reference"])
        done_at_kill = _kill_when_done(process, data / "bulk.sqlite", galleries // 2)
        out = run_job_process("run", work, url=server.url, data=data, reference=shared["reference"])
        resumed = json.loads(out.read_text())
        state = stash_state(server)
    finally:
        server.stop()
    return {"killed_after_galleries_done": done_at_kill, **_consistency(data, galleries, resumed),
            "resumed": resumed["resumed"], "resumed_skipped": resumed["skipped"],
            "resumed_processed": resumed["processed"],
            "processed_twice": done_at_kill + resumed["processed"] - galleries,
            "stash_differs_from_uninterrupted_run": sum(state.get(t) != s for t, s in expected.items())}


def _kill_when_done(process: subprocess.Popen, ledger: Path, target: int) -> int:
    while process.poll() is None:
        if _ledger_count(ledger, "SELECT COUNT(*) FROM galleries WHERE status = 'done'") >= target:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            break
        time.sleep(0.2)
    else:
        raise RuntimeError("the job ended before it could be killed")
    return _ledger_count(ledger, "SELECT COUNT(*) FROM galleries WHERE status = 'done'")


def _ledger_count(path: Path, sql: str) -> int:
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return int(db.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0
    finally:
        db.close()


def _consistency(data: Path, galleries: int, resumed: dict) -> dict:
    """Ledger and journal after the resumed run: one run each, every gallery done once, no link twice."""
    ledger = sqlite3.connect(data / "bulk.sqlite")
    journal = sqlite3.connect(data / "journal.sqlite")
    try:
        duplicates = 0
        seen: set[tuple] = set()
        for target_type, target_id, field, added in journal.execute(  # a write the kill cut off is
                "SELECT target_type, target_id, field, added FROM mutations WHERE status = 'done' ORDER BY id"):
            for link in json.loads(added):
                key = (target_type, target_id, field, json.dumps(link, sort_keys=True))
                duplicates += key in seen
                seen.add(key)
        return {
            "ledger_runs": ledger.execute("SELECT COUNT(*) FROM bulk_runs").fetchone()[0],
            "ledger_galleries_done": ledger.execute(
                "SELECT COUNT(DISTINCT gallery_id) FROM galleries WHERE status = 'done'").fetchone()[0],
            "ledger_galleries_expected": galleries,
            "journal_runs": journal.execute("SELECT COUNT(*) FROM runs").fetchone()[0],
            "journal_run_is_the_resumed_one": journal.execute(
                "SELECT COUNT(*) FROM runs WHERE id = ? AND status = 'done'",
                (resumed["journal_run_id"],)).fetchone()[0] == 1,
            "journal_pending_mutations": journal.execute(
                "SELECT COUNT(*) FROM mutations WHERE status = 'pending'").fetchone()[0],
            "journal_writes_settled_as_not_applied": journal.execute(  # settled 'failed', then written again
                "SELECT COUNT(*) FROM mutations WHERE status = 'failed'").fetchone()[0],
            "journal_links_added_twice": duplicates,
        }
    finally:
        ledger.close()
        journal.close()


# --- main ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 and 1,000 galleries (checks the bench works)")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="library sizes (galleries)")
    parser.add_argument("--profile", action="store_true", help="cProfile each job into bench/cache/")
    parser.add_argument("--no-resume", action="store_true", help="skip the kill-and-resume check")
    parser.add_argument("--cold", type=int, nargs="*", default=[], help="sizes also run with an empty cache")
    parser.add_argument("--job", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.job:
        return job_main(args.job)
    sizes = sorted(args.sizes or ([200, 1000] if args.quick else [1000, 10000]))
    from bench.bulk_bench import build_reference

    runs: dict[int, dict] = {}
    QUICK_RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="stash-sense-library-scale-") as tmp:
        work = Path(tmp)
        lib = build_library(max(sizes), work / "images")
        shared = {"reference": build_reference(lib, work / "reference"), "sources": work / "sources.json"}
        shared["sources"].write_text(json.dumps(lib["sources"]))
        print(f"analysing the {len(set(lib['sources'].values()))} source images once", file=sys.stderr, flush=True)
        shared["analysed"] = run_job_process("analyse", work, **shared)
        for size in sizes:
            part = _first(lib, size)
            folder = work / f"n{size}"
            folder.mkdir()
            profile = QUICK_RESULTS / f"library_scale_{size}.prof" if args.profile else None
            print(f"{size} galleries:", file=sys.stderr, flush=True)
            runs[size], state = measure(part, folder, shared, profile)
            if size == sizes[0] and not args.no_resume:
                print(f"{size} galleries: kill half way and resume", file=sys.stderr, flush=True)
                runs[size]["resume"] = resume_check(part, folder, shared, state)
            if size in args.cold:
                print(f"{size} galleries, cold (no cache):", file=sys.stderr, flush=True)
                (folder / "cold").mkdir()
                runs[size]["cold"] = measure(part, folder / "cold", shared, None, warm=False)[0]
    result = summarise(runs, args.quick or bool(args.sizes))
    folder = QUICK_RESULTS if result["quick"] else RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ("library_scale.quick.json" if result["quick"] else "library_scale.json")
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, dict)}, indent=2))
    print(f"written to {path}", file=sys.stderr)
    return 0


def _first(lib: dict, size: int) -> dict:
    galleries = lib["galleries"][:size]
    return {**lib, "galleries": galleries, "truth": {g["title"]: lib["truth"][g["title"]] for g in galleries}}


def summarise(runs: dict[int, dict], quick: bool) -> dict:
    """The issue's keys (``*_1k`` / ``*_10k`` name the smaller and the larger size) and ratios."""
    small, large = min(runs), max(runs)
    a, b = runs[small], runs[large]
    out = {
        "seconds_per_gallery_1k": a["seconds_per_gallery"], "seconds_per_gallery_10k": b["seconds_per_gallery"],
        "peak_rss_mb_1k": a["peak_rss_mb"], "peak_rss_mb_10k": b["peak_rss_mb"],
        "seconds_per_gallery_ratio": round(b["seconds_per_gallery"] / max(a["seconds_per_gallery"], 1e-9), 2),
        "cpu_seconds_per_gallery_1k": a["cpu_seconds_per_gallery"],
        "cpu_seconds_per_gallery_10k": b["cpu_seconds_per_gallery"],
        "cpu_seconds_per_gallery_ratio": round(
            b["cpu_seconds_per_gallery"] / max(a["cpu_seconds_per_gallery"], 1e-9), 2),
        "stash_cpu_seconds_per_gallery_ratio": round(
            b["stash_cpu_seconds_per_gallery"] / max(a["stash_cpu_seconds_per_gallery"], 1e-9), 2),
        "peak_rss_mb_ratio": round(b["peak_rss_mb"] / max(a["peak_rss_mb"], 1e-9), 2),
        "sizes": [small, large], "images_per_gallery": IMAGES_PER_GALLERY, "reference_identities": PERSONS,
        "pack": PACK, "threads": THREADS, "cores": os.cpu_count(), "quick": quick,
        "cache": "warm: prefilled with the engine's own analyses of the source images under each copy's fingerprint",
        "loadavg": [round(v, 2) for v in os.getloadavg()],
    }
    for key in ("ledger", "cache", "journal", "library_index"):
        out[f"{key}_bytes_per_gallery_1k"] = a[f"{key}_bytes_per_gallery"]
        out[f"{key}_bytes_per_gallery_10k"] = b[f"{key}_bytes_per_gallery"]
    for size, figures in runs.items():
        if "cold" in figures:
            out[f"seconds_per_gallery_cold_{size}"] = figures["cold"]["seconds_per_gallery"]
            out[f"peak_rss_mb_cold_{size}"] = figures["cold"]["peak_rss_mb"]
    resume = a.get("resume") or {}
    for key in ("processed_twice", "journal_links_added_twice", "stash_differs_from_uninterrupted_run",
                "journal_pending_mutations"):
        if key in resume:
            out[f"resume_{key}"] = resume[key]
    out["runs"] = {str(size): figures for size, figures in runs.items()}
    return out


if __name__ == "__main__":
    sys.exit(main())
