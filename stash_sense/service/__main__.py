"""``python -m stash_sense.service serve|status|stop``: run, inspect or stop this install's worker.

``serve`` is what ``launcher.spawn`` runs; ``status`` and ``stop`` are for people debugging.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from stash_sense.service import DEFAULT_PACK
from stash_sense.service.launcher import DEFAULT_IDLE_SECONDS, attach, stop_worker
from stash_sense.service.location import worker_paths
from stash_sense.service.versions import build_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stash_sense.service")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the worker in the foreground")
    serve.add_argument("--threads", type=int, default=2)
    serve.add_argument("--idle-timeout", type=float, default=DEFAULT_IDLE_SECONDS)
    serve.add_argument("--data-dir", default=None)
    for command in (serve, sub.add_parser("status"), sub.add_parser("stop")):
        command.add_argument("--pack", default=DEFAULT_PACK)
    args = parser.parse_args(argv)
    if args.command == "serve":
        from stash_sense.service.worker_server import run

        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(process)d %(levelname)s %(message)s")
        return run(args.pack, args.threads, args.idle_timeout, args.data_dir)
    if args.command == "stop":
        return 0 if stop_worker(args.pack) else 1
    attached = attach(worker_paths(args.pack), build_id())
    print(json.dumps(attached[1] if attached else {"running": False}))
    return 0 if attached else 1


if __name__ == "__main__":
    sys.exit(main())
