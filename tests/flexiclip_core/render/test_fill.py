"""Fill coverage of the torch training renderer against exact winding-number references."""

from __future__ import annotations

import numpy as np
import pytest

from flexiclip_core.clipart import Clipart, Fill, Shape, SubPath
from tests.flexiclip_core.render.scenes import (
    SCALE,
    SIZE,
    circle_points,
    clip_of,
    fill_shape,
    polygon_points,
    reference_fill_alpha,
    reference_polygon_alpha,
    render_alpha,
    soft_iou,
    star_vertices,
)


@pytest.mark.parametrize(
    "name, subpaths, rule",
    [
        ("circle", [circle_points(131.3, 120.7, 90.0)], "nonzero"),
        ("star", [polygon_points(star_vertices(128.4, 126.9, 110.0, 45.0))], "nonzero"),
        ("ring even-odd", [circle_points(128.2, 127.1, 100.0), circle_points(129.0, 126.3, 52.0)], "evenodd"),
        (
            "ring opposite winding",
            [circle_points(128.2, 127.1, 100.0), circle_points(129.0, 126.3, 52.0, False)],
            "nonzero",
        ),
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
    # Known limit (docs/render.md §9): where two outlines of one shape cross inside a pixel, folding the
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
