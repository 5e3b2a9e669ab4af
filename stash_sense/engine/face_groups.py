"""Faces of a whole library -> people, without comparing every face with every other one.

The gallery clustering (``persons.cluster_faces``) computes all pairwise similarities, which is
fine for a gallery and impossible for a million faces. Here the same rule is applied over a
k-nearest-neighbour graph: average linkage (the mean cosine between two groups' faces, exact,
from the groups' vector sums), merged best pair first while it is at or above the calibrated
cluster threshold, never merging two groups that share an image (two faces of one photo or one
frame are two people). Only pairs of groups joined by a k-NN edge are ever considered, so the work
grows with faces x k, not faces squared.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import numpy as np

EDGE_MARGIN = 0.05  # k-NN edges this far under the threshold may still join two groups above it


def cluster_graph(vectors: np.ndarray, edges: np.ndarray, images: Sequence[str], threshold: float) -> list[list[int]]:
    """Clusters (row numbers, largest first) of unit ``vectors`` joined through ``edges`` ([m, 2] rows).

    ``images[i]`` names the image (or frame) face i is in: no cluster ever holds two faces of one image.
    """
    n = len(vectors)
    if n == 0:
        return []
    sums = np.asarray(vectors, np.float64).copy()
    sizes = np.ones(n)
    alive = np.ones(n, bool)
    version = np.zeros(n, np.int64)
    photos: list[set[str]] = [{images[i]} for i in range(n)]
    members: list[list[int]] = [[i] for i in range(n)]
    neighbours: list[set[int]] = [set() for _ in range(n)]
    for a, b in np.asarray(edges, np.int64).reshape(-1, 2):
        if a != b:
            neighbours[a].add(int(b))
            neighbours[b].add(int(a))
    heap: list[tuple[float, int, int, int, int]] = []
    for a in range(n):
        for b in neighbours[a]:
            if a < b:
                _push(heap, sums, sizes, version, a, b, threshold)
    while heap:
        _, a, b, version_a, version_b = heapq.heappop(heap)
        if not (alive[a] and alive[b]) or version[a] != version_a or version[b] != version_b:
            continue  # a stale entry: one side has grown since it was pushed
        if photos[a] & photos[b]:
            continue  # cannot-link: they share an image
        if len(members[a]) < len(members[b]):
            a, b = b, a
        _merge(a, b, sums, sizes, alive, version, photos, members, neighbours)
        for c in neighbours[a]:
            _push(heap, sums, sizes, version, a, c, threshold)
    clusters = [sorted(m) for i, m in enumerate(members) if alive[i]]
    return sorted(clusters, key=lambda m: (-len(m), m[0]))


def _push(heap: list, sums: np.ndarray, sizes: np.ndarray, version: np.ndarray, a: int, b: int,
          threshold: float) -> None:
    linkage = float(sums[a] @ sums[b]) / (sizes[a] * sizes[b])
    if linkage >= threshold:
        heapq.heappush(heap, (-linkage, min(a, b), max(a, b), int(version[min(a, b)]), int(version[max(a, b)])))


def _merge(a: int, b: int, sums: np.ndarray, sizes: np.ndarray, alive: np.ndarray, version: np.ndarray,
           photos: list[set[str]], members: list[list[int]], neighbours: list[set[int]]) -> None:
    """Fold cluster ``b`` into ``a``; ``a``'s neighbours become the union, without the two."""
    sums[a] += sums[b]
    sizes[a] += sizes[b]
    alive[b] = False
    version[a] += 1
    photos[a] |= photos[b]
    members[a].extend(members[b])
    members[b] = []
    photos[b] = set()
    for c in neighbours[b]:
        neighbours[c].discard(b)
        if c != a:
            neighbours[c].add(a)
            neighbours[a].add(c)
    neighbours[a].discard(b)
    neighbours[a].discard(a)
    neighbours[b] = set()


def knn_edges(ids: np.ndarray, neighbour_ids: np.ndarray, neighbour_sims: np.ndarray, floor: float) -> np.ndarray:
    """[m, 2] row-number pairs from a k-NN answer, kept when both faces are in ``ids`` and similar enough.

    ``floor`` may sit below the cluster threshold: an edge a little under it can still join two
    groups whose average is above it.
    """
    row_of = {int(face_id): row for row, face_id in enumerate(ids)}
    pairs = []
    for row, (found, sims) in enumerate(zip(neighbour_ids, neighbour_sims)):
        for face_id, sim in zip(found, sims):
            other = row_of.get(int(face_id))
            if other is not None and other != row and sim >= floor:
                pairs.append((row, other))
    return np.array(pairs, np.int64).reshape(-1, 2)


def bcubed(clusters: Sequence[Sequence[int]], truth: Sequence[str]) -> tuple[float, float]:
    """B-cubed precision and recall of ``clusters`` (row numbers) against true labels per row."""
    cluster_of = {row: c for c, members in enumerate(clusters) for row in members}
    rows = sorted(cluster_of)
    by_cluster: dict[int, dict[str, int]] = {}
    by_label: dict[str, int] = {}
    for row in rows:
        counts = by_cluster.setdefault(cluster_of[row], {})
        counts[truth[row]] = counts.get(truth[row], 0) + 1
        by_label[truth[row]] = by_label.get(truth[row], 0) + 1
    precision = recall = 0.0
    for row in rows:
        counts = by_cluster[cluster_of[row]]
        same = counts[truth[row]]
        precision += same / sum(counts.values())
        recall += same / by_label[truth[row]]
    return precision / max(len(rows), 1), recall / max(len(rows), 1)


def cluster_vectors(vectors: np.ndarray, images: Sequence[str], threshold: float, k: int = 24) -> list[list[int]]:
    """``cluster_graph`` over the k-NN graph of unit ``vectors`` (a temporary index is built)."""
    from stash_sense.engine.face_index import FaceIndex, Layout

    vectors = np.asarray(vectors, np.float32)
    if len(vectors) == 0:
        return []
    index = FaceIndex(Layout({"fused": vectors.shape[1]}, {"fused": 1.0}, storage="float32"))
    ids = np.arange(len(vectors))
    index.add(ids, {"fused": vectors})
    found, sims = index.neighbours({"fused": vectors}, k=k + 1)
    return cluster_graph(vectors, knn_edges(ids, found, sims, threshold - EDGE_MARGIN), images, threshold)
