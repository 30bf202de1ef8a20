"""What every mesh deformer shares: the registry, rest-mesh validation, per-face Jacobians and
the sparse operators built from the rest mesh."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph
import torch
from torch import Tensor

from flexiclip_core.deform.solve import SOLVERS
from flexiclip_core.errors import ConfigError, MeshError
from flexiclip_core.registry import Registry

DEFORMERS: Registry[type[MeshDeformer]] = Registry("deformer")
"""Deformer classes by name (``arap``, ``jacobian``); configs select one by string."""

# A triangle with less area than this (px²) has no usable Jacobian.
_MIN_FACE_AREA_PX2 = 1e-9


def check_weight_and_solver(handle_weight: float, solver: str, owner: str) -> None:
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
    """Per-face deformation gradients J_f = E'_f E_f⁻¹ (docs/method.md §5), one batched op.

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
# Rest mesh checks and shared operators
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RestMesh:
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


def prepare_rest_mesh(
    rest_vertices: Tensor | np.ndarray,
    faces: Tensor | np.ndarray,
    handle_vertices: Tensor | np.ndarray,
    clip: str | None,
) -> RestMesh:
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
    adjacency = sp.coo_matrix((np.ones(len(edge_rows)), (edge_rows[:, 0], edge_rows[:, 1])), shape=(count, count))
    component_count, component_of_vertex = scipy.sparse.csgraph.connected_components(adjacency, directed=False)
    handles_per_component = np.bincount(component_of_vertex[np.unique(handles)], minlength=component_count)
    free = np.flatnonzero(handles_per_component == 0)
    if len(free):
        example = int(np.flatnonzero(component_of_vertex == free[0])[0])
        raise MeshError(
            f"{len(free)} of {component_count} mesh components have no handle "
            f"(e.g. the one containing vertex {example}); nothing fixes their position",
            clip=clip,
        )
    return RestMesh(
        vertices=vertices,
        faces=face_array,
        handles=handles,
        areas=areas,
        edge_inverses=np.linalg.inv(edges),
        component_of_vertex=component_of_vertex,
        handles_per_component=handles_per_component,
    )


def handle_selector_gram(handles: np.ndarray, count: int) -> sp.csr_matrix:
    """KᵀK for the handle selector K [H, V]: a diagonal of how often each vertex is a handle."""
    return sp.diags(np.bincount(handles, minlength=count).astype(np.float64)).tocsr()


def triangle_edge_operator(faces: np.ndarray, count: int) -> sp.csr_matrix:
    """D [3F, V]: row (e·F + f) is edge e of face f as (head − tail), edges a→b, b→c, c→a."""
    tails = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2]])
    heads = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0]])
    rows = np.arange(len(tails))
    return sp.csr_matrix(
        (
            np.concatenate([np.ones(len(rows)), -np.ones(len(rows))]),
            (np.concatenate([rows, rows]), np.concatenate([heads, tails])),
        ),
        shape=(len(rows), count),
    )


def gradient_coefficients(edge_inverses: np.ndarray) -> np.ndarray:
    """[F, 3, 2]: ∇u_f = Σ_corners coefficient[f, corner] · u_corner for a linear u on face f.

    ∇u = E⁻ᵀ [u_b − u_a, u_c − u_a], so corner b weighs row 0 of E⁻¹, c row 1, a minus both.
    """
    row_b = edge_inverses[:, 0, :]
    row_c = edge_inverses[:, 1, :]
    return np.stack((-(row_b + row_c), row_b, row_c), axis=1)


def check_targets(handle_targets: Tensor, handle_count: int) -> None:
    if handle_targets.ndim != 3 or handle_targets.shape[1:] != (handle_count, 2):
        raise ValueError(f"handle_targets must be [B, {handle_count}, 2], got {tuple(handle_targets.shape)}")


# --------------------------------------------------------------------------------------------
# Jacobian / Poisson deformer
# --------------------------------------------------------------------------------------------


class MeshDeformer:
    """What both deformers share: the rest mesh as tensors and its per-face Jacobians.

    Built as ``cls(rest_vertices, faces, handle_vertices, config, device, dtype, clip=...)``.
    """

    needs_jacobians: ClassVar[bool]
    """True: called as ``deformer(handle_targets, jacobians)`` (a final deformation from
    Jacobians); False: ``deformer(handle_targets)`` alone (it can pose a mesh from keypoints)."""

    rest_vertices: Tensor  # [V, 2]
    faces: Tensor  # [F, 3]
    handle_vertices: Tensor  # [H]
    edge_inverses: Tensor  # [F, 2, 2] E_f⁻¹ of the rest mesh, precomputed once
    face_areas: Tensor  # [F] px²
    device: torch.device
    dtype: torch.dtype

    @property
    def num_vertices(self) -> int:
        return self.rest_vertices.shape[0]

    @property
    def num_faces(self) -> int:
        return self.faces.shape[0]

    @property
    def num_handles(self) -> int:
        return self.handle_vertices.shape[0]

    def _set_rest_mesh(
        self,
        rest_vertices: Tensor | np.ndarray,  # [V, 2] canvas px
        faces: Tensor | np.ndarray,  # [F, 3]
        handle_vertices: Tensor | np.ndarray,  # [H]
        device: str | torch.device,
        dtype: torch.dtype,
        clip: str | None,
    ) -> RestMesh:
        """Validate the rest mesh (`prepare_rest_mesh`), keep its tensors on ``device``; return it
        for the subclass to build its factorised system from."""
        self.device = torch.device(device)
        self.dtype = dtype
        mesh = prepare_rest_mesh(rest_vertices, faces, handle_vertices, clip)
        self.rest_vertices = self._tensor(mesh.vertices)  # [V, 2]
        self.faces = self._tensor(mesh.faces, torch.int64)  # [F, 3]
        self.handle_vertices = self._tensor(mesh.handles, torch.int64)  # [H]
        self.face_areas = self._tensor(mesh.areas)  # [F] px²
        self.edge_inverses = self._tensor(mesh.edge_inverses)  # [F, 2, 2]
        return mesh

    def _tensor(self, array: np.ndarray, kind: torch.dtype | None = None) -> Tensor:
        """``array`` on the deformer's device, in its dtype unless ``kind`` is given."""
        return torch.as_tensor(array, dtype=self.dtype if kind is None else kind, device=self.device)

    def jacobians(self, vertices: Tensor) -> Tensor:
        """Per-face Jacobians of deformed vertices [..., V, 2] → [..., F, 2, 2]."""
        return face_jacobians(self.rest_vertices, self.faces, vertices, edge_inverses=self.edge_inverses)
