"""Tests of the differentiable training renderer (render.md).

References are built here: exact winding numbers at 16×16 subsamples per pixel on a dense
polyline (fills) and exact distances at subsamples (strokes), box-averaged to pixels; and the
final cairo renderer on real clipart.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from flexiclip_core.clipart import Clipart, Fill, Shape, Stroke, SubPath
from flexiclip_core.errors import ConfigError, RenderError
from flexiclip_core.render import TRAINING_RENDERERS, TorchVectorRenderer, TrainRenderConfig

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


def reference_fill_alpha(subpaths: list[np.ndarray], size: int, scale: float, rule: str, row_samples: int = 64) -> np.ndarray:
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


def centre_line_distances(points: np.ndarray, size: int, scale: float, reach_px: float, subsamples: int = 16) -> np.ndarray:
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


# -- accuracy on analytic shapes -------------------------------------------------------------------


SIZE = 64
SCALE = SIZE / 256


@pytest.mark.parametrize(
    "name, subpaths, rule",
    [
        ("circle", [circle_points(131.3, 120.7, 90.0)], "nonzero"),
        ("star", [polygon_points(star_vertices(128.4, 126.9, 110.0, 45.0))], "nonzero"),
        ("ring even-odd", [circle_points(128.2, 127.1, 100.0), circle_points(129.0, 126.3, 52.0)], "evenodd"),
        ("ring opposite winding", [circle_points(128.2, 127.1, 100.0), circle_points(129.0, 126.3, 52.0, False)], "nonzero"),
        ("clipped by canvas edges", [circle_points(20.0, 240.0, 70.0)], "nonzero"),
    ],
)
def test_fill_matches_supersampled_reference(name, subpaths, rule):
    clip = clip_of(fill_shape(*subpaths, rule=rule))
    alpha = render_alpha(clip, SIZE)
    reference = reference_fill_alpha(subpaths, SIZE, SCALE, rule)
    assert soft_iou(alpha, reference) >= 0.999, name
    assert np.abs(alpha - reference).max() < 0.02, name


@pytest.mark.parametrize("inner_radius, tips", [(45.0, 5), (6.0, 9), (1.0, 12)])
def test_star_matches_exact_pixel_areas(inner_radius, tips):
    # Spikes far thinner than a pixel: subsampling aliases there, exact areas do not.
    vertices = star_vertices(127.6, 129.2, 115.0, inner_radius, tips=tips)
    alpha = render_alpha(clip_of(fill_shape(polygon_points(vertices))), SIZE)
    reference = reference_polygon_alpha(vertices * SCALE, SIZE)
    assert soft_iou(alpha, reference) >= 0.9999
    assert np.abs(alpha - reference).max() < 1e-6


def test_self_intersecting_even_odd_pentagram():
    # Known limit (render.md): where two outlines of one shape cross inside a pixel, folding the
    # box-filtered winding number slightly over-covers that pixel; elsewhere coverage is exact.
    corners = star_vertices(128.0, 128.0, 110.0, 110.0, tips=5)
    pentagram = [polygon_points(np.concatenate([corners[::4], corners[2::4]]))]
    alpha = render_alpha(clip_of(fill_shape(*pentagram, rule="evenodd")), SIZE)
    reference = reference_fill_alpha(pentagram, SIZE, SCALE, "evenodd")
    assert soft_iou(alpha, reference) >= 0.995
    assert (np.abs(alpha - reference) > 0.01).sum() <= 10  # the five inner crossings' pixels
    assert alpha[32, 32] == pytest.approx(0.0, abs=1e-9)  # the even-odd hole in the middle


def test_open_subpath_is_closed_for_filling():
    # Three sides of a square, left open: filling closes it like SVG does.
    corners = np.array([[40.3, 40.6], [200.2, 40.6], [200.2, 200.9], [40.3, 200.9]])
    clip = Clipart((Shape((SubPath(polygon_points(corners, closed=False), False),), Fill((0, 0, 0)), None),))
    alpha = render_alpha(clip, SIZE)
    reference = reference_polygon_alpha(corners * SCALE, SIZE)
    assert np.abs(alpha - reference).max() < 1e-9


def test_stroke_matches_supersampled_reference():
    wave = np.array(
        [[30.3, 150.2], [70.0, 40.0], [110.0, 250.0], [150.1, 130.4], [180.0, 60.0], [220.0, 90.0], [235.2, 200.7]]
    )
    distances = centre_line_distances(wave, SIZE, SCALE, reach_px=30.0 * SCALE / 2)
    for width_canvas, least_iou in ((14.0, 0.995), (30.0, 0.997), (6.0, 0.99)):
        stroke = Stroke((0.0, 0.0, 1.0), width_canvas, linecap="round", linejoin="round")
        alpha = render_alpha(clip_of(Shape((SubPath(wave, False),), None, stroke)), SIZE)
        reference = reference_stroke_alpha(distances, width_canvas * SCALE)
        assert soft_iou(alpha, reference) >= least_iou, width_canvas
        assert np.abs(alpha - reference).max() < 0.1, width_canvas  # worst at the round caps


def test_thin_stroke_coverage_is_its_width():
    # A horizontal hairline 0.5 px wide, far from its ends: each pixel on it is half covered.
    line = polygon_points([[20.0, 128.0 + 2.0], [236.0, 128.0 + 2.0]], closed=False)
    shape = Shape((SubPath(line, False),), None, Stroke((0, 0, 0), 0.5 / SCALE))
    alpha = render_alpha(clip_of(shape), SIZE)
    row = alpha[int((128 + 2) * SCALE)]
    assert np.allclose(row[10:54], 0.5, atol=1e-6)
    assert alpha.sum() == pytest.approx(0.5 * (236 - 20) * SCALE, rel=0.02)


def test_colours_composite_over_like_svg():
    # Opaque red square under a half-transparent blue one: (0.5, 0, 0.5) where they overlap.
    red = fill_shape(polygon_points([[0, 0], [128, 0], [128, 128], [0, 128]]), rgb=(1.0, 0.0, 0.0))
    blue = fill_shape(polygon_points([[64, 64], [192, 64], [192, 192], [64, 192]]), rgb=(0.0, 0.0, 1.0), opacity=0.5)
    clip = clip_of(red, blue)
    for background, outside_blue in (("white", (0.5, 0.5, 1.0)), ("transparent", (0.0, 0.0, 0.5))):
        renderer = TorchVectorRenderer(clip, TrainRenderConfig(size=32, background=background))
        image = renderer.render(torch.tensor(clip.control_points(), dtype=torch.float32)[None])[0]
        assert image.shape == (4, 32, 32)
        assert torch.allclose(image[:, 12, 12], torch.tensor([0.5, 0.0, 0.5, 1.0]), atol=1e-5)
        assert torch.allclose(image[:, 20, 20], torch.tensor([*outside_blue, 0.5]), atol=1e-5)
        assert torch.allclose(image[:, 4, 4], torch.tensor([1.0, 0.0, 0.0, 1.0]), atol=1e-5)
        empty = 1.0 if background == "white" else 0.0
        assert torch.allclose(image[:, 28, 4], torch.tensor([empty, empty, empty, 0.0]), atol=1e-6)


# -- gradients --------------------------------------------------------------------------------------


def overlapping_scene() -> Clipart:
    """Two translucent overlapping fills (one even-odd ring) and a stroked open curve."""
    disc = fill_shape(circle_points(110.3, 120.6, 70.2), rgb=(0.9, 0.2, 0.1), opacity=0.7)
    star = fill_shape(polygon_points(star_vertices(150.7, 135.2, 80.3, 35.1)), rgb=(0.1, 0.3, 0.8), opacity=0.6)
    ring = fill_shape(
        circle_points(120.4, 140.3, 50.3), circle_points(121.1, 139.6, 25.7), rgb=(0.2, 0.7, 0.3), opacity=0.8, rule="evenodd"
    )
    curve = np.array([[40.3, 200.4], [90.2, 150.7], [160.6, 240.1], [215.3, 60.2]])
    stroke = Shape((SubPath(curve, False),), None, Stroke((0.1, 0.1, 0.1), 17.3, opacity=0.9))
    return clip_of(disc, star, ring, stroke)


def test_gradcheck_points_colours_and_widths_float64():
    clip = overlapping_scene()
    renderer = TorchVectorRenderer(clip, TrainRenderConfig(size=24), dtype=torch.float64)
    base = torch.from_numpy(clip.control_points())
    points = torch.stack([base, base + torch.tensor([3.1, -2.3]) + 0.5 * torch.randn(base.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)])
    fill = renderer.default_fill_rgba.clone()
    stroke = renderer.default_stroke_rgba.clone()
    width = renderer.default_stroke_width.clone()
    inputs = tuple(t.clone().requires_grad_() for t in (points, fill, stroke, width))
    assert torch.autograd.gradcheck(renderer.render, inputs, eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=True)
    # The check must not be vacuous: every kind of input moves the image.
    image = renderer.render(*inputs)
    grads = torch.autograd.grad((image * torch.rand_like(image)).sum(), inputs)
    for grad in grads:
        assert grad.abs().sum() > 0


def test_float32_gradient_matches_central_differences():
    clip = overlapping_scene()
    size = 64
    renderer32 = TorchVectorRenderer(clip, TrainRenderConfig(size=size), dtype=torch.float32)
    renderer64 = TorchVectorRenderer(clip, TrainRenderConfig(size=size), dtype=torch.float64)
    weights = torch.rand(1, 4, size, size, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    points = torch.from_numpy(clip.control_points())[None]

    def loss64(p: torch.Tensor) -> float:
        return float((renderer64.render(p) * weights).sum())

    p32 = points.float().requires_grad_()
    (renderer32.render(p32) * weights.float()).sum().backward()
    # Directional derivatives along random directions (each a central difference in float64)
    # and along each coordinate of the first three control points.
    generator = torch.Generator().manual_seed(3)
    directions = [torch.randn(points.shape, generator=generator, dtype=torch.float64) for _ in range(8)]
    for i in range(6):
        unit = torch.zeros_like(points)
        unit.view(-1)[i] = 1.0
        directions.append(unit)
    step = 1e-3
    autograd = torch.stack([(p32.grad.double() * v).sum() for v in directions])
    numeric = torch.tensor([(loss64(points + step * v) - loss64(points - step * v)) / (2 * step) for v in directions])
    relative = float((autograd - numeric).norm() / numeric.norm())
    assert relative < 0.03
    assert numeric.abs().max() > 0.1  # a real signal, not two zeros agreeing


def test_pushing_star_vertices_outward_grows_coverage():
    vertices = star_vertices(128.3, 127.9, 100.0, 40.0)
    clip = clip_of(fill_shape(polygon_points(vertices)))
    renderer = TorchVectorRenderer(clip, TrainRenderConfig(size=64))
    points = torch.tensor(clip.control_points(), dtype=torch.float32)[None].requires_grad_()
    area = renderer.render(points)[:, 3].sum()
    area.backward()
    outward = points.detach()[0] - torch.tensor([128.3, 127.9])
    outward = outward / outward.norm(dim=1, keepdim=True)
    assert float((points.grad[0] * outward).sum()) > 0
    # Every vertex on its own pulls outward (only the vertices' own points, not the 1/3 handles).
    vertex_rows = torch.arange(0, len(points[0]) - 1, 3)
    assert bool(((points.grad[0, vertex_rows] * outward[vertex_rows]).sum(1) > 0).all())
    with torch.no_grad():
        moved = renderer.render(points + 2.0 * outward)[:, 3].sum()
    assert float(moved) > float(area.detach()) + 1.0


# -- batching, interface ------------------------------------------------------------------------------


def test_batched_frames_equal_single_renders():
    clip = overlapping_scene()
    renderer = TorchVectorRenderer(clip, TrainRenderConfig(size=48))
    base = torch.tensor(clip.control_points(), dtype=torch.float32)
    generator = torch.Generator().manual_seed(2)
    frames = torch.stack([base + 4.0 * torch.randn(base.shape, generator=generator) for _ in range(3)])
    batched = renderer.render(frames)
    singles = torch.cat([renderer.render(frames[i : i + 1]) for i in range(3)])
    # Chord counts are the max over the batch, so curves are flattened slightly differently
    # (chords ≤ 1 px either way); straight edges and everything else agree to rounding.
    assert (batched - singles).abs().max() < 0.01
    assert (batched - singles).abs().mean() < 1e-4
    assert (batched[0] - batched[1]).abs().max() > 0.5  # the frames really differ


def test_registry_config_and_errors():
    assert TRAINING_RENDERERS.get("torch") is TorchVectorRenderer
    # diffvg's backend is offered exactly where it imports (never on these machines).
    import importlib.util

    assert ("pydiffvg" in TRAINING_RENDERERS) == (importlib.util.find_spec("pydiffvg") is not None)
    with pytest.raises(ConfigError):
        TrainRenderConfig(max_chord_px=1.5)
    with pytest.raises(ConfigError):
        TrainRenderConfig(background="black")
    with pytest.raises(ConfigError):
        TrainRenderConfig(size=0)
    clip = overlapping_scene()
    renderer = TorchVectorRenderer(clip)
    with pytest.raises(RenderError, match="test"):
        renderer.render(torch.zeros(1, clip.point_count + 1, 2))
    bad = torch.tensor(clip.control_points(), dtype=torch.float32)[None].clone()
    bad[0, 3, 0] = float("nan")
    with pytest.raises(RenderError, match="non-finite"):
        renderer.render(bad)


def test_shapes_outside_the_canvas_and_empty_clips_render():
    clip = clip_of(fill_shape(circle_points(-300.0, 50.0, 40.0)), fill_shape(circle_points(128.0, 128.0, 40.0)))
    renderer = TorchVectorRenderer(clip, TrainRenderConfig(size=32))
    points = torch.tensor(clip.control_points(), dtype=torch.float32)[None].requires_grad_()
    image = renderer.render(points)
    assert float(image.detach()[0, 3].sum()) == pytest.approx(math.pi * 5.0**2, rel=0.01)
    image.sum().backward()
    assert torch.isfinite(points.grad).all()
    empty = TorchVectorRenderer(Clipart(()), TrainRenderConfig(size=16))
    blank = empty.render(torch.zeros(2, 0, 2))
    assert blank.shape == (2, 4, 16, 16)
    assert torch.equal(blank[:, :3], torch.ones(2, 3, 16, 16))


# -- against the final (cairo) renderer on real clipart ---------------------------------------------


def layer_coverage_reference(clip: Clipart, size: int = 256, supersample: int = 8) -> np.ndarray:
    """Alpha [size, size] of the final renderer with exact coverage: cairo draws every layer (a
    shape's fill, then its stroke) alone at ``supersample``² samples per pixel inside the layer's
    box, the samples are box-averaged, and the layers are composited with "over" at ``size``².

    Cairo's own ``size``² image samples only 15 sub-rows per pixel, which is up to 1/30 off on
    near-horizontal edges and adds up on line art; compositing per pixel keeps the conflation of
    abutting layers that any ``size``² renderer has (render.md) — so this is the image the
    training renderer should reproduce.
    """
    import dataclasses

    import cairocffi as cairo

    from flexiclip_core.final_render import _append_shape_path, _paint_shape

    pose = clip.control_points()
    alpha = np.zeros((size, size))
    scale = size / clip.canvas_size
    offset = 0
    for shape in clip.shapes:
        count = sum(len(subpath.points) for subpath in shape.subpaths)
        layers = []
        if shape.fill is not None and shape.fill.opacity > 0:
            black = dataclasses.replace(shape.fill, rgb=(0.0, 0.0, 0.0), opacity=1.0)
            layers.append((dataclasses.replace(shape, fill=black, stroke=None), shape.fill.opacity, 0.0))
        stroke = shape.stroke
        if stroke is not None and stroke.width > 0 and stroke.opacity > 0:
            black = dataclasses.replace(stroke, rgb=(0.0, 0.0, 0.0), opacity=1.0)
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


@pytest.mark.parametrize("linecap", ["butt", "square", "round"])
@pytest.mark.parametrize("width", [0.6, 3.0, 12.0])
def test_stroke_caps_match_the_final_renderer(linecap, width):
    """Open polylines (a sharp bend, a near-horizontal dash) with each SVG cap, against exact
    coverage from cairo. Butt and square ends differ from round ones by (1 − π/4)·w² per end."""
    bend = polygon_points([[40.2, 40.7], [180.3, 90.1], [120.6, 200.2]], closed=False)
    dash = polygon_points([[30.4, 226.3], [70.2, 227.6]], closed=False)
    stroke = Stroke((0.0, 0.0, 0.0), width, linecap=linecap, linejoin="round")
    clip = clip_of(Shape((SubPath(bend, False),), None, stroke), Shape((SubPath(dash, False),), None, stroke))
    alpha = render_alpha(clip, 256)
    reference = layer_coverage_reference(clip)
    assert soft_iou(alpha, reference) >= (0.99 if width < 1.0 else 0.995), (linecap, width)
    # The ends are drawn, not just the bands: the covered area matches cairo's to 0.1% (butt,
    # square) — a butt or square end differs from a round one by (1 − π/4)·w²/4. Round ends
    # take the box filter across the chord, not radially: slightly over-covered on thin lines.
    assert alpha.sum() == pytest.approx(reference.sum(), rel=1e-3 if linecap != "round" else 5e-3)


@pytest.mark.parametrize("width", [1.5, 6.0, 14.0])
def test_miter_joins_match_the_final_renderer(width):
    """Corners of 45°–135° turns on an open zigzag and all corners of a closed star outline (the
    closing corner included), with miter joins, against exact coverage from cairo: the miter
    tips are drawn (a round join misses (1 − π/4)·w²/4 at a right angle, more on sharp ones)."""
    zigzag = polygon_points([[30.2, 60.3], [90.4, 30.1], [120.7, 110.2], [200.3, 70.6], [150.1, 20.4]], closed=False)
    star = polygon_points(star_vertices(128.3, 180.6, 60.2, 38.4, tips=5))
    clip = clip_of(
        Shape((SubPath(zigzag, False),), None, Stroke((0.0, 0.0, 0.0), width, linejoin="miter", miter_limit=4.0)),
        Shape((SubPath(star, True),), None, Stroke((0.0, 0.0, 0.0), width, linejoin="miter", miter_limit=4.0)),
    )
    alpha = render_alpha(clip, 256)
    reference = layer_coverage_reference(clip)
    assert soft_iou(alpha, reference) >= 0.995, width
    assert alpha.sum() == pytest.approx(reference.sum(), rel=2e-3)
    rounded = render_alpha(clip_of(*(replace_join(shape, "round") for shape in clip.shapes)), 256)
    assert alpha.sum() > rounded.sum() + 0.05 * width**2  # the tips are really there


def test_miters_beyond_the_limit_stay_round_and_gradients_are_exact():
    # A 90° corner at (200, 100) is mitered; the hairpin at (200, 200), a turn of 160° (miter
    # ratio 1 / cos 80° = 5.8 > 4), is not (SVG bevels it; we leave it round, a known limit).
    back = 60.0 * np.array([-math.sin(math.radians(20.0)), -math.cos(math.radians(20.0))])
    path = polygon_points([[40.0, 100.0], [200.0, 100.0], [200.0, 200.0], [200.0 + back[0], 200.0 + back[1]]], closed=False)
    mitered = Shape((SubPath(path, False),), None, Stroke((0.1, 0.2, 0.3), 19.7, 0.8, linejoin="miter"))
    clip = clip_of(mitered)
    rounded = render_alpha(clip_of(replace_join(mitered, "round")), 256)
    alpha = render_alpha(clip, 256)
    extra = alpha - rounded
    assert extra.min() >= -1e-6
    assert extra[175:].sum() < 1e-3  # nothing added at the hairpin
    # The 90° corner gains the miter square less the quarter disc (our round join is a little
    # generous there, so the gain comes out a few percent short).
    assert extra.sum() == pytest.approx(0.8 * (1.0 - math.pi / 4.0) * (19.7 / 2.0) ** 2, rel=0.1)
    renderer = TorchVectorRenderer(clip, TrainRenderConfig(size=20), dtype=torch.float64)
    points = torch.from_numpy(clip.control_points())[None].requires_grad_()
    width = renderer.default_stroke_width.clone().requires_grad_()
    render = lambda p, w: renderer.render(p, stroke_width=w)  # noqa: E731
    assert torch.autograd.gradcheck(render, (points, width), eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=True)


def replace_join(shape: Shape, linejoin: str) -> Shape:
    import dataclasses

    return dataclasses.replace(shape, stroke=dataclasses.replace(shape.stroke, linejoin=linejoin))


def test_square_and_butt_caps_gradcheck_float64():
    curve = np.array([[40.3, 200.4], [90.2, 150.7], [160.6, 240.1], [215.3, 60.2]])
    shapes = [
        Shape((SubPath(curve + [0.0, offset], False),), None, Stroke((0.1, 0.2, 0.3), 21.3, 0.9, linecap=cap))
        for offset, cap in ((-30.0, "square"), (25.0, "butt"))
    ]
    clip = clip_of(*shapes)
    renderer = TorchVectorRenderer(clip, TrainRenderConfig(size=20), dtype=torch.float64)
    points = torch.from_numpy(clip.control_points())[None].requires_grad_()
    width = renderer.default_stroke_width.clone().requires_grad_()
    render = lambda p, w: renderer.render(p, stroke_width=w)  # noqa: E731
    assert torch.autograd.gradcheck(render, (points, width), eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=True)


def _compare_with_final_renderer(clip: Clipart) -> tuple[float, float, float]:
    """(soft IoU of alpha, PSNR dB of the colour over white) against final_render at 256², and
    the soft IoU of alpha against `layer_coverage_reference`."""
    from flexiclip_core.final_render import render_clipart

    renderer = TorchVectorRenderer(clip, TrainRenderConfig(size=256, background="white"))
    with torch.no_grad():
        image = renderer.render(torch.tensor(clip.control_points(), dtype=torch.float32)[None])[0]
    ours = image.permute(1, 2, 0).numpy().astype(np.float64)
    reference = render_clipart(clip, 256, background="transparent").astype(np.float64) / 255.0
    alpha = reference[..., 3:]
    reference_rgb = reference[..., :3] * alpha + (1.0 - alpha)
    mse = float(((ours[..., :3] - reference_rgb) ** 2).mean())
    psnr = 10.0 * math.log10(1.0 / max(mse, 1e-12))
    return soft_iou(ours[..., 3], reference[..., 3]), psnr, soft_iou(ours[..., 3], layer_coverage_reference(clip))


def test_sample_clipart_matches_final_renderer(samples_dir):
    from flexiclip_core.svg import parse_svg

    paths = sorted(samples_dir.glob("*.svg"))
    assert paths, "catalogs/samples has no SVGs"
    for path in paths:
        iou, psnr, exact_iou = _compare_with_final_renderer(parse_svg(path))
        assert iou >= 0.99, path.name
        assert exact_iou >= 0.995, path.name
        assert psnr >= 30.0, path.name


@pytest.mark.slow
def test_openclipart_people_and_animals_match_final_renderer(corpus_people_animals):
    """Every corpus file that parses. Soft IoU (Σmin/Σmax of alpha, stricter than thresholded IoU).

    Per file, against the final renderer with exact per-layer coverage
    (`layer_coverage_reference`), the training renderer must reach 0.99. What remains below is
    named in render.py: thin strokes folding inside one pixel (max, not union), miter joins
    drawn round. Against cairo's plain 256² image the bar is a distribution: on line art that
    image is itself up to 5% (IoU) from exact coverage (15 sub-rows per pixel).
    """
    from flexiclip_core.errors import SvgParseError
    from flexiclip_core.svg import parse_svg

    plain, exact = {}, {}
    for path in corpus_people_animals:
        try:
            clip = parse_svg(path)
        except SvgParseError:
            continue
        name = str(path.relative_to(path.parents[1]))
        plain[name], _, exact[name] = _compare_with_final_renderer(clip)
    for scores, median, share, least in ((exact, 0.999, 0.99, 0.97), (plain, 0.998, 0.94, 0.92)):
        ious = np.array(list(scores.values()))
        assert len(ious) >= 500
        worst = sorted(scores.items(), key=lambda item: item[1])[:5]
        assert np.median(ious) >= median, worst
        assert (ious >= 0.99).mean() >= share, worst
        assert ious.min() >= least, worst


def test_degenerate_segments_give_finite_gradients():
    """A zero-length segment (a path that returns to its start before Z) must not turn the stroke
    band's unused branches into NaN gradients."""
    square = np.array(
        [[60, 60], [80, 60], [100, 60], [120, 60], [120, 90], [120, 120], [120, 120],
         [60, 120], [60, 120], [60, 120], [60, 60], [60, 60], [60, 60]],
        dtype=np.float64,
    )
    degenerate = np.concatenate([square, np.repeat(square[-1:], 3, axis=0)])  # one zero-length cubic
    shapes = (
        Shape((SubPath(degenerate, True),), None, Stroke((0.1, 0.2, 0.8), 4.0, linecap="round")),
        Shape((SubPath(degenerate.copy(), True),), Fill((0.9, 0.3, 0.1)), None),
    )
    clipart = Clipart(shapes)
    points = torch.tensor(clipart.control_points(), dtype=torch.float32, requires_grad=True)
    image = TorchVectorRenderer(clipart, TrainRenderConfig(size=64)).render(points[None])
    (image * torch.linspace(0, 1, 64)).sum().backward()
    assert torch.isfinite(points.grad).all()
    assert points.grad.abs().sum() > 0
