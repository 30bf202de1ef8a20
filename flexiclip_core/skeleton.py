"""Skeletonisation (docs/method.md §3): the medial axis of a silhouette as a pixel graph, pruned of
short free-ending branches, and keypoints along it.

`PrunedSkeleton.keypoints` keeps the ends (hands, feet, tail) then the junctions (shoulders,
hips), no two of a component closer than a merge distance, adds farthest-point samples until
no skeleton pixel is farther than a spacing (along the skeleton) from a keypoint, and joins
keypoints whose skeleton regions (geodesic Voronoi cells) touch. How spacing and merging adapt
to a drawing is the rig's choice (`flexiclip_core.rig`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree
from skimage.morphology import medial_axis

from flexiclip_core.silhouette import Silhouette

_HALF_NEIGHBOURS = ((0, 1), (1, -1), (1, 0), (1, 1))


def _pixel_graph(pixels: np.ndarray, size: int) -> csr_matrix:
    """Symmetric 8-neighbour graph of skeleton pixels [N, 2] (row, col), edge weight = distance."""
    count = len(pixels)
    index = -np.ones((size + 2, size + 2), dtype=np.int64)
    index[pixels[:, 0] + 1, pixels[:, 1] + 1] = np.arange(count)
    sources, targets, weights = [], [], []
    for dr, dc in _HALF_NEIGHBOURS:
        neighbour = index[pixels[:, 0] + 1 + dr, pixels[:, 1] + 1 + dc]
        ok = neighbour >= 0
        sources.append(np.nonzero(ok)[0])
        targets.append(neighbour[ok])
        weights.append(np.full(int(ok.sum()), np.hypot(dr, dc)))
    src = np.concatenate(sources)
    dst = np.concatenate(targets)
    w = np.concatenate(weights)
    graph = coo_matrix(
        (np.concatenate([w, w]), (np.concatenate([src, dst]), np.concatenate([dst, src]))), shape=(count, count)
    )
    return graph.tocsr()


def _prune(pixels: np.ndarray, size: int, prune_px: float, rounds: int = 3) -> np.ndarray:
    """bool [N]: skeleton pixels [N, 2] that stay once free-ending branches shorter than
    ``prune_px`` are cut. A skeleton piece whose every branch would go is kept whole."""
    keep = np.ones(len(pixels), dtype=bool)
    for _ in range(rounds):
        alive = np.nonzero(keep)[0]
        count = len(alive)
        if count == 0:
            break
        graph = _pixel_graph(pixels[alive], size)
        degree = np.diff(graph.indptr)
        junction = degree >= 3
        plain = ~junction
        branch_count, branch_of = connected_components(graph[plain][:, plain], directed=False)
        branch = -np.ones(count, dtype=np.int64)
        branch[plain] = branch_of
        lengths = np.bincount(branch_of, minlength=branch_count).astype(float)
        free_end = np.zeros(branch_count, dtype=bool)
        free_end[branch[plain & (degree <= 1)]] = True
        coo = graph.tocoo()
        touching = plain[coo.row] & junction[coo.col]
        attached = np.zeros(branch_count, dtype=bool)
        attached[branch[coo.row[touching]]] = True
        spur = free_end & attached & (lengths < prune_px)
        if not spur.any():
            break
        drop = np.zeros(count, dtype=bool)
        drop[plain] = spur[branch_of]
        # Never erase a whole skeleton piece.
        _, piece = connected_components(graph, directed=False)
        survivors = np.bincount(piece[~drop], minlength=piece.max() + 1)
        drop &= survivors[piece] > 0
        if not drop.any():
            break
        keep[alive[drop]] = False
    return keep


@dataclass(frozen=True)
class SkeletonKeypoints:
    """Keypoints found on a silhouette and the bones between them."""

    points: np.ndarray
    """float64 [K, 2] canvas px."""
    components: np.ndarray
    """int64 [K] silhouette component label of each keypoint."""
    bones: np.ndarray
    """int64 [B, 2] keypoint index pairs (i < j), unique."""


@dataclass(frozen=True, eq=False)
class Skeleton:
    """Medial axis of a silhouette on a coarser raster."""

    pixels: np.ndarray  # int64 [N, 2] (row, col)
    size: int  # raster side
    scale: float  # raster px per canvas px
    origin: float  # canvas coordinate of the raster corner
    components: np.ndarray  # int64 [N] silhouette component of each pixel


def skeleton_of(silhouette: Silhouette, skeleton_size: int) -> Skeleton:
    """Medial axis of the silhouette on a raster about ``skeleton_size`` px across (coarser, for
    speed)."""
    size = silhouette.mask.shape[0]
    factor = max(1, size // skeleton_size)
    coarse = size // factor
    blocks = (coarse, factor, coarse, factor)
    # Any-pooling keeps thin parts; each coarse pixel takes a component label found in it.
    mask = silhouette.mask[: coarse * factor, : coarse * factor].reshape(blocks).any(axis=(1, 3))
    labels = silhouette.labels[: coarse * factor, : coarse * factor].reshape(blocks).max(axis=(1, 3))
    pixels = np.argwhere(medial_axis(mask, rng=0))  # fixed tie-breaking: reproducible rigs
    return Skeleton(
        pixels,
        coarse,
        silhouette.scale / factor,
        silhouette.origin,
        labels[pixels[:, 0], pixels[:, 1]].astype(np.int64),
    )


class PrunedSkeleton:
    """Pruned skeleton graph with its candidate keypoints, ends and junctions first."""

    def __init__(self, skeleton: Skeleton, prune_px: float) -> None:
        self.scale, self.origin = skeleton.scale, skeleton.origin
        keep = _prune(skeleton.pixels, skeleton.size, prune_px * skeleton.scale)
        self.pixels, self.components = skeleton.pixels[keep], skeleton.components[keep]
        self.graph = _pixel_graph(self.pixels, skeleton.size) if len(self.pixels) else None
        if self.graph is None:
            self.candidates = np.zeros(0, np.int64)
            return
        degree = np.diff(self.graph.indptr)
        # Extremities (hands, feet, tail, ears) first, then junctions (shoulders, hips).
        candidates: list[int] = [int(c) for c in np.nonzero(degree <= 1)[0]]
        junction = np.nonzero(degree >= 3)[0]
        if len(junction):
            # One candidate per cluster of touching junction pixels: the one nearest its centroid.
            cluster_count, cluster = connected_components(self.graph[junction][:, junction], directed=False)
            for c in range(cluster_count):
                members = junction[cluster == c]
                centre = self.pixels[members].mean(axis=0)
                candidates.append(int(members[np.argmin(((self.pixels[members] - centre) ** 2).sum(axis=1))]))
        piece_count, self.piece = connected_components(self.graph, directed=False)
        has = np.zeros(piece_count, dtype=bool)
        has[self.piece[np.asarray(candidates, dtype=np.int64)]] = True
        for p in np.nonzero(~has)[0]:  # closed loops: start anywhere on them
            candidates.append(int(np.nonzero(self.piece == p)[0][0]))
        self.candidates = np.asarray(list(dict.fromkeys(int(c) for c in candidates)), dtype=np.int64)

    def keypoints(self, spacing_px: float, merge_px: float) -> SkeletonKeypoints:
        """Candidates thinned so no two of a component are closer than ``merge_px``, plus
        farthest-point samples until no skeleton pixel is farther than ``spacing_px`` (along
        the skeleton) from a keypoint; bones join keypoints whose skeleton regions touch."""
        if self.graph is None:
            return SkeletonKeypoints(np.zeros((0, 2)), np.zeros(0, np.int64), np.zeros((0, 2), np.int64))
        points = (self.pixels[:, ::-1] + 0.5) / self.scale + self.origin
        seeds = _thin(self.candidates, points, self.components, merge_px)
        # Every skeleton piece keeps at least one seed (else its pixels have no region).
        missing = np.setdiff1d(np.unique(self.piece), self.piece[seeds])
        if len(missing):
            first_of_piece = {int(self.piece[c]): int(c) for c in self.candidates[::-1]}
            seeds = np.concatenate([seeds, [first_of_piece[int(p)] for p in missing]])
        seed_list: list[int] = [int(s) for s in seeds]
        distance = dijkstra(self.graph, directed=False, indices=seed_list, min_only=True)
        spacing = spacing_px * self.scale
        while True:
            far = int(np.argmax(distance))
            if distance[far] <= spacing:
                break
            seed_list.append(far)
            distance = np.minimum(
                distance, dijkstra(self.graph, directed=False, indices=far, limit=distance[far] + 1.0)
            )
        seeds_arr = np.asarray(seed_list, dtype=np.int64)
        _, _, nearest = dijkstra(self.graph, directed=False, indices=seeds_arr, min_only=True, return_predecessors=True)
        seed_number = -np.ones(len(self.pixels), dtype=np.int64)
        seed_number[seeds_arr] = np.arange(len(seeds_arr))
        region = seed_number[nearest]
        coo = self.graph.tocoo()
        differ = region[coo.row] != region[coo.col]
        bones = unique_bones(np.stack([region[coo.row[differ]], region[coo.col[differ]]], axis=1))
        return SkeletonKeypoints(points[seeds_arr], self.components[seeds_arr], bones)


def _thin(candidates: np.ndarray, points: np.ndarray, components: np.ndarray, radius_px: float) -> np.ndarray:
    """Candidates (in priority order) kept greedily unless a kept one of the same component
    lies within ``radius_px`` — a Poisson-disc selection that never chains like clustering."""
    kept: list[int] = []
    tree_points = points[candidates]
    close = cKDTree(tree_points).query_ball_point(tree_points, radius_px)
    blocked = np.zeros(len(candidates), dtype=bool)
    for i, c in enumerate(candidates):
        if blocked[i]:
            continue
        kept.append(int(c))
        neighbours = np.asarray(close[i], dtype=np.int64)
        blocked[neighbours[components[candidates[neighbours]] == components[c]]] = True
    return np.asarray(kept, dtype=np.int64)


def unique_bones(pairs: np.ndarray) -> np.ndarray:
    """Bones [B, 2] as sorted, unique index pairs (i < j), self-loops dropped."""
    pairs = np.sort(np.asarray(pairs, dtype=np.int64).reshape(-1, 2), axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    if len(pairs) == 0:
        return np.zeros((0, 2), np.int64)
    return np.unique(pairs, axis=0)
