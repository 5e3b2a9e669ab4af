"""SQLite data for the embedded demo Stash.

The tables model just what Stash Sense reads and writes: files with fingerprints (including
members of zip files, which are not readable from disk), images, galleries, scenes, performers
with stash-box IDs, tags, configuration, and a fake stash-box performer registry that
``scrapeSinglePerformer`` answers from.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import struct
import zipfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_ENDPOINT = "https://stashdb.org/graphql"
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"}

SCHEMA_SQL = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS config (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS folders (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, zip_file_id INTEGER);
CREATE TABLE IF NOT EXISTS files (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,              -- image | video | zip
  path TEXT NOT NULL UNIQUE,       -- zip members: <zip path>/<member>
  basename TEXT NOT NULL,
  parent_folder_id INTEGER NOT NULL REFERENCES folders(id),
  zip_file_id INTEGER REFERENCES files(id),
  size INTEGER NOT NULL,
  mod_time TEXT NOT NULL,
  md5 TEXT, oshash TEXT, phash TEXT,
  width INTEGER, height INTEGER, format TEXT, duration REAL,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS images (
  id INTEGER PRIMARY KEY, title TEXT, file_id INTEGER NOT NULL REFERENCES files(id),
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS galleries (
  id INTEGER PRIMARY KEY, title TEXT,
  zip_file_id INTEGER REFERENCES files(id), folder_id INTEGER REFERENCES folders(id),
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS galleries_images (
  gallery_id INTEGER NOT NULL, image_id INTEGER NOT NULL, PRIMARY KEY (gallery_id, image_id)
);
CREATE INDEX IF NOT EXISTS galleries_images_by_image ON galleries_images (image_id);
CREATE TABLE IF NOT EXISTS scenes (
  id INTEGER PRIMARY KEY, title TEXT, file_id INTEGER REFERENCES files(id),
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS scene_markers (
  id INTEGER PRIMARY KEY, scene_id INTEGER NOT NULL, title TEXT NOT NULL, seconds REAL NOT NULL,
  end_seconds REAL, primary_tag_id INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS performers (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, disambiguation TEXT, alias_list TEXT NOT NULL DEFAULT '[]',
  country TEXT, gender TEXT, image TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS performer_stash_ids (
  performer_id INTEGER NOT NULL, endpoint TEXT NOT NULL, stash_id TEXT NOT NULL, updated_at TEXT NOT NULL,
  PRIMARY KEY (performer_id, endpoint, stash_id)
);
CREATE TABLE IF NOT EXISTS tags (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
-- performer / tag links of galleries, images and scenes
CREATE TABLE IF NOT EXISTS links (
  obj_type TEXT NOT NULL,          -- gallery | image | scene
  obj_id INTEGER NOT NULL,
  rel_type TEXT NOT NULL,          -- performer | tag
  rel_id INTEGER NOT NULL,
  PRIMARY KEY (obj_type, obj_id, rel_type, rel_id)
);
CREATE INDEX IF NOT EXISTS links_by_rel ON links (obj_type, rel_type, rel_id);
-- the fake stash-box: performers that scrapeSinglePerformer can return
CREATE TABLE IF NOT EXISTS stashbox_performers (
  endpoint TEXT NOT NULL, stash_id TEXT NOT NULL, name TEXT NOT NULL, disambiguation TEXT, gender TEXT,
  country TEXT, aliases TEXT, images TEXT NOT NULL DEFAULT '[]', urls TEXT NOT NULL DEFAULT '[]',
  PRIMARY KEY (endpoint, stash_id)
);
"""


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def connect(db_path: str | os.PathLike) -> sqlite3.Connection:
    """Autocommit connection with row access by name; WAL + busy timeout for concurrent requests."""
    conn = sqlite3.connect(str(db_path), timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    return conn


def init_db(db_path: str | os.PathLike) -> None:
    """Create the tables (idempotent)."""
    conn = connect(db_path)
    try:
        conn.executescript(SCHEMA_SQL)
    finally:
        conn.close()


def oshash(data: bytes) -> str:
    """OpenSubtitles hash (what Stash stores as ``oshash``): size + 64-bit sums of the first/last 64 KiB."""
    size = len(data)
    chunk = 65536
    h = size
    head = data[:chunk]
    tail = data[-chunk:] if size >= chunk else data
    for block in (head, tail):
        block = block[: len(block) - len(block) % 8]
        for (v,) in struct.iter_unpack("<Q", block):
            h = (h + v) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def _image_info(data: bytes) -> tuple[int, int, str]:
    try:
        import io

        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            return im.width, im.height, (im.format or "").lower()
    except Exception:
        return 0, 0, ""


def make_zip(zip_path: str | os.PathLike, image_paths: Iterable[str | os.PathLike], *, subdir: str = "") -> Path:
    """Pack images into a zip (for a zip gallery); members keep their basenames, optionally under ``subdir``."""
    zip_path = Path(zip_path)
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_STORED) as zf:
        for p in image_paths:
            name = f"{subdir.strip('/')}/{Path(p).name}" if subdir else Path(p).name
            zf.write(p, name)
    return zip_path


class _Seeder:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.ts = now()

    def folder(self, path: str, zip_file_id: int | None = None) -> int:
        row = self.conn.execute("SELECT id FROM folders WHERE path = ?", (path,)).fetchone()
        if row:
            return row["id"]
        return self.conn.execute("INSERT INTO folders (path, zip_file_id) VALUES (?, ?)", (path, zip_file_id)).lastrowid

    def file(
        self, kind: str, path: str, data: bytes, mtime: float, zip_file_id: int | None = None, **extra: Any
    ) -> int:
        row = self.conn.execute("SELECT id FROM files WHERE path = ?", (path,)).fetchone()
        if row:
            return row["id"]
        md5 = hashlib.md5(data).hexdigest()
        fields = {
            "kind": kind,
            "path": path,
            "basename": os.path.basename(path),
            "parent_folder_id": self.folder(os.path.dirname(path), zip_file_id),
            "zip_file_id": zip_file_id,
            "size": len(data),
            "mod_time": _time(mtime),
            "md5": md5,
            "oshash": oshash(data),
            "phash": hashlib.sha1(data).hexdigest()[:16],  # fake but stable
            "created_at": self.ts,
            "updated_at": self.ts,
        }
        if kind == "image":
            fields["width"], fields["height"], fields["format"] = _image_info(data)
        fields.update(extra)
        cols = ", ".join(fields)
        marks = ", ".join("?" for _ in fields)
        return self.conn.execute(f"INSERT INTO files ({cols}) VALUES ({marks})", list(fields.values())).lastrowid

    def image(self, file_id: int, title: str | None = None) -> int:
        row = self.conn.execute("SELECT id FROM images WHERE file_id = ?", (file_id,)).fetchone()
        if row:
            return row["id"]
        return self.conn.execute(
            "INSERT INTO images (title, file_id, created_at, updated_at) VALUES (?, ?, ?, ?)",
            (title, file_id, self.ts, self.ts),
        ).lastrowid

    def gallery(self, title: str | None, zip_file_id: int | None = None, folder_id: int | None = None) -> int:
        return self.conn.execute(
            "INSERT INTO galleries (title, zip_file_id, folder_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
            (title, zip_file_id, folder_id, self.ts, self.ts),
        ).lastrowid

    def performer(
        self, name: str, *, disambiguation: str | None = None, stash_ids: list[dict] = (), **extra: Any
    ) -> int:
        row = self.conn.execute(
            "SELECT id FROM performers WHERE name = ? AND COALESCE(disambiguation, '') = ?",
            (name, disambiguation or ""),
        ).fetchone()
        if row:
            pid = row["id"]
        else:
            pid = self.conn.execute(
                "INSERT INTO performers"
                " (name, disambiguation, alias_list, country, gender, image, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    disambiguation,
                    json.dumps(list(extra.get("aliases") or [])),
                    extra.get("country"),
                    extra.get("gender"),
                    extra.get("image"),
                    self.ts,
                    self.ts,
                ),
            ).lastrowid
        for sid in stash_ids:
            self.conn.execute(
                "INSERT OR IGNORE INTO performer_stash_ids VALUES (?, ?, ?, ?)",
                (pid, sid["endpoint"], sid["stash_id"], self.ts),
            )
        return pid

    def tag(self, name: str) -> int:
        row = self.conn.execute("SELECT id FROM tags WHERE name = ?", (name,)).fetchone()
        if row:
            return row["id"]
        return self.conn.execute(
            "INSERT INTO tags (name, created_at, updated_at) VALUES (?, ?, ?)", (name, self.ts, self.ts)
        ).lastrowid

    def link(self, obj_type: str, obj_id: int, rel_type: str, rel_id: int) -> None:
        self.conn.execute("INSERT OR IGNORE INTO links VALUES (?, ?, ?, ?)", (obj_type, obj_id, rel_type, rel_id))


def _norm_stash_ids(value: Any) -> list[dict]:
    """Accept ``["uuid", ...]`` (StashDB) or ``[{"endpoint", "stash_id"}, ...]``."""
    out = []
    for s in value or []:
        if isinstance(s, str):
            out.append({"endpoint": DEFAULT_ENDPOINT, "stash_id": s})
        else:
            out.append({"endpoint": s.get("endpoint") or DEFAULT_ENDPOINT, "stash_id": s["stash_id"]})
    return out


def seed(
    db_path: str | os.PathLike,
    galleries: list[dict],
    performers: list[dict] = (),
    *,
    tags: list[str] = (),
    scenes: list[dict] = (),
    stash_boxes: list[dict] | None = None,
    plugin_config: dict | None = None,
    api_key: str = "",
) -> dict[str, dict]:
    """Create (or extend) the demo database and return the ids it assigned.

    galleries: ``{"title", "images": [abs paths], "performers": [names], "tags": [names]}``; a zip
        gallery is ``{"title", "zip": "/abs/file.zip", ...}`` and gets one image per image member,
        with path ``/abs/file.zip/<member>`` and ``zip_file`` set (only servable over HTTP).
    performers: ``{"name", "stash_ids": ["uuid" | {"endpoint","stash_id"}], "local": bool,
        "disambiguation", "aliases", "country", "gender", "image"}``. ``local`` ones exist in Stash; every
        performer with stash_ids also exists in the fake stash-box.
    scenes: ``{"title", "path", "performers", "duration", "width", "height"}``.
    Returns ``{"galleries": {title: id}, "images": {path: id}, "performers": {name: id}, "tags": {...},
    "scenes": {...}}`` with ids as strings, as GraphQL returns them.
    """
    init_db(db_path)
    conn = connect(db_path)
    s = _Seeder(conn)
    ids: dict[str, dict] = {"galleries": {}, "images": {}, "performers": {}, "tags": {}, "scenes": {}}
    try:
        conn.execute("BEGIN")
        boxes = stash_boxes if stash_boxes is not None else [{"endpoint": DEFAULT_ENDPOINT, "name": "StashDB"}]
        conn.execute("INSERT OR REPLACE INTO config VALUES ('stash_boxes', ?)", (json.dumps(boxes),))
        conn.execute("INSERT OR REPLACE INTO config VALUES ('api_key', ?)", (json.dumps(api_key),))
        if plugin_config is not None:
            conn.execute("INSERT OR REPLACE INTO config VALUES ('plugins', ?)", (json.dumps(plugin_config),))

        for p in performers:
            stash_ids = _norm_stash_ids(p.get("stash_ids"))
            for sid in stash_ids:
                conn.execute(
                    "INSERT OR REPLACE INTO stashbox_performers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        sid["endpoint"],
                        sid["stash_id"],
                        p["name"],
                        p.get("disambiguation"),
                        p.get("gender"),
                        p.get("country"),
                        ", ".join(p.get("aliases") or []),
                        json.dumps(p.get("images") or [f"https://stashdb.example/images/{sid['stash_id']}.jpg"]),
                        json.dumps(p.get("urls") or []),
                    ),
                )
            if p.get("local", True):
                extra = {k: p.get(k) for k in ("aliases", "country", "gender", "image")}
                ids["performers"][p["name"]] = str(
                    s.performer(p["name"], disambiguation=p.get("disambiguation"), stash_ids=stash_ids, **extra)
                )

        for name in tags:
            ids["tags"][name] = str(s.tag(name))

        def link_named(obj_type: str, obj_id: int, item: dict) -> None:
            for name in item.get("performers") or []:
                pid = int(ids["performers"].get(name) or s.performer(name))
                ids["performers"].setdefault(name, str(pid))
                s.link(obj_type, obj_id, "performer", pid)
            for name in item.get("tags") or []:
                tid = s.tag(name)
                ids["tags"].setdefault(name, str(tid))
                s.link(obj_type, obj_id, "tag", tid)

        for g in galleries:
            image_ids: list[int] = []
            zip_id = folder_id = None
            if g.get("zip"):
                zpath = str(Path(g["zip"]).resolve())
                zdata = Path(zpath).read_bytes()
                zip_id = s.file("zip", zpath, zdata, os.path.getmtime(zpath))
                with zipfile.ZipFile(zpath) as zf:
                    for info in sorted(zf.infolist(), key=lambda i: i.filename):
                        if info.is_dir() or Path(info.filename).suffix.lower() not in IMAGE_EXTS:
                            continue
                        data = zf.read(info)
                        mtime = datetime(*info.date_time, tzinfo=UTC).timestamp()
                        fid = s.file("image", f"{zpath}/{info.filename}", data, mtime, zip_file_id=zip_id)
                        image_ids.append(s.image(fid))
                        ids["images"][f"{zpath}/{info.filename}"] = str(image_ids[-1])
            else:
                paths = [str(Path(p).resolve()) for p in g.get("images") or []]
                dirs = {os.path.dirname(p) for p in paths}
                if len(dirs) == 1:
                    folder_id = s.folder(dirs.pop())
                for p in paths:
                    fid = s.file("image", p, Path(p).read_bytes(), os.path.getmtime(p))
                    image_ids.append(s.image(fid))
                    ids["images"][p] = str(image_ids[-1])
            gid = s.gallery(g.get("title"), zip_id, folder_id)
            for iid in image_ids:
                conn.execute("INSERT OR IGNORE INTO galleries_images VALUES (?, ?)", (gid, iid))
            link_named("gallery", gid, g)
            ids["galleries"][g.get("title") or str(gid)] = str(gid)

        for sc in scenes:
            path = str(Path(sc["path"]).resolve())
            extra = {k: sc.get(k) for k in ("duration", "width", "height") if sc.get(k) is not None}
            extra.setdefault("format", Path(path).suffix.lstrip(".").lower())
            fid = s.file("video", path, Path(path).read_bytes(), os.path.getmtime(path), **extra)
            sid = conn.execute(
                "INSERT INTO scenes (title, file_id, created_at, updated_at) VALUES (?, ?, ?, ?)",
                (sc.get("title"), fid, s.ts, s.ts),
            ).lastrowid
            link_named("scene", sid, sc)
            ids["scenes"][sc.get("title") or str(sid)] = str(sid)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()
    return ids
