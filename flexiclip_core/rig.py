"""Keypoints + skeleton of a clipart: given by the catalog, or built automatically (method.md §1).

A `Rig` holds keypoints in canvas px, bones as keypoint index pairs and one or more `Layer`s
(groups of shapes with their own keypoints). Given keypoints arrive in the SVG's user units and
are mapped with the drawing (`Clipart.document_to_canvas`). The automatic rig takes the medial
axis of the drawing's silhouette (on a 256² raster), prunes free-ending branches shorter than
`RigConfig.prune_length_px`, keeps ends then junctions (no two of a component closer than
`merge_distance_px`), adds farthest-point samples along the skeleton every `branch_spacing_px`,
and joins keypoints whose skeleton regions (geodesic Voronoi cells) touch. Spacing and thinning
adapt until the count is within [min_keypoints, max_keypoints]; a blob whose skeleton is a point
gets farthest-point samples of its interior instead. Small detached parts are tethered to a
larger one by a bone.

Every connected component of every layer's silhouette gets at least one keypoint: the mesh built
from that silhouette (`flexiclip_core.mesh`) has one sub-mesh per component, and a sub-mesh with
no handle would leave the deformation underdetermined.

The silhouette is rasterised here with cairo rather than with the final renderer: the final
renderer is downstream of the rig in the module order, and the silhouette also needs things a
picture does not (every painted shape at full opacity, the Bézier control polygons, a minimum
stroke width) so that every control point of the drawing lies inside the mesh domain.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import cairocffi as cairo
import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra, minimum_spanning_tree
from scipy.spatial import cKDTree
from skimage.morphology import medial_axis

from flexiclip_core.clipart import Clipart
from flexiclip_core.errors import RigError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SilhouetteConfig:
    """How a layer's shapes become the binary domain that is skeletonised and meshed.

    The rig and the mesh must use the same values so that both see the same components.
    """

    raster_size: int = 512
    """Raster px across the canvas (method.md §2: the union is rasterised at 512²)."""
    margin_px: float = 16.0
    """The raster also covers this much (canvas px) beyond every canvas edge: Bézier handles
    may lie outside the canvas even when the drawing fits inside it."""
    min_stroke_width_px: float = 1.0
    """Strokes thinner than this (canvas px) are widened so hairlines still give a domain."""
    control_leg_width_px: float = 1.0
    """Width (canvas px) of the anchor → handle lines added for handles outside the painted
    shape, so every control point lies inside the domain."""
    dilation_px: float = 1.0
    """Dilation of the painted union (canvas px), so contour simplification and anti-aliasing
    never leave a painted pixel or control point outside."""
    min_hole_area_px2: float = 6.0
    """Holes of the silhouette smaller than this (canvas px²) are filled; larger holes (the
    inside of a ring, the gap between an arm and the torso) stay holes of the mesh."""
    min_hole_width_px: float = 1.5
    """Holes narrower than this (canvas px, twice the largest inscribed radius) are filled:
    a hole marker must stay inside the hole after contour simplification."""


@dataclass(frozen=True)
class RigConfig:
    """Automatic rig and validation of given keypoints (method.md §1)."""

    silhouette: SilhouetteConfig = field(default_factory=SilhouetteConfig)
    """Silhouette raster; keep equal to `MeshConfig.silhouette`."""
    skeleton_raster_size: int = 256
    """Side of the (coarser) raster the medial axis is taken on, for speed."""
    prune_length_px: float = 10.0
    """Skeleton branches that end freely and are shorter than this (canvas px) are pruned."""
    branch_spacing_px: float = 40.0
    """Target spacing (canvas px, along the skeleton) of extra keypoints on long branches."""
    merge_distance_px: float = 8.0
    """Keypoints of one component closer than this (canvas px) are merged into one."""
    min_keypoints: int = 6
    """Aim for at least this many keypoints (spacing shrinks down to 2× the merge distance)."""
    max_keypoints: int = 20
    """Aim for at most this many keypoints (spacing and pruning grow); one keypoint per
    component is kept regardless, so drawings with many detached parts may exceed it."""
    max_keypoint_distance_px: float = 12.0
    """A given keypoint farther than this (canvas px) from its layer's silhouette is an error."""
    tether_max_area_fraction: float = 0.25
    """A detached component smaller than this fraction of the largest one (a hat, a ball, an
    eye drawn apart) gets a bone to the nearest keypoint of a larger component, so the skeleton
    loss keeps it in place; larger ones (a second character) move freely. 0 disables it."""


@dataclass(frozen=True, eq=False)
class Layer:
    """A group of shapes deformed by its own sub-mesh and keypoints."""

    name: str
    shape_indices: np.ndarray
    """int64 [S_l] indices into `Clipart.shapes`, increasing."""
    keypoint_indices: np.ndarray
    """int64 [K_l] indices into `Rig.keypoints`, increasing."""


@dataclass(frozen=True, eq=False)
class Rig:
    """Keypoints, bones and layers of one clipart."""

    keypoints: np.ndarray
    """float64 [K, 2] canvas px (rest pose)."""
    bones: np.ndarray
    """int64 [B, 2] keypoint index pairs (i < j), unique."""
    layers: tuple[Layer, ...]
    """At least one; a single layer of all shapes and keypoints when none were given."""
    source: str
    """"given" (catalog keypoints, possibly completed) or "auto"."""

    @property
    def keypoint_count(self) -> int:
        return len(self.keypoints)


# ----------------------------------------------------------------------------------------------
# Silhouette


@dataclass(frozen=True, eq=False)
class Silhouette:
    """Binary domain of a set of shapes on the silhouette raster."""

    mask: np.ndarray
    """bool [R, R] domain: painted union + control legs, dilated, small holes filled."""
    labels: np.ndarray
    """int32 [R, R] connected component of each domain pixel (8-connected), 0 outside."""
    component_count: int
    scale: float
    """Raster px per canvas px."""
    origin: float
    """Canvas coordinate (x and y) of the raster's top-left corner (−margin or further)."""

    def to_raster(self, points: np.ndarray) -> np.ndarray:
        """Continuous raster coordinates (x, y) [N, 2] of canvas points [N, 2]."""
        return (np.asarray(points, dtype=np.float64) - self.origin) * self.scale

    def to_pixel(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) int64 [N] of the raster pixels holding canvas points [N, 2] (clipped)."""
        size = self.mask.shape[0]
        raster = np.floor(self.to_raster(points))
        cols = np.clip(raster[:, 0], 0, size - 1).astype(np.int64)
        rows = np.clip(raster[:, 1], 0, size - 1).astype(np.int64)
        return rows, cols

    def to_canvas(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Canvas points [N, 2] at the centres of raster pixels (rows, cols) (fractional ok)."""
        raster = np.stack([np.asarray(cols, dtype=np.float64), np.asarray(rows, dtype=np.float64)], axis=1)
        return (raster + 0.5) / self.scale + self.origin


def raster_geometry(clipart: Clipart, config: SilhouetteConfig) -> tuple[int, float, float]:
    """(raster side px, raster px per canvas px, canvas coordinate of the raster's corner).

    The raster spans the canvas plus `SilhouetteConfig.margin_px`, widened (up to the canvas
    size on each side) to reach control points further out."""
    scale = config.raster_size / float(clipart.canvas_size)
    low, high = -config.margin_px, clipart.canvas_size + config.margin_px
    points = clipart.control_points()
    if len(points):
        reach = float(clipart.canvas_size)
        low = max(min(low, float(points.min()) - 2.0), -reach)
        high = min(max(high, float(points.max()) + 2.0), clipart.canvas_size + reach)
    first = int(np.floor(low * scale))
    return int(np.ceil(high * scale)) - first, scale, first / scale


def rasterize_shapes(clipart: Clipart, shape_indices: ArrayLike, config: SilhouetteConfig) -> np.ndarray:
    """Painted coverage of the given shapes: bool [R, R], True where any fill or stroke touches
    the pixel (every painted shape counts at full opacity; hairlines are widened)."""
    size, scale, origin = raster_geometry(clipart, config)
    surface = cairo.ImageSurface(cairo.FORMAT_A8, size, size)
    context = cairo.Context(surface)
    context.scale(scale, scale)
    context.translate(-origin, -origin)
    context.set_source_rgba(0, 0, 0, 1)
    context.set_line_join(cairo.LINE_JOIN_ROUND)
    for index in np.asarray(shape_indices, dtype=np.int64):
        shape = clipart.shapes[int(index)]
        for subpath in shape.subpaths:
            points = subpath.points.tolist()  # plain floats: unpacking numpy rows is slow
            context.move_to(*points[0])
            for i in range(1, len(points) - 2, 3):
                context.curve_to(*points[i], *points[i + 1], *points[i + 2])
            if subpath.closed:
                context.close_path()
        if shape.fill is not None:
            context.set_fill_rule(cairo.FILL_RULE_EVEN_ODD if shape.fill.rule == "evenodd" else cairo.FILL_RULE_WINDING)
            context.fill_preserve()
        width = config.min_stroke_width_px
        cap = cairo.LINE_CAP_ROUND
        if shape.stroke is not None:
            width = max(width, float(shape.stroke.width))
            # Square caps reach beyond the end point; round caps cover butt ones.
            cap = cairo.LINE_CAP_SQUARE if shape.stroke.linecap == "square" else cairo.LINE_CAP_ROUND
        context.set_line_width(width)
        context.set_line_cap(cap)
        context.stroke()
    return _alpha_mask(surface, size)


def rasterize_control_legs(clipart: Clipart, segments: np.ndarray, config: SilhouetteConfig) -> np.ndarray:
    """The legs (anchor → handle lines) of cubic segments [S, 4, 2], stroked: bool [R, R].

    Legs rather than the segments' hulls: a hull can be much wider than the curve and glue
    neighbouring parts together; a leg only adds a thin whisker out to the handle."""
    size, scale, origin = raster_geometry(clipart, config)
    surface = cairo.ImageSurface(cairo.FORMAT_A8, size, size)
    context = cairo.Context(surface)
    context.scale(scale, scale)
    context.translate(-origin, -origin)
    context.set_source_rgba(0, 0, 0, 1)
    context.set_line_width(config.control_leg_width_px)
    context.set_line_cap(cairo.LINE_CAP_ROUND)
    for segment in segments.tolist():
        context.move_to(*segment[0])
        context.line_to(*segment[1])
        context.move_to(*segment[3])
        context.line_to(*segment[2])
    context.stroke()
    return _alpha_mask(surface, size)


def _alpha_mask(surface: cairo.ImageSurface, size: int) -> np.ndarray:
    surface.flush()
    stride = surface.get_stride()
    alpha = np.frombuffer(surface.get_data(), dtype=np.uint8).reshape(size, stride)[:, :size]
    return alpha > 0


def _shape_points(clipart: Clipart, shape_indices: np.ndarray) -> np.ndarray:
    """All control points [P_l, 2] of the given shapes."""
    arrays = [sp.points for i in shape_indices for sp in clipart.shapes[int(i)].subpaths]
    return np.concatenate(arrays) if arrays else np.zeros((0, 2))


def _segments(clipart: Clipart, shape_indices: np.ndarray) -> np.ndarray:
    """All cubic segments [S, 4, 2] of the given shapes."""
    pieces = []
    corner = np.arange(4)[None, :]
    for index in shape_indices:
        for subpath in clipart.shapes[int(index)].subpaths:
            n = subpath.segment_count
            if n:
                pieces.append(subpath.points[3 * np.arange(n)[:, None] + corner])
    return np.concatenate(pieces) if pieces else np.zeros((0, 4, 2))


def stamp_points(mask: np.ndarray, points_px: np.ndarray, *, min_depth_px: float, radius_px: float) -> np.ndarray:
    """The mask grown so every point (raster px coords x, y) lies at least ``min_depth_px`` deep:
    a disc of ``radius_px`` at each shallow point, bridged to the nearest domain pixel when it
    does not touch the domain. Returns a new bool [R, R] mask."""
    if len(points_px) == 0:
        return mask
    size = mask.shape[0]
    grown = mask.copy()
    rows = np.clip(np.floor(points_px[:, 1]).astype(np.int64), 0, size - 1)
    cols = np.clip(np.floor(points_px[:, 0]).astype(np.int64), 0, size - 1)
    # Depth test on a small window: every pixel closer than min_depth_px must be inside.
    reach = int(np.ceil(min_depth_px))
    d_rows, d_cols = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    near = d_rows**2 + d_cols**2 < min_depth_px**2
    d_rows, d_cols = d_rows[near], d_cols[near]
    window_rows = np.clip(rows[:, None] + d_rows[None], 0, size - 1)
    window_cols = np.clip(cols[:, None] + d_cols[None], 0, size - 1)
    shallow = ~mask[window_rows, window_cols].all(axis=1)
    if not shallow.any():
        return grown
    if mask.any() and not mask[rows[shallow], cols[shallow]].all():
        _, (near_rows, near_cols) = ndimage.distance_transform_edt(~mask, return_indices=True)
    for point, row, col in zip(points_px[shallow], rows[shallow], cols[shallow], strict=True):
        discs = [point]
        if mask.any() and not mask[row, col]:
            target = np.array([near_cols[row, col] + 0.5, near_rows[row, col] + 0.5])
            steps = int(np.ceil(np.linalg.norm(target - point))) + 1
            discs.extend(point + (target - point) * t for t in np.linspace(0.0, 1.0, steps + 1))
        lo = np.floor(np.min(discs, axis=0) - radius_px - 1).astype(int).clip(0, size)
        hi = np.ceil(np.max(discs, axis=0) + radius_px + 2).astype(int).clip(0, size)
        sub_y, sub_x = np.mgrid[lo[1] : hi[1], lo[0] : hi[0]] + 0.5
        window = grown[lo[1] : hi[1], lo[0] : hi[0]]
        for centre in discs:
            window |= (sub_x - centre[0]) ** 2 + (sub_y - centre[1]) ** 2 <= radius_px**2
    return grown


def build_silhouette(
    clipart: Clipart,
    shape_indices: ArrayLike,
    config: SilhouetteConfig,
    stamp_keypoints: np.ndarray | None = None,
) -> Silhouette:
    """The meshing domain of some shapes; ``stamp_keypoints`` (canvas px [K, 2]) are made to lie
    well inside it (see `stamp_points`), as the mesh needs them as interior vertices."""
    size, scale, origin = raster_geometry(clipart, config)
    shape_indices = np.asarray(shape_indices, dtype=np.int64)
    painted = rasterize_shapes(clipart, shape_indices, config)
    mask = _dilate(painted, config.dilation_px * scale)
    # Off-curve control points can stick out of the painted shape: add the legs of the
    # segments that have one outside, so every control point is inside the domain.
    segments = _segments(clipart, shape_indices)
    if len(segments):
        raster = np.floor((segments - origin) * scale)
        on_raster = ((raster >= 0) & (raster < size)).all(axis=-1)
        cols = np.clip(raster[..., 0], 0, size - 1).astype(np.int64)
        rows = np.clip(raster[..., 1], 0, size - 1).astype(np.int64)
        outside = (~mask[rows, cols] | ~on_raster).any(axis=1)
        if outside.any():
            legs = rasterize_control_legs(clipart, segments[outside], config)
            mask = _dilate(painted | legs, config.dilation_px * scale)
    # Whatever is still outside (a lone "M x y" point, a handle off the raster) gets a small
    # disc bridged to the drawing, so it joins a component that has keypoints.
    points = _shape_points(clipart, shape_indices)
    if len(points):
        raster_points = (points - origin) * scale
        inside_raster = ((raster_points >= 0) & (raster_points < size)).all(axis=1)
        rows = np.clip(np.floor(raster_points[:, 1]), 0, size - 1).astype(np.int64)
        cols = np.clip(np.floor(raster_points[:, 0]), 0, size - 1).astype(np.int64)
        lost = inside_raster & ~mask[rows, cols]
        if lost.any():
            mask = stamp_points(mask, raster_points[lost], min_depth_px=1.0, radius_px=1.5)
    if stamp_keypoints is not None and len(stamp_keypoints):
        raster_points = (np.asarray(stamp_keypoints, dtype=np.float64) - origin) * scale
        mask = stamp_points(mask, raster_points, min_depth_px=2.5, radius_px=3.0)
    mask = _fill_small_holes(mask, config, scale)
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    return Silhouette(mask=mask, labels=labels.astype(np.int32), component_count=int(count), scale=scale, origin=origin)


def _dilate(mask: np.ndarray, radius_px: float) -> np.ndarray:
    """Dilation by a disc of ``radius_px`` (a small structuring element: faster than an EDT)."""
    if radius_px <= 0 or not mask.any():
        return mask
    reach = int(np.floor(radius_px))
    d_rows, d_cols = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    return ndimage.binary_dilation(mask, structure=d_rows**2 + d_cols**2 <= radius_px**2)


def _fill_small_holes(mask: np.ndarray, config: SilhouetteConfig, scale: float) -> np.ndarray:
    """Fill holes smaller or narrower than the config says (background is 4-connected where
    the foreground is 8-connected, as the contours see them)."""
    holes, count = ndimage.label(~mask)
    if count <= 1:
        return mask
    area = np.bincount(holes.ravel(), minlength=count + 1)
    fill = area < config.min_hole_area_px2 * scale**2
    border = np.unique(np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1]]))
    fill[border] = False
    fill[0] = False
    # Width test (largest inscribed disc) only on the remaining holes, each on its own crop.
    min_radius = 0.5 * config.min_hole_width_px * scale
    boxes = ndimage.find_objects(holes)
    for label in np.nonzero(~fill)[0]:
        if label == 0 or label in border:
            continue
        box = boxes[label - 1]
        crop = np.pad(holes[box] == label, 1)
        if ndimage.distance_transform_edt(crop).max() < min_radius:
            fill[label] = True
    return mask | fill[holes]


# ----------------------------------------------------------------------------------------------
# Skeleton graph

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
    graph = coo_matrix((np.concatenate([w, w]), (np.concatenate([src, dst]), np.concatenate([dst, src]))), shape=(count, count))
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
class _SkeletonKeypoints:
    points: np.ndarray  # [K, 2] canvas px
    components: np.ndarray  # [K] silhouette component label
    bones: np.ndarray  # [B, 2]


@dataclass(frozen=True, eq=False)
class _Skeleton:
    """Medial axis of a silhouette on a coarser raster."""

    pixels: np.ndarray  # int64 [N, 2] (row, col)
    size: int  # raster side
    scale: float  # raster px per canvas px
    origin: float  # canvas coordinate of the raster corner
    components: np.ndarray  # int64 [N] silhouette component of each pixel


def _medial_axis(silhouette: Silhouette, skeleton_size: int) -> _Skeleton:
    size = silhouette.mask.shape[0]
    factor = max(1, size // skeleton_size)
    coarse = size // factor
    blocks = (coarse, factor, coarse, factor)
    # Any-pooling keeps thin parts; each coarse pixel takes a component label found in it.
    mask = silhouette.mask[: coarse * factor, : coarse * factor].reshape(blocks).any(axis=(1, 3))
    labels = silhouette.labels[: coarse * factor, : coarse * factor].reshape(blocks).max(axis=(1, 3))
    pixels = np.argwhere(medial_axis(mask, rng=0))  # fixed tie-breaking: reproducible rigs
    return _Skeleton(pixels, coarse, silhouette.scale / factor, silhouette.origin, labels[pixels[:, 0], pixels[:, 1]].astype(np.int64))


class _PrunedSkeleton:
    """Pruned skeleton graph with its candidate keypoints, ends and junctions first."""

    def __init__(self, skeleton: _Skeleton, prune_px: float) -> None:
        self.scale, self.origin = skeleton.scale, skeleton.origin
        keep = _prune(skeleton.pixels, skeleton.size, prune_px * skeleton.scale)
        self.pixels, self.components = skeleton.pixels[keep], skeleton.components[keep]
        self.graph = _pixel_graph(self.pixels, skeleton.size) if len(self.pixels) else None
        if self.graph is None:
            self.candidates = np.zeros(0, np.int64)
            return
        degree = np.diff(self.graph.indptr)
        # Extremities (hands, feet, tail, ears) first, then junctions (shoulders, hips).
        candidates = list(np.nonzero(degree <= 1)[0])
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

    def keypoints(self, spacing_px: float, merge_px: float) -> _SkeletonKeypoints:
        """Candidates thinned so no two of a component are closer than ``merge_px``, plus
        farthest-point samples until no skeleton pixel is farther than ``spacing_px`` (along
        the skeleton) from a keypoint; bones join keypoints whose skeleton regions touch."""
        if self.graph is None:
            return _SkeletonKeypoints(np.zeros((0, 2)), np.zeros(0, np.int64), np.zeros((0, 2), np.int64))
        points = (self.pixels[:, ::-1] + 0.5) / self.scale + self.origin
        seeds = _thin(self.candidates, points, self.components, merge_px)
        # Every skeleton piece keeps at least one seed (else its pixels have no region).
        missing = np.setdiff1d(np.unique(self.piece), self.piece[seeds])
        if len(missing):
            first_of_piece = {int(self.piece[c]): int(c) for c in self.candidates[::-1]}
            seeds = np.concatenate([seeds, [first_of_piece[int(p)] for p in missing]])
        seeds = list(seeds)
        distance = dijkstra(self.graph, directed=False, indices=seeds, min_only=True)
        spacing = spacing_px * self.scale
        while True:
            far = int(np.argmax(distance))
            if distance[far] <= spacing:
                break
            seeds.append(far)
            distance = np.minimum(distance, dijkstra(self.graph, directed=False, indices=far, limit=distance[far] + 1.0))
        seeds_arr = np.asarray(seeds, dtype=np.int64)
        _, _, nearest = dijkstra(self.graph, directed=False, indices=seeds_arr, min_only=True, return_predecessors=True)
        seed_number = -np.ones(len(self.pixels), dtype=np.int64)
        seed_number[seeds_arr] = np.arange(len(seeds_arr))
        region = seed_number[nearest]
        coo = self.graph.tocoo()
        differ = region[coo.row] != region[coo.col]
        bones = _unique_bones(np.stack([region[coo.row[differ]], region[coo.col[differ]]], axis=1))
        return _SkeletonKeypoints(points[seeds_arr], self.components[seeds_arr], bones)


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


def _unique_bones(pairs: np.ndarray) -> np.ndarray:
    pairs = np.sort(np.asarray(pairs, dtype=np.int64).reshape(-1, 2), axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    if len(pairs) == 0:
        return np.zeros((0, 2), np.int64)
    return np.unique(pairs, axis=0)


def _deepest_points(silhouette: Silhouette, components: np.ndarray) -> np.ndarray:
    """Canvas point [len(components), 2] deepest inside each given component (max distance to
    the background), a safe interior keypoint."""
    positions = np.zeros((len(components), 2), dtype=np.int64)
    boxes = ndimage.find_objects(silhouette.labels)
    for row, label in enumerate(np.asarray(components, dtype=np.int64)):
        # Per-component crops: cheaper than a labelled maximum over the whole raster.
        box = boxes[label - 1]
        own = np.pad(silhouette.labels[box] == label, 1)
        depth = ndimage.distance_transform_edt(own)
        r, c = np.unravel_index(int(np.argmax(depth)), depth.shape)
        positions[row] = (r - 1 + box[0].start, c - 1 + box[1].start)
    return silhouette.to_canvas(positions[:, 0], positions[:, 1])


def _component_areas(silhouette: Silhouette) -> np.ndarray:
    """Area of every component [C + 1] (index = label; 0 is the background), raster px²."""
    return np.bincount(silhouette.labels.ravel(), minlength=silhouette.component_count + 1)


def _tether_bones(points: np.ndarray, components: np.ndarray, areas: np.ndarray, max_fraction: float) -> np.ndarray:
    """One bone from each small component (area below ``max_fraction`` of the largest) to the
    nearest keypoint of a larger component, between their closest keypoints."""
    labels = np.unique(components)
    if len(labels) < 2:
        return np.zeros((0, 2), np.int64)
    largest = areas[labels].max()
    bones = []
    for label in labels:
        if areas[label] >= max_fraction * largest:
            continue
        own = np.nonzero(components == label)[0]
        larger = np.nonzero(areas[components] > areas[label])[0]
        if len(larger) == 0:
            continue
        gaps = np.linalg.norm(points[own][:, None] - points[larger][None], axis=-1)
        i, j = np.unravel_index(int(np.argmin(gaps)), gaps.shape)
        bones.append((own[i], larger[j]))
    return _unique_bones(np.asarray(bones, dtype=np.int64).reshape(-1, 2))


# ----------------------------------------------------------------------------------------------
# Public API


def auto_rig(clipart: Clipart, config: RigConfig = RigConfig()) -> Rig:
    """Automatic rig of the whole drawing as a single layer (method.md §1)."""
    all_shapes = np.arange(len(clipart.shapes), dtype=np.int64)
    keypoints, bones = _auto_layer_keypoints(clipart, all_shapes, config)
    layer = Layer("all", all_shapes, np.arange(len(keypoints), dtype=np.int64))
    return Rig(keypoints=keypoints, bones=bones, layers=(layer,), source="auto")


def _auto_layer_keypoints(clipart: Clipart, shape_indices: np.ndarray, config: RigConfig) -> tuple[np.ndarray, np.ndarray]:
    if len(shape_indices) == 0:
        raise RigError("no shapes to rig", clip=clipart.source)
    silhouette = build_silhouette(clipart, shape_indices, config.silhouette)
    if silhouette.component_count == 0:
        raise RigError("the drawing covers no pixel of the silhouette raster", clip=clipart.source)
    skeleton = _medial_axis(silhouette, config.skeleton_raster_size)
    pruned = _PrunedSkeleton(skeleton, config.prune_length_px)
    spacing, merge = config.branch_spacing_px, config.merge_distance_px
    result = _complete(silhouette, pruned.keypoints(spacing, merge))
    while len(result.points) < config.min_keypoints and spacing > 2.0 * merge:
        spacing = max(2.0 * merge, spacing / 1.5)
        result = _complete(silhouette, pruned.keypoints(spacing, merge))
    for _ in range(12):
        if len(result.points) <= max(config.max_keypoints, silhouette.component_count):
            break
        # Too many ends and junctions (line art, loops): thin them with a wider disc.
        merge *= 1.3
        spacing = max(spacing, 2.0 * merge)
        result = _complete(silhouette, pruned.keypoints(spacing, merge))
    if len(result.points) < config.min_keypoints:
        result = _add_interior_points(silhouette, result, config.min_keypoints, 2.0 * config.merge_distance_px)
    points = _snap_inside(silhouette, result.points)
    result = _SkeletonKeypoints(points, result.components, result.bones)
    bones = result.bones
    tethers = _tether_bones(result.points, result.components, _component_areas(silhouette), config.tether_max_area_fraction)
    bones = _unique_bones(np.concatenate([bones, tethers]))
    logger.debug(
        "clip %r: auto rig with %d keypoints, %d bones, %d components",
        clipart.source, len(result.points), len(bones), silhouette.component_count,
    )
    return result.points, bones


def _add_interior_points(
    silhouette: Silhouette, found: _SkeletonKeypoints, target: int, min_gap_px: float
) -> _SkeletonKeypoints:
    """Farthest-point samples of the domain's interior until ``target`` keypoints (blobs such as
    a round face have a point-like skeleton); each new point is boned to its nearest keypoint
    of the same component."""
    depth = ndimage.distance_transform_edt(silhouette.mask)
    step = max(1, int(round(silhouette.scale * 2)))
    grid = depth[::step, ::step] >= 2.0 * silhouette.scale
    rows, cols = np.nonzero(grid)
    rows, cols = rows * step, cols * step
    if len(rows) == 0:
        return found
    candidates = silhouette.to_canvas(rows, cols)
    candidate_components = silhouette.labels[rows, cols].astype(np.int64)
    points, components, bones = list(found.points), list(found.components), [found.bones]
    gap = np.linalg.norm(candidates[:, None] - np.asarray(points)[None], axis=-1).min(axis=1)
    while len(points) < target:
        best = int(np.argmax(gap))
        if gap[best] < min_gap_px:
            break
        same = np.nonzero(np.asarray(components) == candidate_components[best])[0]
        if len(same):
            nearest = same[np.argmin(np.linalg.norm(np.asarray(points)[same] - candidates[best], axis=1))]
            bones.append(np.array([[nearest, len(points)]]))
        points.append(candidates[best])
        components.append(candidate_components[best])
        gap = np.minimum(gap, np.linalg.norm(candidates - candidates[best], axis=1))
    return _SkeletonKeypoints(np.asarray(points), np.asarray(components, dtype=np.int64), _unique_bones(np.concatenate(bones)))


def _snap_inside(silhouette: Silhouette, points: np.ndarray) -> np.ndarray:
    """Points [N, 2] moved onto the nearest domain pixel centre when they fall outside (the
    coarse skeleton raster can put the end of a thin line just off the domain)."""
    rows, cols = silhouette.to_pixel(points)
    outside = ~silhouette.mask[rows, cols]
    if not outside.any():
        return points
    _, (near_rows, near_cols) = ndimage.distance_transform_edt(~silhouette.mask, return_indices=True)
    snapped = points.copy()
    snapped[outside] = silhouette.to_canvas(near_rows[rows[outside], cols[outside]], near_cols[rows[outside], cols[outside]])
    return snapped


def _complete(silhouette: Silhouette, found: _SkeletonKeypoints) -> _SkeletonKeypoints:
    """Add the deepest point of every component the skeleton left without a keypoint."""
    all_components = np.arange(1, silhouette.component_count + 1)
    missing = np.setdiff1d(all_components, found.components)
    if len(missing) == 0:
        return found
    extra = _deepest_points(silhouette, missing)
    return _SkeletonKeypoints(
        np.concatenate([found.points, extra]), np.concatenate([found.components, missing.astype(np.int64)]), found.bones
    )


def rig_from_keypoints(
    clipart: Clipart,
    keypoints_doc: ArrayLike,
    bones: ArrayLike | None = None,
    layers: Sequence[Mapping] | None = None,
    *,
    config: RigConfig = RigConfig(),
) -> Rig:
    """Rig from catalog keypoints [K, 2] in the SVG's user units and bones [B, 2] (index pairs).

    ``layers``: optional list of ``{"name": str, "shapes": [int] and/or "groups": [str],
    "keypoints": [int]}``; shapes no layer claims form a last layer "rest" holding the
    keypoints near them. Components of a layer with no keypoint get an automatic one (logged).
    """
    clip = clipart.source
    try:
        doc = np.asarray(keypoints_doc, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise RigError(f"keypoints are not numbers: {error}", clip=clip) from None
    if doc.ndim != 2 or doc.shape[1] != 2 or len(doc) == 0:
        raise RigError(f"keypoints must be a non-empty [K, 2] array, got shape {doc.shape}", clip=clip)
    bad = np.nonzero(~np.isfinite(doc).all(axis=1))[0]
    if len(bad):
        raise RigError(f"keypoint {int(bad[0])} is not finite: {doc[bad[0]].tolist()}", clip=clip)
    homogeneous = np.concatenate([doc, np.ones((len(doc), 1))], axis=1)
    canvas = (homogeneous @ clipart.document_to_canvas().T)[:, :2]
    bone_array = _validate_bones(bones, len(canvas), clip)
    layer_specs = _parse_layers(clipart, layers, len(canvas))

    keypoints = [canvas]
    all_bones = [bone_array]
    built_layers = []
    for name, shape_indices, given, near_only in layer_specs:
        silhouette = build_silhouette(clipart, shape_indices, config.silhouette)
        if silhouette.component_count == 0:
            raise RigError(f"layer {name!r} covers no pixel of the silhouette raster", clip=clip)
        outside = np.nonzero(((canvas[given] < 0) | (canvas[given] > clipart.canvas_size)).any(axis=1))[0]
        if len(outside) and not near_only:
            k = int(given[outside[0]])
            raise RigError(f"keypoint {k} maps to {canvas[k].round(2).tolist()} px, outside the canvas", clip=clip)
        gap_px, nearest_component = _distance_to_domain(silhouette, canvas[given])
        far = gap_px > config.max_keypoint_distance_px
        if near_only:
            # The implicit "rest" layer takes the given keypoints that lie on it.
            given, nearest_component = given[~far], nearest_component[~far]
        elif far.any():
            first = int(np.nonzero(far)[0][0])
            k = int(given[first])
            raise RigError(
                f"keypoint {k} at {canvas[k].round(2).tolist()} px lies {gap_px[first]:.1f} px from layer "
                f"{name!r} (more than {config.max_keypoint_distance_px} px)",
                clip=clip,
            )
        missing = np.setdiff1d(np.arange(1, silhouette.component_count + 1), nearest_component)
        layer_keypoints = list(given)
        if len(missing):
            extra = _deepest_points(silhouette, missing)
            start = sum(len(k) for k in keypoints)
            new_indices = np.arange(start, start + len(extra))
            keypoints.append(extra)
            layer_keypoints.extend(new_indices)
            logger.info(
                "clip %r: layer %r: %d component(s) without keypoint got an automatic one", clip, name, len(missing)
            )
            if len(given):
                layer_points = np.concatenate([canvas[given], extra])
                layer_components = np.concatenate([nearest_component, missing.astype(np.int64)])
                layer_indices = np.concatenate([given, new_indices])
                tethers = _tether_bones(
                    layer_points, layer_components, _component_areas(silhouette), config.tether_max_area_fraction
                )
                # Only the new keypoints are tethered: the given skeleton is the user's.
                tethers = tethers[(tethers >= len(given)).any(axis=1)]
                all_bones.append(layer_indices[tethers])
        built_layers.append(Layer(name, np.asarray(shape_indices, np.int64), np.unique(np.asarray(layer_keypoints, np.int64))))
    return Rig(
        keypoints=np.concatenate(keypoints),
        bones=_unique_bones(np.concatenate(all_bones)),
        layers=tuple(built_layers),
        source="given",
    )


def _distance_to_domain(silhouette: Silhouette, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance (canvas px) of canvas points [N, 2] to the domain and the nearest component."""
    if len(points) == 0:
        return np.zeros(0), np.zeros(0, np.int64)
    gap, (near_rows, near_cols) = ndimage.distance_transform_edt(~silhouette.mask, return_indices=True)
    rows, cols = silhouette.to_pixel(points)
    component = silhouette.labels[near_rows[rows, cols], near_cols[rows, cols]].astype(np.int64)
    return gap[rows, cols] / silhouette.scale, component


def _validate_bones(bones: ArrayLike | None, keypoint_count: int, clip: str) -> np.ndarray:
    if bones is None:
        return np.zeros((0, 2), np.int64)
    try:
        raw = np.asarray(bones, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise RigError(f"bones are not index pairs: {error}", clip=clip) from None
    if raw.size == 0:
        return np.zeros((0, 2), np.int64)
    if raw.ndim != 2 or raw.shape[1] != 2:
        raise RigError(f"bones must be a [B, 2] array of keypoint indices, got shape {raw.shape}", clip=clip)
    if not np.isfinite(raw).all() or (raw != np.round(raw)).any():
        raise RigError("bone indices must be integers", clip=clip)
    pairs = raw.astype(np.int64)
    bad = np.nonzero(((pairs < 0) | (pairs >= keypoint_count)).any(axis=1))[0]
    if len(bad):
        raise RigError(
            f"bone {int(bad[0])} {pairs[bad[0]].tolist()} refers to a keypoint outside 0..{keypoint_count - 1}", clip=clip
        )
    loops = np.nonzero(pairs[:, 0] == pairs[:, 1])[0]
    if len(loops):
        raise RigError(f"bone {int(loops[0])} joins keypoint {int(pairs[loops[0], 0])} to itself", clip=clip)
    return _unique_bones(pairs)


def _parse_layers(
    clipart: Clipart, layers: Sequence[Mapping] | None, keypoint_count: int
) -> list[tuple[str, np.ndarray, np.ndarray, bool]]:
    """(name, shape indices, given keypoint indices, keep only keypoints near it) per layer."""
    clip = clipart.source
    shape_count = len(clipart.shapes)
    every_keypoint = np.arange(keypoint_count, dtype=np.int64)
    if not layers:
        return [("all", np.arange(shape_count, dtype=np.int64), every_keypoint, False)]
    owner = -np.ones(shape_count, dtype=np.int64)
    parsed = []
    for number, spec in enumerate(layers):
        if not isinstance(spec, Mapping):
            raise RigError(f"layer {number} is not an object", clip=clip)
        name = str(spec.get("name", f"layer{number}"))
        shapes = [int(s) for s in spec.get("shapes", spec.get("shape_indices", []))]
        groups = set(spec.get("groups", []))
        if groups:
            shapes += [i for i, shape in enumerate(clipart.shapes) if groups.intersection(shape.groups)]
        shapes_arr = np.unique(np.asarray(shapes, dtype=np.int64))
        if len(shapes_arr) == 0:
            raise RigError(f"layer {name!r} has no shapes", clip=clip)
        if shapes_arr[0] < 0 or shapes_arr[-1] >= shape_count:
            raise RigError(f"layer {name!r} names a shape outside 0..{shape_count - 1}", clip=clip)
        taken = shapes_arr[owner[shapes_arr] >= 0]
        if len(taken):
            raise RigError(f"layer {name!r}: shape {int(taken[0])} already belongs to another layer", clip=clip)
        owner[shapes_arr] = number
        kps = np.unique(np.asarray([int(k) for k in spec.get("keypoints", spec.get("keypoint_indices", []))], np.int64))
        if len(kps) and (kps[0] < 0 or kps[-1] >= keypoint_count):
            raise RigError(f"layer {name!r} names a keypoint outside 0..{keypoint_count - 1}", clip=clip)
        parsed.append((name, shapes_arr, kps, False))
    rest = np.nonzero(owner < 0)[0]
    if len(rest):
        parsed.append(("rest", rest, every_keypoint, True))
    return parsed


def rig_clipart(
    clipart: Clipart,
    keypoints: ArrayLike | None = None,
    bones: ArrayLike | None = None,
    layers: Sequence[Mapping] | None = None,
    config: RigConfig = RigConfig(),
) -> Rig:
    """Given rig when keypoints are given, else the automatic one (layers need keypoints)."""
    if keypoints is None:
        if layers:
            raise RigError("layers need catalog keypoints", clip=clipart.source)
        if bones is not None and len(np.asarray(bones)):
            raise RigError("bones given without keypoints", clip=clipart.source)
        return auto_rig(clipart, config)
    return rig_from_keypoints(clipart, keypoints, bones, layers, config=config)
