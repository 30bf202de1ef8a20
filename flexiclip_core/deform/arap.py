"""The ``arap`` deformer (AniClipart): two-step closed-form as-rigid-as-possible manipulation of
Igarashi, Moscovich & Hughes (2005) (docs/method.md §5)."""

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
    handle_selector_gram,
    triangle_edge_operator,
)
from flexiclip_core.deform.solve import factorise, solve_vertex_first

logger = logging.getLogger(__name__)

# Keeps the rotation normalisation differentiable when a fitted triangle collapses to a point.
_ROTATION_EPS = 1e-12


@dataclass(frozen=True)
class ArapConfig:
    """Two-step as-rigid-as-possible deformation (AniClipart's pose deformation)."""

    handle_weight: float = 3000.0
    """Energy weight of the soft handle constraints ‖v_h − c_h‖² in both steps, relative to the
    per-triangle energies: AniClipart's number, which there weights least-squares rows (energy
    9e6); handles stay within 0.03 px of their targets either way (docs/method.md §12)."""
    solver: str = "auto"
    """Linear solver: ``sparse_lu`` (scipy SuperLU, host memory), ``dense_cholesky`` (torch, on
    the deformer's device) or ``auto`` (sparse on CPU; dense on CUDA up to 12k unknowns)."""

    def __post_init__(self) -> None:
        check_weight_and_solver(self.handle_weight, self.solver, "ArapConfig")


@DEFORMERS.register("arap")
class ArapDeformer(MeshDeformer):
    """Two-step closed-form as-rigid-as-possible deformation with soft handles.

    Step 1 (similarity): for each triangle and each of its corners k opposite the edge i→j, the
    rest corner has local coordinates (x, y) with v_k − v_i = x d + y P d, d = v_j − v_i and P
    the 90° rotation. The energy Σ ‖v'_k − v'_i − x d' − y P d'‖² + w Σ_h ‖v'_h − c_h‖² is zero
    for any similarity of the rest mesh; its normal equations couple x and y ([2V, 2V]).
    Step 2 (scale adjustment): each triangle of the step-1 result is fitted by a similarity of
    its rest triangle (closed form), normalised to a rotation R_f; then
    Σ_f Σ_edges ‖(v'_j − v'_i) − R_f (v_j − v_i)‖² + w Σ_h ‖v'_h − c_h‖² is solved ([V, V], the
    same matrix for x and y). Both matrices depend only on the rest mesh and handles and are
    factorised once here.

    A component with a single handle does not fix rotation and scale in step 1; for those
    components step 1 also minimises Σ_edges ‖(v'_j − v'_i) − (v_j − v_i)‖², which selects the
    pure translation among the (all zero-energy) similarities and leaves other components alone.
    """

    needs_jacobians = False

    def __init__(
        self,
        rest_vertices: Tensor | np.ndarray,  # [V, 2] canvas px
        faces: Tensor | np.ndarray,  # [F, 3]
        handle_vertices: Tensor | np.ndarray,  # [H]
        config: ArapConfig = ArapConfig(),
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        *,
        clip: str | None = None,
    ) -> None:
        self.config = config
        mesh = self._set_rest_mesh(rest_vertices, faces, handle_vertices, device, dtype, clip)
        count = len(mesh.vertices)
        weight = config.handle_weight
        handle_gram = handle_selector_gram(mesh.handles, count)

        # Step 1 matrix over unknowns [x_0 … x_{V-1}, y_0 … y_{V-1}].
        similarity_residuals = _similarity_residual_operator(mesh.vertices, mesh.faces)
        edge_operator = triangle_edge_operator(mesh.faces, count)
        single_handle_faces = mesh.handles_per_component[mesh.component_of_vertex[mesh.faces[:, 0]]] == 1
        translation_rows = np.tile(single_handle_faces, 3)  # rows of D follow (edge, face) order
        translation_operator = sp.diags(translation_rows.astype(np.float64)) @ edge_operator
        translation_gram = (translation_operator.T @ translation_operator).tocsr()
        step1 = (
            similarity_residuals.T @ similarity_residuals
            + sp.block_diag((translation_gram, translation_gram))
            + weight * sp.block_diag((handle_gram, handle_gram))
        )
        self._similarity_factor = factorise(step1.tocsc(), config.solver, self.device)
        # Constant right-hand side of the translation term: DᵀD v_rest for each coordinate.
        translation_rhs = translation_gram @ mesh.vertices  # [V, 2]

        # Step 2 matrix: edge-matching Laplacian DᵀD + w KᵀK, shared by x and y.
        step2 = edge_operator.T @ edge_operator + weight * handle_gram
        self._edge_factor = factorise(step2.tocsc(), config.solver, self.device)

        self._translation_rhs = self._tensor(translation_rhs.T[:, :, None])  # [2, V, 1]
        corners = mesh.vertices[mesh.faces]  # [F, 3, 2]
        centred = corners - corners.mean(axis=1, keepdims=True)
        self._rest_centred_corners = self._tensor(centred)  # [F, 3, 2]
        self._rest_centred_norms = self._tensor((centred**2).sum(axis=(1, 2)))  # [F] Σ|p|²
        rest_edges = np.concatenate(
            [corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 1], corners[:, 0] - corners[:, 2]]
        )
        self._rest_edges = self._tensor(rest_edges.reshape(3, -1, 2))  # [3, F, 2] (edge, face)
        # Step-2 right-hand side Dᵀ(R d) + w Kᵀc as one scatter: edge heads, edge tails, handles.
        heads = np.concatenate([mesh.faces[:, 1], mesh.faces[:, 2], mesh.faces[:, 0]])
        tails = np.concatenate([mesh.faces[:, 0], mesh.faces[:, 1], mesh.faces[:, 2]])
        self._step2_scatter_index = self._tensor(np.concatenate([heads, tails, mesh.handles]), torch.int64)
        logger.debug("arap deformer: V=%d F=%d H=%d factorised", count, len(mesh.faces), len(mesh.handles))

    def similarity_step(self, handle_targets: Tensor) -> Tensor:
        """Step 1 only: the similarity-invariant solution [B, V, 2] for targets [B, H, 2]."""
        check_targets(handle_targets, self.num_handles)
        return self._similarity_step_vertex_first(handle_targets.to(self.dtype)).permute(1, 0, 2)

    def _similarity_step_vertex_first(self, handle_targets: Tensor) -> Tensor:
        """[B, H, 2] → [V, B, 2]."""
        batch = handle_targets.shape[0]
        # Step-1 unknowns are all x then all y: right-hand side [2, V, B] → [2V, B].
        weighted = self.config.handle_weight * handle_targets.permute(2, 1, 0)  # [2, H, B]
        rhs = self._translation_rhs.expand(-1, -1, batch).index_add(1, self.handle_vertices, weighted)
        solution = solve_vertex_first(self._similarity_factor, rhs.reshape(2 * self.num_vertices, batch, 1))
        return solution.reshape(2, self.num_vertices, batch).permute(1, 2, 0)

    def fitted_rotations(self, vertices: Tensor) -> Tensor:
        """Per-face rotations [B, F, 2, 2] of the best similarity fit rest → vertices [B, V, 2].

        Minimising Σ_corners ‖q − (a p + b P p)‖² over a, b (p, q centred rest and deformed
        corners) gives a = Σ p·q / Σ|p|², b = Σ p×q / Σ|p|²; dividing by √(a² + b²) removes
        the scale (Igarashi et al. 2005, step 2).
        """
        cosine, sine = self._fitted_rotation_angles(vertices.to(self.dtype).transpose(0, 1))
        return torch.stack((torch.stack((cosine, -sine), -1), torch.stack((sine, cosine), -1)), -2).transpose(0, 1)

    def _fitted_rotation_angles(self, vertices: Tensor) -> tuple[Tensor, Tensor]:
        """vertices [V, B, 2] → (cos θ_f, sin θ_f), each [F, B]."""
        corners = vertices[self.faces]  # [F, 3, B, 2]
        deformed = corners - corners.mean(dim=1, keepdim=True)
        rest = self._rest_centred_corners[:, :, None, :]  # [F, 3, 1, 2]
        cosine = (rest * deformed).sum(dim=(1, 3))
        sine = (rest[..., 0] * deformed[..., 1] - rest[..., 1] * deformed[..., 0]).sum(dim=1)
        # The common 1/Σ|p|² factor cancels in the normalisation; the epsilon is relative to it.
        scale = torch.sqrt(cosine**2 + sine**2 + _ROTATION_EPS * self._rest_centred_norms[:, None] ** 2)
        return cosine / scale, sine / scale

    def __call__(self, handle_targets: Tensor) -> Tensor:
        """Deformed vertices [B, V, 2] for handle targets [B, H, 2]; differentiable."""
        check_targets(handle_targets, self.num_handles)
        handle_targets = handle_targets.to(self.dtype)
        intermediate = self._similarity_step_vertex_first(handle_targets)  # [V, B, 2]
        cosine, sine = self._fitted_rotation_angles(intermediate)  # [F, B]
        # R_f d for the rest edges d, rows in (edge, face) order like the edge operator.
        edges = self._rest_edges[:, :, None, :]  # [3, F, 1, 2]
        rotated = torch.stack(
            (cosine * edges[..., 0] - sine * edges[..., 1], sine * edges[..., 0] + cosine * edges[..., 1]), dim=-1
        )  # [3, F, B, 2]
        rotated = rotated.reshape(3 * self.num_faces, -1, 2)
        sources = torch.cat((rotated, -rotated, self.config.handle_weight * handle_targets.transpose(0, 1)), dim=0)
        rhs = intermediate.new_zeros(intermediate.shape).index_add(0, self._step2_scatter_index, sources)
        return solve_vertex_first(self._edge_factor, rhs).permute(1, 0, 2).contiguous()


def _similarity_residual_operator(vertices: np.ndarray, faces: np.ndarray) -> sp.csr_matrix:
    """C [6F, 2V]: the step-1 residuals r = v'_k − v'_i − x d' − y P d' for every face corner.

    Residual rows are (corner-case, face, coordinate); unknowns are all x then all y.
    Per corner the coefficient blocks are I for v'_k, (x − 1) I + y P for v'_i and −x I − y P
    for v'_j, with P = [[0, −1], [1, 0]].
    """
    count = len(vertices)
    face_count = len(faces)
    rotate = np.array([[0.0, -1.0], [1.0, 0.0]])
    identity = np.eye(2)
    row_blocks, col_blocks, values = [], [], []
    for case, (i, j, k) in enumerate(((0, 1, 2), (1, 2, 0), (2, 0, 1))):
        tails, heads, apexes = faces[:, i], faces[:, j], faces[:, k]
        edge = vertices[heads] - vertices[tails]
        offset = vertices[apexes] - vertices[tails]
        squared = (edge**2).sum(axis=1)
        x = (offset * edge).sum(axis=1) / squared
        y = (offset * (edge @ rotate.T)).sum(axis=1) / squared
        blocks = (
            (apexes, np.broadcast_to(identity, (face_count, 2, 2))),
            (tails, (x - 1)[:, None, None] * identity + y[:, None, None] * rotate),
            (heads, -x[:, None, None] * identity - y[:, None, None] * rotate),
        )
        for vertex, block in blocks:
            for row_coord in range(2):
                for col_coord in range(2):
                    row_blocks.append(2 * (case * face_count + np.arange(face_count)) + row_coord)
                    col_blocks.append(col_coord * count + vertex)
                    values.append(block[:, row_coord, col_coord])
    return sp.csr_matrix(
        (np.concatenate(values), (np.concatenate(row_blocks), np.concatenate(col_blocks))),
        shape=(6 * face_count, 2 * count),
    )
