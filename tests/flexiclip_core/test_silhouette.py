"""Tests of flexiclip_core.silhouette on tiny hand-made drawings."""

from __future__ import annotations

import numpy as np

from flexiclip_core.clipart import Shape, Stroke
from flexiclip_core.silhouette import SilhouetteConfig, build_silhouette
from tests.flexiclip_core.test_rig import circle_subpath, drawing, filled, polygon_subpath, ring, square, two_squares


def test_silhouette_contains_off_curve_control_points_and_hairlines():
    disc = drawing(filled(circle_subpath(128, 128, 100)))
    silhouette = build_silhouette(disc, [0], SilhouetteConfig())
    rows, cols = silhouette.to_pixel(disc.control_points())
    assert silhouette.mask[rows, cols].all(), "handles 14 px outside the circle are inside the domain"
    hairline = drawing(Shape((polygon_subpath([(20, 20), (200, 40)], closed=False),), None, Stroke((0, 0, 0), 0.05)))
    silhouette = build_silhouette(hairline, [0], SilhouetteConfig())
    assert silhouette.component_count == 1
    rows, cols = silhouette.to_pixel(hairline.control_points())
    assert silhouette.mask[rows, cols].all()


def test_silhouette_keeps_large_holes_and_fills_tiny_ones():
    silhouette = build_silhouette(ring(), [0], SilhouetteConfig())
    centre = silhouette.to_pixel(np.array([[128.0, 128.0]]))
    assert not silhouette.mask[centre].any(), "the ring's hole stays a hole"
    pinhole = drawing(
        filled(
            polygon_subpath([(50, 50), (200, 50), (200, 200), (50, 200)]), circle_subpath(128, 128, 0.8), rule="evenodd"
        )
    )
    silhouette = build_silhouette(pinhole, [0], SilhouetteConfig())
    assert silhouette.mask[silhouette.to_pixel(np.array([[128.0, 128.0]]))].all(), "a sub-pixel hole is filled"


def test_component_areas_and_deepest_points():
    silhouette = build_silhouette(two_squares(), [0, 1], SilhouetteConfig())
    assert silhouette.component_count == 2
    areas = silhouette.component_areas() / silhouette.scale**2  # canvas px²
    assert areas[0] > areas[1:].sum(), "index 0 is the background"
    # Squares of 60 and 80 px grown by the 1 px dilation (and anti-aliasing).
    np.testing.assert_allclose(sorted(areas[1:]), [62.0**2, 82.0**2], rtol=0.05)
    # A disc centred on a raster pixel centre has one deepest pixel: its centre.
    disc = build_silhouette(drawing(filled(circle_subpath(100.25, 60.25, 30.0))), [0], SilhouetteConfig())
    np.testing.assert_allclose(disc.deepest_points(np.array([1])), [[100.25, 60.25]], atol=1e-9)


def test_distance_to_domain_and_snap_inside():
    silhouette = build_silhouette(square(), [0], SilhouetteConfig())  # spans 60..180
    points = np.array([[120.0, 120.0], [200.0, 120.0]])
    gap_px, component = silhouette.distance_to_domain(points)
    assert gap_px[0] == 0.0
    assert abs(gap_px[1] - 19.0) < 1.0, "20 px right of the edge, less the 1 px dilation"
    assert component.tolist() == [1, 1]
    snapped = silhouette.snap_inside(points)
    np.testing.assert_array_equal(snapped[0], points[0])
    rows, cols = silhouette.to_pixel(snapped)
    assert silhouette.mask[rows, cols].all()
    assert abs(snapped[1, 0] - 181.0) < 1.0 and abs(snapped[1, 1] - 120.0) < 1.0
