"""Known answers for the renderers: coverage (docs/render.md §4), anti-aliasing weights
(docs/render.md §5) and compositing (docs/render.md §6) worked by hand at interior pixels, and a
linear gradient's colour mid-ramp (docs/render.md §11).

Every scene is drawn on the 256² canvas at size 256 (one canvas px = one output px), so a
pixel (row r, column c) is the square [c, c + 1] × [r, r + 1] with its centre at
(c + ½, r + ½).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from flexiclip_core.clipart import Fill, GradientStop, LinearGradient, Shape, Stroke, SubPath
from flexiclip_core.render import TorchVectorRenderer, TrainRenderConfig
from flexiclip_core.render.final import render_clipart_float
from tests.flexiclip_core.render.scenes import circle_points, clip_of, fill_shape, polygon_points


def _alpha(clip, background: str = "transparent") -> torch.Tensor:
    """[4, 256, 256] training-renderer image of ``clip`` at rest."""
    renderer = TorchVectorRenderer(clip, TrainRenderConfig(size=256, background=background))
    return renderer.render(torch.tensor(clip.control_points(), dtype=torch.float32)[None])[0]


def _stroke_shape(points: np.ndarray, width: float, linecap: str = "butt") -> Shape:
    return Shape(
        (SubPath(np.asarray(points, dtype=np.float64), False),),
        None,
        Stroke((0.0, 0.0, 0.0), width, linecap=linecap),  # type: ignore[arg-type]
    )


def test_half_plane_edge_and_triangle_diagonal_cover_their_pixel_areas():
    # Rectangle x ∈ [10.25, 200], y ∈ [8, 100]: column 10 is ¾ inside, 9 outside, 11 inside.
    rectangle = fill_shape(polygon_points([[10.25, 8], [200, 8], [200, 100], [10.25, 100]]), rgb=(0, 0, 0))
    # Triangle under x + y = 360 (legs from (120, 120)): the hypotenuse cuts pixel (r, c) with
    # c + r = 359 through its centre (half covered) and passes through a corner of c + r = 358.
    triangle = fill_shape(polygon_points([[120, 120], [120, 240], [240, 120]]), rgb=(0, 0, 0))
    alpha = _alpha(clip_of(rectangle, triangle))[3]
    assert alpha[50, 10].item() == pytest.approx(0.75, abs=1e-4)
    assert alpha[50, 9].item() == pytest.approx(0.0, abs=1e-6)
    assert alpha[50, 11].item() == pytest.approx(1.0, abs=1e-6)
    assert alpha[7, 50].item() == pytest.approx(0.0, abs=1e-6)
    assert alpha[8, 50].item() == pytest.approx(1.0, abs=1e-6)
    assert alpha[100, 50].item() == pytest.approx(0.0, abs=1e-6)  # row 100 is [100, 101]: outside
    assert alpha[130, 359 - 130].item() == pytest.approx(0.5, abs=1e-4)
    assert alpha[130, 358 - 130].item() == pytest.approx(1.0, abs=1e-4)
    assert alpha[130, 360 - 130].item() == pytest.approx(0.0, abs=1e-4)
    assert alpha[130, 119].item() == pytest.approx(0.0, abs=1e-6)


def test_circle_covers_pi_r_squared():
    # 4-cubic circle of radius 40: its area is π r² to 0.05% (the cubic's radial error is 2.7e-4 r).
    alpha = _alpha(clip_of(fill_shape(circle_points(128.0, 128.0, 40.0), rgb=(0, 0, 0))))[3]
    assert alpha.sum().item() == pytest.approx(math.pi * 40.0**2, rel=1e-3)
    assert alpha[128, 128].item() == pytest.approx(1.0, abs=1e-6)
    assert alpha[128, 170].item() == pytest.approx(0.0, abs=1e-6)


def test_fill_rules_map_a_fractional_winding_number():
    # Two squares wound the same way, the inner one's left edge at x = 100.5: column 100 has
    # box-filtered winding 1 + ½ = 1.5 there; nonzero → min(1, 1.5) = 1, even-odd → 1 − |1.5 mod 2 − 1| = ½.
    outer = polygon_points([[40, 40], [216, 40], [216, 216], [40, 216]])
    inner = polygon_points([[100.5, 100], [180, 100], [180, 180], [100.5, 180]])
    for rule, edge, hole in (("nonzero", 1.0, 1.0), ("evenodd", 0.5, 0.0)):
        alpha = _alpha(clip_of(fill_shape(outer, inner, rgb=(0, 0, 0), rule=rule)))[3]
        assert alpha[140, 100].item() == pytest.approx(edge, abs=1e-4), rule
        assert alpha[140, 140].item() == pytest.approx(hole, abs=1e-5), rule
        assert alpha[140, 60].item() == pytest.approx(1.0, abs=1e-5), rule
        # Wound the other way, the same rings have winding −1.5 and −2: the same coverage.
        reverse = _alpha(clip_of(fill_shape(outer[::-1].copy(), inner[::-1].copy(), rgb=(0, 0, 0), rule=rule)))[3]
        torch.testing.assert_close(reverse, alpha, atol=1e-4, rtol=0)


def test_two_translucent_layers_composite_by_hand():
    # Red at opacity ½ under blue at opacity ¼, and red's right edge at x = 150.75 (¾ of column 150).
    red = fill_shape(polygon_points([[20, 20], [150.75, 20], [150.75, 200], [20, 200]]), rgb=(1, 0, 0), opacity=0.5)
    blue = fill_shape(polygon_points([[100, 100], [230, 100], [230, 230], [100, 230]]), rgb=(0, 0, 1), opacity=0.25)
    clip = clip_of(red, blue)
    transparent = _alpha(clip)
    # Overlap: α = ½ + ¼(1 − ½) = 0.625; premultiplied red ½(1 − ¼) = 0.375, blue ¼.
    assert transparent[:, 120, 120].tolist() == pytest.approx([0.375, 0.0, 0.25, 0.625], abs=1e-5)
    # Red edge pixel inside blue: red α = ¾·½ = 0.375 → α = 0.375 + ¼·0.625 = 0.53125.
    assert transparent[:, 120, 150].tolist() == pytest.approx([0.28125, 0.0, 0.25, 0.53125], abs=1e-4)
    white = _alpha(clip, background="white")
    # Over white: r = 0.375 + (1 − 0.625) = 0.75, g = 0.375, b = 0.25 + 0.375 = 0.625.
    assert white[:, 120, 120].tolist() == pytest.approx([0.75, 0.375, 0.625, 0.625], abs=1e-5)
    # Red alone (α ½) over white: (1, ½, ½).
    assert white[:, 50, 50].tolist() == pytest.approx([1.0, 0.5, 0.5, 0.5], abs=1e-5)


def test_stroke_antialiasing_weights_at_known_distances():
    # Horizontal butt-capped stroke on y = 50.25: width 1 covers [49.75, 50.75] → row 50 ¾, row 49 ¼;
    # width 3 covers [48.75, 51.75] → rows 48 … 51: ¼, 1, 1, ¾.
    thin = _stroke_shape(polygon_points([[20, 50.25], [200, 50.25]], closed=False), 1.0)
    wide = _stroke_shape(polygon_points([[20, 150.25], [200, 150.25]], closed=False), 3.0)
    # A 45° stroke of width 1 through pixel centres (x = y): a pixel on the line keeps all but
    # two corner triangles of legs 1 − ½√2 (area 1 − (1 − ½√2)² = 0.91421); the pixel right of
    # it (centre at distance ½√2) keeps one triangle of legs 1 − (1 − ½√2)·… = ¼ exactly.
    diagonal = _stroke_shape(polygon_points([[10.5, 190.5], [60.5, 240.5]], closed=False), 1.0)
    alpha = _alpha(clip_of(thin, wide, diagonal))[3]
    assert alpha[50, 100].item() == pytest.approx(0.75, abs=1e-4)
    assert alpha[49, 100].item() == pytest.approx(0.25, abs=1e-4)
    assert alpha[51, 100].item() == pytest.approx(0.0, abs=1e-6)
    assert [alpha[row, 100].item() for row in range(147, 153)] == pytest.approx([0, 0.25, 1, 1, 0.75, 0], abs=1e-4)
    on_line = 1.0 - (1.0 - math.sqrt(0.5)) ** 2
    assert alpha[210, 30].item() == pytest.approx(on_line, abs=1e-4)  # centre (30.5, 210.5): on x − y = −180
    assert alpha[210, 31].item() == pytest.approx(0.25, abs=1e-4)
    # Butt cap: the stroke stops at x = 20, so column 19 is empty and column 20 full.
    assert alpha[50, 19].item() == pytest.approx(0.0, abs=1e-6)
    assert alpha[150, 20].item() == pytest.approx(1.0, abs=1e-4)


def test_final_renderer_linear_gradient_colour_mid_ramp():
    # Black → white from x = 32 to x = 224 (gradient space e1 = 192 px): at column 127 (centre
    # 127.5) t = 95.5 / 192, and the straight colours interpolate linearly in sRGB.
    gradient = LinearGradient(
        stops=(GradientStop(0.0, (0.0, 0.0, 0.0), 1.0), GradientStop(1.0, (1.0, 1.0, 1.0), 1.0)),
        frame=np.array([[32.0, 0.0], [224.0, 0.0], [32.0, 192.0]]),
        opacity=1.0,
    )
    square = polygon_points([[16, 16], [240, 16], [240, 240], [16, 240]])
    shape = Shape((SubPath(square, True),), Fill((0.5, 0.5, 0.5), gradient=gradient), None)
    image = render_clipart_float(clip_of(shape), 256)
    for column, expected in ((127, 95.5 / 192.0), (80, 48.5 / 192.0), (20, 0.0), (236, 1.0)):
        assert image[100, column, :3].tolist() == pytest.approx([expected] * 3, abs=2.5 / 255), column
    # Down the isoline of t the colour does not change.
    assert image[30, 127, :3].tolist() == pytest.approx(image[200, 127, :3].tolist(), abs=1e-6)


def _gradient_square(frame: list[list[float]]) -> np.ndarray:
    """[256, 256, 4] final render of a square over [16, 240]² filled black → white by a linear
    gradient from gradient-space (0, 0) to (1, 0), placed by ``frame`` (origin, e1, e2)."""
    gradient = LinearGradient(
        stops=(GradientStop(0.0, (0.0, 0.0, 0.0), 1.0), GradientStop(1.0, (1.0, 1.0, 1.0), 1.0)),
        frame=np.array(frame, dtype=np.float64),
        opacity=1.0,
    )
    square = polygon_points([[16, 16], [240, 16], [240, 240], [16, 240]])
    return render_clipart_float(
        clip_of(Shape((SubPath(square, True),), Fill((0.5, 0.5, 0.5), gradient=gradient), None)), 256
    )


def test_final_renderer_rotated_and_skewed_gradient_frames():
    # A frame with off-diagonal terms: a transposed gradient matrix draws these differently (the
    # axis-aligned frame above is its own transpose). Canvas p = O + gx·a + gy·b, t = gx.
    # Rotated: O = (64, 32), a = (128, 64), b = (−64, 128) (a ⟂ b, |a|² = 20480), so
    # t = (a · d) / |a|² = (2 dx + dy) / 320 with d = p − O; transposed it would be (2 dx − dy) / 320.
    rotated = _gradient_square([[64.0, 32.0], [192.0, 96.0], [0.0, 160.0]])
    # Pixel (row 99, column 127), centre (127.5, 99.5): d = (63.5, 67.5), t = 194.5 / 320.
    # Pixel (row 150, column 60), centre (60.5, 150.5): d = (−3.5, 118.5), t = 111.5 / 320.
    for (row, column), expected in (((99, 127), 194.5 / 320), ((150, 60), 111.5 / 320)):
        assert rotated[row, column, :3].tolist() == pytest.approx([expected] * 3, abs=2.5 / 255), (row, column)
    # Along b (perpendicular to a) t does not change: (127.5, 99.5) + (−20, 40) is on the same isoline.
    assert rotated[139, 107, :3].tolist() == pytest.approx(rotated[99, 127, :3].tolist(), abs=1e-6)

    # Skewed: O = (32, 32), a = (128, 64), b = (0, 128). t = det(d, b) / det(a, b) = dx / 128: the
    # isolines are vertical (parallel to b, "perpendicular" in gradient space only), although the
    # gradient vector a points down-right; transposed, t = dx / 128 − dy / 256.
    skewed = _gradient_square([[32.0, 32.0], [160.0, 96.0], [32.0, 160.0]])
    # Column 95 (centre 95.5): t = 63.5 / 128 on every row; column 127 (127.5): t = 95.5 / 128.
    for row in (40, 120, 200):
        assert skewed[row, 95, :3].tolist() == pytest.approx([63.5 / 128] * 3, abs=2.5 / 255), row
        assert skewed[row, 127, :3].tolist() == pytest.approx([95.5 / 128] * 3, abs=2.5 / 255), row
