"""Clip shapes to the page (the root viewport), which every viewer does and the drawing's fit
must respect: content past the page edge is invisible; and to nested viewports (``<svg>``,
``<use>`` of a ``<symbol>``/``<svg>``), which SVG clips unless ``overflow`` is visible.

Fills are clipped exactly by splitting each cubic where it crosses a page edge and flattening
the pieces that lie outside an edge onto that edge (Sutherland–Hodgman on curves): for any point
inside the page the winding number is unchanged, since the flattened pieces lie on the edge,
and points outside get winding 0. Strokes keep only the pieces inside the page, as open
subpaths. A shape with both gets split into a fill-only and a stroke-only shape, painted in that
order, which is how SVG paints one shape.

`clip_shapes_to_page` applies this to a drawing: shapes wholly outside are dropped, shapes
crossing the edge are clipped, each with a warning. `clip_shapes_to_viewport` clips to a
rectangle given in any affine frame: the shapes are mapped into the frame, clipped against the
axis-aligned rectangle there and mapped back, which is exact since Bézier curves are
affine-invariant. A stroke is trimmed at its centre line, so where a stroke's painted band
crosses a nested viewport's edge the result is approximate (warned); at the page it is exact
for what is visible.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from flexiclip_core.clipart import Shape, SubPath
from flexiclip_core.svg._geometry import shapes_bounds
from flexiclip_core.svg._style import Affine
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
        runs: list[list[np.ndarray]] = [[]]  # consecutive kept pieces, each run one open subpath
        for piece, keep in zip(pieces, inside):
            if keep:
                runs[-1].append(piece)
            elif runs[-1]:
                runs.append([])
        for run in runs:
            if run:
                chain = [run[0][0]]
                for kept in run:
                    chain.extend(kept[1:])
                subpaths.append(SubPath(np.array(chain), False))
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
            replacement.append(replace(shape, subpaths=fill_subpaths, stroke=None))
    if shape.stroke is not None:
        stroke_subpaths = _clipped_stroke(shape, page)
        if stroke_subpaths:
            replacement.append(replace(shape, subpaths=stroke_subpaths, fill=None))
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


def _mapped(shape: Shape, affine: Affine) -> Shape:
    """The shape with every control point mapped by ``affine`` (paint unchanged)."""
    a, b, c, d, e, f = affine
    linear = np.array([[a, c], [b, d]])
    offset = np.array([e, f])
    subpaths = tuple(SubPath(sp.points @ linear.T + offset, sp.closed) for sp in shape.subpaths)
    return replace(shape, subpaths=subpaths)


def _inverse(affine: Affine) -> Affine | None:
    a, b, c, d, e, f = affine
    determinant = a * d - b * c
    if determinant == 0.0 or not math.isfinite(determinant):
        return None
    ia, ib, ic, id_ = d / determinant, -b / determinant, -c / determinant, a / determinant
    return (ia, ib, ic, id_, -(ia * e + ic * f), -(ib * e + id_ * f))


def clip_shapes_to_viewport(
    shapes: list[Shape],
    bounds: np.ndarray,
    rect: tuple[float, float, float, float],
    frame: Affine,
    log: WarningLog,
    where: str,
) -> list[Shape]:
    """``shapes`` (root viewport units) clipped to the viewport ``rect`` = (x, y, width, height)
    given in the frame whose user units ``frame`` maps to root viewport units.

    ``bounds`` float64 [S, 4] are the shapes' `shapes_bounds` (root units, strokes included):
    their boxes, mapped into the frame, settle in one vectorised test the shapes wholly inside or
    outside, so nested viewports cost little per level; only the rest are cut one by one.
    Fills are clipped exactly; strokes are trimmed at their centre line, so a stroke whose painted
    band crosses the edge is approximate (``viewport-stroke-approximate``, naming ``where``)."""
    inverse = _inverse(frame)
    if inverse is None:
        return []
    if not shapes:
        return shapes
    x, y, width, height = rect
    page: Page = (x, y, x + width, y + height)
    a, b, c, d, e, f = inverse
    corners_x = bounds[:, [0, 2, 0, 2]]  # [S, 4]
    corners_y = bounds[:, [1, 1, 3, 3]]
    local_x = a * corners_x + c * corners_y + e
    local_y = b * corners_x + d * corners_y + f
    lo_x, hi_x = local_x.min(axis=1), local_x.max(axis=1)  # [S] each; exact when frame is axis-aligned
    lo_y, hi_y = local_y.min(axis=1), local_y.max(axis=1)
    outside = (hi_x <= page[0]) | (hi_y <= page[1]) | (lo_x >= page[2]) | (lo_y >= page[3])
    inside = (lo_x >= page[0]) & (lo_y >= page[1]) & (hi_x <= page[2]) & (hi_y <= page[3])
    # Stroke half-widths are in root units; in the frame they scale by 1/sqrt|det|, as parsed.
    scale = math.sqrt(abs(frame[0] * frame[3] - frame[1] * frame[2]))
    kept: list[Shape] = []
    approximate = False
    for index, shape in enumerate(shapes):
        if outside[index]:
            continue  # invisible: wholly outside, its stroke included
        if inside[index]:
            kept.append(shape)
            continue
        local_shape = _mapped(shape, inverse)
        x_min, y_min, x_max, y_max = shapes_bounds([replace(local_shape, stroke=None)])[0]
        half = shape.stroke.width / 2.0 / scale if shape.stroke is not None else 0.0
        if x_max + half <= page[0] or y_max + half <= page[1] or x_min - half >= page[2] or y_min - half >= page[3]:
            continue
        if x_min - half >= page[0] and y_min - half >= page[1] and x_max + half <= page[2] and y_max + half <= page[3]:
            kept.append(shape)
            continue
        approximate |= shape.stroke is not None
        replacement = clip_to_page(local_shape, page)
        if replacement is None:
            kept.append(shape)  # only the stroke's band reaches past the edge
            continue
        kept.extend(_mapped(piece, frame) for piece in replacement)
    if approximate:
        log.warn_text(
            "viewport-stroke-approximate",
            "a stroke crosses the viewport edge: trimmed at its centre line, so its band may reach past the edge",
            where,
        )
    return kept
