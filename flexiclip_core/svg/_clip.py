"""Clip shapes to the page (the root viewport), which every viewer does and the drawing's fit
must respect: content past the page edge is invisible.

Fills are clipped exactly by splitting each cubic where it crosses a page edge and flattening
the pieces that lie outside an edge onto that edge (Sutherland–Hodgman on curves): for any point
inside the page the winding number is unchanged, since the flattened pieces lie on the edge,
and points outside get winding 0. Strokes keep only the pieces inside the page, as open
subpaths. A shape with both gets split into a fill-only and a stroke-only shape, painted in that
order, which is how SVG paints one shape.

`clip_shapes_to_page` applies this to a drawing: shapes wholly outside are dropped, shapes
crossing the edge are clipped, each with a warning.
"""

from __future__ import annotations

import numpy as np

from flexiclip_core.clipart import Shape, SubPath
from flexiclip_core.svg._geometry import shapes_bounds
from flexiclip_core.svg._warnings import WarningLog

Page = tuple[float, float, float, float]
"""(x_min, y_min, x_max, y_max) of the visible page in root viewport units."""

_ROOT_EPSILON = 1e-9


def _split_at(segment: np.ndarray, ts: list[float]) -> list[np.ndarray]:
    """De Casteljau split of a cubic [4, 2] at increasing parameters ``ts`` in (0, 1)."""
    pieces = []
    remaining = segment
    previous = 0.0
    for t in ts:
        local = (t - previous) / (1.0 - previous)
        p0, p1, p2, p3 = remaining
        p01, p12, p23 = p0 + local * (p1 - p0), p1 + local * (p2 - p1), p2 + local * (p3 - p2)
        p012, p123 = p01 + local * (p12 - p01), p12 + local * (p23 - p12)
        split = p012 + local * (p123 - p012)
        pieces.append(np.array([p0, p01, p012, split]))
        remaining = np.array([split, p123, p23, p3])
        previous = t
    pieces.append(remaining)
    return pieces


def _crossings(segment: np.ndarray, page: Page) -> list[float]:
    """Parameters in (0, 1) where the cubic crosses one of the page's edge lines."""
    p0, p1, p2, p3 = segment
    a = -p0 + 3.0 * p1 - 3.0 * p2 + p3
    b = 3.0 * p0 - 6.0 * p1 + 3.0 * p2
    c = -3.0 * p0 + 3.0 * p1
    ts: list[float] = []
    for axis, bound in ((0, page[0]), (0, page[2]), (1, page[1]), (1, page[3])):
        lo, hi = segment[:, axis].min(), segment[:, axis].max()
        if not lo < bound < hi:
            continue
        coefficients = [a[axis], b[axis], c[axis], p0[axis] - bound]
        if not any(abs(v) > 0 for v in coefficients[:3]):
            continue
        for root in np.roots(coefficients):
            if abs(root.imag) < 1e-9 and _ROOT_EPSILON < root.real < 1.0 - _ROOT_EPSILON:
                ts.append(float(root.real))
    return sorted(set(ts))


def _outside(piece: np.ndarray, page: Page) -> tuple[bool, bool, bool, bool]:
    """Which page edges the piece lies beyond (tested at its midpoint; pieces do not cross)."""
    x, y = (piece[0] + 3.0 * piece[1] + 3.0 * piece[2] + piece[3]) / 8.0
    return x < page[0], y < page[1], x > page[2], y > page[3]


def _pieces(points: np.ndarray, closed: bool, close_for_fill: bool, page: Page) -> list[np.ndarray]:
    segments = [points[i : i + 4] for i in range(0, len(points) - 1, 3)]
    if close_for_fill and not closed and not np.array_equal(points[-1], points[0]):
        start, end = points[-1], points[0]
        segments.append(np.array([start, start + (end - start) / 3.0, start + 2.0 * (end - start) / 3.0, end]))
    pieces = []
    for segment in segments:
        pieces.extend(_split_at(segment, _crossings(segment, page)))
    return pieces


def _clipped_fill(shape: Shape, page: Page) -> tuple[SubPath, ...]:
    subpaths = []
    for subpath in shape.subpaths:
        pieces = _pieces(subpath.points, subpath.closed, True, page)
        clamped = []
        for piece in pieces:
            left, top, right, bottom = _outside(piece, page)
            piece = piece.copy()
            if left or right:
                piece[:, 0] = page[0] if left else page[2]
            if top or bottom:
                piece[:, 1] = page[1] if top else page[3]
            clamped.append(piece)
        # Neighbouring pieces meet on the edge line they were split at, which clamping keeps.
        points = np.concatenate([clamped[0][:1]] + [piece[1:] for piece in clamped])
        extent = points.max(axis=0) - points.min(axis=0)
        if extent[0] > 0 and extent[1] > 0:
            points[-1] = points[0]
            subpaths.append(SubPath(points, True))
    return tuple(subpaths)


def _clipped_stroke(shape: Shape, page: Page) -> tuple[SubPath, ...]:
    subpaths = []
    for subpath in shape.subpaths:
        pieces = _pieces(subpath.points, subpath.closed, False, page)
        inside = [not any(_outside(piece, page)) for piece in pieces]
        if all(inside):
            subpaths.append(subpath)
            continue
        if subpath.closed:
            first_out = inside.index(False)
            pieces = pieces[first_out:] + pieces[:first_out]
            inside = inside[first_out:] + inside[:first_out]
        run: list[np.ndarray] = []
        for piece, keep in zip(pieces + [None], inside + [False]):
            if keep:
                run.append(piece)
                continue
            if run:
                chain = [run[0][0]]
                for kept in run:
                    chain.extend(kept[1:])
                subpaths.append(SubPath(np.array(chain), False))
                run = []
    return tuple(subpaths)


def clip_to_page(shape: Shape, page: Page) -> list[Shape] | None:
    """The shape clipped to ``page``: None when nothing had to be cut, else the replacement
    shapes (possibly none)."""
    if not any(
        _crossings(subpath.points[i : i + 4], page)
        for subpath in shape.subpaths
        for i in range(0, len(subpath.points) - 1, 3)
    ):
        outside = [
            any(_outside(subpath.points[i : i + 4], page))
            for subpath in shape.subpaths
            for i in range(0, len(subpath.points) - 1, 3)
        ]
        if not any(outside):
            return None
    replacement = []
    if shape.fill is not None:
        fill_subpaths = _clipped_fill(shape, page)
        if fill_subpaths:
            replacement.append(Shape(fill_subpaths, shape.fill, None, shape.element, shape.groups, shape.clip))
    if shape.stroke is not None:
        stroke_subpaths = _clipped_stroke(shape, page)
        if stroke_subpaths:
            replacement.append(Shape(stroke_subpaths, None, shape.stroke, shape.element, shape.groups, shape.clip))
    return replacement


def clip_shapes_to_page(shapes: list[Shape], page: Page | None, log: WarningLog) -> list[Shape]:
    """Content past the root viewport is invisible in any viewer: drop shapes wholly outside it
    and clip those that cross its edge."""
    if page is None or not shapes:
        return shapes
    kept: list[Shape] = []
    for shape, (x_min, y_min, x_max, y_max) in zip(shapes, shapes_bounds(shapes)):
        if x_max <= page[0] or y_max <= page[1] or x_min >= page[2] or y_min >= page[3]:
            log.warn_text("off-page-dropped", "shape lies wholly outside the page; dropped", shape.element)
            continue
        if x_min >= page[0] and y_min >= page[1] and x_max <= page[2] and y_max <= page[3]:
            kept.append(shape)
            continue
        replacement = clip_to_page(shape, page)
        if replacement is None:
            kept.append(shape)
            continue
        log.warn_text("off-page-clipped", "shape crosses the page edge; clipped to the page", shape.element)
        kept.extend(replacement)
    return kept
