"""Factorised solves: dense Cholesky against sparse LU, CUDA against CPU."""

from __future__ import annotations

import pytest
import torch

from flexiclip_core.deform import (
    ArapConfig,
    ArapDeformer,
    JacobianConfig,
    JacobianDeformer,
)
from tests.flexiclip_core.deform.meshes import deform, make, rigid_motion, two_components_case


@pytest.mark.parametrize("kind", ["arap", "jacobian"])
def test_dense_cholesky_solver_matches_sparse_lu(kind: str) -> None:
    sparse = make(kind, "two_components", dtype=torch.float64, solver="sparse_lu")
    dense = make(kind, "two_components", dtype=torch.float64, solver="dense_cholesky")
    targets = rigid_motion(sparse.rest_vertices[sparse.handle_vertices], 0.5)[None]
    targets = targets + torch.linspace(0, 3, targets.numel(), dtype=torch.float64).view_as(targets)
    torch.testing.assert_close(deform(dense, targets), deform(sparse, targets), rtol=0, atol=1e-9)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("kind", ["arap", "jacobian"])
@pytest.mark.parametrize("solver", ["auto", "sparse_lu"])
def test_cuda_matches_cpu(kind: str, solver: str) -> None:
    vertices, faces, handles = two_components_case()
    cls, config = (
        (ArapDeformer, ArapConfig(solver=solver))
        if kind == "arap"
        else (JacobianDeformer, JacobianConfig(solver=solver))
    )
    cpu = cls(vertices, faces, handles, config)
    cuda = cls(vertices, faces, handles, config, device="cuda")
    targets = rigid_motion(cpu.rest_vertices.double()[handles], 0.7).float()[None]
    targets = targets.clone().requires_grad_(True)
    on_gpu = deform(cuda, targets.cuda())
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), deform(cpu, targets), atol=1e-4, rtol=0)
    on_gpu.sum().backward()
    assert targets.grad is not None and torch.isfinite(targets.grad).all()
