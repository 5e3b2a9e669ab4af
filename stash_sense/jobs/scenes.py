"""Scenes as bulk items: every scene -> sampled frames -> analysed faces with time ranges.

The shared run (``runner.run_items``) decides, writes and records, per scene as per gallery: the
ledger (keyed ``scene:<id>`` so scene and gallery ids never collide) decides what is done; the
embedding cache holds each frame's faces (``scene_frames``). A scene whose video cannot be read
(broken, audio only, unreachable) is logged with the reason and recorded as failed, and the run
goes on. With "markers" on, a marker is added at each added performer's first appearance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from stash_sense.contracts import Service
from stash_sense.jobs.cache import EmbeddingCache
from stash_sense.jobs.decide import Match
from stash_sense.jobs.ledger import Ledger
from stash_sense.jobs.options import BulkOptions
from stash_sense.jobs.runner import Analysed, Run, name_of, run_items
from stash_sense.jobs.scene_frames import SCREENSHOT, SceneFrames, scene_frames
from stash_sense.library.journal import Journal
from stash_sense.library.markers import add_marker, first_appearance
from stash_sense.library.scene_source import screenshot, video_source
from stash_sense.stash.client import StashClient

KIND = "identify_scenes"


@dataclass(frozen=True)
class SceneOptions(BulkOptions):
    frames: int = 60
    markers: bool = False

    @property
    def kind(self) -> str:
        return KIND


class Scenes:
    target = "scene"
    noun = "scenes"
    summary_names = {"selected": "scenes", "failed": "failed_scenes", "images": "frames"}

    def select(self, run: Run) -> tuple[list[dict], str]:
        return list(run.client.iter_scenes(per_page=500)), f"scenes;force={run.options.force}"

    def ledger_id(self, item: dict) -> str:
        return f"scene:{item['id']}"

    def analysed(self, run: Run, todo: list[dict]) -> Iterator[tuple[dict, Callable[[], Analysed]]]:
        for scene in todo:
            yield scene, lambda scene=scene: _analysed(run, scene)

    def after_add(self, run: Run, item_id: str, performers: list[tuple[Match, str]], new: set[str]) -> None:
        """A marker at each newly added performer's first appearance, when markers are on."""
        if not (isinstance(run.options, SceneOptions) and run.options.markers):
            return
        for match, performer_id in performers:
            seconds = first_appearance(match.person.get("time_ranges"))
            if performer_id in new and seconds is not None:
                marker = add_marker(run.writeback, item_id, name_of(match), seconds, run.options.identified_tag)
                run.summary.markers += int(marker is not None)


SCENES = Scenes()


def run_scenes(client: StashClient, journal: Journal, service: Service, options: SceneOptions,
               cache: EmbeddingCache | None = None, ledger: Ledger | None = None) -> dict:
    """Run (or resume) identification over every scene; returns the summary."""
    return run_items(SCENES, client, journal, service, options, cache, ledger)


def _analysed(run: Run, scene: dict) -> Analysed:
    source, headers = video_source(run.client, scene, run.service.remote)
    frames = scene_frames(run.service, run.cache, scene, source, headers, _frames(run.options),
                          screenshot(run.client, scene))
    group = run.service.identify_analyzed(frames.results) if frames.results else {"persons": [], "faces": 0}
    _add_time_ranges(group, frames)
    return Analysed(group, len(frames.results), None, inferred=frames.inferred, cached=frames.cached,
                    review_fields=_review_fields, results=frames.results)


def _frames(options: BulkOptions) -> int:
    return options.frames if isinstance(options, SceneOptions) else SceneOptions.frames


def _review_fields(match: Match) -> dict:
    """A stored scene suggestion carries when the person is on screen instead of image ids."""
    return {"time_ranges": match.person.get("time_ranges") or [], "image_ids": [],
            "frame_times": sorted(float(i[:-1]) for i in match.images if i != SCREENSHOT)}


def _add_time_ranges(group: dict, frames: SceneFrames) -> None:
    """Each person's time ranges (engine.scenes.time_ranges over the sampled times)."""
    from stash_sense.engine.timeline import time_ranges  # standard library only (light side)

    by_name = {f"{t:.3f}s": t for t in frames.times}
    duration = float(frames.video.get("duration") or 0.0)
    for person in group.get("persons") or []:
        seen = [by_name[i] for i in person.get("images") or [] if i in by_name]
        person["time_ranges"] = [[round(a, 3), round(b, 3)]
                                 for a, b in time_ranges(frames.times, seen, duration)]
