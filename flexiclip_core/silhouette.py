"""The silhouette of a set of shapes: the binary domain the rig skeletonises and the mesh
triangulates (docs/method.md §3–4).

The painted union of the shapes (every painted shape at full opacity, hairlines widened) plus
the legs out to Bézier handles that stick out, dilated, with tiny holes filled, on a raster
finer than the canvas. Rig and mesh build it from the same `SilhouetteConfig` (one instance, on
the animation config), so both see the same connected components.

It is rasterised here with cairo rather than with the final renderer: the final renderer is
downstream in the module order, and the silhouette needs things a picture does not (every
painted shape at full opacity, the Bézier control polygons, a minimum stroke width) so that
every control point of the drawing lies inside the mesh domain.
"""

from __future__ import annotations

from dataclasses import dataclass

import cairocffi as cairo
import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from flexiclip_core.clipart import Clipart


@dataclass(frozen=True)
class SilhouetteConfig:
    """How a layer's shapes become the binary domain that is skeletonised and meshed; the rig
    and the mesh take the same instance (`AnimationConfig.silhouette`)."""

    raster_size: int = 512
    """Raster px across the canvas (docs/method.md §3: the union is rasterised at 512²)."""
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

    def component_areas(self) -> np.ndarray:
        """Area of every component [C + 1] (index = label; 0 is the background), raster px²."""
        return np.bincount(self.labels.ravel(), minlength=self.component_count + 1)

    def deepest_points(self, components: np.ndarray) -> np.ndarray:
        """Canvas point [len(components), 2] deepest inside each given component (max distance
        to the background), a safe interior keypoint."""
        positions = np.zeros((len(components), 2), dtype=np.int64)
        boxes = ndimage.find_objects(self.labels)
        for row, label in enumerate(np.asarray(components, dtype=np.int64)):
            # Per-component crops: cheaper than a labelled maximum over the whole raster.
            box = boxes[label - 1]
            own = np.pad(self.labels[box] == label, 1)
            depth = ndimage.distance_transform_edt(own)
            r, c = np.unravel_index(int(np.argmax(depth)), depth.shape)
            positions[row] = (r - 1 + box[0].start, c - 1 + box[1].start)
        return self.to_canvas(positions[:, 0], positions[:, 1])

    def distance_to_domain(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distance (canvas px) [N] of canvas points [N, 2] to the domain and the nearest
        component [N]."""
        if len(points) == 0:
            return np.zeros(0), np.zeros(0, np.int64)
        gap, (near_rows, near_cols) = ndimage.distance_transform_edt(~self.mask, return_indices=True)
        rows, cols = self.to_pixel(points)
        component = self.labels[near_rows[rows, cols], near_cols[rows, cols]].astype(np.int64)
        return gap[rows, cols] / self.scale, component

    def snap_inside(self, points: np.ndarray) -> np.ndarray:
        """Points [N, 2] moved onto the nearest domain pixel centre when they fall outside (the
        coarse skeleton raster can put the end of a thin line just off the domain)."""
        rows, cols = self.to_pixel(points)
        outside = ~self.mask[rows, cols]
        if not outside.any():
            return points
        _, (near_rows, near_cols) = ndimage.distance_transform_edt(~self.mask, return_indices=True)
        snapped = points.copy()
        snapped[outside] = self.to_canvas(
            near_rows[rows[outside], cols[outside]], near_cols[rows[outside], cols[outside]]
        )
        return snapped


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
