"""How paint moves with the drawing: a gradient is carried by its shape's best-fit affine motion
(docs/render.md §11).

A shape's control points are bound to the mesh and move with it; its gradient's three anchor
points (`Gradient.frame`) are not. Each pose, the gradient is carried by the least-squares affine
map from the shape's rest control points to its posed ones: exact whenever the shape moves
affinely; under non-affine motion (a bending limb) the gradient follows the shape's best-fit
affine motion rather than bending. The final renderer and every vector export call
`posed_paint`, so they all draw the same gradient; `posed_clipart` poses a whole drawing.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from flexiclip_core.clipart import Clipart, Fill, Shape, Stroke, SubPath

_RANK_TOLERANCE = 1e-9
"""A rest point cloud whose smaller singular value is below this fraction of its larger one is
treated as collinear (its motion across the line is undetermined)."""

_COLLAPSED = 1e-9
"""A best-fit map whose |det| is below this fraction of its squared scale collapses the plane."""


def best_fit_affine(
    rest: np.ndarray,  # float64 [n, 2] canvas px
    posed: np.ndarray,  # float64 [n, 2] canvas px
) -> np.ndarray:  # float64 [3, 3]
    """The affine map A minimising Σ‖A·rest_i − posed_i‖², as a [3, 3] matrix.

    Robust to degenerate rest points: collinear points (a straight stroke) get the best-fit
    similarity (rotation, uniform scale, translation), which they determine; a single distinct
    point gets the translation.
    """
    rest = np.asarray(rest, dtype=np.float64)
    posed = np.asarray(posed, dtype=np.float64)
    affine = np.eye(3)
    if len(rest) == 0:
        return affine
    rest_mean, posed_mean = rest.mean(axis=0), posed.mean(axis=0)
    centred_rest, centred_posed = rest - rest_mean, posed - posed_mean  # [n, 2] each
    singular = np.linalg.svd(centred_rest, compute_uv=False) if len(rest) > 1 else np.zeros(1)
    extent = max(1.0, float(np.abs(rest).max()))
    if singular[0] <= 1e-12 * extent:
        linear = np.eye(2)  # one distinct point: translation only
    elif len(singular) < 2 or singular[1] <= _RANK_TOLERANCE * singular[0]:
        # Collinear: z' = a·z as complex numbers is the best-fit similarity.
        z = centred_rest[:, 0] + 1j * centred_rest[:, 1]
        w = centred_posed[:, 0] + 1j * centred_posed[:, 1]
        a = complex(np.vdot(z, w) / np.vdot(z, z))
        linear = np.array([[a.real, -a.imag], [a.imag, a.real]])
    else:
        solution, *_ = np.linalg.lstsq(centred_rest, centred_posed, rcond=None)  # rest @ L ≈ posed
        linear = solution.T
    affine[:2, :2] = linear
    affine[:2, 2] = posed_mean - linear @ rest_mean
    return affine


def shape_rest_points(shape: Shape) -> np.ndarray:
    """float64 [n, 2]: the shape's rest control points, all subpaths in order."""
    arrays = [sp.points for sp in shape.subpaths]
    return np.concatenate(arrays, axis=0) if arrays else np.zeros((0, 2))


def posed_paint(
    shape: Shape,
    posed: np.ndarray,  # float64 [n, 2]: this shape's control points in the pose, canvas px
) -> tuple[Fill | None, Stroke | None]:
    """The shape's fill and stroke with their gradients carried into the pose (unchanged when
    the shape has no gradient). A pose that collapses the shape (a singular best-fit map, where
    the gradient has no frame left) paints the mean colour instead."""
    fill, stroke = shape.fill, shape.stroke
    has_fill_gradient = fill is not None and fill.gradient is not None
    has_stroke_gradient = stroke is not None and stroke.gradient is not None
    if not (has_fill_gradient or has_stroke_gradient):
        return fill, stroke
    rest = shape_rest_points(shape)
    if np.array_equal(rest, posed):
        return fill, stroke
    affine = best_fit_affine(rest, posed)
    linear = affine[:2, :2]
    collapsed = not np.all(np.isfinite(affine)) or abs(np.linalg.det(linear)) <= _COLLAPSED * max(
        1.0, float(np.abs(linear).max()) ** 2
    )
    if fill is not None and fill.gradient is not None:
        fill = replace(fill, gradient=None if collapsed else fill.gradient.moved(affine))
    if stroke is not None and stroke.gradient is not None:
        stroke = replace(stroke, gradient=None if collapsed else stroke.gradient.moved(affine))
    return fill, stroke


def posed_clipart(clipart: Clipart, points: np.ndarray) -> Clipart:
    """The same drawing with its control points replaced by ``points`` [P, 2] (paint order, as
    `Clipart.control_points`); gradients are carried by each shape's best-fit affine motion."""
    points = np.asarray(points, dtype=np.float64)
    if points.shape != (clipart.point_count, 2):
        raise ValueError(f"expected points of shape ({clipart.point_count}, 2), got {points.shape}")
    shapes = []
    offset = 0
    for shape in clipart.shapes:
        subpaths = []
        for sp in shape.subpaths:
            n = len(sp.points)
            subpaths.append(SubPath(points[offset : offset + n].copy(), sp.closed))
            offset += n
        fill, stroke = posed_paint(shape, np.concatenate([sp.points for sp in subpaths]) if subpaths else points[:0])
        shapes.append(replace(shape, subpaths=tuple(subpaths), fill=fill, stroke=stroke))
    return replace(clipart, shapes=tuple(shapes))
