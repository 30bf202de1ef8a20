"""Factorised symmetric positive definite solves, differentiable w.r.t. the right-hand side.

Every solve runs in float64 whatever the deformer's dtype; the backward of ``x = A⁻¹ b`` for
symmetric ``A`` is another solve with the same factor.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg
import torch
from torch import Tensor

from flexiclip_core.errors import MeshError

SOLVERS = ("auto", "sparse_lu", "dense_cholesky")
# "auto" solver: a dense factor on CUDA up to this many unknowns (N² float64 ≤ ~1.2 GB).
_DENSE_CUDA_MAX_UNKNOWNS = 12_000


class SymmetricFactor(Protocol):
    """A factorised symmetric positive definite matrix [N, N]."""

    size: int

    def solve(self, rhs: Tensor) -> Tensor:
        """A⁻¹ rhs for rhs [N, K]; result on rhs's device and dtype, computed in float64."""
        ...


class _SparseLuFactor:
    """SuperLU factor of a sparse SPD matrix, kept in host memory.

    Symmetric mode with a minimum-degree ordering of AᵀA + A and no pivoting: on SPD matrices
    this is a Cholesky-like LDU with the fill of a sparse Cholesky.
    """

    def __init__(self, matrix: sp.spmatrix) -> None:
        self.size = matrix.shape[0]
        self._lu = scipy.sparse.linalg.splu(
            sp.csc_matrix(matrix, dtype=np.float64),
            permc_spec="MMD_AT_PLUS_A",
            diag_pivot_thresh=0.0,
            options={"SymmetricMode": True},
        )

    def solve(self, rhs: Tensor) -> Tensor:
        host = rhs.detach().to(device="cpu", dtype=torch.float64).numpy()
        solution = self._lu.solve(np.ascontiguousarray(host))
        return torch.from_numpy(solution).to(device=rhs.device, dtype=rhs.dtype)


class _DenseCholeskyFactor:
    """Dense Cholesky factor on the deformer's device (fast on GPUs for a few thousand unknowns)."""

    def __init__(self, matrix: sp.spmatrix, device: torch.device) -> None:
        self.size = matrix.shape[0]
        dense = torch.as_tensor(matrix.toarray(), dtype=torch.float64, device=device)
        self._cholesky, info = torch.linalg.cholesky_ex(dense)
        if int(info) != 0:
            raise MeshError(f"deformation matrix is not positive definite (pivot {int(info)})")

    def solve(self, rhs: Tensor) -> Tensor:
        rhs64 = rhs.detach().to(device=self._cholesky.device, dtype=torch.float64)
        return torch.cholesky_solve(rhs64, self._cholesky).to(device=rhs.device, dtype=rhs.dtype)


class _FactorSolve(torch.autograd.Function):
    """x = A⁻¹ b with a prefactorised symmetric A; differentiable w.r.t. b (to any order)."""

    @staticmethod
    def forward(ctx, rhs: Tensor, factor: SymmetricFactor) -> Tensor:
        ctx.factor = factor
        return factor.solve(rhs)

    @staticmethod
    def backward(ctx, grad_solution: Tensor) -> tuple[Tensor, None]:
        # ∂L/∂b = A⁻ᵀ ∂L/∂x = A⁻¹ ∂L/∂x since A is symmetric.
        return _FactorSolve.apply(grad_solution, ctx.factor), None


def factorise(matrix: sp.spmatrix, solver: str, device: torch.device) -> SymmetricFactor:
    if solver == "auto":
        use_dense = device.type == "cuda" and matrix.shape[0] <= _DENSE_CUDA_MAX_UNKNOWNS
        solver = "dense_cholesky" if use_dense else "sparse_lu"
    if solver == "dense_cholesky":
        return _DenseCholeskyFactor(matrix, device)
    try:
        return _SparseLuFactor(matrix)
    except RuntimeError as error:  # SuperLU reports an exactly singular matrix this way
        raise MeshError(f"deformation matrix is singular: {error}") from error


def solve_vertex_first(factor: SymmetricFactor, rhs: Tensor) -> Tensor:
    """rhs [N, B, C] → A⁻¹ rhs [N, B, C]: every pose and coordinate in one solve of [N, B·C].

    Right-hand sides are assembled vertex-first so that scatters add contiguous rows and the
    solve needs no transpose.
    """
    size, batch, columns = rhs.shape
    solution = _FactorSolve.apply(rhs.reshape(size, batch * columns), factor)
    return solution.reshape(size, batch, columns)
