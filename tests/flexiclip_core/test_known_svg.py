"""Known answers for the SVG reader's value parsers (the modules other than _dtd/_document):
CSS colours, transform lists, lengths and units, viewBox placement and elliptical arcs → cubics,
each at interior points worked by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from flexiclip_core.svg._geometry import arc_to
from flexiclip_core.svg._style import LengthContext, parse_colour, parse_length, parse_transform
from flexiclip_core.svg._viewport import viewbox_to_viewport


def _apply(matrix, point):
    a, b, c, d, e, f = matrix
    x, y = point
    return (a * x + c * y + e, b * x + d * y + f)


@pytest.mark.parametrize(
    ("text", "rgb", "alpha"),
    [
        ("#3c8", (0x33 / 255, 0xCC / 255, 0x88 / 255), 1.0),
        ("#80ff0040", (128 / 255, 1.0, 0.0), 64 / 255),
        ("rgb(10%, 50%, 100%)", (0.1, 0.5, 1.0), 1.0),
        ("rgba(255, 0, 51, 0.25)", (1.0, 0.0, 0.2), 0.25),
        ("orange", (1.0, 165 / 255, 0.0), 1.0),
        # hsl: a = S·min(L, 1 − L); channel n = L − a·max(−1, min(k − 3, 9 − k, 1)), k = (n + H/30) mod 12.
        ("hsl(30, 100%, 50%)", (1.0, 0.5, 0.0), 1.0),
        ("hsl(120, 100%, 25%)", (0.0, 0.5, 0.0), 1.0),
        ("hsla(240, 50%, 50%, 0.3)", (0.25, 0.25, 0.75), 0.3),
        ("hsl(300deg, 100%, 75%)", (1.0, 0.5, 1.0), 1.0),
        ("transparent", (0.0, 0.0, 0.0), 0.0),
    ],
)
def test_colours_parse_to_their_hand_values(text: str, rgb, alpha: float) -> None:
    parsed = parse_colour(text)
    assert parsed is not None
    assert parsed[0] == pytest.approx(rgb, abs=1e-12)
    assert parsed[1] == pytest.approx(alpha, abs=1e-12)


def test_transform_lists_compose_right_to_left() -> None:
    def parse(text: str):
        return parse_transform(text, clip="t.svg", element="g")

    # (1, 0) rotated by 90° is (0, 1), then translated: (10, 21).
    assert _apply(parse("translate(10,20) rotate(90)"), (1.0, 0.0)) == pytest.approx((10.0, 21.0), abs=1e-12)
    assert _apply(parse("rotate(90) translate(10,20)"), (1.0, 0.0)) == pytest.approx((-20.0, 11.0), abs=1e-12)
    # rotate(θ, cx, cy) turns about (cx, cy): (20, 0) about (10, 0) by 90° → (10, 10).
    assert _apply(parse("rotate(90, 10, 0)"), (20.0, 0.0)) == pytest.approx((10.0, 10.0), abs=1e-12)
    assert _apply(parse("skewX(45)"), (1.0, 1.0)) == pytest.approx((2.0, 1.0), abs=1e-12)
    assert _apply(parse("skewY(45)"), (1.0, 1.0)) == pytest.approx((1.0, 2.0), abs=1e-12)
    assert _apply(parse("scale(2,3) translate(1,1)"), (0.0, 0.0)) == pytest.approx((2.0, 3.0), abs=1e-12)
    assert _apply(parse("scale(2)"), (1.5, -1.0)) == pytest.approx((3.0, -2.0), abs=1e-12)
    assert _apply(parse("matrix(1 2 3 4 5 6)"), (1.0, 1.0)) == pytest.approx((9.0, 12.0), abs=1e-12)


@pytest.mark.parametrize(
    ("text", "axis", "px"),
    [
        ("1in", "x", 96.0),
        ("72pt", "x", 96.0),
        ("3pc", "x", 48.0),
        ("25.4mm", "y", 96.0),
        ("1.27cm", "x", 48.0),
        ("2em", "x", 32.0),
        ("4ex", "x", 32.0),
        ("50%", "x", 150.0),
        ("50%", "y", 200.0),
        # Other lengths: a percentage of the diagonal / √2 = 500 / √2.
        ("50%", "other", 250.0 / math.sqrt(2.0)),
        ("12", "x", 12.0),
    ],
)
def test_lengths_resolve_to_px(text: str, axis: str, px: float) -> None:
    context = LengthContext(viewport_width=300.0, viewport_height=400.0)
    assert parse_length(text, context, axis, clip="t.svg", element="rect") == pytest.approx(px, abs=1e-12)


@pytest.mark.parametrize(
    ("aspect", "expected"),
    [
        ("xMidYMid meet", (2.0, 0.0, 0.0, 2.0, -20.0, 10.0)),
        ("xMinYMin meet", (2.0, 0.0, 0.0, 2.0, -20.0, -40.0)),
        ("xMaxYMax slice", (4.0, 0.0, 0.0, 4.0, -240.0, -80.0)),
        ("none", (2.0, 0.0, 0.0, 4.0, -20.0, -80.0)),
    ],
)
def test_view_box_placement(aspect: str, expected) -> None:
    # viewBox (10, 20, 100, 50) in 200 × 200: meet scale min(2, 4) = 2 (content 200 × 100, centred:
    # y offset 50 − 20·2 = 10), slice max = 4 (content 400 × 200, right-aligned: x 200 − 400 − 40).
    assert viewbox_to_viewport([10.0, 20.0, 100.0, 50.0], 200.0, 200.0, aspect) == pytest.approx(expected)


def _cubic(points: list[float], segment: int, t: float) -> np.ndarray:
    p = np.asarray(points).reshape(-1, 2)
    p0, p1, p2, p3 = p[3 * segment : 3 * segment + 4]
    return (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t**2 * p2 + t**3 * p3


def test_semicircle_arc_passes_through_its_apex() -> None:
    # (0, 0) → (20, 0), r = 10, sweep 1 (positive angles, clockwise on a y-down screen): centre
    # (10, 0), angles π → 2π in three 60° cubics, the middle one's midpoint at angle 3π/2 = (10, −10)
    # (the 4/3 tan(θ/4) handles put every piece's midpoint on the circle).
    points = [0.0, 0.0]
    arc_to(points, 0.0, 0.0, 10.0, 10.0, 0.0, False, True, 20.0, 0.0)
    assert len(points) == 2 + 3 * 6
    np.testing.assert_allclose(_cubic(points, 1, 0.5), [10.0, -10.0], atol=1e-12)
    np.testing.assert_allclose(points[2:4], [0.0, -10.0 * 4.0 / 3.0 * math.tan(math.pi / 12)], atol=1e-12)
    # sweep 0 goes the other way, through (10, 10); radii too small (5) are scaled up to reach.
    other = [0.0, 0.0]
    arc_to(other, 0.0, 0.0, 5.0, 5.0, 0.0, False, False, 20.0, 0.0)
    np.testing.assert_allclose(_cubic(other, 1, 0.5), [10.0, 10.0], atol=1e-12)


def test_rotated_ellipse_arc_passes_through_its_minor_vertex() -> None:
    # rx 20 along the 90°-rotated x axis (vertical), ry 10: (0, 0) → (0, 40) is a major diameter,
    # centre (0, 20); sweep 1 passes the minor vertex on the right, (10, 20).
    points = [0.0, 0.0]
    arc_to(points, 0.0, 0.0, 20.0, 10.0, 90.0, False, True, 0.0, 40.0)
    np.testing.assert_allclose(_cubic(points, 1, 0.5), [10.0, 20.0], atol=1e-9)
    np.testing.assert_allclose(points[-2:], [0.0, 40.0], atol=0)


def test_quarter_arc_takes_the_small_clockwise_centre() -> None:
    # (0, 0) → (10, 10), r = 10, large 0, sweep 1: of the two centres (10, 0) and (0, 10) only
    # (0, 10) gives a small positive sweep (−90° → 0°); two 45° pieces meet at −45°, (5√2, 10 − 5√2).
    points = [0.0, 0.0]
    arc_to(points, 0.0, 0.0, 10.0, 10.0, 0.0, False, True, 10.0, 10.0)
    assert len(points) == 2 + 2 * 6
    half = 5.0 * math.sqrt(2.0)
    np.testing.assert_allclose(points[6:8], [half, 10.0 - half], atol=1e-12)
    # The large arc (large 1, sweep 1) turns 270° about the other centre, (10, 0), from 180°:
    # five 54° pieces, the middle one's midpoint at 315°, (10 + 5√2, −5√2).
    large = [0.0, 0.0]
    arc_to(large, 0.0, 0.0, 10.0, 10.0, 0.0, True, True, 10.0, 10.0)
    assert len(large) == 2 + 5 * 6
    np.testing.assert_allclose(_cubic(large, 2, 0.5), [10.0 + half, -half], atol=1e-12)
