"""`python -m stash_sense db ...`: download, inspect, verify, convert, build and extend databases."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stash_sense.engine.builder import build_database, enroll, identities_from_folder, open_or_create
from stash_sense.engine.database import LEGACY_PACK, convert_storage, load_database, read_manifest, verify_checksums
from stash_sense.engine.packs import load_pack
from stash_sense.paths import DEFAULT_PACK
from stash_sense.service import databases

DEFAULT_RELEASE_API = "https://api.github.com/repos/carrotwaxr/stash-sense-data/releases/latest"


def add_db_commands(commands, add_engine_options, engine_from) -> None:
    parser = commands.add_parser("db", help="face databases")
    sub = parser.add_subparsers(dest="db_command", required=True)

    download = sub.add_parser("download", help="download/update the published face database")
    download.add_argument("--url", default=DEFAULT_RELEASE_API, help="GitHub releases API URL or a .zip URL")
    download.add_argument("--version", default=None, help="a specific release (YYYY.MM.DD)")
    download.add_argument("--pack", default=DEFAULT_PACK)
    download.set_defaults(run=_download)

    rollback = sub.add_parser("rollback", help="switch back to the previous downloaded release")
    rollback.set_defaults(run=_rollback)

    info = sub.add_parser("info", help="version, counts, storage, pack and size of the databases")
    info.add_argument("--db", type=Path, default=None, help="a database folder (default: all installed)")
    info.set_defaults(run=_info)

    verify = sub.add_parser("verify", help="re-check the sha256 of every database file")
    verify.add_argument("--db", type=Path, default=None)
    verify.set_defaults(run=_verify)

    convert = sub.add_parser("convert", help="rewrite indices with another storage type (e4m3 = 4x smaller)")
    convert.add_argument("--storage", choices=["float32", "e4m3"], required=True)
    convert.add_argument("--db", type=Path, default=None, help="default: the local database")
    convert.add_argument("--out", type=Path, default=None, help="write here instead of in place")
    convert.set_defaults(run=_convert)

    for name, helptext, runner in (("build", "build a new database from labelled folders", _build),
                                   ("enroll", "add identities to a database without rebuilding", _enroll)):
        cmd = sub.add_parser(name, help=helptext)
        cmd.add_argument("--from-folder", type=Path, required=True, help="one sub-folder per identity")
        cmd.add_argument("--db", type=Path, default=None, help="database folder (default: the local database)")
        add_engine_options(cmd)
        cmd.set_defaults(run=runner, engine_from=engine_from)


def _download(args: argparse.Namespace) -> int:
    from stash_sense.engine.releases import install_release

    path = install_release(args.url, load_pack(args.pack), databases.release_root(), version=args.version)
    print(f"installed {read_manifest(path).get('version')} at {path}")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from stash_sense.engine.releases import rollback

    print(f"active database is now {rollback(databases.release_root())}")
    return 0


def _targets(args: argparse.Namespace) -> list[Path]:
    return [args.db] if args.db else databases.database_paths()


def _info(args: argparse.Namespace) -> int:
    targets = _targets(args)
    if not targets:
        print("no face database installed: run `python -m stash_sense db download` or `db build`")
        return 1
    for path in targets:
        manifest = read_manifest(path)
        db = load_database(path, load_pack(manifest.get("pack", LEGACY_PACK)))
        print(json.dumps(db.info(), indent=2))
    return 0


def _verify(args: argparse.Namespace) -> int:
    failed = False
    for path in _targets(args):
        bad = verify_checksums(path)
        failed |= bool(bad)
        print(f"{path}: " + (f"CHECKSUM MISMATCH in {', '.join(bad)}" if bad else "all checksums match"))
    return 1 if failed else 0


def _convert(args: argparse.Namespace) -> int:
    path = args.db or databases.local_db_path()
    manifest = read_manifest(path)
    pack = load_pack(manifest.get("pack", LEGACY_PACK))
    before = sum(p.stat().st_size for p in path.glob("*.voy"))
    out = convert_storage(load_database(path, pack), pack, args.storage, args.out)
    after = sum(p.stat().st_size for p in (args.out or path).glob("*.voy"))
    print(f"converted {path} to {out['storage']}: indices {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB")
    return 0


def _build(args: argparse.Namespace) -> int:
    engine = args.engine_from(args)
    identities, performers = identities_from_folder(args.from_folder)
    report = build_database(engine, identities, performers, args.db or databases.local_db_path())
    return _report(report)


def _enroll(args: argparse.Namespace) -> int:
    engine = args.engine_from(args)
    identities, performers = identities_from_folder(args.from_folder)
    report = enroll(engine, open_or_create(engine, args.db or databases.local_db_path()), identities, performers)
    return _report(report)


def _report(report) -> int:
    print(f"{report.identities} identities, {report.faces_added} faces added, {len(report.skipped)} images skipped")
    for image, reason in report.skipped:
        print(f"  skipped {image}: {reason}", file=sys.stderr)
    return 0
