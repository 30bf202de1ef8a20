"""Hand-made scenes and reference rasterisers shared by the training renderer tests (docs/render.md §8).

References are built here: exact winding numbers at 16×16 subsamples per pixel on a dense
polyline (fills) and exact distances at subsamples (strokes), box-averaged to pixels; and the
final cairo renderer with exact per-layer coverage.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from flexiclip_core.clipart import Clipart, Fill, Shape, Stroke, SubPath
from flexiclip_core.render import TorchVectorRenderer, TrainRenderConfig

KAPPA = 4.0 * (math.sqrt(2.0) - 1.0) / 3.0


# -- drawing helpers (256² canvas px) -------------------------------------------------------------


def circle_points(cx: float, cy: float, radius: float, clockwise: bool = True) -> np.ndarray:
    """Closed 4-segment cubic circle: [13, 2]."""
    points = []
    for quarter in range(4):
        a0 = quarter * math.pi / 2
        a1 = a0 + math.pi / 2
        p0 = np.array([math.cos(a0), math.sin(a0)])
        p3 = np.array([math.cos(a1), math.sin(a1)])
        t0 = np.array([-math.sin(a0), math.cos(a0)])
        t1 = np.array([-math.sin(a1), math.cos(a1)])
        segment = [p0, p0 + KAPPA * t0, p3 - KAPPA * t1, p3]
        points.extend(segment if quarter == 0 else segment[1:])
    result = np.array(points) * radius + [cx, cy]
    return result if clockwise else result[::-1].copy()


def polygon_points(vertices: np.ndarray, closed: bool = True) -> np.ndarray:
    """Straight edges as degree-elevated cubics: [3·n + 1, 2]."""
    vertices = np.asarray(vertices, dtype=np.float64)
    loop = np.concatenate([vertices, vertices[:1]]) if closed else vertices
    points = [loop[0]]
    for a, b in zip(loop[:-1], loop[1:]):
        points.extend([a + (b - a) / 3.0, a + 2.0 * (b - a) / 3.0, b])
    return np.array(points)


def star_vertices(cx: float, cy: float, outer: float, inner: float, tips: int = 5, phase: float = 0.1) -> np.ndarray:
    angles = phase + np.arange(2 * tips) * math.pi / tips
    radii = np.where(np.arange(2 * tips) % 2 == 0, outer, inner)
    return np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)


def fill_shape(*subpaths: np.ndarray, rgb=(0.8, 0.2, 0.1), opacity=1.0, rule="nonzero", stroke=None) -> Shape:
    return Shape(
        tuple(SubPath(np.asarray(p, dtype=np.float64), True) for p in subpaths),
        Fill(rgb, opacity, rule),
        stroke,
    )


def clip_of(*shapes: Shape) -> Clipart:
    return Clipart(tuple(shapes), source="test")


# -- reference rasterisers -------------------------------------------------------------------------


def dense_polyline(points: np.ndarray, per_segment: int = 256) -> np.ndarray:
    """Cubic subpath sampled finely: [n·per_segment + 1, 2]."""
    t = np.linspace(0.0, 1.0, per_segment + 1)[:-1, None]
    samples = []
    for i in range((len(points) - 1) // 3):
        p0, p1, p2, p3 = points[3 * i : 3 * i + 4]
        samples.append((1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t**2 * p2 + t**3 * p3)
    samples.append(points[-1:])
    return np.concatenate(samples)


def reference_fill_alpha(
    subpaths: list[np.ndarray], size: int, scale: float, rule: str, row_samples: int = 64
) -> np.ndarray:
    """Box-filtered coverage [size, size]: on ``row_samples`` scanlines per pixel row, the exact
    inside length per pixel from sorted crossings and their winding numbers."""
    edges = []
    for points in subpaths:
        line = dense_polyline(points) * scale
        line = np.concatenate([line, line[:1]])  # implicit close
        edges.append(np.stack([line[:-1], line[1:]], axis=1))
    edges = np.concatenate(edges)  # [E, 2, 2]
    a, b = edges[:, 0], edges[:, 1]
    ys = (np.arange(size * row_samples) + 0.5) / row_samples
    y_low = np.minimum(a[:, 1], b[:, 1])[:, None]
    y_high = np.maximum(a[:, 1], b[:, 1])[:, None]
    edge_index, row = np.nonzero((ys[None] >= y_low) & (ys[None] < y_high))
    ea, eb = a[edge_index], b[edge_index]
    t = (ys[row] - ea[:, 1]) / (eb[:, 1] - ea[:, 1])
    crossing_x = ea[:, 0] + t * (eb[:, 0] - ea[:, 0])
    direction = np.where(eb[:, 1] > ea[:, 1], 1, -1)
    alpha = np.zeros((size, size))
    pixel_edges = np.arange(size + 1, dtype=np.float64)
    order = np.lexsort((crossing_x, row))
    row, crossing_x, direction = row[order], crossing_x[order], direction[order]
    bounds = np.searchsorted(row, np.arange(len(ys) + 1))
    for r in range(len(ys)):
        xs = crossing_x[bounds[r] : bounds[r + 1]]
        if len(xs) == 0:
            continue
        winding = np.cumsum(direction[bounds[r] : bounds[r + 1]])
        inside = (winding != 0) if rule == "nonzero" else (np.abs(winding) % 2 == 1)
        # F(x) = inside length left of x: piecewise linear through the crossings.
        covered = np.concatenate([[0.0], np.cumsum(np.diff(xs) * inside[:-1])])
        integral = np.interp(pixel_edges, xs, covered)
        # Right of the last crossing the winding is back to zero (closed paths), so interp's
        # constant extrapolation is exact there and left of the first crossing.
        alpha[r // row_samples] += np.diff(integral) / row_samples
    return alpha


def reference_polygon_alpha(vertices: np.ndarray, size: int) -> np.ndarray:
    """Exact area of a simple polygon (output px) inside each pixel, by Sutherland–Hodgman clipping."""

    def clip(polygon: list, axis: int, bound: float, keep_above: bool) -> list:
        result = []
        for i, current in enumerate(polygon):
            previous = polygon[i - 1]
            inside_now = (current[axis] >= bound) == keep_above
            inside_before = (previous[axis] >= bound) == keep_above
            if inside_now != inside_before:
                t = (bound - previous[axis]) / (current[axis] - previous[axis])
                result.append(previous + t * (current - previous))
            if inside_now:
                result.append(current)
        return result

    alpha = np.zeros((size, size))
    low = np.floor(vertices.min(0)).astype(int).clip(0, size)
    high = np.ceil(vertices.max(0)).astype(int).clip(0, size)
    for y in range(low[1], high[1]):
        for x in range(low[0], high[0]):
            polygon = list(vertices)
            for axis, bound, keep_above in ((0, x, True), (0, x + 1, False), (1, y, True), (1, y + 1, False)):
                polygon = clip(polygon, axis, bound, keep_above) if polygon else polygon
            if len(polygon) >= 3:
                px, py = np.array(polygon).T
                alpha[y, x] = 0.5 * abs(np.dot(px, np.roll(py, -1)) - np.dot(py, np.roll(px, -1)))
    return alpha


def centre_line_distances(
    points: np.ndarray, size: int, scale: float, reach_px: float, subsamples: int = 16
) -> np.ndarray:
    """[size, subsamples, size, subsamples] distance (output px) of every subsample centre to a
    very dense sampling of the centre line (spacing ≪ 0.01 px, so ≈ the curve distance); inf
    for pixels whose centre is farther than ``reach_px`` + 1 (none of their subsamples matter)."""
    from scipy.spatial import cKDTree

    tree = cKDTree(dense_polyline(points, 4096) * scale)
    pixel_centres = np.stack(np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5), axis=-1).reshape(-1, 2)
    near = tree.query(pixel_centres, distance_upper_bound=reach_px + 1.0)[0] <= reach_px + 1.0
    offsets = (np.arange(subsamples) + 0.5) / subsamples - 0.5
    ox, oy = np.meshgrid(offsets, offsets)
    query = pixel_centres[near][:, None, :] + np.stack([ox.ravel(), oy.ravel()], axis=1)[None]
    distances = np.full((size * size, subsamples * subsamples), np.inf)
    distances[near] = tree.query(query.reshape(-1, 2))[0].reshape(-1, subsamples * subsamples)
    # [pixel row, pixel column, sub row, sub column] → [row, sub row, column, sub column]
    return distances.reshape(size, size, subsamples, subsamples).transpose(0, 2, 1, 3)


def reference_stroke_alpha(distances: np.ndarray, width_px: float) -> np.ndarray:
    """Box-filtered coverage of a round-capped, round-joined stroke of ``width_px`` output px."""
    return (distances <= width_px / 2).mean(axis=(1, 3))


def soft_iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.minimum(a, b).sum() / np.maximum(a, b).sum())


def render_alpha(clip: Clipart, size: int, points: np.ndarray | None = None) -> np.ndarray:
    renderer = TorchVectorRenderer(clip, TrainRenderConfig(size=size, background="transparent"), dtype=torch.float64)
    pts = clip.control_points() if points is None else points
    image = renderer.render(torch.from_numpy(pts)[None])
    return image[0, 3].numpy()


SIZE = 64
SCALE = SIZE / 256


def overlapping_scene() -> Clipart:
    """Two translucent overlapping fills (one even-odd ring) and a stroked open curve."""
    disc = fill_shape(circle_points(110.3, 120.6, 70.2), rgb=(0.9, 0.2, 0.1), opacity=0.7)
    star = fill_shape(polygon_points(star_vertices(150.7, 135.2, 80.3, 35.1)), rgb=(0.1, 0.3, 0.8), opacity=0.6)
    ring = fill_shape(
        circle_points(120.4, 140.3, 50.3),
        circle_points(121.1, 139.6, 25.7),
        rgb=(0.2, 0.7, 0.3),
        opacity=0.8,
        rule="evenodd",
    )
    curve = np.array([[40.3, 200.4], [90.2, 150.7], [160.6, 240.1], [215.3, 60.2]])
    stroke = Shape((SubPath(curve, False),), None, Stroke((0.1, 0.1, 0.1), 17.3, opacity=0.9))
    return clip_of(disc, star, ring, stroke)


def layer_coverage_reference(clip: Clipart, size: int = 256, supersample: int = 8) -> np.ndarray:
    """Alpha [size, size] of the final renderer with exact coverage: cairo draws every layer (a
    shape's fill, then its stroke) alone at ``supersample``² samples per pixel inside the layer's
    box, the samples are box-averaged, and the layers are composited with "over" at ``size``².

    Cairo's own ``size``² image samples only 15 sub-rows per pixel, which is up to 1/30 off on
    near-horizontal edges and adds up on line art; compositing per pixel keeps the conflation of
    abutting layers that any ``size``² renderer has (docs/render.md §9) — so this is the image the
    training renderer should reproduce.
    """
    import dataclasses

    import cairocffi as cairo

    from flexiclip_core.render.final import _append_shape_path, _clip_to_regions, _paint_shape

    pose = clip.control_points()
    alpha = np.zeros((size, size))
    scale = size / clip.canvas_size
    offset = 0
    for shape in clip.shapes:
        count = sum(len(subpath.points) for subpath in shape.subpaths)
        layers = []
        if shape.fill is not None and shape.fill.opacity > 0:
            # Coverage only: the training renderer paints a gradient's mean opacity (docs/render.md §11).
            black = dataclasses.replace(shape.fill, rgb=(0.0, 0.0, 0.0), opacity=1.0, gradient=None)
            layers.append((dataclasses.replace(shape, fill=black, stroke=None), shape.fill.opacity, 0.0))
        stroke = shape.stroke
        if stroke is not None and stroke.width > 0 and stroke.opacity > 0:
            black = dataclasses.replace(stroke, rgb=(0.0, 0.0, 0.0), opacity=1.0, gradient=None)
            reach = stroke.width * max(stroke.miter_limit, 1.0)
            layers.append((dataclasses.replace(shape, fill=None, stroke=black), stroke.opacity, reach))
        points = pose[offset : offset + count]
        for layer, opacity, reach in layers:
            if count == 0:
                continue
            low = np.floor((points.min(0) - reach - 1.0) * scale).astype(int).clip(0, size)
            high = np.ceil((points.max(0) + reach + 1.0) * scale).astype(int).clip(0, size)
            width, height = (int(v) for v in high - low)
            if width <= 0 or height <= 0:
                continue
            surface = cairo.ImageSurface(cairo.FORMAT_A8, width * supersample, height * supersample)
            context = cairo.Context(surface)
            context.scale(supersample, supersample)
            context.translate(-float(low[0]), -float(low[1]))
            context.scale(scale, scale)
            _clip_to_regions(context, shape)  # clip paths multiply the coverage (docs/render.md §12)
            _append_shape_path(context, layer, pose, offset)
            _paint_shape(context, layer)
            surface.flush()
            rows = np.frombuffer(surface.get_data(), np.uint8).reshape(height * supersample, surface.get_stride())
            samples = rows[:, : width * supersample].reshape(height, supersample, width, supersample)
            coverage = samples.mean(axis=(1, 3)) / 255.0 * opacity
            view = alpha[low[1] : high[1], low[0] : high[0]]
            view += coverage * (1.0 - view)
        offset += count
    return alpha


def replace_join(shape: Shape, linejoin: str) -> Shape:
    import dataclasses

    return dataclasses.replace(shape, stroke=dataclasses.replace(shape.stroke, linejoin=linejoin))
