"""Face-database benchmark (issue 3): resident size, load time, query latency, E4M3 vs float32.

Writes ``bench/results/db.json`` and ``db.md``.

Full-size databases (366,794 faces x 2 indices x 512 dims, the size of the published Stash Sense
release) take far too long to build on 2 cores, so the bench builds a *base* database of
``--base-faces`` synthetic faces with our real writer (float32, then ``convert_storage`` to E4M3)
and then **tiles** each base index to the full size: the hnswlib level-0 block and link lists are
repeated with ids shifted per block. The result is a valid Voyager file of exactly the full size
and layout (same bytes per face, same load path), so resident size and load time are measured at
full size, not extrapolated. Its graph is a set of disconnected copies, so query latency is
measured on the base database instead (a real graph; HNSW search cost grows ~log N, so it
understates full-size latency slightly). A linear extrapolation from the base database is
reported next to the tiled measurement as a cross-check.

Resident size = VmRSS of a fresh subprocess after loading minus before (imports done, after
gc), median of repeats, MiB (2^20 bytes). Files are read from a warm page cache.

    python -m bench.db_bench            # full: base 20,000 faces, tiled to 366,794
    python -m bench.db_bench --quick    # base 2,000 faces, tiled to 36,679 (checks the bench works)
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import statistics
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
from voyager import Index

from bench.engine_bench import loadavg, machine_info
from stash_sense.engine.database import load_database, new_index, write_database
from stash_sense.engine.disk_vectors import HEADER_BYTES, read_header

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / "bench" / "cache" / "db"
RESULTS = REPO / "bench" / "results"
FULL_FACES = 366_794
FULL_PERFORMERS = 108_001
DIM = 512
PACK = "stash-sense-v1"  # two 512-d embedders, the published release's shape
LFW_PACK = "test-mbf128"
LOAD_MODES = ("db", "db_low", "path", "handle", "bytes")
GOAL = {"e4m3_resident_mb_full": 450.0, "e4m3_load_s_full": 3.0}  # the MB (10^6 B); results are MiB


# --- synthetic databases --------------------------------------------------------------------------

def performer_ids(count: int, seed: int = 7) -> list[str]:
    rng = np.random.default_rng(seed)
    return [f"stashdb.org:{uuid.UUID(bytes=bytes(rng.integers(0, 256, 16, dtype=np.uint8)))}" for _ in range(count)]


def synthetic_records(faces: int, performers: int) -> tuple[list[str | None], dict[str, dict]]:
    """faces.json / performers.json shaped like a release: ~3.4 faces per performer."""
    uids = performer_ids(performers)
    owner = [uids[i * performers // faces] for i in range(faces)]
    records = {uid: {"name": f"Performer {i}", "country": "US", "face_count": 0,
                     "image_url": f"https://stashdb.org/images/{uid.split(':', 1)[1]}"} for i, uid in enumerate(uids)}
    for uid in owner:
        records[uid]["face_count"] += 1
    return owner, records


def clustered_vectors(count: int, seed: int) -> np.ndarray:
    """Face-like unit vectors: 3 faces around each identity centre (same-identity cosine ~0.6)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((count // 3 + 1, DIM), dtype=np.float32)
    vectors = centres[np.arange(count) // 3] + 0.8 * rng.standard_normal((count, DIM), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def build_base(faces: int) -> dict[str, Path]:
    """Base databases (float32 built, E4M3 converted by our convert_storage), cached on disk."""
    from stash_sense.engine.database import convert_storage
    from stash_sense.engine.packs import load_pack

    pack = load_pack(PACK)
    paths = {s: CACHE / f"base-{faces}-{s}" for s in ("float32", "e4m3")}
    if not (paths["float32"] / "manifest.json").exists():
        owner, records = synthetic_records(faces, max(1, faces * FULL_PERFORMERS // FULL_FACES))
        indices = {}
        for seed, spec in enumerate(pack.embedders):
            started = time.perf_counter()
            indices[spec.name] = new_index(DIM, "float32")
            indices[spec.name].add_items(clustered_vectors(faces, seed), ids=list(range(faces)))
            print(f"built {spec.name} float32 base, {faces} faces, {time.perf_counter() - started:.0f} s",
                  file=sys.stderr)
        write_database(paths["float32"], pack, owner, records, indices, version="synthetic")
    if not (paths["e4m3"] / "manifest.json").exists():
        started = time.perf_counter()
        convert_storage(load_database(paths["float32"], pack), pack, "e4m3", paths["e4m3"])
        print(f"converted base to e4m3 in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return paths


def build_empty(storage: str) -> Path:
    """A database with no faces: the fixed cost of loading one (intercept of the linear fit)."""
    from stash_sense.engine.packs import load_pack

    pack = load_pack(PACK)
    out = CACHE / f"empty-{storage}"
    if not (out / "manifest.json").exists():
        write_database(out, pack, [], {}, {e.name: new_index(DIM, storage) for e in pack.embedders}, "synthetic")
    return out


def tile_index(data: bytes, target: int) -> bytes:
    """A ``target``-element copy of a saved hnswlib index: blocks of the original, ids shifted.

    Search enters at block 0 and never leaves it (no links cross blocks); a partial last block
    wraps its ids into itself so no link points outside the file.
    """
    count, size, label_offset = struct.unpack_from("<QQQ", data, 35)
    max_m, max_m0 = struct.unpack_from("<QQ", data, 75)
    level0 = np.frombuffer(data, np.uint8, count * size, HEADER_BYTES).reshape(count, size)
    position, links = HEADER_BYTES + count * size, []
    for _ in range(count):
        (length,) = struct.unpack_from("<I", data, position)
        links.append(np.frombuffer(data, np.uint32, length // 4, position + 4))
        position += 4 + length
    header = bytearray(data[:HEADER_BYTES])
    struct.pack_into("<QQ", header, 27, target, target)  # max_elements, cur_element_count
    parts, blocks = [bytes(header)], -(-target // count)
    for block in range(blocks):
        rows = min(count, target - block * count)
        chunk = level0[:rows].copy()
        chunk[:, 4:4 + 4 * max_m0].view(np.uint32)[:] %= rows
        chunk[:, 4:4 + 4 * max_m0].view(np.uint32)[:] += block * count
        chunk[:, label_offset:label_offset + 8].view(np.uint64)[:] += block * count
        parts.append(chunk.tobytes())
    for block in range(blocks):
        rows = min(count, target - block * count)
        for ids in links[:rows]:
            parts.append(struct.pack("<I", ids.size * 4))
            if ids.size:
                levels = ids.reshape(-1, 1 + max_m).copy()
                levels[:, 1:] = levels[:, 1:] % rows + block * count
                parts.append(levels.tobytes())
    parts.append(data[position:])
    return b"".join(parts)


def build_full(base: Path, faces: int, storage: str) -> Path:
    """The full-size database: tiled indices + full faces/performers, written by our writer."""
    from stash_sense.engine.packs import load_pack

    out = CACHE / f"full-{faces}-{storage}-from-{base.name}"
    if (out / "manifest.json").exists():
        return out
    pack = load_pack(PACK)
    manifest = json.loads((base / "manifest.json").read_text())
    indices = {}
    for name, entry in manifest["embedders"].items():
        indices[name] = Index.load(io.BytesIO(tile_index((base / entry["index_file"]).read_bytes(), faces)))
    owner, records = synthetic_records(faces, max(1, faces * FULL_PERFORMERS // FULL_FACES))
    write_database(out, pack, owner, records, indices, version="synthetic-tiled")
    return out


# --- measurements -----------------------------------------------------------------------------

def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child_load(path: Path, mode: str) -> dict:
    """Runs in a fresh process: load ``path`` one way, report RSS growth, peak and seconds."""
    from stash_sense.engine.packs import load_pack

    pack = load_pack(PACK)
    manifest = json.loads((path / "manifest.json").read_text())
    files = [path / e["index_file"] for e in manifest["embedders"].values()]
    gc.collect()
    before = _status_mib("VmRSS")
    started = time.perf_counter()
    if mode in ("db", "db_low"):
        loaded = load_database(path, pack, memory="low" if mode == "db_low" else "full")
    elif mode == "path":
        loaded = [Index.load(str(f)) for f in files]
    elif mode == "handle":
        loaded = []
        for f in files:
            with open(f, "rb") as handle:
                loaded.append(Index.load(handle))
    else:
        loaded = [Index.load(io.BytesIO(f.read_bytes())) for f in files]
    seconds = time.perf_counter() - started
    gc.collect()
    after = _status_mib("VmRSS")
    assert loaded is not None
    return {"seconds": seconds, "resident_mb": after - before, "peak_mb": _status_mib("VmHWM") - before}


def measure_load(path: Path, mode: str, repeats: int) -> dict:
    """Median over fresh subprocesses (a process never re-uses freed memory of an earlier load)."""
    runs = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-m", "bench.db_bench", "--child-load", str(path), "--mode", mode],
                             cwd=REPO, capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]}


def index_bytes_per_face(path: Path) -> dict:
    manifest = json.loads((path / "manifest.json").read_text())
    file = path / next(iter(manifest["embedders"].values()))["index_file"]
    header = read_header(file)
    return {"level0_bytes_per_face": header.record, "file_bytes_per_face": round(file.stat().st_size / header.count, 1)}


def query_latency(path: Path, queries: int, k: int = 50, memory: str = "full") -> dict:
    """p50/p99 of one query face through the Matcher (k=50, fused rescoring; both indices searched,
    or in low memory the first, the second's vectors read from disk)."""
    from stash_sense.engine.matching import Matcher
    from stash_sense.engine.packs import load_pack

    pack = load_pack(PACK)
    db = load_database(path, pack, memory=memory)
    matcher = Matcher([db], pack, k=k)
    rng = np.random.default_rng(3)
    picks = rng.integers(0, len(db.faces), queries).tolist()
    samples = {n: np.asarray(i.get_vectors(picks), np.float32) for n, i in db.indices.items()}
    matcher_ms, index_ms = [], []
    for row in range(queries):
        query = {}
        for name, vectors in samples.items():
            noisy = vectors[row] + 0.05 * rng.standard_normal(DIM, dtype=np.float32)
            query[name] = (noisy / np.linalg.norm(noisy))[None]
        started = time.perf_counter()
        matcher.match_faces(query)
        matcher_ms.append(1000 * (time.perf_counter() - started))
        first = next(iter(db.indices))
        started = time.perf_counter()
        db.indices[first].query(query[first][0], k=k)
        index_ms.append(1000 * (time.perf_counter() - started))
    return {"faces": len(db.faces), "queries": queries, "k": k,
            "p50_ms": round(float(np.percentile(matcher_ms, 50)), 3),
            "p99_ms": round(float(np.percentile(matcher_ms, 99)), 3),
            "one_index_p50_ms": round(float(np.percentile(index_ms, 50)), 3),
            "one_index_p99_ms": round(float(np.percentile(index_ms, 99)), 3)}


def lfw_rank1(quick: bool) -> dict:
    """The harness' split (LFW identities with >= 4 images, enroll 2, query the rest) through our
    builder, then convert_storage to E4M3; rank-1 of each query's primary face via the Matcher."""
    import tempfile

    from bench.lfw_splits import build as lfw_split_folders
    from devtools.evaluation.harness import make_split, read_identities
    from stash_sense.engine import Engine
    from stash_sense.engine.builder import build_database
    from stash_sense.engine.database import convert_storage
    from stash_sense.engine.matching import Matcher

    identities = read_identities(lfw_split_folders()["eval_ids"])
    if quick:
        identities = {uid: images for i, (uid, images) in enumerate(sorted(identities.items())) if i % 10 == 0}
    split = make_split(identities, {}, enroll=2)
    engine = Engine(LFW_PACK, threads=2)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            report = build_database(engine, split.enrolled, {}, Path(tmp) / "float32")
            convert_storage(load_database(Path(tmp) / "float32", engine.pack), engine.pack, "e4m3",
                            Path(tmp) / "e4m3")
            queries = [(uid, p) for uid, paths in sorted(split.queries.items()) for p in paths]
            results = engine.analyze([p for _, p in queries], names=[str(p) for _, p in queries])
            out = {"identities": len(split.enrolled), "enrolled_faces": report.faces_added,
                   "queries": len(queries)}
            for storage in ("float32", "e4m3"):
                matcher = Matcher([load_database(Path(tmp) / storage, engine.pack)], engine.pack)
                out[storage] = _rank1(matcher, queries, results)
    finally:
        engine.close()
    return out


def two_embedder_agreement(quick: bool) -> dict:
    """Low memory vs full on real faces with two embedders (bench.common.two_embedder_pack): rank-1
    of each, and how often both name the same best performer. Same split as lfw_rank1."""
    import tempfile

    from bench.common import two_embedder_pack
    from bench.lfw_splits import build as lfw_split_folders
    from devtools.evaluation.harness import make_split, read_identities
    from stash_sense.engine import Engine
    from stash_sense.engine.builder import build_database
    from stash_sense.engine.matching import Matcher

    identities = read_identities(lfw_split_folders()["eval_ids"])
    if quick:
        identities = {uid: images for i, (uid, images) in enumerate(sorted(identities.items())) if i % 10 == 0}
    split = make_split(identities, {}, enroll=2)
    engine = Engine(two_embedder_pack(), threads=2)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            build_database(engine, split.enrolled, {}, Path(tmp) / "db")
            queries = [(uid, p) for uid, paths in sorted(split.queries.items()) for p in paths]
            results = engine.analyze([p for _, p in queries], names=[str(p) for _, p in queries])
            matchers = {m: Matcher([load_database(Path(tmp) / "db", engine.pack, memory=m)], engine.pack)
                        for m in ("full", "low")}
            best = {m: _best(matcher, results) for m, matcher in matchers.items()}
    finally:
        engine.close()
    truth = [uid for uid, _ in queries]
    same = sum(a == b for a, b in zip(best["full"], best["low"]) if a is not None)
    return {"queries": len(queries), "faces": sum(b is not None for b in best["full"]),
            **{f"rank1_{m}": round(sum(b == t for b, t in zip(found, truth)) / len(queries), 4)
               for m, found in best.items()},
            "same_best_performer": round(same / max(1, sum(b is not None for b in best["full"])), 4)}


def _best(matcher, results) -> list[str | None]:
    out = []
    for result in results:
        face = result.primary_face()
        matches = matcher.match_faces({n: v[None] for n, v in face.embeddings.items()})[0] if face else []
        out.append(matches[0].universal_id if matches else None)
    return out


def _rank1(matcher, queries, results) -> float:
    """A query whose face was not found counts as a miss (as in the harness)."""
    hits = 0
    for (uid, _), result in zip(queries, results):
        face = result.primary_face()
        if face is not None:
            matches = matcher.match_faces({n: v[None] for n, v in face.embeddings.items()})[0]
            hits += bool(matches) and matches[0].universal_id == uid
    return round(hits / len(queries), 4)


# --- the run ----------------------------------------------------------------------------------------

def run(quick: bool, base_faces: int, full_faces: int, repeats: int, queries: int) -> dict:
    result: dict = {"quick": quick, "machine": machine_info(), "loadavg_before": loadavg(),
                    "full_faces": full_faces, "base_faces": base_faces, "dims": DIM, "indices": 2,
                    "repeats": repeats}
    started = time.perf_counter()
    bases = build_base(base_faces)
    for storage, base in bases.items():
        full = build_full(base, full_faces, storage)
        loads = {mode: measure_load(full, mode, repeats) for mode in LOAD_MODES}
        base_load = measure_load(base, "db", repeats)
        empty_load = measure_load(build_empty(storage), "db", repeats)
        per_face = (base_load["resident_mb"] - empty_load["resident_mb"]) / base_faces
        result[f"{storage}_resident_mb_full"] = round(loads["db"]["resident_mb"], 1)
        result[f"{storage}_load_s_full"] = round(loads["db"]["seconds"], 3)
        result[f"{storage}_peak_mb_full"] = round(loads["db"]["peak_mb"], 1)
        result[f"{storage}_load_modes_full"] = loads
        result[f"{storage}_resident_mb_full_linear_from_base"] = round(
            empty_load["resident_mb"] + per_face * full_faces, 1)
        result[f"{storage}_resident_bytes_per_face"] = round(
            (loads["db"]["resident_mb"] - empty_load["resident_mb"]) * 2**20 / full_faces, 1)
        result[f"{storage}_files_mb_full"] = round(sum(f.stat().st_size for f in full.iterdir()) / 2**20, 1)
        result[f"{storage}_index_layout"] = index_bytes_per_face(full)
        latency = query_latency(base, queries)
        result[f"{storage}_query"] = latency
        result[f"{storage}_resident_mb_full_low_memory"] = round(loads["db_low"]["resident_mb"], 1)
        result[f"{storage}_load_s_full_low_memory"] = round(loads["db_low"]["seconds"], 3)
        result[f"{storage}_query_low_memory"] = query_latency(base, queries, memory="low")
    result["query_p50_ms"] = result["e4m3_query"]["p50_ms"]
    result["query_p99_ms"] = result["e4m3_query"]["p99_ms"]
    lfw = lfw_rank1(quick)
    result["lfw_rank1_float32"], result["lfw_rank1_e4m3"] = lfw["float32"], lfw["e4m3"]
    result["lfw_rank1_change_points"] = round(100 * (lfw["e4m3"] - lfw["float32"]), 2)
    result["lfw"] = lfw
    result["lfw_two_embedders"] = two_embedder_agreement(quick)
    result["goal"] = {**GOAL, "met": _goal_met(result, ""), "met_low_memory": _goal_met(result, "_low_memory")}
    result["loadavg_after"] = loadavg()
    result["bench_seconds"] = round(time.perf_counter() - started, 1)
    result["method"] = _method(base_faces, full_faces)
    return result


def _goal_met(result: dict, suffix: str) -> dict[str, bool]:
    """Resident sizes are MiB, the goal is MB: compared in MB (450 MB = 429.2 MiB)."""
    scale = {"e4m3_resident_mb_full": 2**20 / 1e6, "e4m3_load_s_full": 1.0}
    return {k: result[k + suffix] * scale[k] <= v for k, v in GOAL.items()}


def _method(base_faces: int, full_faces: int) -> dict:
    return {
        "full_size": f"measured, not extrapolated: base indices of {base_faces} synthetic faces (3 per identity "
                     f"centre) tiled to {full_faces} faces per index (see module docstring); *_linear_from_base "
                     "is the linear extrapolation (empty database + base database's cost per face x full size), as a "
                     "cross-check",
        "resident": "RSS growth of a fresh subprocess loading the database (load_database: 2 indices + "
                    "faces.json + performers.json), MiB, median of repeats; *_load_modes_full compares "
                    "load_database ('db', file handles) with the two indices alone loaded from a path string "
                    "('path', native, GIL released), an open file ('handle') and in-memory bytes ('bytes')",
        "query": "Matcher.match_faces for one face (both indices k=50 + exact fused rescoring) on the base "
                 "database (a real HNSW graph); query_p50_ms/query_p99_ms are E4M3",
        "low_memory": "load_database(memory='low') ('db_low'): the first embedder's Voyager index in memory and "
                      "searched, the second's vectors read from its file for the candidates' exact fused score; "
                      "lfw_two_embedders compares it with full on real faces with two real embeddings "
                      "(test-mbf128 fed RGB and BGR)",
        "lfw": "harness split (bench/lfw_splits eval_ids: LFW identities with >= 4 images, enroll the first 2 by "
               "file name, query the rest) built with our builder (test-mbf128), then convert_storage to E4M3",
    }


def markdown(result: dict) -> str:
    rows = [("resident MiB, full size", "float32_resident_mb_full", "e4m3_resident_mb_full"),
            ("peak MiB while loading", "float32_peak_mb_full", "e4m3_peak_mb_full"),
            ("load s, full size", "float32_load_s_full", "e4m3_load_s_full"),
            ("files MiB, full size", "float32_files_mb_full", "e4m3_files_mb_full"),
            ("resident MiB, linear from base", "float32_resident_mb_full_linear_from_base",
             "e4m3_resident_mb_full_linear_from_base"),
            ("resident MiB, full size, low memory", "float32_resident_mb_full_low_memory",
             "e4m3_resident_mb_full_low_memory"),
            ("load s, full size, low memory", "float32_load_s_full_low_memory", "e4m3_load_s_full_low_memory"),
            ("LFW rank-1", "lfw_rank1_float32", "lfw_rank1_e4m3")]
    lines = [f"# Face-database benchmark{' (QUICK)' if result['quick'] else ''}", "",
             f"{result['full_faces']} faces x 2 indices x {DIM} dims; base {result['base_faces']} faces; "
             f"{result['machine']['cores']} cores; load average before {result['loadavg_before']} / after "
             f"{result['loadavg_after']}.", "", "| measure | float32 | E4M3 |", "|---|---|---|"]
    lines += [f"| {label} | {result[a]} | {result[b]} |" for label, a, b in rows]
    q32, q8 = result["float32_query"], result["e4m3_query"]
    lines += [f"| query k=50 p50 / p99 ms ({q32['faces']} faces) | {q32['p50_ms']} / {q32['p99_ms']} | "
              f"{q8['p50_ms']} / {q8['p99_ms']} |"]
    l32, l8 = result["float32_query_low_memory"], result["e4m3_query_low_memory"]
    lines += [f"| query k=50 p50 / p99 ms, low memory | {l32['p50_ms']} / {l32['p99_ms']} | "
              f"{l8['p50_ms']} / {l8['p99_ms']} |", ""]
    two = result["lfw_two_embedders"]
    lines += [f"Low memory vs full on real faces, two embeddings ({two['queries']} LFW queries): rank-1 "
              f"{two['rank1_low']} vs {two['rank1_full']}, same best performer {two['same_best_performer']}.", ""]
    lines += ["Load modes at full size (seconds / resident MiB / peak MiB):", "",
              "| mode | float32 | E4M3 |", "|---|---|---|"]
    for mode in LOAD_MODES:
        cells = [result[f"{s}_load_modes_full"][mode] for s in ("float32", "e4m3")]
        lines.append(f"| {mode} | " + " | ".join(f"{c['seconds']} / {c['resident_mb']:.0f} / {c['peak_mb']:.0f}"
                                                for c in cells) + " |")
    lines += ["", f"Goal: {result['goal']}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 repeat (verification only)")
    parser.add_argument("--base-faces", type=int, default=None, help="faces actually built (default 20000)")
    parser.add_argument("--repeats", type=int, default=None, help="fresh-process loads per figure (default 3)")
    parser.add_argument("--out", type=Path, default=None,
                        help="default bench/results/db.json (quick: bench/cache/db.quick.json)")
    parser.add_argument("--child-load", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=LOAD_MODES, default="db", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_load:
        print(json.dumps(child_load(args.child_load, args.mode)))
        return 0
    base = args.base_faces or (2_000 if args.quick else 20_000)
    full = FULL_FACES // 10 if args.quick else FULL_FACES
    result = run(args.quick, base, full, args.repeats or (1 if args.quick else 3), 100 if args.quick else 1000)
    out = args.out or (REPO / "bench" / "cache" / "db.quick.json" if args.quick else RESULTS / "db.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
