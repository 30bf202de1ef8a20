"""The ``jacobian`` deformer (FlexiClip): vertices from per-face Jacobians and soft handles by a
factorised Poisson solve (docs/method.md §5)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from flexiclip_core.deform.base import (
    DEFORMERS,
    MeshDeformer,
    check_targets,
    check_weight_and_solver,
    gradient_coefficients,
    handle_selector_gram,
)
from flexiclip_core.deform.solve import factorise, solve_vertex_first
from flexiclip_core.errors import ConfigError

logger = logging.getLogger(__name__)

POISSON_SYSTEMS = ("screened_poisson", "poisson_residual")


@dataclass(frozen=True)
class JacobianConfig:
    """Poisson (Jacobian-field) deformation (FlexiClip's pose deformation)."""

    handle_weight: float = 1.0
    """λ, the weight of the soft handle term λ‖K V − c‖² (docs/method.md §5: λ = 1)."""
    system: str = "screened_poisson"
    """Which least squares is solved. ``screened_poisson``: min Σ_f area_f ‖∇V_f − J_f‖² +
    λ‖KV − c‖², normal equations (L + λKᵀK) V = GᵀMJ + λKᵀc. ``poisson_residual``: docs/method.md §5's
    literal min ‖LV − GᵀMJ‖² + λ‖KV − c‖², normal equations (L² + λKᵀK) V = L GᵀMJ + λKᵀc.
    Both return V exactly when J = Jacobians of V and c = V's handles; the screened form is the
    default because it is the Jacobian-fit energy itself (the same system the dense stacked
    least squares [√M G; √λ K] solves) and it is far better conditioned (condition number ≈1e3
    vs ≈3e4 on the benchmark figure)."""
    solver: str = "auto"
    """Linear solver: ``sparse_lu``, ``dense_cholesky`` or ``auto`` (see `ArapConfig.solver`)."""

    def __post_init__(self) -> None:
        check_weight_and_solver(self.handle_weight, self.solver, "JacobianConfig")
        if self.system not in POISSON_SYSTEMS:
            raise ConfigError(f"JacobianConfig.system {self.system!r} not one of {POISSON_SYSTEMS}")


@DEFORMERS.register("jacobian")
class JacobianDeformer(MeshDeformer):
    """Vertices from per-face Jacobians and soft handles by a factorised Poisson solve.

    With G [2F, V] the per-face gradient operator, M the face areas (each repeated for the two
    gradient rows), L = GᵀMG the cotangent Laplacian and K [H, V] the handle selector, the
    default ``screened_poisson`` system minimises Σ_f area_f ‖∇V_f − J_f‖²_F + λ‖KV − c‖²,
    i.e. solves (L + λKᵀK) V = GᵀMJ + λKᵀc for both coordinates and all poses at once. Its
    minimiser reproduces V exactly when J are V's own Jacobians and c its handle positions (both
    terms vanish there). ``poisson_residual`` solves docs/method.md §5's literal ‖LV − GᵀMJ‖² + λ‖KV − c‖²
    instead (same exact-reproduction property). The matrix is SPD as soon as every component
    holds a handle; it is factorised once here.
    """

    needs_jacobians = True

    def __init__(
        self,
        rest_vertices: Tensor | np.ndarray,  # [V, 2] canvas px
        faces: Tensor | np.ndarray,  # [F, 3]
        handle_vertices: Tensor | np.ndarray,  # [H]
        config: JacobianConfig = JacobianConfig(),
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        *,
        clip: str | None = None,
    ) -> None:
        self.config = config
        mesh = self._set_rest_mesh(rest_vertices, faces, handle_vertices, device, dtype, clip)
        count = len(mesh.vertices)
        weight = config.handle_weight

        coefficients = gradient_coefficients(mesh.edge_inverses)  # [F, 3, 2]
        face_rows = np.arange(len(mesh.faces))
        gradient = sp.csr_matrix(
            (
                coefficients.transpose(0, 2, 1).ravel(),  # [F, 2(k), 3(corner)]
                (
                    np.repeat(2 * face_rows[:, None] + np.arange(2)[None, :], 3, axis=1).ravel(),
                    np.repeat(mesh.faces[:, None, :], 2, axis=1).ravel(),
                ),
            ),
            shape=(2 * len(mesh.faces), count),
        )
        laplacian = (gradient.T @ sp.diags(np.repeat(mesh.areas, 2)) @ gradient).tocsr()
        if config.system == "screened_poisson":
            system = laplacian + weight * handle_selector_gram(mesh.handles, count)
        else:
            system = laplacian @ laplacian + weight * handle_selector_gram(mesh.handles, count)
        self._factor = factorise(system.tocsc(), config.solver, self.device)

        self._area_gradient_coefficients = self._tensor(mesh.areas[:, None, None] * coefficients)
        self._face_corner_vertices = self.faces.reshape(-1)  # [3F]
        if config.system == "poisson_residual":
            laplacian_coo = laplacian.tocoo()
            self._laplacian_rows = self._tensor(laplacian_coo.row, torch.int64)
            self._laplacian_cols = self._tensor(laplacian_coo.col, torch.int64)
            self._laplacian_values = self._tensor(laplacian_coo.data)
        logger.debug("jacobian deformer: V=%d F=%d H=%d factorised", count, len(mesh.faces), len(mesh.handles))

    def divergence(self, jacobians: Tensor) -> Tensor:
        """GᵀMJ: [B, F, 2, 2] → [B, V, 2], the area-weighted divergence of the Jacobian field."""
        return self._divergence_vertex_first(jacobians.to(self.dtype)).permute(1, 0, 2)

    def _divergence_vertex_first(self, jacobians: Tensor) -> Tensor:
        # Row i of J_f is the target gradient of coordinate i on face f: [F, 3, B, 2] per corner.
        per_corner = torch.einsum("fck,bfik->fcbi", self._area_gradient_coefficients, jacobians)
        per_corner = per_corner.reshape(3 * self.num_faces, jacobians.shape[0], 2)
        out = jacobians.new_zeros(self.num_vertices, jacobians.shape[0], 2)
        return out.index_add(0, self._face_corner_vertices, per_corner)

    def __call__(self, handle_targets: Tensor, jacobians: Tensor) -> Tensor:
        """Vertices [B, V, 2] for handle targets [B, H, 2] and face Jacobians [B, F, 2, 2].

        Differentiable w.r.t. both inputs.
        """
        check_targets(handle_targets, self.num_handles)
        if (
            jacobians.ndim != 4
            or jacobians.shape[1:] != (self.num_faces, 2, 2)
            or (jacobians.shape[0] != handle_targets.shape[0])
        ):
            raise ValueError(
                f"jacobians must be [{handle_targets.shape[0]}, {self.num_faces}, 2, 2], got {tuple(jacobians.shape)}"
            )
        rhs = self._divergence_vertex_first(jacobians.to(self.dtype))  # [V, B, 2]
        if self.config.system == "poisson_residual":
            rhs = self._apply_laplacian(rhs)
        handle_rhs = self.config.handle_weight * handle_targets.to(self.dtype).transpose(0, 1)
        rhs = rhs.index_add(0, self.handle_vertices, handle_rhs)
        return solve_vertex_first(self._factor, rhs).permute(1, 0, 2).contiguous()

    def _apply_laplacian(self, values: Tensor) -> Tensor:
        """L values for values [V, B, 2] (sparse product by gather + scatter, any device)."""
        products = self._laplacian_values[:, None, None] * values[self._laplacian_cols]
        return torch.zeros_like(values).index_add(0, self._laplacian_rows, products)
