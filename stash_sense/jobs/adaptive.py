"""Adaptive sampling: analyse a gallery's images until its persons are decided, not all 200.

Images are visited in an order that spreads over the whole gallery (its middle, then its quarters,
then its eighths, ...), so any prefix of that order samples every part of it. After a first round
of ``floor`` images, rounds of ``patience`` images follow until the gallery is decided:

* every person (bystanders seen in one image aside) is decided: identified with a confidence at or
  above the auto threshold (the confidence already weighs the margin over the runner-up), or
  unknown (below the review threshold); a person in the review band keeps sampling going;
* and the last round (``patience`` images) brought no new person: the performers tagged and the
  number of unknown persons are what they were before it;

or ``ceiling`` images (the "max images per gallery" setting) have been analysed. A gallery of at
most ``floor + patience`` images is analysed whole, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

FLOOR = 16
PATIENCE = 8


@dataclass(frozen=True)
class StopRule:
    auto: float | None = None  # confidence thresholds in force; None: the group's own ("thresholds")
    review: float | None = None
    floor: int = FLOOR
    patience: int = PATIENCE
    ceiling: int = 200

    def cut(self, images: list) -> list[list]:
        """The rounds over ``images`` (in spread order): the floor, then ``patience`` at a time,
        up to the ceiling."""
        limit = min(len(images), self.ceiling) if self.ceiling > 0 else len(images)
        first = images[:min(self.floor, limit)]
        return [first] + [images[i:min(i + self.patience, limit)] for i in range(len(first), limit, self.patience)]

    def signature(self, group: dict) -> tuple | None:
        """What the gallery's persons decide, or None while any of them is undecided."""
        thresholds = group.get("thresholds") or {}
        auto = self.auto if self.auto is not None else thresholds.get("auto", 1.0)
        review = self.review if self.review is not None else thresholds.get("review", 1.0)
        tagged, unknown = [], 0
        for person in group.get("persons", []):
            if person.get("incidental"):
                continue
            confidence = (person.get("identified") or {}).get("confidence", 0.0)
            if confidence >= auto:
                tagged.append((person["identified"] or {}).get("id"))
            elif confidence < review:
                unknown += 1
            else:
                return None
        return tuple(sorted(tagged)), unknown


def spread_order(items: list) -> list:
    """All items, ordered so that every prefix spreads over the list (bit-reversed positions)."""
    count = len(items)
    seen: set[int] = set()
    order = []
    denominator = 1
    while len(order) < count:
        denominator *= 2
        for numerator in range(1, denominator, 2):
            index = min(count - 1, int(numerator * count / denominator))
            if index not in seen:
                seen.add(index)
                order.append(index)
        if denominator > 2 * count:
            order += [i for i in range(count) if i not in seen]
            break
    return [items[i] for i in order]


def identify_adaptively(rounds: list[list], rule: StopRule, analyse: Callable[[list], None],
                        identify: Callable[[], dict]) -> tuple[dict, int]:
    """Run ``rounds`` (from ``rule.cut``) until the gallery is decided: ``analyse(images)`` adds a
    round's analysis, ``identify()`` identifies all analysed so far. Returns (group, images used)."""
    previous: tuple | None = None
    used = 0
    group: dict = {"persons": [], "faces": 0}
    for images in rounds:
        analyse(images)
        used += len(images)
        group = identify()
        current = rule.signature(group)
        if current is not None and current == previous:
            break
        previous = current
    return group, used
