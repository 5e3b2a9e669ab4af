"""`python -m devtools eval` and `calibrate`: measure identification and fit confidences."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from devtools.evaluation.harness import calibrate, evaluate, fit_query_adapter
from stash_sense.engine.calibration import Calibration, load_calibration
from stash_sense.engine.packs import ADAPTER_SUFFIX, PACK_DIR


def add_eval_commands(commands, add_engine_options, engine_from) -> None:
    for name, helptext, runner in (
            ("eval", "face rank-1, open-set false tags and gallery precision/recall on labelled folders", _eval),
            ("calibrate", "fit the confidence model and cluster threshold of a pack on labelled folders",
             _calibrate)):
        cmd = commands.add_parser(name, help=helptext)
        several = name == "calibrate"  # calibrate fits clean and degraded splits together
        cmd.add_argument("--identities", type=Path, required=True, action="append" if several else "store",
                         help="one sub-folder per identity" + (" (repeatable: clean split first)" if several else ""))
        cmd.add_argument("--distractors", type=Path, default=[] if several else None,
                         action="append" if several else "store",
                         help="identities never enrolled" + (" (one per --identities)" if several else ""))
        cmd.add_argument("--enroll", type=int, default=2 if name == "eval" else 1,
                         help="images enrolled per identity (first N by file name)")
        if name == "eval":
            cmd.add_argument("--json", dest="json_out", type=Path, default=None, help="write the metrics here")
            cmd.add_argument("--by-kind", action="store_true",
                             help="also report per degradation kind (<kind>__ file names, bench/hard_set.py)")
            cmd.add_argument("--calibration", type=Path, default=None,
                             help="a calibration file to evaluate (default: the pack's own)")
            cmd.add_argument("--self-fitted", action="store_true",
                             help="upper bound: refit the confidence model on this split's own answers first")
            cmd.add_argument("--mirror-band", type=float, default=None,
                             help="queries use mirror on demand with this band in logit units "
                                  "(stash_sense.engine.mirror; default: every face mirrored)")
        else:
            cmd.add_argument("--out", type=Path, default=None,
                             help="calibration file (default: stored with the pack)")
        add_engine_options(cmd)
        cmd.set_defaults(run=runner, engine_from=engine_from)
    adapt = commands.add_parser("adapt", help="fit a pack's query adapter on clear photos and degraded copies "
                                              "(run before calibrate: the calibration sees adapted queries)")
    adapt.add_argument("--pairs", type=Path, required=True,
                       help="one sub-folder per photo: clean.jpg and degraded copies (bench/hard_set.py)")
    adapt.add_argument("--out", type=Path, default=None, help="adapter file (default: stored with the pack)")
    add_engine_options(adapt)
    adapt.set_defaults(run=_adapt, engine_from=engine_from)


def _eval(args: argparse.Namespace) -> int:
    engine = args.engine_from(args)
    calibration = (Calibration.from_dict(json.loads(args.calibration.read_text())) if args.calibration
                   else load_calibration(engine.pack))
    metrics = evaluate(engine, args.identities, args.distractors, args.enroll, calibration,
                       by_kind=args.by_kind, mirror_band=args.mirror_band, self_fitted=args.self_fitted)
    width = max(len(k) for k in metrics)
    for key, value in metrics.items():
        if key != "by_kind":
            print(f"{key:<{width}}  {value}")
    for kind, figures in metrics.get("by_kind", {}).items():
        print(f"{kind:<16}", "  ".join(f"{k}={v}" for k, v in figures.items()))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(metrics, indent=2) + "\n")
    return 0


def _adapt(args: argparse.Namespace) -> int:
    engine = args.engine_from(args)
    adapter, pairs = fit_query_adapter(engine, args.pairs)
    out = args.out or PACK_DIR / f"{engine.pack.name}{ADAPTER_SUFFIX}"
    adapter.save(out)
    print(f"query adapter fitted on {pairs} pairs, saved to {out}")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    engine = args.engine_from(args)
    calibration = calibrate(engine, args.identities, args.distractors or None, args.enroll)
    out = args.out or PACK_DIR / f"{engine.pack.name}.calibration.json"
    calibration.save(out)
    print(json.dumps(calibration.to_dict(), indent=2))
    print(f"saved to {out}")
    return 0
