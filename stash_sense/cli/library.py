"""``python -m stash_sense library ...``: the library face index from a terminal (issue 20).

    library rebuild                      rebuild the index from the side table and the embedding cache
    library unknown [--list]             find recurring unknown people (and print them)
    library name PERSON (--performer-id ID | --new-name NAME)
    library hide PERSON
    library find --performer-id ID [--add-auto | --add TYPE:ID ...]

The plugin data folder (``--data-dir`` or ``STASH_SENSE_DATA_DIR``) is the plugin's: the same
index, journal and databases, so "Undo last bulk run" in Stash undoes a command-line naming too.
Results are printed as JSON on stdout; logs go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import contextmanager


def add_library_commands(commands) -> None:
    cmd = commands.add_parser("library", help="the library face index: unknown people, find a performer everywhere")
    cmd.add_argument("--stash-url", default=os.environ.get("STASH_URL"), help="e.g. http://localhost:9999")
    cmd.add_argument("--api-key", default=os.environ.get("STASH_API_KEY"), help="Stash API key ($STASH_API_KEY)")
    cmd.add_argument("--data-dir", default=None, help="plugin data folder (index, journal, databases)")
    cmd.add_argument("--pack", default=None, help="model pack (default: the plugin's)")
    cmd.add_argument("--dry-run", action="store_true", help="log what would be added, change nothing")
    sub = cmd.add_subparsers(dest="library_command", required=True)
    sub.add_parser("rebuild", help="rebuild the index from the embedding cache")
    unknown = sub.add_parser("unknown", help="group the faces nobody was matched to into people")
    unknown.add_argument("--list", action="store_true", help="print the groups")
    name = sub.add_parser("name", help="say who an unknown person is")
    name.add_argument("person", type=int)
    who = name.add_mutually_exclusive_group(required=True)
    who.add_argument("--performer-id")
    who.add_argument("--new-name")
    hide = sub.add_parser("hide", help="hide an unknown person (not interesting)")
    hide.add_argument("person", type=int)
    find = sub.add_parser("find", help="galleries, scenes and images that show a performer who is not on them")
    find.add_argument("--performer-id", required=True)
    add = find.add_mutually_exclusive_group()
    add.add_argument("--add-auto", action="store_true", help="add the performer where confidence >= auto")
    add.add_argument("--add", nargs="+", default=[], metavar="TYPE:ID", help="add to these, e.g. gallery:12")
    cmd.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.data_dir:
        os.environ["STASH_SENSE_DATA_DIR"] = args.data_dir
    if args.pack:
        os.environ["STASH_SENSE_PACK"] = args.pack
    handler = {"rebuild": _rebuild, "unknown": _unknown, "name": _name, "hide": _hide, "find": _find}
    out = handler[args.library_command](args)
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0


@contextmanager
def _index():
    from stash_sense.jobs.library_index import open_index
    from stash_sense.service import access as engine_access

    index = open_index(engine_access.pack_name())
    try:
        yield index
    finally:
        index.close()


def _client(args: argparse.Namespace):
    from stash_sense.stash.client import StashClient

    if not args.stash_url:
        raise ValueError("--stash-url (or $STASH_URL) is needed for this command")
    return StashClient.from_url(args.stash_url, args.api_key)


def _calibration():
    from stash_sense.engine.calibration import load_calibration
    from stash_sense.engine.packs import load_pack
    from stash_sense.service import access as engine_access

    pack = load_pack(engine_access.pack_name())
    return pack, load_calibration(pack)


def _rebuild(args: argparse.Namespace) -> dict:
    with _index() as index:
        return {"faces": index.rebuild()}


def _unknown(args: argparse.Namespace) -> dict:
    from stash_sense.jobs.unknown_people import find_unknown_people, list_people

    _, calibration = _calibration()
    with _index() as index:
        out = find_unknown_people(index, calibration.cluster_threshold).to_dict()
        if args.list:
            out["people"] = list_people(index)
    return out


def _name(args: argparse.Namespace) -> dict:
    from stash_sense.jobs import unknown_people
    from stash_sense.library.journal import Journal
    from stash_sense.library.undo import rollback
    from stash_sense.library.writeback import WriteBack
    from stash_sense.service import databases

    client, journal = _client(args), Journal()
    pack, _ = _calibration()
    writeback = WriteBack(client, journal, "unknown_person", dry_run=args.dry_run)
    try:
        with _index() as index:
            unknown_people.status_of(index, args.person)
            performer = (client.find_performer(args.performer_id) if args.performer_id
                         else unknown_people.new_performer(client, writeback, args.new_name))
            if performer is None:
                raise LookupError(f"There is no performer {args.performer_id} in Stash")
            return unknown_people.name_person(index, args.person, client, writeback, performer,
                                              databases.local_db_path(), pack)
    except Exception as exc:
        rollback(client, journal, writeback.run_id, str(exc))
        raise
    finally:
        journal.close()


def _hide(args: argparse.Namespace) -> dict:
    from stash_sense.jobs.unknown_people import hide

    with _index() as index:
        return hide(index, args.person)


def _find(args: argparse.Namespace) -> dict:
    from stash_sense import settings as settings_mod
    from stash_sense.engine.identify import Identifier
    from stash_sense.engine.pipeline import Engine
    from stash_sense.jobs.find_everywhere import add_to_items, find_everywhere
    from stash_sense.library.journal import Journal
    from stash_sense.library.writeback import WriteBack
    from stash_sense.service import access as engine_access
    from stash_sense.service import databases
    from stash_sense.service.inprocess import InProcessService

    client = _client(args)
    performer = client.find_performer(args.performer_id)
    if performer is None:
        raise LookupError(f"There is no performer {args.performer_id} in Stash")
    pack, calibration = _calibration()
    thresholds = settings_mod.from_stash(client.plugin_settings()).thresholds(engine_access.calibration_thresholds())
    engine = Engine(pack, threads=engine_access.engine_threads())
    identifier = Identifier(engine, databases.open_databases(pack))
    service = InProcessService(pack.name, identifier=identifier)
    try:
        with _index() as index:
            found = find_everywhere(index, service, client, performer, identifier.databases, thresholds,
                                    calibration.cluster_threshold)
    finally:
        engine.close()
    chosen = [i for i in found["items"] if i["band"] == "auto"] if args.add_auto else [
        {"type": t, "id": i} for t, i in (spec.split(":", 1) for spec in args.add)]
    if chosen:
        journal = Journal()
        try:
            found["added"] = add_to_items(WriteBack(client, journal, "find_everywhere", dry_run=args.dry_run),
                                          str(performer["id"]), chosen)
        finally:
            journal.close()
    return found
