"""``python -m stash_sense bulk``: the bulk gallery task outside Stash (cron, a bigger machine).

Same job as the plugin's task, same decisions: the plugin settings saved in Stash are read and
command-line flags override them. The journal, ledger and embedding cache live in the plugin data
folder (``STASH_SENSE_DATA_DIR`` or ``--data-dir``); pointing it at the plugin's own folder lets
"Undo last bulk run" in Stash undo a command-line run, and shares the cache with the plugin.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def add_bulk_commands(commands, add_engine_options, engine_from) -> None:
    cmd = commands.add_parser("bulk", help="identify performers in all (or selected) galleries of a Stash")
    cmd.add_argument("--stash-url", required=True, help="e.g. http://localhost:9999")
    cmd.add_argument("--api-key", default=os.environ.get("STASH_API_KEY"), help="Stash API key ($STASH_API_KEY)")
    cmd.add_argument("--untagged", action="store_true", help="only galleries without performers")
    cmd.add_argument("--tag", default=None, help="only galleries with this tag")
    cmd.add_argument("--force", action="store_true", help="also galleries already done with this database")
    cmd.add_argument("--dry-run", action="store_true", help="log what would be added, change nothing")
    cmd.add_argument("--max-images", type=int, default=None, help="images per gallery (setting; default 200)")
    cmd.add_argument("--tag-images", action="store_true", help="also add performers to the images they are in")
    cmd.add_argument("--auto", type=float, default=None, help="auto-apply confidence (setting / calibration)")
    cmd.add_argument("--review", type=float, default=None, help="review confidence (setting / calibration)")
    cmd.add_argument("--data-dir", default=None, help="plugin data folder (databases, journal, cache)")
    cmd.add_argument("--low-memory", action="store_true",
                     help="one search index in memory, the other model's vectors read from disk (setting)")
    cmd.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    add_engine_options(cmd)
    cmd.set_defaults(run=_bulk, engine_from=engine_from)


def _bulk(args: argparse.Namespace) -> int:
    if args.data_dir:
        os.environ["STASH_SENSE_DATA_DIR"] = args.data_dir
    if args.low_memory:
        os.environ["STASH_SENSE_MEMORY"] = "low"
    from stash_sense import paths
    from stash_sense.jobs.halt import RunHalted
    from stash_sense.jobs.run_lock import RunLocked, exclusive_run
    from stash_sense.library.disk import DiskFull, require_free_space

    try:
        with exclusive_run("command line bulk"):  # one run per library: not beside a task in Stash
            require_free_space(paths.data_dir())
            return _bulk_locked(args)
    except (RunLocked, RunHalted, DiskFull) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _bulk_locked(args: argparse.Namespace) -> int:
    from stash_sense.jobs.galleries import run_bulk
    from stash_sense.library.journal import Journal
    from stash_sense.service.inprocess import InProcessService
    from stash_sense.stash.client import StashClient

    client = StashClient.from_url(args.stash_url, args.api_key)
    identifier = _identifier(args)
    options = _options(args, client, identifier)
    journal = Journal()
    service = InProcessService(identifier.engine.pack.name, identifier=identifier)
    try:
        summary = run_bulk(client, journal, service, options)
    except LookupError as exc:  # e.g. --tag names no tag
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        journal.close()
        identifier.engine.close()
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        print()
    return 1 if summary["failed_galleries"] else 0


def _identifier(args: argparse.Namespace):
    from stash_sense.engine.identify import Identifier
    from stash_sense.service import databases
    from stash_sense.service.access import NO_DATABASE

    if not databases.database_paths():
        raise RuntimeError(NO_DATABASE.replace("Run the task", "In Stash, run the task"))
    engine = args.engine_from(args)
    return Identifier(engine, databases.open_databases(engine.pack))


def _options(args: argparse.Namespace, client, identifier):
    from stash_sense import settings as settings_mod
    from stash_sense.jobs.options import from_settings

    raw = client.plugin_settings()
    if args.auto is not None:
        raw["autoApplyConfidence"] = args.auto
    if args.review is not None:
        raw["reviewConfidence"] = args.review
    if args.max_images:
        raw["maxImagesPerGallery"] = args.max_images
    calibration = identifier.calibration
    task_args = {"untagged": args.untagged, "tag": args.tag, "force": args.force, "tag_images": args.tag_images}
    if args.dry_run:
        task_args["dry_run"] = True
    return from_settings(settings_mod.from_stash(raw), raw, task_args,
                         {"auto": calibration.auto_threshold, "review": calibration.review_threshold},
                         identifier.engine.pack.name)
