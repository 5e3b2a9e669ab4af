"""When a person is on screen: sampled frame times -> time ranges. Standard library only, so the
plugin's light side (remote engine) can place scene markers without importing numpy."""

from __future__ import annotations

from statistics import median

GAP_TOLERANCE = 1.5  # samples: consecutive samples join


def time_ranges(samples: list[float], seen: list[float], duration: float,
                tolerance: float = GAP_TOLERANCE) -> list[tuple[float, float]]:
    """Ranges of the sampled times ``seen`` among all ``samples`` (see ``engine.scenes``).

    Gaps are counted in samples, not seconds, because keyframe snapping makes the spacing uneven.
    Each range is widened to the midpoints towards the neighbouring samples (half the typical
    spacing past the first and last sample) and clipped to ``[0, duration]``.
    """
    samples = sorted(samples)
    if not samples or not seen:
        return []
    spacing = float(median(b - a for a, b in zip(samples, samples[1:]))) if len(samples) > 1 else duration
    index = {t: i for i, t in enumerate(samples)}
    runs: list[list[int]] = []
    for i in sorted(index[t] for t in set(seen)):
        if runs and i - runs[-1][1] <= tolerance:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    end = duration if duration > 0 else float("inf")

    def edge(i: int, step: int) -> float:
        j = i + step
        return (samples[i] + samples[j]) / 2 if 0 <= j < len(samples) else samples[i] + step * spacing / 2

    return [(max(0.0, edge(a, -1)), min(end, edge(b, 1))) for a, b in runs]
