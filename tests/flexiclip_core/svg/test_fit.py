"""`svg._fit`: the drawing scaled and centred into the canvas, strokes included, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from flexiclip_core.clipart import Fill, Shape, Stroke, SubPath
from flexiclip_core.svg._fit import fit_to_canvas


def rectangle(x0: float, y0: float, x1: float, y1: float) -> SubPath:
    corners = np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)], dtype=np.float64)
    points = [corners[0]]
    for start, end in zip(corners[:-1], corners[1:]):
        points += [start + (end - start) / 3, start + 2 * (end - start) / 3, end]
    return SubPath(np.array(points), True)


def test_the_longer_side_fills_the_canvas_less_its_margins() -> None:
    # A 10 × 20 box with a 2-wide stroke spans (−1, −1)–(11, 21): 22 tall into 256 − 2·8 = 240 px.
    shape = Shape(
        (rectangle(0, 0, 10, 20),), Fill((1.0, 0.0, 0.0)), Stroke((0.0, 0.0, 0.0), 2.0, dash_array=(4.0, 2.0))
    )
    (fitted,), matrix = fit_to_canvas([shape], 256, 8.0, "c")
    scale = 240.0 / 22.0
    offset = (128.0 - scale * 5.0, 128.0 - scale * 10.0)  # the box's centre (5, 10) to the canvas centre
    np.testing.assert_allclose(matrix, [[scale, 0, offset[0]], [0, scale, offset[1]], [0, 0, 1]], rtol=1e-12)
    np.testing.assert_allclose(fitted.subpaths[0].points[0], offset, rtol=1e-12)
    np.testing.assert_allclose(fitted.subpaths[0].points[6], (10 * scale + offset[0], 20 * scale + offset[1]))
    assert fitted.stroke is not None
    assert fitted.stroke.width == pytest.approx(2.0 * scale) and fitted.stroke.dash_array == pytest.approx(
        (4.0 * scale, 2.0 * scale)
    )
