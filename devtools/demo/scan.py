"""Stash's library scan (``metadataScan``) in the demo: new image files become images and galleries,
and every object it creates fires the plugin's post hooks the way Stash fires them.

What Stash does (read in stashapp/stash: ``pkg/file/scan.go``, ``pkg/image/scan.go``,
``pkg/gallery/scan.go``, ``pkg/plugin/plugins.go``), and so this does:

- The scan is a job in Stash's queue, which runs one job at a time: a plugin task a hook queues
  during the scan starts once the scan has finished.
- Files are handled by ``parallelTasks`` workers, each file in its own transaction. The members of
  a zip are handled one after another as the zip is walked.
- A new image in a folder creates the folder's gallery (``createGalleriesFromFolders``, or a
  ``.forcegallery`` file; ``.nogallery`` exempts), a zip member creates the zip's gallery; each
  creation registers a post-commit hook, the gallery's before the image's.
- After the commit the worker runs the hooks (``PluginRunner.run_hooks``): one plugin process per
  hook and object, ``hookContext.input`` nil, and waits for each before it takes its next file.

Video files (scenes) are not scanned by the demo.
"""

from __future__ import annotations

import os
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from graphql import GraphQLError

from .seed import IMAGE_EXTS, _Seeder, connect, now

if TYPE_CHECKING:
    from .server import DemoStash

ZIP_EXTS = {".zip", ".cbz"}  # Stash's default gallery extensions
Hooks = list[tuple[str, int]]


def start_scan(server: DemoStash, paths: list[str]) -> str:
    """``metadataScan(input: {paths})``: queue the scan job; returns its id at once."""
    if not paths:
        raise GraphQLError("the demo Stash scans only the paths given in ScanMetadataInput.paths")
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise GraphQLError(f"scan paths do not exist: {missing}")
    job = server._new_job("Scanning...")
    threading.Thread(target=_run_scan_job, args=(server, job, [str(Path(p).resolve()) for p in paths]),
                     daemon=True).start()
    return job["id"]


def _run_scan_job(server: DemoStash, job: dict, paths: list[str]) -> None:
    with server._task_lock:  # Stash's job queue: one job at a time
        job.update(status="RUNNING", startTime=now())
        try:
            Scan(server).run(paths)
        except Exception as exc:  # logged like Stash's "error scanning files"
            server._log("error", f"error scanning files: {exc}")
        job.update(status="FINISHED", progress=1.0, endTime=now())


class Scan:
    """One scan: walk the paths, handle new files on ``server.parallel_tasks`` workers."""

    def __init__(self, server: DemoStash):
        self.server = server

    def run(self, paths: list[str]) -> None:
        files = [f for p in paths for f in _walk(Path(p))]
        with ThreadPoolExecutor(max(1, self.server.parallel_tasks)) as workers:
            for done in [workers.submit(self._handle, f) for f in files]:
                done.result()

    def _handle(self, path: Path) -> None:
        if path.suffix.lower() in ZIP_EXTS:
            self._zip(path)
        else:
            self._fire(self._in_transaction(lambda s: self._image_file(s, path)))

    def _fire(self, hooks: Hooks) -> None:
        for trigger, object_id in hooks:
            self.server.run_hooks(trigger, object_id)

    def _in_transaction(self, work) -> Hooks:
        """One file's transaction; the hooks it registered are returned to run after the commit."""
        conn = connect(self.server.db_path)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                hooks = work(_Seeder(conn))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return hooks
        finally:
            conn.close()

    def _image_file(self, s: _Seeder, path: Path) -> Hooks:
        if _known(s, str(path)):
            return []
        hooks: Hooks = []
        gallery_id = None
        if self._folder_gallery(path.parent):
            gallery_id = _gallery_of(s, "folder_id", s.folder(str(path.parent)), hooks)
        image_id = s.image(s.file("image", str(path), path.read_bytes(), path.stat().st_mtime))
        if gallery_id is not None:
            s.conn.execute("INSERT OR IGNORE INTO galleries_images VALUES (?, ?)", (gallery_id, image_id))
        hooks.append(("Image.Create.Post", image_id))
        return hooks

    def _folder_gallery(self, folder: Path) -> bool:
        if (folder / ".forcegallery").exists():
            return True
        return self.server.create_galleries_from_folders and not (folder / ".nogallery").exists()

    def _zip(self, path: Path) -> None:
        """The zip file, then each image member in its own transaction (the first creates the gallery)."""
        def zip_file(s: _Seeder) -> Hooks:
            if not _known(s, str(path)):
                s.file("zip", str(path), path.read_bytes(), path.stat().st_mtime)
            return []

        self._in_transaction(zip_file)
        with zipfile.ZipFile(path) as archive:
            members = sorted((i for i in archive.infolist() if not i.is_dir()
                              and Path(i.filename).suffix.lower() in IMAGE_EXTS), key=lambda i: i.filename)
            for member in members:
                data = archive.read(member)
                self._fire(self._in_transaction(lambda s, m=member, d=data: self._zip_member(s, path, m, d)))

    def _zip_member(self, s: _Seeder, path: Path, member: zipfile.ZipInfo, data: bytes) -> Hooks:
        member_path = f"{path}/{member.filename}"
        if _known(s, member_path):
            return []
        hooks: Hooks = []
        zip_id = s.conn.execute("SELECT id FROM files WHERE path = ?", (str(path),)).fetchone()["id"]
        gallery_id = _gallery_of(s, "zip_file_id", zip_id, hooks)
        mtime = datetime(*member.date_time, tzinfo=UTC).timestamp()
        image_id = s.image(s.file("image", member_path, data, mtime, zip_file_id=zip_id))
        s.conn.execute("INSERT OR IGNORE INTO galleries_images VALUES (?, ?)", (gallery_id, image_id))
        hooks.append(("Image.Create.Post", image_id))
        return hooks


def _walk(root: Path) -> list[Path]:
    """Image and zip files under ``root`` (symlinks followed, as Stash's symWalk), in walk order."""
    if root.is_file():
        return [root] if root.suffix.lower() in IMAGE_EXTS | ZIP_EXTS else []
    found = []
    for folder, dirs, names in os.walk(root, followlinks=True):
        dirs.sort()
        found += [Path(folder) / n for n in sorted(names) if Path(n).suffix.lower() in IMAGE_EXTS | ZIP_EXTS]
    return found


def _known(s: _Seeder, path: str) -> bool:
    return s.conn.execute("SELECT 1 FROM files WHERE path = ?", (path,)).fetchone() is not None


def _gallery_of(s: _Seeder, column: str, value: int, hooks: Hooks) -> int:
    """The gallery of a folder or zip file, created (with its hook) when it does not exist yet."""
    row = s.conn.execute(f"SELECT id FROM galleries WHERE {column} = ?", (value,)).fetchone()
    if row:
        return row["id"]
    gallery_id = s.gallery(None, **{column: value})
    hooks.append(("Gallery.Create.Post", gallery_id))
    return gallery_id
