"""Known answers for the deformers (docs/method.md §5), worked by hand on five-vertex meshes.

The square [0, 4]² with its centre (2, 2) split into four right triangles: the cotangent
weight of every centre–corner edge is ½(cot 45° + cot 45°) = 1 and that of every boundary
edge ½ cot 90° = 0, so the Dirichlet energy Σ_f area_f ‖∇V_f‖² is Σ_k |v_k − v_centre|². With
the four corners as handles at their rest positions and the Jacobian field J = j·I on every
face, the square's symmetry makes the solution a scaling about the centre by k, and

    Σ_f area_f ‖∇V_f − jI‖² + λ Σ_k |v_k − c_k|² = 32 (k − j)² + 32 λ (k − 1)²

(4 faces × area 4 × ‖(k − j)I‖²_F; 4 corners × |v_k − centre|² = 8), minimised at
k = (j + λ)/(1 + λ). The literal ‖L V − GᵀMJ‖² + λ‖KV − c‖² has the same minimiser here, since
L v_corner = v_corner − v_centre and L v_centre = 0.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from flexiclip_core.deform import ArapConfig, ArapDeformer, JacobianConfig, JacobianDeformer

SQUARE = np.array([[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0], [2.0, 2.0]])
SQUARE_FACES = np.array([[0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]])
CORNERS = np.array([0, 1, 2, 3])


def _rotation(theta: float) -> np.ndarray:
    return np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])


@pytest.mark.parametrize("system", ["screened_poisson", "poisson_residual"])
@pytest.mark.parametrize(("scale", "weight"), [(0.0, 1.0), (2.0, 1.0), (0.0, 3.0), (2.0, 0.5)])
def test_jacobian_solve_on_the_square_is_the_hand_minimiser(system: str, scale: float, weight: float) -> None:
    deformer = JacobianDeformer(
        SQUARE, SQUARE_FACES, CORNERS, JacobianConfig(handle_weight=weight, system=system), dtype=torch.float64
    )
    targets = torch.tensor(SQUARE[CORNERS])[None]
    jacobians = scale * torch.eye(2, dtype=torch.float64).expand(1, 4, 2, 2)
    vertices = deformer(targets, jacobians)[0].numpy()
    k = (scale + weight) / (1.0 + weight)
    expected = SQUARE[4] + k * (SQUARE - SQUARE[4])
    np.testing.assert_allclose(vertices, expected, atol=1e-9)
    # e.g. J = 0, λ = 1: the corner (0, 0) lands halfway to the centre, at (1, 1).
    if scale == 0.0 and weight == 1.0:
        np.testing.assert_allclose(vertices[0], [1.0, 1.0], atol=1e-9)


def test_jacobian_divergence_at_the_interior_vertex_and_a_corner() -> None:
    # GᵀM(J) for J = I is L v_rest: 0 at the centre (weights balance), v_corner − v_centre at a
    # corner; for the rotation J = R(90°) it is R applied per face, so L (R v) at the corner.
    deformer = JacobianDeformer(SQUARE, SQUARE_FACES, CORNERS, dtype=torch.float64)
    identity = torch.eye(2, dtype=torch.float64).expand(1, 4, 2, 2)
    divergence = deformer.divergence(identity)[0].numpy()
    np.testing.assert_allclose(divergence[4], [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(divergence[0], [-2.0, -2.0], atol=1e-12)
    np.testing.assert_allclose(divergence[2], [2.0, 2.0], atol=1e-12)
    quarter = torch.tensor(_rotation(math.pi / 2)).expand(1, 4, 2, 2)
    rotated = deformer.divergence(quarter)[0].numpy()
    np.testing.assert_allclose(rotated[0], _rotation(math.pi / 2) @ [-2.0, -2.0], atol=1e-12)


def test_face_jacobian_of_a_shear_at_one_face() -> None:
    deformer = JacobianDeformer(SQUARE, SQUARE_FACES, CORNERS, dtype=torch.float64)
    shear = np.array([[1.0, 0.5], [0.0, 1.0]])
    moved = torch.tensor(SQUARE @ shear.T + [3.0, -1.0])[None]
    np.testing.assert_allclose(deformer.jacobians(moved)[0, 2].numpy(), shear, atol=1e-12)


def _triangle_deformer(weight: float) -> ArapDeformer:
    triangle = np.array([[10.0, 10.0], [40.0, 12.0], [18.0, 35.0]])
    return ArapDeformer(triangle, np.array([[0, 1, 2]]), np.array([0, 1, 2]), ArapConfig(handle_weight=weight))


@pytest.mark.parametrize(("scale", "weight"), [(2.0, 3.0), (0.5, 3.0), (2.0, 1.5)])
def test_arap_scaled_handles_give_the_hand_compromise(scale: float, weight: float) -> None:
    # Handles scaled by s about the centroid: step 1 reproduces the similarity exactly, its
    # fitted rotation is the identity, and step 2 minimises Σ_edges |k e − e|² + w Σ |k p − s p|²
    # (p centred corners, Σ_edges |e|² = 3 Σ |p|² for a triangle): k = (3 + w s)/(3 + w).
    deformer = _triangle_deformer(weight)
    rest = deformer.rest_vertices.double()
    centroid = rest.mean(0)
    targets = (centroid + scale * (rest - centroid)).float()[None]
    np.testing.assert_allclose(deformer.similarity_step(targets)[0].numpy(), targets[0].numpy(), atol=1e-4)
    k = (3.0 + weight * scale) / (3.0 + weight)
    expected = centroid + k * (rest - centroid)
    np.testing.assert_allclose(deformer(targets)[0].double().numpy(), expected.numpy(), atol=1e-4)


def test_arap_fitted_rotation_of_a_scaled_rotated_mesh_is_the_rotation() -> None:
    deformer = ArapDeformer(SQUARE, SQUARE_FACES, CORNERS)
    theta = 0.3
    moved = torch.tensor(2.5 * SQUARE @ _rotation(theta).T + [7.0, -3.0], dtype=torch.float32)[None]
    rotations = deformer.fitted_rotations(moved)[0].numpy()
    for face in range(4):
        np.testing.assert_allclose(rotations[face], _rotation(theta), atol=1e-5)
    # And the whole deformation reproduces that rotation, unscaled, when the handles only rotate.
    rigid = torch.tensor(SQUARE @ _rotation(theta).T + [7.0, -3.0], dtype=torch.float32)[None]
    np.testing.assert_allclose(deformer(rigid[:, CORNERS])[0].numpy(), rigid[0].numpy(), atol=1e-4)
