"""Which images of a gallery are analysed: all of them up to a cap, evenly spread beyond it.

Spread, not truncated: the first 200 images of a long gallery are often one set or one scene,
while the people in it change over its length.
"""

from __future__ import annotations


def sample(images: list, cap: int) -> list:
    """At most ``cap`` items taken at evenly spaced positions (centre of each stretch), in order."""
    if cap <= 0 or len(images) <= cap:
        return list(images)
    step = len(images) / cap
    return [images[min(len(images) - 1, int((i + 0.5) * step))] for i in range(cap)]
