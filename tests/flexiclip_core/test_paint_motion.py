"""`paint_motion.AffineFit` and `collapses`, the rule `posed_paint` and the training renderer
share (docs/render.md §11), pinned by hand on numpy arrays and on a torch batch alike."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from flexiclip_core.paint_motion import AffineFit, collapses

SQUARE = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]])
# Three poses of the square, worked out by hand (centred rest points (∓1, ∓1), RᵀR = 4·I, so
# L[i, j] = Σ_k R[k, j]·P[k, i] / 4 over the centred posed points P; translation = posed mean −
# L · (1, 1)):
# - the affine map L = [[0, −2], [1, 0]], t = (5, 3), taken exactly;
# - (2, 2) pulled to (2, 4): posed mean (1, 1.5), centred (−1, −1.5), (1, −1.5), (1, 2.5),
#   (−1, 0.5); L = [[1, 0], [0.5, 1.5]], t = (1, 1.5) − (1, 2) = (0, −0.5);
# - every point squashed onto y = 0: L = [[1, 0], [0, 0]], t = 0, det 0: collapsed.
POSES = np.array(
    [
        [[5.0, 3.0], [5.0, 5.0], [1.0, 5.0], [1.0, 3.0]],
        [[0.0, 0.0], [2.0, 0.0], [2.0, 4.0], [0.0, 2.0]],
        [[0.0, 0.0], [2.0, 0.0], [2.0, 0.0], [0.0, 0.0]],
    ]
)
LINEAR = np.array([[[0.0, -2.0], [1.0, 0.0]], [[1.0, 0.0], [0.5, 1.5]], [[1.0, 0.0], [0.0, 0.0]]])
TRANSLATION = np.array([[5.0, 3.0], [0.0, -0.5], [0.0, 0.0]])


def _as(kind: str, array: np.ndarray):
    return torch.tensor(array, dtype=torch.float64) if kind == "torch" else array


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_the_batched_fit_of_a_square_by_hand(kind):
    fit = AffineFit.of(SQUARE)
    if kind == "torch":
        fit = fit.converted(lambda a: torch.tensor(a, dtype=torch.float64))
    linear, translation = fit.apply(_as(kind, POSES))
    assert np.allclose(np.asarray(linear), LINEAR, atol=1e-12)
    assert np.allclose(np.asarray(translation), TRANSLATION, atol=1e-12)
    assert np.asarray(collapses(linear, translation)).tolist() == [False, False, True]
    # One pose at a time gives the same as the batch.
    single, _ = fit.apply(_as(kind, POSES[1]))
    assert np.allclose(np.asarray(single), LINEAR[1], atol=1e-12)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_the_batched_fit_of_collinear_and_single_points_by_hand(kind):
    # Collinear rest (0, 0), (1, 0), (2, 0) posed at (0, 0), (0, 2), (0, 4): the similarity
    # z' = 2i·z, L = [[0, −2], [2, 0]], t = (0, 2) − L · (1, 0) = (0, 0). Rotated the other way
    # and halved, (3, 0), (3, −0.5), (3, −1): a = −0.5i, L = [[0, 0.5], [−0.5, 0]], t = (3, 0).
    line = AffineFit.of(np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]))
    dot = AffineFit.of(np.array([[4.0, 4.0], [4.0, 4.0]]))
    if kind == "torch":
        line = line.converted(lambda a: torch.tensor(a, dtype=torch.float64))
        dot = dot.converted(lambda a: torch.tensor(a, dtype=torch.float64))
    poses = np.array([[[0.0, 0.0], [0.0, 2.0], [0.0, 4.0]], [[3.0, 0.0], [3.0, -0.5], [3.0, -1.0]]])
    linear, translation = line.apply(_as(kind, poses))
    assert np.allclose(np.asarray(linear), [[[0.0, -2.0], [2.0, 0.0]], [[0.0, 0.5], [-0.5, 0.0]]], atol=1e-12)
    assert np.allclose(np.asarray(translation), [[0.0, 0.0], [3.0, 0.0]], atol=1e-12)
    # A single distinct point: the translation only, (4, 4) → (7, 1).
    linear, translation = dot.apply(_as(kind, np.array([[[7.0, 1.0], [7.0, 1.0]]])))
    assert np.allclose(np.asarray(linear), np.eye(2)) and np.allclose(np.asarray(translation), [[3.0, -3.0]])


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_collapses_by_hand(kind):
    # |det| ≤ 1e-9 · max(1, max |entry|²), or not finite. Small maps: diag(1e-5, 1e-5) has det
    # 1e-10 ≤ 1e-9 (collapsed) and diag(1e-4, 1e-4) 1e-8 (not). Large: diag(1e5, 1e-6) has det
    # 0.1 ≤ 1e-9 · 1e10 = 10 (collapsed), diag(1e5, 1e-3) det 100 (not). A rotation by 30° and a
    # reflection are not; NaN in the linear part or an infinite translation are.
    c, s = math.cos(math.pi / 6), math.sin(math.pi / 6)
    linear = np.array(
        [
            [[1e-5, 0.0], [0.0, 1e-5]],
            [[1e-4, 0.0], [0.0, 1e-4]],
            [[1e5, 0.0], [0.0, 1e-6]],
            [[1e5, 0.0], [0.0, 1e-3]],
            [[c, -s], [s, c]],
            [[-1.0, 0.0], [0.0, 1.0]],
            [[math.nan, 0.0], [0.0, 1.0]],
            [[1.0, 0.0], [0.0, 1.0]],
        ]
    )
    translation = np.zeros((len(linear), 2))
    translation[-1, 0] = math.inf
    flags = collapses(_as(kind, linear), _as(kind, translation))
    assert np.asarray(flags).tolist() == [True, False, True, False, False, False, True, True]
