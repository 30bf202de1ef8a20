"""`svg._geometry`: path data parsed up to its first error, and the shape geometry builder's known
answers (rectangle corner radii, ellipse radii, points, the per-file command budget)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from flexiclip_core.errors import SvgLimitExceeded
from flexiclip_core.svg._cascade import Cascade
from flexiclip_core.svg._geometry import (
    PathDataError,
    RawSubPath,
    ShapeGeometry,
    is_similarity,
    line_stroke_outline,
    parse_path_data,
    subpaths_bbox,
)
from flexiclip_core.svg._style import LengthContext
from flexiclip_core.svg._warnings import WarningLog
from flexiclip_core.svg._xml import Element, parse_xml


@pytest.mark.parametrize(
    ("d", "drawn", "message"),
    [
        ("M 0 0 L 10 10 # 5 5", [(0, 0), (10, 10)], "invalid character"),
        ("M 0 0 L 10 10, L 5 5", [(0, 0), (10, 10)], "misplaced comma"),
        ("M 0 0 L 10 10 L 20,,20", [(0, 0), (10, 10)], "missing number"),
        ("M 0 0 L 10 10 L 5", [(0, 0), (10, 10)], "missing number"),
        ("L 10 10 20 20", [], "must start with a moveto"),
        ("10 10 L 20 20", [], "must start with a moveto"),
    ],
)
def test_path_data_stops_at_the_first_error(d: str, drawn: list[tuple[float, float]], message: str) -> None:
    with pytest.raises(PathDataError, match=message) as caught:
        parse_path_data(d, clip="c", element="path")
    anchors = [tuple(flat[i : i + 2]) for flat, _ in caught.value.partial for i in range(0, len(flat), 6)]
    assert anchors == drawn


def test_zero_length_subpath_is_one_open_degenerate_segment() -> None:
    subpaths, _ = parse_path_data("M 5 6 z M 7 8", clip="c", element="path")
    # "M x y z" is kept (its caps are drawn); a trailing lone moveto draws nothing.
    assert subpaths == [([5.0, 6.0] * 4, False)]


# --- ShapeGeometry: a shape element's attributes → subpaths, counted against the budget ---------

NS = 'xmlns="http://www.w3.org/2000/svg"'
LENGTHS = LengthContext(200.0, 100.0)


def shape_geometry(body: str, max_path_commands: int = 1000) -> tuple[ShapeGeometry, list[Element], WarningLog]:
    """A `ShapeGeometry` over the document ``<svg>{body}</svg>``, the root's children and the log."""
    root = parse_xml(f"<svg {NS}>{body}</svg>".encode(), clip="c", max_elements=100, max_depth=10)
    log = WarningLog("c")
    geometry = ShapeGeometry(Cascade(root, log), log, clip="c", max_path_commands=max_path_commands)
    return geometry, root.children, log


def anchors(subpath: RawSubPath) -> list[tuple[float, float]]:
    flat, _ = subpath
    return [(round(flat[i], 9), round(flat[i + 1], 9)) for i in range(0, len(flat), 6)]


def test_rect_corner_radii_follow_the_auto_and_clamping_rules() -> None:
    # rx alone: ry = rx = 6; then each is clamped to half its side: rx = min(6, 8/2) = 4, ry = min(6, 20/2) = 6.
    geometry, (rect,), _ = shape_geometry('<rect x="1" y="2" width="8" height="20" rx="6"/>')
    ((flat, closed),) = geometry.subpaths(rect, LENGTHS)
    assert closed and (flat[0], flat[1]) == (1 + 4, 2)
    # Anchors: the top edge (0 long), the corner arc about (5, 8) in two 45° pieces (the middle one
    # at (5 + 4 cos 45°, 8 − 6 sin 45°)) to (x + w, y + ry) = (9, 8), down to (9, 2 + 20 − 6) = (9, 16)…
    half = math.sqrt(0.5)
    assert anchors((flat, closed))[:5] == [
        (5.0, 2.0),
        (5.0, 2.0),
        (round(5 + 4 * half, 9), round(8 - 6 * half, 9)),
        (9.0, 8.0),
        (9.0, 16.0),
    ]
    # Percentages resolve against the viewport's axis: width 10% of 200 = 20, height 50% of 100 = 50.
    geometry, (rect,), _ = shape_geometry('<rect width="10%" height="50%"/>')
    ((flat, _),) = geometry.subpaths(rect, LENGTHS)
    assert anchors((flat, True)) == [(0.0, 0.0), (20.0, 0.0), (20.0, 50.0), (0.0, 50.0), (0.0, 0.0)]


def test_ellipse_radius_auto_and_empty_shapes() -> None:
    geometry, (ellipse, zero_rect, no_radius), _ = shape_geometry(
        '<ellipse cx="10" cy="20" ry="3"/><rect width="0" height="5"/><circle cx="1" cy="1"/>'
    )
    ((flat, closed),) = geometry.subpaths(ellipse, LENGTHS)  # rx = ry = 3 (rx "auto")
    points = np.asarray(flat).reshape(-1, 2)
    assert closed and tuple(points[0]) == (13.0, 20.0)
    # Six 60° pieces, y down: anchor 2 at 120° = (10 − 3/2, 20 + 3·sin 60°), anchor 3 half way round.
    np.testing.assert_allclose(points[6], (8.5, 20 + 3 * math.sqrt(3) / 2), atol=1e-12)
    np.testing.assert_allclose(points[9], (7.0, 20.0), atol=1e-12)
    assert geometry.subpaths(zero_rect, LENGTHS) == [] and geometry.subpaths(no_radius, LENGTHS) == []
    assert geometry.path_commands == 4  # only the ellipse counted


def test_points_path_data_and_the_shared_command_budget() -> None:
    geometry, (polygon, path), log = shape_geometry(
        '<polygon points="0,0 10,0 10,10 99"/><path d="M 0 0 L 5 5 L 5 0"/>', max_path_commands=11
    )
    # Odd coordinate count: the last one dropped (warned); a polygon closes back to its start.
    assert anchors(geometry.subpaths(polygon, LENGTHS)[0]) == [(0, 0), (10, 0), (10, 10), (0, 0)]
    assert [w.code for w in log.warnings] == ["invalid-attribute"]
    assert geometry.path_commands == 3
    first = geometry.subpaths(path, LENGTHS)
    assert geometry.subpaths(path, LENGTHS) is first  # parsed once, counted each time (a <use> again)
    assert geometry.path_commands == 3 + 3 + 3
    with pytest.raises(SvgLimitExceeded, match="max_path_commands=11"):
        geometry.subpaths(path, LENGTHS)


def test_subpaths_bbox_is_tight_on_curves() -> None:
    # The cubic (0,0) (0,10) (10,10) (10,0) peaks at t = 1/2: y = 3/4 · 10 = 7.5, not at its control points.
    assert subpaths_bbox([([0, 0, 0, 10, 10, 10, 10, 0], False), ([-1, 2, -1, 2, -1, 2, -1, 2], False)]) == (
        -1.0,
        0.0,
        10.0,
        7.5,
    )


def test_a_line_stroke_outline_is_its_band_with_caps_and_dashes() -> None:
    # (0, 0)–(10, 0), 2 wide: the band from the left normal (0, 1) round, butt-capped.
    ((flat, closed),) = line_stroke_outline((0.0, 0.0), (10.0, 0.0), 2.0, "butt")
    assert closed and anchors((flat, closed)) == [(0, 1), (10, 1), (10, -1), (0, -1), (0, 1)]
    ((flat, _),) = line_stroke_outline((0.0, 0.0), (10.0, 0.0), 2.0, "square")
    assert anchors((flat, True)) == [(-1, 1), (11, 1), (11, -1), (-1, -1), (-1, 1)]
    # Dashes 3 on, 2 off, offset 1: the pattern starts at −1, so dashes cover [0, 2], [4, 7], [9, 10].
    dashed = line_stroke_outline((0.0, 0.0), (10.0, 0.0), 2.0, "butt", (3.0, 2.0), 1.0)
    assert [(min(x for x, _ in anchors(o)), max(x for x, _ in anchors(o))) for o in dashed] == [(0, 2), (4, 7), (9, 10)]
    # Round caps: half circles of radius 1 about each end, in three 60° pieces (anchors every 60°).
    ((flat, _),) = line_stroke_outline((0.0, 0.0), (10.0, 0.0), 2.0, "round")
    c = math.cos(math.radians(30))
    expected = [(0, 1), (10, 1), (10 + c, 0.5), (10 + c, -0.5), (10, -1), (0, -1), (-c, -0.5), (-c, 0.5), (0, 1)]
    np.testing.assert_allclose(anchors((flat, True)), expected, atol=1e-9)
    assert line_stroke_outline((5.0, 5.0), (5.0, 5.0), 2.0, "butt") == []  # zero length, butt: nothing


def test_similarity_transforms_keep_one_stroke_width() -> None:
    assert is_similarity((0.0, 2.0, -2.0, 0.0, 5.0, 5.0))  # rotate(90) scale(2)
    assert is_similarity((1.0, 0.0, 0.0, -1.0, 0.0, 0.0))  # a reflection
    assert not is_similarity((1.0, 0.0, 1.0, 1.0, 0.0, 0.0))  # skewX(45)
    assert not is_similarity((3.0, 0.0, 0.0, 1.0, 0.0, 0.0))  # scale(3 1)
