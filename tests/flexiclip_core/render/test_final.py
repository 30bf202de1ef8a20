"""Tests of the exact cairo final renderer on hand-made shapes."""

from __future__ import annotations

import numpy as np
import pytest

from flexiclip_core.clipart import Clipart, Fill, Shape, Stroke, SubPath
from flexiclip_core.errors import ConfigError, RenderError
from flexiclip_core.render.final import (
    FINAL_RENDERERS,
    render_clipart,
    render_clipart_float,
    render_frames,
)


def polygon_subpath(corners: list[tuple[float, float]], closed: bool = True) -> SubPath:
    """A subpath of straight cubic segments through ``corners`` (closed: back to the first)."""
    corners_array = np.asarray(corners, dtype=np.float64)
    if closed:
        corners_array = np.vstack([corners_array, corners_array[:1]])
    points = [corners_array[0]]
    for start, end in zip(corners_array[:-1], corners_array[1:]):
        points += [start + (end - start) / 3, start + 2 * (end - start) / 3, end]
    return SubPath(np.asarray(points), closed)


def rect_subpath(x0: float, y0: float, x1: float, y1: float, clockwise: bool = True) -> SubPath:
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    return polygon_subpath(corners if clockwise else corners[::-1])


def black_fill(rule: str = "nonzero", opacity: float = 1.0) -> Fill:
    return Fill((0.0, 0.0, 0.0), opacity, rule)  # type: ignore[arg-type]


def coverage(image: np.ndarray) -> float:
    """Summed alpha of a transparent-background render, in pixels."""
    return float(image[..., 3].astype(np.float64).sum() / 255.0)


def test_square_coverage_is_its_area() -> None:
    # Non-integer edges so anti-aliasing matters.
    x0, y0, x1, y1 = 30.3, 40.7, 130.6, 110.2
    clipart = Clipart((Shape((rect_subpath(x0, y0, x1, y1),), black_fill(), None),))
    image = render_clipart(clipart, 256, background="transparent")
    area = (x1 - x0) * (y1 - y0)
    assert image.shape == (256, 256, 4) and image.dtype == np.uint8
    assert coverage(image) == pytest.approx(area, rel=0.005)
    assert image[75, 80, 3] == 255 and image[10, 10, 3] == 0
    # An edge pixel is partially covered: column 30 is covered over [30.3, 31).
    assert 150 < image[75, 30, 3] < 200


def test_evenodd_ring_has_hole_and_nonzero_does_not() -> None:
    # Both contours wound the same way: nonzero fills the inner square, even-odd leaves a hole.
    ring = (rect_subpath(20, 20, 200, 200), rect_subpath(80, 80, 140, 140))
    evenodd = render_clipart(Clipart((Shape(ring, black_fill("evenodd"), None),)), background="transparent")
    nonzero = render_clipart(Clipart((Shape(ring, black_fill("nonzero"), None),)), background="transparent")
    assert evenodd[110, 110, 3] == 0 and nonzero[110, 110, 3] == 255
    assert evenodd[50, 50, 3] == 255 and nonzero[50, 50, 3] == 255
    assert coverage(evenodd) == pytest.approx(180**2 - 60**2, rel=0.005)
    assert coverage(nonzero) == pytest.approx(180**2, rel=0.005)
    # Opposite winding makes a hole under nonzero too.
    reversed_ring = (rect_subpath(20, 20, 200, 200), rect_subpath(80, 80, 140, 140, clockwise=False))
    nonzero_reversed = render_clipart(
        Clipart((Shape(reversed_ring, black_fill("nonzero"), None),)), background="transparent"
    )
    assert nonzero_reversed[110, 110, 3] == 0


@pytest.mark.parametrize("width", [2.0, 6.0, 12.5])
def test_stroke_width_sets_covered_area(width: float) -> None:
    # An open horizontal line with butt caps covers length × width.
    line = polygon_subpath([(40.0, 128.0), (200.0, 128.0)], closed=False)
    clipart = Clipart((Shape((line,), None, Stroke((0.0, 0.0, 0.0), width)),))
    image = render_clipart(clipart, background="transparent")
    assert coverage(image) == pytest.approx(160.0 * width, rel=0.005)
    column = image[:, 120, 3].astype(np.float64) / 255.0
    assert column.sum() == pytest.approx(width, rel=0.01)


def test_stroke_caps_and_closed_outline() -> None:
    line = polygon_subpath([(40.0, 128.0), (200.0, 128.0)], closed=False)
    butt = render_clipart(
        Clipart((Shape((line,), None, Stroke((0, 0, 0), 10.0, linecap="butt")),)), background="transparent"
    )
    square = render_clipart(
        Clipart((Shape((line,), None, Stroke((0, 0, 0), 10.0, linecap="square")),)), background="transparent"
    )
    # Square caps extend each end by half the width.
    assert coverage(square) - coverage(butt) == pytest.approx(2 * 5.0 * 10.0, rel=0.01)
    # A closed square outline: stroke centred on the edge, 4·side·width (minus nothing, miter joins).
    outline = Clipart((Shape((rect_subpath(50, 50, 150, 150),), None, Stroke((0, 0, 0), 4.0)),))
    image = render_clipart(outline, background="transparent")
    assert coverage(image) == pytest.approx(104**2 - 96**2, rel=0.005)
    assert image[100, 100, 3] == 0


def test_fill_then_stroke_order() -> None:
    shape = Shape((rect_subpath(50, 50, 150, 150),), Fill((1.0, 0.0, 0.0)), Stroke((0.0, 0.0, 1.0), 10.0))
    image = render_clipart(Clipart((shape,)))
    # On the edge the stroke (painted last) wins, inside the fill shows.
    assert tuple(image[100, 50, :3]) == (0, 0, 255)
    assert tuple(image[100, 100, :3]) == (255, 0, 0)


def test_open_subpath_is_filled_as_if_closed() -> None:
    triangle_open = polygon_subpath([(20, 20), (220, 20), (20, 220)], closed=False)
    image = render_clipart(Clipart((Shape((triangle_open,), black_fill(), None),)), background="transparent")
    assert coverage(image) == pytest.approx(200 * 200 / 2, rel=0.005)


def test_opacity_composites_over_white() -> None:
    shapes = (
        Shape((rect_subpath(20, 20, 120, 120),), Fill((1.0, 0.0, 0.0), 0.5), None),
        Shape((rect_subpath(70, 70, 170, 170),), Fill((0.0, 0.0, 1.0), 0.25), None),
    )
    image = render_clipart(Clipart(shapes)).astype(np.int32)
    assert tuple(image[40, 40]) == pytest.approx((255, 128, 128, 255), abs=1)
    # Blue at 25% over (white·0.5 + red·0.5): r = 0.75·255, g = 0.75·127.5, b = 0.25·255 + 0.75·127.5.
    assert tuple(image[100, 100]) == pytest.approx((191, 96, 159, 255), abs=2)
    assert tuple(image[150, 150]) == pytest.approx((191, 191, 255, 255), abs=1)
    # Transparent background: straight colour, alpha = opacity.
    transparent = render_clipart(Clipart(shapes[:1]), background="transparent")
    assert tuple(transparent[40, 40]) == pytest.approx((255, 0, 0, 128), abs=1)
    assert tuple(transparent[200, 200]) == (0, 0, 0, 0)


def test_size_scales_the_canvas() -> None:
    clipart = Clipart((Shape((rect_subpath(32.5, 64.25, 160.75, 200.0),), black_fill(), None),))
    base = coverage(render_clipart(clipart, 256, background="transparent"))
    for size in (64, 100, 1024):
        image = render_clipart(clipart, size, background="transparent")
        assert image.shape == (size, size, 4)
        assert coverage(image) == pytest.approx(base * (size / 256) ** 2, rel=0.01)
    big = render_clipart(clipart, 1024, background="transparent")
    assert big[4 * 64 + 10, 4 * 32 + 10, 3] == 255 and big[4 * 64 - 10, 4 * 32 + 10, 3] == 0


def test_points_move_the_shape_and_frames_match_single_renders() -> None:
    clipart = Clipart((Shape((rect_subpath(20, 20, 60, 60),), black_fill(), None),))
    rest = clipart.control_points()
    moved = rest + np.array([100.0, 50.0])
    image = render_clipart(clipart, points=moved, background="transparent")
    assert image[40, 40, 3] == 0 and image[90, 140, 3] == 255
    assert coverage(image) == pytest.approx(1600, rel=0.005)
    frames = render_frames(clipart, np.stack([rest, moved]), 128, background="transparent")
    assert frames.shape == (2, 128, 128, 4)
    np.testing.assert_array_equal(frames[0], render_clipart(clipart, 128, background="transparent"))
    np.testing.assert_array_equal(frames[1], render_clipart(clipart, 128, points=moved, background="transparent"))


def test_dashes_change_coverage() -> None:
    line = polygon_subpath([(28.0, 128.0), (228.0, 128.0)], closed=False)
    solid = Stroke((0.0, 0.0, 0.0), 4.0)
    dashed = Stroke((0.0, 0.0, 0.0), 4.0, dash_array=(10.0, 10.0))
    odd = Stroke((0.0, 0.0, 0.0), 4.0, dash_array=(10.0,))  # SVG repeats it: 10 on, 10 off
    offset = Stroke((0.0, 0.0, 0.0), 4.0, dash_array=(10.0, 10.0), dash_offset=10.0)
    images = {
        name: render_clipart(Clipart((Shape((line,), None, stroke),)), background="transparent")
        for name, stroke in [("solid", solid), ("dashed", dashed), ("odd", odd), ("offset", offset)]
    }
    assert coverage(images["solid"]) == pytest.approx(800, rel=0.005)
    assert coverage(images["dashed"]) == pytest.approx(400, rel=0.01)
    np.testing.assert_array_equal(images["dashed"], images["odd"])
    assert images["dashed"][128, 33, 3] == 255 and images["dashed"][128, 43, 3] == 0
    assert images["offset"][128, 33, 3] == 0 and images["offset"][128, 43, 3] == 255


def test_curves_are_drawn_exactly() -> None:
    # A circle from 4 cubic arcs (kappa approximation, radius error < 0.03%).
    radius, cx, cy = 80.0, 128.0, 128.0
    k = 0.5522847498 * radius
    points = np.array(
        [
            (cx + radius, cy),
            (cx + radius, cy + k),
            (cx + k, cy + radius),
            (cx, cy + radius),
            (cx - k, cy + radius),
            (cx - radius, cy + k),
            (cx - radius, cy),
            (cx - radius, cy - k),
            (cx - k, cy - radius),
            (cx, cy - radius),
            (cx + k, cy - radius),
            (cx + radius, cy - k),
            (cx + radius, cy),
        ]
    )
    clipart = Clipart((Shape((SubPath(points, True),), black_fill(), None),))
    image = render_clipart_float(clipart, background="transparent")
    assert image.dtype == np.float32
    assert float(image[..., 3].sum()) == pytest.approx(np.pi * radius**2, rel=0.002)


def test_registry_and_errors() -> None:
    assert "cairo" in FINAL_RENDERERS.names()
    clipart = Clipart(
        (Shape((rect_subpath(20, 20, 60, 60),), black_fill(), None, element='<rect id="r">'),), source="clip-1"
    )
    with pytest.raises(ConfigError):
        render_clipart(clipart, renderer="nope")
    with pytest.raises(RenderError, match="points must have shape"):
        render_clipart(clipart, points=np.zeros((3, 2)))
    bad = clipart.control_points()
    bad[2, 0] = np.nan
    with pytest.raises(RenderError, match=r"clip 'clip-1'.*<rect id=\"r\">.*non-finite"):
        render_clipart(clipart, points=bad)
    with pytest.raises(RenderError, match="render size"):
        render_clipart(clipart, 0)
    with pytest.raises(RenderError, match="frame_points"):
        render_frames(clipart, clipart.control_points())


def test_empty_clipart_renders_background() -> None:
    white = render_clipart(Clipart(()), 32)
    assert np.all(white == 255)
    assert np.all(render_clipart(Clipart(()), 32, background="transparent") == 0)


@pytest.mark.parametrize("y0", [40.1, 40.3, 40.55, 40.7, 40.9])
def test_supersampling_makes_edge_coverage_exact(y0: float) -> None:
    # Cairo samples 15 sub-rows per pixel: a horizontal edge's alpha is off by up to 1/30 alone.
    clipart = Clipart((Shape((rect_subpath(30.25, y0, 130.5, 110.0),), black_fill(), None),))
    exact_top_row = 41.0 - y0
    plain = render_clipart_float(clipart, background="transparent")
    fine = render_clipart_float(clipart, background="transparent", supersample=8)
    assert abs(float(plain[40, 60, 3]) - exact_top_row) <= 1 / 30 + 1 / 255
    assert float(fine[40, 60, 3]) == pytest.approx(exact_top_row, abs=0.006)
    assert float(fine[60, 30, 3]) == pytest.approx(0.75, abs=0.006)
    assert float(fine[..., 3].sum()) == pytest.approx(100.25 * (110.0 - y0), rel=1e-3)
    as_uint8 = render_clipart(clipart, background="transparent", supersample=8)
    assert abs(int(as_uint8[40, 60, 3]) - exact_top_row * 255) <= 2


def test_float_premultiplied_and_straight() -> None:
    clipart = Clipart((Shape((rect_subpath(20.5, 20.5, 60.5, 60.5),), Fill((1.0, 0.5, 0.0), 0.5), None),))
    straight = render_clipart_float(clipart, 64, background="transparent")
    premultiplied = render_clipart_float(clipart, 64, background="transparent", premultiplied=True)
    np.testing.assert_allclose(premultiplied[..., :3], straight[..., :3] * straight[..., 3:], atol=1e-6)
    assert straight[10, 10] == pytest.approx([1.0, 0.5, 0.0, 0.5], abs=0.01)
    over_white = render_clipart_float(clipart, 64, supersample=2)
    np.testing.assert_allclose(over_white[..., 3], 1.0)
    with pytest.raises(RenderError, match="supersample"):
        render_clipart(clipart, 64, supersample=0)
