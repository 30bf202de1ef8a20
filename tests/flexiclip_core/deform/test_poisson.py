"""The ``jacobian`` (Poisson) deformer."""

from __future__ import annotations

import pytest
import torch

from tests.flexiclip_core.deform.meshes import CASES, deform, make, rigid_motion


@pytest.mark.parametrize("system", ["screened_poisson", "poisson_residual"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_jacobian_solve_reproduces_any_mesh_from_its_own_jacobians(case: str, system: str) -> None:
    deformer = make("jacobian", case, dtype=torch.float64, system=system)
    rest = deformer.rest_vertices
    generator = torch.Generator().manual_seed(5)
    # A smooth nonlinear warp plus noise: nothing a rigid or affine special case could fake.
    warped = (
        rest + 8.0 * torch.sin(rest.flip(-1) / 17.0) + torch.randn(rest.shape, generator=generator, dtype=torch.float64)
    )
    poses = torch.stack((warped, rigid_motion(warped, 1.1)))
    out = deformer(poses[:, deformer.handle_vertices], deformer.jacobians(poses))
    assert (out - poses).abs().max() <= 1e-4


def test_jacobian_handles_only_pin_what_the_jacobians_leave_free() -> None:
    """With identity Jacobians, moving every handle by the same offset translates the mesh."""
    deformer = make("jacobian", "square", dtype=torch.float64)
    targets = deformer.rest_vertices[deformer.handle_vertices][None] + torch.tensor([12.0, -3.0], dtype=torch.float64)
    out = deform(deformer, targets)
    torch.testing.assert_close(out[0], deformer.rest_vertices + torch.tensor([12.0, -3.0], dtype=torch.float64))


def test_jacobian_divergence_of_rest_jacobians_is_laplacian_of_rest() -> None:
    """GᵀM·I = L·rest: zero at interior vertices (linear functions are harmonic), and it sums to
    zero (every face's gradient coefficients do)."""
    deformer = make("jacobian", "l_shape", dtype=torch.float64)
    identity = torch.eye(2, dtype=torch.float64).expand(1, deformer.num_faces, 2, 2)
    divergence = deformer.divergence(identity)[0]
    # Interior vertices of a flat mesh have zero Laplacian of the linear coordinate functions.
    on_boundary = divergence.abs().sum(dim=1) > 1e-9
    assert 0 < int(on_boundary.sum()) < deformer.num_vertices
    assert torch.allclose(divergence.sum(dim=0), torch.zeros(2, dtype=torch.float64), atol=1e-9)


def test_jacobian_gradients_match_finite_differences() -> None:
    deformer = make("jacobian", "two_components", dtype=torch.float64)
    generator = torch.Generator().manual_seed(7)
    targets = deformer.rest_vertices[deformer.handle_vertices][None].repeat(2, 1, 1)
    targets = (targets + torch.randn(targets.shape, generator=generator, dtype=torch.float64)).requires_grad_(True)
    jacobians = torch.eye(2, dtype=torch.float64) + 0.3 * torch.randn(
        2, deformer.num_faces, 2, 2, generator=generator, dtype=torch.float64
    )
    jacobians.requires_grad_(True)
    assert torch.autograd.gradcheck(deformer, (targets, jacobians))
    residual = make("jacobian", "square", dtype=torch.float64, system="poisson_residual")
    targets2 = residual.rest_vertices[residual.handle_vertices][None].clone().requires_grad_(True)
    jacobians2 = torch.eye(2, dtype=torch.float64).repeat(1, residual.num_faces, 1, 1).requires_grad_(True)
    assert torch.autograd.gradcheck(residual, (targets2, jacobians2))


def test_jacobian_second_order_gradients_flow() -> None:
    deformer = make("jacobian", "square", dtype=torch.float64)
    targets = deformer.rest_vertices[deformer.handle_vertices][None].clone().requires_grad_(True)
    jacobians = (torch.eye(2, dtype=torch.float64) * 1.1).repeat(1, deformer.num_faces, 1, 1).requires_grad_(True)
    assert torch.autograd.gradgradcheck(deformer, (targets, jacobians))
