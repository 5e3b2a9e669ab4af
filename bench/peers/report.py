"""The Markdown table of a peers.json report (pasted into the README)."""

from __future__ import annotations

CNN_FULL_SIZE_NOTE = (
    "face_recognition CNN is not run on the full-size photos: with its default upsample=1 a single "
    "1382x1868 photo took 173 s and 9.9 GB RSS on this machine (measured once while writing the bench); "
    "the 4352x2903 photos would need several times that.")


def markdown(report: dict) -> str:
    full = "quick" if report["quick"] else "full"
    small = "cnn_quick" if report["quick"] else "cnn"
    lines = [_heading(report), "", *_accuracy_table(report["accuracy"], full), "",
             *_cnn_table(report["accuracy"], report["timing"], small), "",
             *_speed_table(report["timing"], report["repeats"]), "", *_ratio_table(report), "", _notes(report)]
    return "\n".join(lines) + "\n"


def _heading(report: dict) -> str:
    m = report["machine"]
    mode = "QUICK MODE (subsets; for checking the bench only)" if report["quick"] else "full sets"
    return (f"**Stash Sense vs face_recognition** — {mode}. Machine: {m['cores']} cores ({m['cpu']}), "
            f"load average {m['load_average_start'][0]} at start / {m['load_average_end'][0]} at end. "
            f"Command: `{report['command']}` ({report['minutes']} min).")


def _accuracy_table(accuracy: dict, full: str) -> list[str]:
    rows = ["| engine | LFW pairsDevTest acc. (best thr.) | at engine's default thr. | LFW ident. rank-1 "
            "| open-set false-tag rate | deepface test pairs acc. |", "|---|---|---|---|---|---|"]
    counts = None
    for label, sets in accuracy.items():
        if f"lfw_devtest/{full}" not in sets:
            continue
        dev, ident, deep = sets[f"lfw_devtest/{full}"], sets[f"identification/{full}"], sets[f"deepface/{full}"]
        counts = (dev["pairs"], ident["queries"], deep["pairs"])
        rows.append(f"| {_engine(label)} | {_pct(dev['accuracy'])} | {_pct(dev['accuracy_at_default_threshold'])} "
                    f"| {_pct(ident['face_rank1'])} | {_pct(ident['open_set_false_tag_rate'])} "
                    f"| {_pct(deep['accuracy'])} |")
    if counts:
        rows.append(f"\nPairs: {counts[0]} LFW, {counts[2]} deepface; identification: {counts[1]} query faces "
                    "(LFW identities with >= 4 images, enroll 2), distractors never enrolled.")
    return rows


def _cnn_table(accuracy: dict, timing: dict, small: str) -> list[str]:
    rows = ["Same subsample for every engine (dlib's CNN detector is ~5 s per LFW image on one CPU core):", "",
            "| engine | LFW pairsDevTest acc. | LFW ident. rank-1 | false-tag rate | LFW img/s |",
            "|---|---|---|---|---|"]
    for label, sets in accuracy.items():
        dev, ident = sets.get(f"lfw_devtest/{small}"), sets.get(f"identification/{small}")
        if dev and ident:
            speed = timing.get(label, {}).get("lfw", {}).get("images_per_s", "—")
            rows.append(f"| {_engine(label)} | {_pct(dev['accuracy'])} ({dev['pairs']} pairs) "
                        f"| {_pct(ident['face_rank1'])} ({ident['queries']} queries) "
                        f"| {_pct(ident['open_set_false_tag_rate'])} | {speed} |")
    return rows


def _speed_table(timing: dict, repeats: int) -> list[str]:
    rows = [f"Speed: file path to embeddings, median of {repeats} interleaved runs, one process per run:", "",
            "| engine | LFW 250x250 img/s | LFW ms/face | full-size img/s | full-size ms/face "
            "| CPU ms/img LFW / full-size | peak RSS MB LFW / full-size |", "|---|---|---|---|---|---|---|"]
    for label, sets in timing.items():
        lfw, big = sets.get("lfw", {}), sets.get("full_size", {})
        rows.append(f"| {label} | {lfw.get('images_per_s', '—')} | {lfw.get('ms_per_face', '—')} "
                    f"| {big.get('images_per_s', '—')} | {big.get('ms_per_face', '—')} "
                    f"| {lfw.get('cpu_ms_per_image', '—')} / {big.get('cpu_ms_per_image', '—')} "
                    f"| {lfw.get('peak_rss_mb', '—')} / {big.get('peak_rss_mb', '—')} |")
    return rows


def _ratio_table(report: dict) -> list[str]:
    timing, peer = report["timing"], "face_recognition HOG"
    rows = ["Ratios us / face_recognition HOG (images/s; CPU time per image in brackets):", "",
            "| our engine | LFW thumbnails (target >= 3x) | full-size photos (target >= 10x) |", "|---|---|---|"]
    for label, sets in timing.items():
        if label.startswith("face_recognition"):
            continue
        cells = []
        for name in ("lfw", "full_size"):
            speed = sets[name]["images_per_s"] / timing[peer][name]["images_per_s"]
            cpu = timing[peer][name]["cpu_ms_per_image"] / max(sets[name]["cpu_ms_per_image"], 1e-9)
            cells.append(f"{speed:.1f}x ({cpu:.1f}x)")
        rows.append(f"| {label} | {cells[0]} | {cells[1]} |")
    return rows


def _notes(report: dict) -> str:
    notes = [CNN_FULL_SIZE_NOTE, "face_recognition runs with its documented defaults (upsample 1, num_jitters 1, "
             "small landmarks, tolerance 0.6); its default threshold is distance <= 0.6, ours is the pack's "
             "calibrated cluster threshold. dlib is single-threaded.", *report.get("skipped", [])]
    if any(label.startswith("stash-sense-v1-replica") for label in report["timing"]):
        run = report.get("prod_pack_timing_run", {})
        notes.append("stash-sense-v1-replica: the production pack's layers with random weights (bench/replicas.py): "
                     "time and memory only, no accuracy row"
                     + (f"; timed by `{run['command']}`, load average {run['machine']['load_average_start'][0]} at "
                        f"start / {run['machine']['load_average_end'][0]} at end" if run else ""))
    return "\n".join(f"- {n}" for n in notes)


def _engine(label: str) -> str:
    """Accuracy does not depend on threads: show the pack name only."""
    return label.replace(" (2 thr)", "")


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"
