"""What one bulk run does: selection, limits, thresholds and switches, from settings + task args.

Two bulk-only settings are read from the raw plugin configuration: ``bulkGalleryTag`` (the tag of
the "galleries with a tag" task) and ``bulkTagImages`` (also add identified performers to the images
they are in). Task args (``tag``, ``tag_images``, ``force``, ``dry_run``, ``untagged``) override
them per run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from stash_sense.paths import DEFAULT_PACK
from stash_sense.settings import Settings, parse_flag


@dataclass(frozen=True)
class BulkOptions:
    untagged: bool = False  # only galleries without performers
    tag: str | None = None  # only galleries with this tag (name)
    force: bool = False
    dry_run: bool = False
    max_images: int = 200
    tag_images: bool = False
    auto: float = 0.9
    review: float = 0.5
    create_performers: bool = True
    identified_tag: str = "Stash Sense: identified"
    review_tag: str = "Stash Sense: needs review"
    pack: str = DEFAULT_PACK
    adaptive: bool = True  # stop sampling a gallery once its persons are decided (jobs/adaptive.py)

    @property
    def kind(self) -> str:
        """Journal run kind: the task mode, so "Undo last bulk run" can find it."""
        return "bulk_galleries_untagged" if self.untagged else "bulk_galleries"

    def signature(self, db_version: str | None) -> str:
        """What makes a processed gallery's result current: database version + the deciding settings.

        Selection, force and dry run are left out: they choose galleries, not what is decided for one.
        """
        # Adaptive sampling is left out too: it changes how many images are read, not the decision
        # rule, and a changed signature would make every gallery already processed run again.
        relevant = {k: v for k, v in asdict(self).items()
                    if k not in ("untagged", "tag", "force", "dry_run", "adaptive")}
        text = json.dumps({"db": db_version, **relevant}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def from_settings(settings: Settings, raw: dict, args: dict, calibrated: dict[str, float],
                  pack: str) -> BulkOptions:
    """Options for a plugin task: ``settings`` (parsed), ``raw`` (configuration map), ``args`` (task)."""
    thresholds = settings.thresholds(calibrated)
    tagged_task = args.get("mode") == "bulk_galleries_tagged"
    tag = str(args.get("tag") or (raw.get("bulkGalleryTag") if tagged_task else "") or "").strip() or None
    if tagged_task and not tag:
        raise ValueError('Set "Gallery tag for the tagged-galleries task" in the Stash Sense settings first')
    untagged = parse_flag(args.get("untagged"), False) or args.get("mode") == "bulk_galleries_untagged"
    return BulkOptions(
        untagged=untagged, tag=tag, force=parse_flag(args.get("force"), False),
        dry_run=parse_flag(args.get("dry_run"), settings.dry_run),
        max_images=settings.max_images_per_gallery,
        tag_images=parse_flag(args.get("tag_images"), parse_flag(raw.get("bulkTagImages"), False)),
        auto=thresholds["auto"], review=thresholds["review"], create_performers=settings.create_performers,
        identified_tag=settings.identified_tag, review_tag=settings.review_tag, pack=pack,
        adaptive=parse_flag(args.get("adaptive"), True))
