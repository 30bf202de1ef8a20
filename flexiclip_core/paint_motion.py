"""How paint moves with the drawing: a gradient or pattern is carried by its shape's best-fit
affine motion (docs/render.md §11, §13).

A shape's control points are bound to the mesh and move with it; its gradient's three anchor
points (`Gradient.frame`) are not. Each pose, the gradient is carried by the least-squares affine
map from the shape's rest control points to its posed ones: exact whenever the shape moves
affinely; under non-affine motion (a bending limb) the gradient follows the shape's best-fit
affine motion rather than bending. The final renderer and every vector export call
`posed_paint`, so they all draw the same gradient; `posed_clipart` poses a whole drawing. The
training renderer applies the same fit (`AffineFit`) and collapse test (`collapses`) to every
frame at once on its device (`render/gradient_paint.py`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Generic, TypeVar

import numpy as np

from flexiclip_core.clipart import Clipart, Fill, Shape, Stroke, SubPath

if TYPE_CHECKING:
    from torch import Tensor

_RANK_TOLERANCE = 1e-9
"""A rest point cloud whose smaller singular value is below this fraction of its larger one is
treated as collinear (its motion across the line is undetermined)."""

_COLLAPSED = 1e-9
"""A best-fit map whose |det| is below this fraction of its squared scale collapses the plane."""


ArrayT = TypeVar("ArrayT", np.ndarray, "Tensor")
"""A numpy array or a torch tensor: the fit and the collapse rule below are written with
operators both share, so `posed_paint` (numpy, one pose) and the training renderer (torch, every
frame at once on the device, `render/gradient_paint.py`) apply the same definitions."""
OtherT = TypeVar("OtherT", np.ndarray, "Tensor")


@dataclass(frozen=True)
class AffineFit(Generic[ArrayT]):
    """The least-squares affine map from one shape's rest points to any posed ones.

    With the rest points fixed, the best-fit map's linear part is a linear function of the
    centred posed points (the pseudo-inverse of the centred rest points, or the similarity's
    weights when they are collinear), so it is stored as weights and applied to a pose, or to a
    batch of poses, by one matrix product (`apply`).
    """

    rest: ArrayT
    """[n, 2] the rest points, canvas px."""
    rest_mean: ArrayT
    """[2] their mean."""
    weights: ArrayT
    """[2n, 4] the linear part's entries (row-major) per centred posed coordinate (x0, y0, x1, …)."""
    offset: ArrayT
    """[4] added to those entries: the identity where the rest points are one point (translation
    only), else zero."""

    @staticmethod
    def of(rest: np.ndarray) -> AffineFit[np.ndarray]:  # rest float64 [n, 2] canvas px, n ≥ 1
        """The fit from ``rest``. Robust to degenerate rest points: collinear points (a straight
        stroke) get the best-fit similarity (rotation, uniform scale, translation), which they
        determine; a single distinct point gets the translation."""
        rest = np.asarray(rest, dtype=np.float64)
        rest_mean = rest.mean(axis=0)
        centred = rest - rest_mean  # [n, 2]
        singular = np.linalg.svd(centred, compute_uv=False) if len(rest) > 1 else np.zeros(1)
        extent = max(1.0, float(np.abs(rest).max()))
        weights = np.zeros((len(rest), 2, 4))  # [n, coordinate, entry]
        offset = np.zeros(4)
        if singular[0] <= 1e-12 * extent:
            offset[:] = (1.0, 0.0, 0.0, 1.0)  # one distinct point: translation only
        elif len(singular) < 2 or singular[1] <= _RANK_TOLERANCE * singular[0]:
            # Collinear: z' = a·z as complex numbers, a = Σ conj(z)·w / Σ|z|², is the best-fit
            # similarity [[Re a, −Im a], [Im a, Re a]]; Re a and Im a are linear in w.
            x, y = centred[:, 0] / (centred**2).sum(), centred[:, 1] / (centred**2).sum()
            real = np.stack([x, y], axis=1)  # Re a = Σ x·w_x + y·w_y
            imaginary = np.stack([-y, x], axis=1)  # Im a = Σ x·w_y − y·w_x
            weights[..., 0], weights[..., 1], weights[..., 2], weights[..., 3] = real, -imaginary, imaginary, real
        else:
            # rest @ Lᵀ ≈ posed in least squares: L[i, j] = Σ_k pinv[j, k]·posed[k, i].
            pseudo_inverse = np.linalg.pinv(centred)  # [2, n]
            for i in range(2):
                weights[:, i, 2 * i : 2 * i + 2] = pseudo_inverse.T
        return AffineFit(rest, rest_mean, weights.reshape(-1, 4), offset)

    def converted(self, convert: Callable[[ArrayT], OtherT]) -> AffineFit[OtherT]:
        """The same fit with every array passed through ``convert`` (e.g. onto a torch device)."""
        return AffineFit(convert(self.rest), convert(self.rest_mean), convert(self.weights), convert(self.offset))

    def apply(
        self, posed: ArrayT
    ) -> tuple[ArrayT, ArrayT]:  # posed [..., n, 2] → linear [..., 2, 2], translation [..., 2]
        """The map A minimising Σ‖A·rest_i − posed_i‖² for each pose: its linear part and its
        translation (posed mean − linear · rest mean)."""
        posed_mean = posed.mean(-2)  # [..., 2]
        centred = posed - posed_mean[..., None, :]
        linear = (centred.reshape(*centred.shape[:-2], -1) @ self.weights + self.offset).reshape(
            *centred.shape[:-2], 2, 2
        )
        return linear, posed_mean - (linear @ self.rest_mean[..., None])[..., 0]


def collapses(linear: ArrayT, translation: ArrayT) -> ArrayT:  # [..., 2, 2], [..., 2] → bool [...]
    """Whether a best-fit map collapses the plane (no gradient frame is left, so the paint's mean
    colour is painted): not finite, or |det| ≤ `_COLLAPSED` · max(1, max |entry|²)."""
    det = abs(linear[..., 0, 0] * linear[..., 1, 1] - linear[..., 0, 1] * linear[..., 1, 0])
    finite = (abs(linear) < math.inf).all(-1).all(-1) & (abs(translation) < math.inf).all(-1)
    # max(1, max m²) as an "or" over its terms: the same test with operators numpy and torch share.
    small = (det <= _COLLAPSED) | (det[..., None, None] <= _COLLAPSED * linear * linear).any(-1).any(-1)
    return ~finite | small


def best_fit_affine(
    rest: np.ndarray,  # float64 [n, 2] canvas px
    posed: np.ndarray,  # float64 [n, 2] canvas px
) -> np.ndarray:  # float64 [3, 3]
    """The affine map A minimising Σ‖A·rest_i − posed_i‖², as a [3, 3] matrix (`AffineFit`)."""
    affine = np.eye(3)
    if len(rest) == 0:
        return affine
    linear, translation = AffineFit.of(rest).apply(np.asarray(posed, dtype=np.float64))
    affine[:2, :2] = linear
    affine[:2, 2] = translation
    return affine


def shape_rest_points(shape: Shape) -> np.ndarray:
    """float64 [n, 2]: the shape's rest control points, all subpaths in order."""
    arrays = [sp.points for sp in shape.subpaths]
    return np.concatenate(arrays, axis=0) if arrays else np.zeros((0, 2))


def posed_paint(
    shape: Shape,
    posed: np.ndarray,  # float64 [n, 2]: this shape's control points in the pose, canvas px
) -> tuple[Fill | None, Stroke | None]:
    """The shape's fill and stroke with their gradients and patterns carried into the pose
    (unchanged when the shape has neither). A pose that collapses the shape (a singular best-fit map, where
    the gradient has no frame left) paints the mean colour instead."""
    fill, stroke = shape.fill, shape.stroke
    has_fill_server = fill is not None and (fill.gradient is not None or fill.pattern is not None)
    has_stroke_server = stroke is not None and (stroke.gradient is not None or stroke.pattern is not None)
    if not (has_fill_server or has_stroke_server):
        return fill, stroke
    rest = shape_rest_points(shape)
    if np.array_equal(rest, posed):
        return fill, stroke
    affine = best_fit_affine(rest, posed)
    collapsed = bool(collapses(affine[:2, :2], affine[:2, 2]))
    if fill is not None and fill.gradient is not None:
        fill = replace(fill, gradient=None if collapsed else fill.gradient.moved(affine))
    if stroke is not None and stroke.gradient is not None:
        stroke = replace(stroke, gradient=None if collapsed else stroke.gradient.moved(affine))
    if fill is not None and fill.pattern is not None:
        fill = replace(fill, pattern=None if collapsed else fill.pattern.moved(affine))
    if stroke is not None and stroke.pattern is not None:
        stroke = replace(stroke, pattern=None if collapsed else stroke.pattern.moved(affine))
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
