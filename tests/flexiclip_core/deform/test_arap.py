"""The ``arap`` (two-step ARAP) deformer."""

from __future__ import annotations

import math

import numpy as np
import torch

from flexiclip_core.deform import (
    ArapDeformer,
    JacobianDeformer,
)
from tests.flexiclip_core.deform.meshes import deform, grid_mesh, make, rotation


def test_arap_gradients_match_finite_differences() -> None:
    deformer = make("arap", "two_components", dtype=torch.float64)
    generator = torch.Generator().manual_seed(11)
    targets = deformer.rest_vertices[deformer.handle_vertices][None].repeat(2, 1, 1)
    targets = targets + 4.0 * torch.randn(targets.shape, generator=generator, dtype=torch.float64)
    assert torch.autograd.gradcheck(deformer, (targets.requires_grad_(True),))


def bend_case() -> tuple[ArapDeformer, torch.Tensor]:
    """A 100×20 px strip, left end held, right end swung by 90° along the arc it would bend on."""
    vertices, faces = grid_mesh(20, 4, cell_px=5.0, origin=(0.0, 0.0))
    left = np.flatnonzero(vertices[:, 0] == 0.0)
    right = np.flatnonzero(vertices[:, 0] == 100.0)
    handles = np.concatenate([left, right])
    deformer = ArapDeformer(vertices, faces, handles, dtype=torch.float64)
    angle = math.pi / 2
    radius = 100.0 / angle  # arc through the strip's centre line keeps its length
    centre = torch.tensor([0.0, 10.0 + radius], dtype=torch.float64)
    right_rest = torch.tensor(vertices[right])
    # The right end ends up tangent to the arc: rotate it about the arc centre by the arc angle.
    rotated = (right_rest - torch.tensor([100.0, 0.0], dtype=torch.float64)) @ rotation(angle).T
    end_of_arc = centre + radius * torch.tensor([math.sin(angle), -math.cos(angle)], dtype=torch.float64)
    right_targets = rotated + (end_of_arc - rotated.mean(dim=0))
    targets = torch.cat([torch.tensor(vertices[left]), right_targets])[None]
    return deformer, targets


def face_areas(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    corners = vertices[..., faces, :]
    first, second = corners[..., 1, :] - corners[..., 0, :], corners[..., 2, :] - corners[..., 0, :]
    return 0.5 * (first[..., 0] * second[..., 1] - first[..., 1] * second[..., 0]).abs()


def test_arap_bend_is_nearly_rigid_and_more_rigid_than_its_similarity_step() -> None:
    deformer, targets = bend_case()
    bent = deformer(targets)[0]
    intermediate = deformer.similarity_step(targets)[0]
    assert (bent[deformer.handle_vertices] - targets[0]).abs().max() < 0.05  # soft handles, w = 3000
    total_area = deformer.face_areas.sum()
    assert abs(float(face_areas(bent, deformer.faces).sum() / total_area) - 1) < 0.01

    def area_change(vertices: torch.Tensor) -> torch.Tensor:
        return (face_areas(vertices, deformer.faces) / deformer.face_areas - 1).abs()

    # A 20 px thick strip bent on a 64 px radius must compress its inner side and stretch its
    # outer side by ±10/64 ≈ 16% (mean ≈ 8%); ARAP stays close to that, step 1 does not.
    assert area_change(bent).mean() < 0.10 and area_change(bent).max() < 0.22
    assert area_change(bent).mean() < 0.6 * area_change(intermediate).mean()

    def rigidity_error(vertices: torch.Tensor) -> torch.Tensor:
        jacobians = deformer.jacobians(vertices)
        left, _, right = torch.linalg.svd(jacobians)
        nearest_rotation = left @ right
        return torch.linalg.matrix_norm(jacobians - nearest_rotation).mean()

    # The strip really bends (its tip turned by 90°), yet stays locally rigid.
    assert (bent - deformer.rest_vertices).norm(dim=1).max() > 30.0
    assert rigidity_error(bent) < 0.1
    assert rigidity_error(bent) < 0.85 * rigidity_error(intermediate)


def test_arap_single_handle_component_follows_its_handle_by_translation() -> None:
    first_vertices, first_faces = grid_mesh(3, 3)
    second_vertices, second_faces = grid_mesh(2, 2, origin=(150.0, 150.0))
    vertices = np.concatenate([first_vertices, second_vertices])
    faces = np.concatenate([first_faces, second_faces + len(first_vertices)])
    lone = len(first_vertices) + 4  # centre of the second grid, its only handle
    deformer = ArapDeformer(vertices, faces, np.array([0, 15, lone]), dtype=torch.float64)
    rest = deformer.rest_vertices
    targets = rest[deformer.handle_vertices].clone()
    targets[0] += torch.tensor([0.0, 20.0], dtype=torch.float64)  # deform the first component
    targets[2] += torch.tensor([-9.0, 4.0], dtype=torch.float64)
    out = deformer(targets[None])[0]
    second = slice(len(first_vertices), None)
    torch.testing.assert_close(out[second], rest[second] + torch.tensor([-9.0, 4.0], dtype=torch.float64))
    assert (out[: len(first_vertices)] - rest[: len(first_vertices)]).abs().max() > 1.0
    jacobian = JacobianDeformer(vertices, faces, np.array([0, 15, lone]), dtype=torch.float64)
    out = deform(jacobian, targets[None])[0]
    torch.testing.assert_close(out[second], rest[second] + torch.tensor([-9.0, 4.0], dtype=torch.float64))
