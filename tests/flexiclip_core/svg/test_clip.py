"""`svg._clip`: shapes cut to the page by hand — a fill crossing an edge is flattened onto it,
a stroke keeps its inside run, a shape wholly outside is dropped, each warned."""

from __future__ import annotations

import numpy as np

from flexiclip_core.clipart import Fill, Shape, Stroke, SubPath
from flexiclip_core.svg._clip import clip_shapes_to_page
from flexiclip_core.svg._warnings import WarningLog


def polyline(*corners: tuple[float, float], closed: bool) -> SubPath:
    points = [np.array(corners[0], dtype=np.float64)]
    for start, end in zip(corners[:-1], corners[1:]):
        start, end = np.array(start, dtype=np.float64), np.array(end, dtype=np.float64)
        points += [start + (end - start) / 3, start + 2 * (end - start) / 3, end]
    return SubPath(np.array(points), closed)


def test_fills_and_strokes_are_cut_at_the_page_edge() -> None:
    page = (0.0, 0.0, 100.0, 100.0)
    square = polyline((80, 10), (120, 10), (120, 30), (80, 30), (80, 10), closed=True)  # crosses x = 100
    line = polyline((50, 50), (150, 50), closed=False)
    outside = polyline((200, 200), (210, 200), (210, 210), (200, 200), closed=True)
    log = WarningLog("c")
    shapes = [
        Shape((square,), Fill((1.0, 0.0, 0.0)), None, "<rect #1>"),
        Shape((line,), None, Stroke((0.0, 0.0, 0.0), 2.0), "<line #2>"),
        Shape((outside,), Fill((0.0, 0.0, 1.0)), None, "<path #3>"),
    ]
    fill, stroke = clip_shapes_to_page(shapes, page, log)
    # The fill's part past x = 100 is flattened onto the edge: its points stay within the page
    # and it still reaches x = 100 along y ∈ [10, 30].
    points = np.concatenate([sp.points for sp in fill.subpaths])
    assert points[:, 0].max() == 100.0 and points[:, 0].min() == 80.0
    assert {10.0, 30.0} <= {float(y) for x, y in points if x == 100.0}
    # The stroke keeps (50, 50)–(100, 50) as one open run.
    ((run_points, closed),) = [(sp.points, sp.closed) for sp in stroke.subpaths]
    assert not closed and tuple(run_points[0]) == (50.0, 50.0) and tuple(run_points[-1]) == (100.0, 50.0)
    assert [(w.code, w.element) for w in log.warnings] == [
        ("off-page-clipped", "<rect #1>"),
        ("off-page-clipped", "<line #2>"),
        ("off-page-dropped", "<path #3>"),
    ]
