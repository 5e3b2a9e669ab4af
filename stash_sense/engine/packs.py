"""Model packs: a detector plus one or more embedders with their recipes, described as data.

Pack descriptions live in ``packs/<name>.json`` beside this module. Model files are looked up in
``STASH_SENSE_MODEL_DIR`` and ``data/models``; a pack whose models carry a URL downloads them on
first use (resumable, sha256-verified) into ``data/models``.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from stash_sense import paths
from stash_sense.engine.fetch import FetchError, checksum_matches, download, file_sha256
from stash_sense.engine.recipe import Recipe

if TYPE_CHECKING:
    from stash_sense.engine.adapter import QueryAdapter

ADAPTER_SUFFIX = ".adapter.npz"  # <pack>.adapter.npz: the pack's query adapter (engine.adapter)

log = logging.getLogger(__name__)  # the plugin routes it to Stash's log, the CLI to stderr

PACK_DIR = Path(__file__).resolve().parent / "packs"


class ModelUnavailable(RuntimeError):
    """A model file that is missing and could not be downloaded; the message says what to do."""


@dataclass(frozen=True)
class ModelSpec:
    file: str
    sha256: str | None = None
    url: str | None = None
    archive_member: str | None = None


@dataclass(frozen=True)
class DetectorSpec:
    model: ModelSpec
    det_size: int = 640
    threshold: float = 0.5
    min_face_size: int = 40
    feed_rgb_as_bgr: bool = False


@dataclass(frozen=True)
class EmbedderSpec:
    name: str
    model: ModelSpec
    dim: int
    index_file: str
    recipe: Recipe
    weight: float = 1.0


@dataclass(frozen=True)
class Pack:
    name: str
    detector: DetectorSpec
    embedders: tuple[EmbedderSpec, ...]
    description: str = ""
    calibration: dict = field(default_factory=dict, compare=False, hash=False)
    adapter_file: Path | None = field(default=None, compare=False, hash=False)  # <pack>.adapter.npz, if fitted

    @functools.cached_property
    def adapter(self) -> QueryAdapter | None:
        """The pack's query adapter (``engine.adapter``), read when first asked for (by a
        ``Matcher``): loading a pack stays cheap and free of numpy on the plugin's light side."""
        if self.adapter_file is None:
            return None
        from stash_sense.engine.adapter import QueryAdapter

        return QueryAdapter.load(self.adapter_file)

    def embedder(self, name: str) -> EmbedderSpec:
        for spec in self.embedders:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def signature(self) -> dict:
        """What a database must agree with to be searched by this pack's embeddings."""
        return {
            "pack": self.name,
            "embedders": {e.name: {"dim": e.dim, "recipe": e.recipe.fingerprint(),
                                   "model_sha256": e.model.sha256} for e in self.embedders},
        }


def pack_dirs() -> list[Path]:
    """The shipped packs, then ``$STASH_SENSE_EXTRA_PACKS`` (folders, ``os.pathsep``-separated): packs
    that are never shipped, such as the benches' production-shaped replicas, loadable by name in
    every process (worker, bulk cache) exactly as a shipped pack is."""
    extra = [Path(p) for p in os.environ.get("STASH_SENSE_EXTRA_PACKS", "").split(os.pathsep) if p]
    return [PACK_DIR, *extra]


def available_packs() -> list[str]:
    return sorted({p.stem for folder in pack_dirs() for p in folder.glob("*.json")
                   if not p.stem.endswith(".calibration")})


def load_pack(name: str) -> Pack:
    path = next((d / f"{name}.json" for d in pack_dirs() if (d / f"{name}.json").exists()), None)
    if path is None:
        raise ValueError(f"unknown model pack {name!r}; known packs: {', '.join(available_packs())}")
    return load_pack_file(path)


def load_pack_file(path: Path) -> Pack:
    """A pack described by any JSON file (benches build packs that are never shipped); its
    calibration, if any, is ``<stem>.calibration.json`` beside it."""
    spec = json.loads(path.read_text())
    name = spec["name"]
    det = spec["detector"]
    detector = DetectorSpec(model=_model_spec(det), det_size=det.get("det_size", 640),
                            threshold=det.get("threshold", 0.5),
                            min_face_size=det.get("min_face_size", 40),
                            feed_rgb_as_bgr=det.get("feed_rgb_as_bgr", False))
    embedders = tuple(
        EmbedderSpec(name=e["name"], model=_model_spec(e), dim=e["dim"], index_file=e["index_file"],
                     recipe=Recipe.from_dict(e["recipe"]), weight=e.get("weight", 1.0))
        for e in spec["embedders"])
    if len({(e.recipe.alignment, e.recipe.crop_size) for e in embedders}) != 1:
        raise ValueError(f"pack {name}: all embedders must share one alignment and crop size")
    calibration_path = path.with_name(f"{path.stem}.calibration.json")
    calibration = json.loads(calibration_path.read_text()) if calibration_path.exists() else {}
    adapter = path.with_name(f"{path.stem}{ADAPTER_SUFFIX}")
    return Pack(name=spec["name"], detector=detector, embedders=embedders,
                description=spec.get("description", ""), calibration=calibration,
                adapter_file=adapter if adapter.exists() else None)


def _model_spec(entry: dict) -> ModelSpec:
    return ModelSpec(file=entry["file"], sha256=entry.get("sha256"), url=entry.get("url"),
                     archive_member=entry.get("archive_member"))


def resolve_model(spec: ModelSpec, fetch: bool = True) -> Path:
    """Local path of a model file: found, or downloaded and verified, or a clear error."""
    for folder in paths.model_dirs():
        for candidate in (folder / spec.file, folder / Path(spec.file).name):
            if candidate.is_file():
                _verify(candidate, spec)
                return candidate
    target = paths.data_dir() / "models" / spec.file
    if not spec.url:
        searched = ", ".join(str(d) for d in paths.model_dirs())
        raise ModelUnavailable(f"model file {spec.file} not found (searched {searched}); "
                               "set STASH_SENSE_MODEL_DIR to the folder that holds it")
    if not fetch:
        raise ModelUnavailable(f"model file {spec.file} is not downloaded yet ({spec.url})")
    try:
        _download_model(spec, target)
    except FetchError as exc:
        raise ModelUnavailable(_by_hand(spec, target, exc)) from exc
    return target


def _by_hand(spec: ModelSpec, target: Path, exc: FetchError) -> str:
    """Why, then one instruction: fetch's own advice names the file it was writing, which for a
    zipped model is the archive, not the model file this function looks for."""
    reason = str(exc).split(". If this machine", 1)[0].rstrip(".")
    fetch = f"download {spec.url}" + (f", take {spec.archive_member} out of it" if spec.archive_member else "")
    return (f"model {spec.file} is missing and could not be downloaded: {reason}. To install it by hand, "
            f"{fetch} and put it at {target} (folder {target.parent}), or put {Path(spec.file).name} in the "
            "folder STASH_SENSE_MODEL_DIR names.")


def _download_model(spec: ModelSpec, target: Path) -> None:
    if spec.url is None:
        raise ModelUnavailable(f"model file {spec.file} has no download URL")
    progress = _stderr_progress(Path(spec.file).name)
    if not spec.archive_member:
        download(spec.url, target, spec.sha256, progress)
        return
    archive = target.parent / Path(spec.url).name
    download(spec.url, archive, None, progress)
    with zipfile.ZipFile(archive) as bundle:
        member = next((n for n in bundle.namelist() if Path(n).name == spec.archive_member), None)
        if member is None:
            raise FetchError(f"{spec.url} has no {spec.archive_member}")
        with bundle.open(member) as src, tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
            shutil.copyfileobj(src, tmp)
    Path(tmp.name).replace(target)
    archive.unlink()
    _verify(target, spec)


def _verify(path: Path, spec: ModelSpec) -> None:
    """Check the pinned sha256; models without an official checksum are pinned on first use."""
    if spec.sha256:
        if not checksum_matches(path, spec.sha256):
            raise ModelUnavailable(f"{path} does not match its sha256 {spec.sha256}; delete it and retry")
        return
    pin = path.with_name(path.name + ".sha256")
    actual = file_sha256(path)
    if not pin.exists():
        try:
            pin.write_text(actual + "\n")
        except OSError:
            return
    elif pin.read_text().strip() != actual:
        raise ModelUnavailable(f"{path} changed since it was first verified ({pin}); delete both and retry")


def _stderr_progress(label: str):
    state = {"last": -1}

    def report(done: int, total: int | None) -> None:
        percent = int(done * 100 / total) if total else -1
        if percent != state["last"] and (percent % 5 == 0 or percent < 0):
            state["last"] = percent
            log.info("downloading %s: %.1f MB%s", label, done / 1e6, f" ({percent}%)" if total else "")

    return report
