"""Mesh deformers: from handle (keypoint) targets to deformed mesh vertices (method.md §3).

Two deformers share one interface: built once per clip from the rest mesh and the handle set
(every matrix that depends only on those is assembled and factorised at construction), then
called per optimisation step with a batch of poses, where only triangular solves remain.

- ``arap`` (AniClipart): the two-step closed-form as-rigid-as-possible manipulation of Igarashi,
  Moscovich & Hughes (2005): a similarity-invariant quadratic energy gives intermediate vertices,
  then per-triangle rotations fitted to them drive an edge-matching least squares.
- ``jacobian`` (FlexiClip): Poisson reconstruction of vertices from per-face Jacobians with soft
  handles.

Inputs are plain arrays: ``rest_vertices`` [V, 2] canvas px, ``faces`` [F, 3] vertex indices
(either orientation; orientation never matters here), ``handle_vertices`` [H] vertex indices.
The mesh may be a disjoint union of components; each component needs at least one handle.

Every solve runs in float64 whatever the deformer's dtype (condition numbers reach 1e3 to 7e5 on
the benchmark figure, too many for float32 at sub-pixel accuracy) and is differentiable: the
backward of ``x = A⁻¹ b`` for symmetric ``A`` is another solve with the same factor.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph
import scipy.sparse.linalg
import torch
from torch import Tensor

from flexiclip_core.errors import ConfigError, MeshError
from flexiclip_core.registry import Registry

logger = logging.getLogger(__name__)

DEFORMERS: Registry[type] = Registry("deformer")
"""Deformer classes by name (``arap``, ``jacobian``); configs select one by string."""

SOLVERS = ("auto", "sparse_lu", "dense_cholesky")
POISSON_SYSTEMS = ("screened_poisson", "poisson_residual")

# A triangle with less area than this (px²) has no usable Jacobian.
_MIN_FACE_AREA_PX2 = 1e-9
# "auto" solver: a dense factor on CUDA up to this many unknowns (N² float64 ≤ ~1.2 GB).
_DENSE_CUDA_MAX_UNKNOWNS = 12_000
# Keeps the rotation normalisation differentiable when a fitted triangle collapses to a point.
_ROTATION_EPS = 1e-12


@dataclass(frozen=True)
class ArapConfig:
    """Two-step as-rigid-as-possible deformation (AniClipart's pose deformation)."""

    handle_weight: float = 3000.0
    """Weight of the soft handle constraints ‖v_h − c_h‖² in both steps, relative to the
    per-triangle energies (AniClipart's value)."""
    solver: str = "auto"
    """Linear solver: ``sparse_lu`` (scipy SuperLU, host memory), ``dense_cholesky`` (torch, on
    the deformer's device) or ``auto`` (sparse on CPU; dense on CUDA up to 12k unknowns)."""

    def __post_init__(self) -> None:
        _check_weight_and_solver(self.handle_weight, self.solver, "ArapConfig")


@dataclass(frozen=True)
class JacobianConfig:
    """Poisson (Jacobian-field) deformation (FlexiClip's pose deformation)."""

    handle_weight: float = 1.0
    """λ, the weight of the soft handle term λ‖K V − c‖² (method.md: λ = 1)."""
    system: str = "screened_poisson"
    """Which least squares is solved. ``screened_poisson``: min Σ_f area_f ‖∇V_f − J_f‖² +
    λ‖KV − c‖², normal equations (L + λKᵀK) V = GᵀMJ + λKᵀc. ``poisson_residual``: method.md's
    literal min ‖LV − GᵀMJ‖² + λ‖KV − c‖², normal equations (L² + λKᵀK) V = L GᵀMJ + λKᵀc.
    Both return V exactly when J = Jacobians of V and c = V's handles; the screened form is the
    default because it is the Jacobian-fit energy itself (the same system the dense stacked
    least squares [√M G; √λ K] solves) and it is far better conditioned (condition number ≈1e3
    vs ≈3e4 on the benchmark figure)."""
    solver: str = "auto"
    """Linear solver: ``sparse_lu``, ``dense_cholesky`` or ``auto`` (see `ArapConfig.solver`)."""

    def __post_init__(self) -> None:
        _check_weight_and_solver(self.handle_weight, self.solver, "JacobianConfig")
        if self.system not in POISSON_SYSTEMS:
            raise ConfigError(f"JacobianConfig.system {self.system!r} not one of {POISSON_SYSTEMS}")


def _check_weight_and_solver(handle_weight: float, solver: str, owner: str) -> None:
    if not (np.isfinite(handle_weight) and handle_weight > 0):
        raise ConfigError(f"{owner}.handle_weight must be a positive number, got {handle_weight!r}")
    if solver not in SOLVERS:
        raise ConfigError(f"{owner}.solver {solver!r} not one of {SOLVERS}")


# --------------------------------------------------------------------------------------------
# Per-face Jacobians
# --------------------------------------------------------------------------------------------


def rest_edge_inverses(rest_vertices: Tensor, faces: Tensor) -> Tensor:
    """E_f⁻¹ for every face, E_f = [b − a, c − a] (edge vectors as columns).

    rest_vertices: [V, 2]; faces: [F, 3] → [F, 2, 2]. Computed in float64, returned in the dtype
    of ``rest_vertices``.
    """
    rest64 = rest_vertices.to(torch.float64)
    corners = rest64[faces.long()]  # [F, 3, 2]
    edges = torch.stack((corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), dim=-1)
    return torch.linalg.inv(edges).to(rest_vertices.dtype)


def face_jacobians(
    rest_vertices: Tensor,
    faces: Tensor,
    vertices: Tensor,
    *,
    edge_inverses: Tensor | None = None,
) -> Tensor:
    """Per-face deformation gradients J_f = E'_f E_f⁻¹ (method.md §3), one batched op.

    rest_vertices: [V, 2]; faces: [F, 3]; vertices: [..., V, 2] deformed positions.
    edge_inverses: [F, 2, 2] precomputed `rest_edge_inverses` (computed here when absent).
    Returns [..., F, 2, 2] with J[..., f, i, k] = ∂x'_i/∂x_k on face f. Independent of each
    face's vertex order, hence of its orientation.
    """
    if edge_inverses is None:
        edge_inverses = rest_edge_inverses(rest_vertices, faces)
    faces = faces.long()
    corner_a = vertices[..., faces[:, 0], :]
    deformed_edges = torch.stack(
        (vertices[..., faces[:, 1], :] - corner_a, vertices[..., faces[:, 2], :] - corner_a), dim=-1
    )  # [..., F, 2, 2]
    return deformed_edges @ edge_inverses.to(device=vertices.device, dtype=vertices.dtype)


# --------------------------------------------------------------------------------------------
# Factorised symmetric solves
# --------------------------------------------------------------------------------------------


class _SymmetricFactor(Protocol):
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
    def forward(ctx, rhs: Tensor, factor: _SymmetricFactor) -> Tensor:  # type: ignore[override]
        ctx.factor = factor
        return factor.solve(rhs)

    @staticmethod
    def backward(ctx, grad_solution: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        # ∂L/∂b = A⁻ᵀ ∂L/∂x = A⁻¹ ∂L/∂x since A is symmetric.
        return _FactorSolve.apply(grad_solution, ctx.factor), None


def _factorise(matrix: sp.spmatrix, solver: str, device: torch.device) -> _SymmetricFactor:
    if solver == "auto":
        use_dense = device.type == "cuda" and matrix.shape[0] <= _DENSE_CUDA_MAX_UNKNOWNS
        solver = "dense_cholesky" if use_dense else "sparse_lu"
    if solver == "dense_cholesky":
        return _DenseCholeskyFactor(matrix, device)
    try:
        return _SparseLuFactor(matrix)
    except RuntimeError as error:  # SuperLU reports an exactly singular matrix this way
        raise MeshError(f"deformation matrix is singular: {error}") from error


def _solve_vertex_first(factor: _SymmetricFactor, rhs: Tensor) -> Tensor:
    """rhs [N, B, C] → A⁻¹ rhs [N, B, C]: every pose and coordinate in one solve of [N, B·C].

    Right-hand sides are assembled vertex-first so that scatters add contiguous rows and the
    solve needs no transpose.
    """
    size, batch, columns = rhs.shape
    solution = _FactorSolve.apply(rhs.reshape(size, batch * columns), factor)
    return solution.reshape(size, batch, columns)


# --------------------------------------------------------------------------------------------
# Rest mesh checks and shared operators
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RestMesh:
    """Validated float64/int64 host copies of the rest mesh and what every deformer needs."""

    vertices: np.ndarray  # [V, 2] float64
    faces: np.ndarray  # [F, 3] int64
    handles: np.ndarray  # [H] int64
    areas: np.ndarray  # [F] unsigned face areas, px²
    edge_inverses: np.ndarray  # [F, 2, 2] E_f⁻¹
    component_of_vertex: np.ndarray  # [V] connected-component label
    handles_per_component: np.ndarray  # [C] distinct handle vertices in each component


def _to_numpy(values: Tensor | np.ndarray, dtype: type) -> np.ndarray:
    if isinstance(values, Tensor):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=dtype)


def _prepare_rest_mesh(
    rest_vertices: Tensor | np.ndarray,
    faces: Tensor | np.ndarray,
    handle_vertices: Tensor | np.ndarray,
    clip: str | None,
) -> _RestMesh:
    vertices = _to_numpy(rest_vertices, np.float64)
    if vertices.ndim != 2 or vertices.shape[1] != 2 or len(vertices) == 0:
        raise MeshError(f"rest vertices must be [V, 2], got {vertices.shape}", clip=clip)
    if not np.isfinite(vertices).all():
        raise MeshError("rest vertices contain NaN or infinite coordinates", clip=clip)
    face_array = _to_numpy(faces, np.int64)
    if face_array.ndim != 2 or face_array.shape[1] != 3 or len(face_array) == 0:
        raise MeshError(f"faces must be [F, 3] with F ≥ 1, got {face_array.shape}", clip=clip)
    count = len(vertices)
    if face_array.min() < 0 or face_array.max() >= count:
        raise MeshError(f"face indices outside [0, {count})", clip=clip)
    handles = _to_numpy(handle_vertices, np.int64).reshape(-1)
    if len(handles) == 0:
        raise MeshError("no handle vertices", clip=clip)
    if handles.min() < 0 or handles.max() >= count:
        raise MeshError(f"handle vertex indices outside [0, {count})", clip=clip)

    unused = np.flatnonzero(np.bincount(face_array.ravel(), minlength=count) == 0)
    if len(unused):
        raise MeshError(f"{len(unused)} vertices belong to no face (first: {unused[0]})", clip=clip)

    corners = vertices[face_array]  # [F, 3, 2]
    edges = np.stack((corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=-1)
    areas = 0.5 * np.abs(np.linalg.det(edges))
    degenerate = np.flatnonzero(areas < _MIN_FACE_AREA_PX2)
    if len(degenerate):
        raise MeshError(
            f"{len(degenerate)} degenerate faces (area < {_MIN_FACE_AREA_PX2} px², first: face "
            f"{degenerate[0]} = vertices {face_array[degenerate[0]].tolist()})",
            clip=clip,
        )

    edge_rows = np.concatenate([face_array[:, [0, 1]], face_array[:, [1, 2]], face_array[:, [2, 0]]])
    adjacency = sp.coo_matrix(
        (np.ones(len(edge_rows)), (edge_rows[:, 0], edge_rows[:, 1])), shape=(count, count)
    )
    component_count, component_of_vertex = scipy.sparse.csgraph.connected_components(
        adjacency, directed=False
    )
    handles_per_component = np.bincount(
        component_of_vertex[np.unique(handles)], minlength=component_count
    )
    free = np.flatnonzero(handles_per_component == 0)
    if len(free):
        example = int(np.flatnonzero(component_of_vertex == free[0])[0])
        raise MeshError(
            f"{len(free)} of {component_count} mesh components have no handle "
            f"(e.g. the one containing vertex {example}); nothing fixes their position",
            clip=clip,
        )
    return _RestMesh(
        vertices=vertices,
        faces=face_array,
        handles=handles,
        areas=areas,
        edge_inverses=np.linalg.inv(edges),
        component_of_vertex=component_of_vertex,
        handles_per_component=handles_per_component,
    )


def _handle_gram(handles: np.ndarray, count: int) -> sp.csr_matrix:
    """KᵀK for the handle selector K [H, V]: a diagonal of how often each vertex is a handle."""
    return sp.diags(np.bincount(handles, minlength=count).astype(np.float64)).tocsr()


def _triangle_edge_operator(faces: np.ndarray, count: int) -> sp.csr_matrix:
    """D [3F, V]: row (e·F + f) is edge e of face f as (head − tail), edges a→b, b→c, c→a."""
    tails = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2]])
    heads = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0]])
    rows = np.arange(len(tails))
    return sp.csr_matrix(
        (np.concatenate([np.ones(len(rows)), -np.ones(len(rows))]),
         (np.concatenate([rows, rows]), np.concatenate([heads, tails]))),
        shape=(len(rows), count),
    )


def _gradient_coefficients(edge_inverses: np.ndarray) -> np.ndarray:
    """[F, 3, 2]: ∇u_f = Σ_corners coefficient[f, corner] · u_corner for a linear u on face f.

    ∇u = E⁻ᵀ [u_b − u_a, u_c − u_a], so corner b weighs row 0 of E⁻¹, c row 1, a minus both.
    """
    row_b = edge_inverses[:, 0, :]
    row_c = edge_inverses[:, 1, :]
    return np.stack((-(row_b + row_c), row_b, row_c), axis=1)


def _check_targets(handle_targets: Tensor, handle_count: int) -> None:
    if handle_targets.ndim != 3 or handle_targets.shape[1:] != (handle_count, 2):
        raise ValueError(f"handle_targets must be [B, {handle_count}, 2], got {tuple(handle_targets.shape)}")


# --------------------------------------------------------------------------------------------
# Jacobian / Poisson deformer
# --------------------------------------------------------------------------------------------


class _MeshDeformer:
    """What both deformers share: the rest mesh as tensors and its per-face Jacobians."""

    rest_vertices: Tensor  # [V, 2]
    faces: Tensor  # [F, 3]
    handle_vertices: Tensor  # [H]
    edge_inverses: Tensor  # [F, 2, 2] E_f⁻¹ of the rest mesh, precomputed once

    @property
    def num_vertices(self) -> int:
        return self.rest_vertices.shape[0]

    @property
    def num_faces(self) -> int:
        return self.faces.shape[0]

    @property
    def num_handles(self) -> int:
        return self.handle_vertices.shape[0]

    def jacobians(self, vertices: Tensor) -> Tensor:
        """Per-face Jacobians of deformed vertices [..., V, 2] → [..., F, 2, 2]."""
        return face_jacobians(self.rest_vertices, self.faces, vertices, edge_inverses=self.edge_inverses)


@DEFORMERS.register("jacobian")
class JacobianDeformer(_MeshDeformer):
    """Vertices from per-face Jacobians and soft handles by a factorised Poisson solve.

    With G [2F, V] the per-face gradient operator, M the face areas (each repeated for the two
    gradient rows), L = GᵀMG the cotangent Laplacian and K [H, V] the handle selector, the
    default ``screened_poisson`` system minimises Σ_f area_f ‖∇V_f − J_f‖²_F + λ‖KV − c‖²,
    i.e. solves (L + λKᵀK) V = GᵀMJ + λKᵀc for both coordinates and all poses at once. Its
    minimiser reproduces V exactly when J are V's own Jacobians and c its handle positions (both
    terms vanish there). ``poisson_residual`` solves method.md's literal ‖LV − GᵀMJ‖² + λ‖KV − c‖²
    instead (same exact-reproduction property). The matrix is SPD as soon as every component
    holds a handle; it is factorised once here.
    """

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
        self.device = torch.device(device)
        self.dtype = dtype
        mesh = _prepare_rest_mesh(rest_vertices, faces, handle_vertices, clip)
        count = len(mesh.vertices)
        weight = config.handle_weight

        coefficients = _gradient_coefficients(mesh.edge_inverses)  # [F, 3, 2]
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
            system = laplacian + weight * _handle_gram(mesh.handles, count)
        else:
            system = laplacian @ laplacian + weight * _handle_gram(mesh.handles, count)
        self._factor = _factorise(system.tocsc(), config.solver, self.device)

        def as_tensor(array: np.ndarray, kind: torch.dtype = dtype) -> Tensor:
            return torch.as_tensor(array, dtype=kind, device=self.device)

        self.rest_vertices = as_tensor(mesh.vertices)  # [V, 2]
        self.faces = as_tensor(mesh.faces, torch.int64)  # [F, 3]
        self.handle_vertices = as_tensor(mesh.handles, torch.int64)  # [H]
        self.face_areas = as_tensor(mesh.areas)  # [F] px²
        self.edge_inverses = as_tensor(mesh.edge_inverses)  # [F, 2, 2]
        self._area_gradient_coefficients = as_tensor(mesh.areas[:, None, None] * coefficients)
        self._face_corner_vertices = self.faces.reshape(-1)  # [3F]
        if config.system == "poisson_residual":
            laplacian_coo = laplacian.tocoo()
            self._laplacian_rows = as_tensor(laplacian_coo.row, torch.int64)
            self._laplacian_cols = as_tensor(laplacian_coo.col, torch.int64)
            self._laplacian_values = as_tensor(laplacian_coo.data)
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
        _check_targets(handle_targets, self.num_handles)
        if jacobians.ndim != 4 or jacobians.shape[1:] != (self.num_faces, 2, 2) or (
            jacobians.shape[0] != handle_targets.shape[0]
        ):
            raise ValueError(
                f"jacobians must be [{handle_targets.shape[0]}, {self.num_faces}, 2, 2], "
                f"got {tuple(jacobians.shape)}"
            )
        rhs = self._divergence_vertex_first(jacobians.to(self.dtype))  # [V, B, 2]
        if self.config.system == "poisson_residual":
            rhs = self._apply_laplacian(rhs)
        handle_rhs = self.config.handle_weight * handle_targets.to(self.dtype).transpose(0, 1)
        rhs = rhs.index_add(0, self.handle_vertices, handle_rhs)
        return _solve_vertex_first(self._factor, rhs).permute(1, 0, 2).contiguous()

    def _apply_laplacian(self, values: Tensor) -> Tensor:
        """L values for values [V, B, 2] (sparse product by gather + scatter, any device)."""
        products = self._laplacian_values[:, None, None] * values[self._laplacian_cols]
        return torch.zeros_like(values).index_add(0, self._laplacian_rows, products)


# --------------------------------------------------------------------------------------------
# Two-step ARAP deformer
# --------------------------------------------------------------------------------------------


@DEFORMERS.register("arap")
class ArapDeformer(_MeshDeformer):
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
        self.device = torch.device(device)
        self.dtype = dtype
        mesh = _prepare_rest_mesh(rest_vertices, faces, handle_vertices, clip)
        count = len(mesh.vertices)
        weight = config.handle_weight
        handle_gram = _handle_gram(mesh.handles, count)

        # Step 1 matrix over unknowns [x_0 … x_{V-1}, y_0 … y_{V-1}].
        similarity_residuals = _similarity_residual_operator(mesh.vertices, mesh.faces)
        edge_operator = _triangle_edge_operator(mesh.faces, count)
        single_handle_faces = mesh.handles_per_component[mesh.component_of_vertex[mesh.faces[:, 0]]] == 1
        translation_rows = np.tile(single_handle_faces, 3)  # rows of D follow (edge, face) order
        translation_operator = sp.diags(translation_rows.astype(np.float64)) @ edge_operator
        translation_gram = (translation_operator.T @ translation_operator).tocsr()
        step1 = (
            similarity_residuals.T @ similarity_residuals
            + sp.block_diag((translation_gram, translation_gram))
            + weight * sp.block_diag((handle_gram, handle_gram))
        )
        self._similarity_factor = _factorise(step1.tocsc(), config.solver, self.device)
        # Constant right-hand side of the translation term: DᵀD v_rest for each coordinate.
        translation_rhs = translation_gram @ mesh.vertices  # [V, 2]

        # Step 2 matrix: edge-matching Laplacian DᵀD + w KᵀK, shared by x and y.
        step2 = edge_operator.T @ edge_operator + weight * handle_gram
        self._edge_factor = _factorise(step2.tocsc(), config.solver, self.device)

        def as_tensor(array: np.ndarray, kind: torch.dtype = dtype) -> Tensor:
            return torch.as_tensor(array, dtype=kind, device=self.device)

        self.rest_vertices = as_tensor(mesh.vertices)  # [V, 2]
        self.faces = as_tensor(mesh.faces, torch.int64)  # [F, 3]
        self.handle_vertices = as_tensor(mesh.handles, torch.int64)  # [H]
        self.face_areas = as_tensor(mesh.areas)  # [F] px²
        self.edge_inverses = as_tensor(mesh.edge_inverses)  # [F, 2, 2]
        self._translation_rhs = as_tensor(translation_rhs.T[:, :, None])  # [2, V, 1]
        corners = mesh.vertices[mesh.faces]  # [F, 3, 2]
        centred = corners - corners.mean(axis=1, keepdims=True)
        self._rest_centred_corners = as_tensor(centred)  # [F, 3, 2]
        self._rest_centred_norms = as_tensor((centred**2).sum(axis=(1, 2)))  # [F] Σ|p|²
        rest_edges = np.concatenate(
            [corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 1], corners[:, 0] - corners[:, 2]]
        )
        self._rest_edges = as_tensor(rest_edges.reshape(3, -1, 2))  # [3, F, 2] (edge, face)
        # Step-2 right-hand side Dᵀ(R d) + w Kᵀc as one scatter: edge heads, edge tails, handles.
        heads = np.concatenate([mesh.faces[:, 1], mesh.faces[:, 2], mesh.faces[:, 0]])
        tails = np.concatenate([mesh.faces[:, 0], mesh.faces[:, 1], mesh.faces[:, 2]])
        self._step2_scatter_index = as_tensor(np.concatenate([heads, tails, mesh.handles]), torch.int64)
        logger.debug("arap deformer: V=%d F=%d H=%d factorised", count, len(mesh.faces), len(mesh.handles))


    def similarity_step(self, handle_targets: Tensor) -> Tensor:
        """Step 1 only: the similarity-invariant solution [B, V, 2] for targets [B, H, 2]."""
        _check_targets(handle_targets, self.num_handles)
        return self._similarity_step_vertex_first(handle_targets.to(self.dtype)).permute(1, 0, 2)

    def _similarity_step_vertex_first(self, handle_targets: Tensor) -> Tensor:
        """[B, H, 2] → [V, B, 2]."""
        batch = handle_targets.shape[0]
        # Step-1 unknowns are all x then all y: right-hand side [2, V, B] → [2V, B].
        weighted = self.config.handle_weight * handle_targets.permute(2, 1, 0)  # [2, H, B]
        rhs = self._translation_rhs.expand(-1, -1, batch).index_add(1, self.handle_vertices, weighted)
        solution = _solve_vertex_first(self._similarity_factor, rhs.reshape(2 * self.num_vertices, batch, 1))
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
        _check_targets(handle_targets, self.num_handles)
        handle_targets = handle_targets.to(self.dtype)
        intermediate = self._similarity_step_vertex_first(handle_targets)  # [V, B, 2]
        cosine, sine = self._fitted_rotation_angles(intermediate)  # [F, B]
        # R_f d for the rest edges d, rows in (edge, face) order like the edge operator.
        edges = self._rest_edges[:, :, None, :]  # [3, F, 1, 2]
        rotated = torch.stack(
            (cosine * edges[..., 0] - sine * edges[..., 1], sine * edges[..., 0] + cosine * edges[..., 1]), dim=-1
        )  # [3, F, B, 2]
        rotated = rotated.reshape(3 * self.num_faces, -1, 2)
        sources = torch.cat(
            (rotated, -rotated, self.config.handle_weight * handle_targets.transpose(0, 1)), dim=0
        )
        rhs = intermediate.new_zeros(intermediate.shape).index_add(0, self._step2_scatter_index, sources)
        return _solve_vertex_first(self._edge_factor, rhs).permute(1, 0, 2).contiguous()


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
