"""Tiny hand-made meshes and helpers shared by the deformer tests."""

from __future__ import annotations

import math

import numpy as np
import torch

from flexiclip_core.deform import (
    ArapConfig,
    ArapDeformer,
    JacobianConfig,
    JacobianDeformer,
)

torch.set_num_threads(1)

# --------------------------------------------------------------------------------------------
# Tiny hand-made meshes
# --------------------------------------------------------------------------------------------


def grid_mesh(columns: int, rows: int, cell_px: float = 10.0, origin=(20.0, 30.0)) -> tuple[np.ndarray, np.ndarray]:
    """A triangulated rectangle: ((columns+1)(rows+1), 2) vertices and 2·columns·rows faces."""
    xs, ys = np.meshgrid(np.arange(columns + 1), np.arange(rows + 1), indexing="xy")
    vertices = np.stack((xs.ravel(), ys.ravel()), axis=1) * cell_px + np.asarray(origin)
    faces = []
    for row in range(rows):
        for column in range(columns):
            corner = row * (columns + 1) + column
            right, below = corner + 1, corner + columns + 1
            faces += [[corner, right, below + 1], [corner, below + 1, below]]
    return vertices.astype(np.float64), np.asarray(faces, dtype=np.int64)


def square_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vertices, faces = grid_mesh(4, 4)
    return vertices, faces, np.array([0, 4, 20, 24, 12])  # four corners and the centre


def l_shape_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vertices, faces = grid_mesh(4, 4)
    # Drop the cells of the top-right 2×2 quadrant, then the vertices no face uses.
    centroids = vertices[faces].mean(axis=1)
    keep = ~((centroids[:, 0] > 40.0) & (centroids[:, 1] < 50.0))
    faces = faces[keep]
    used = np.unique(faces)
    renumber = -np.ones(len(vertices), dtype=np.int64)
    renumber[used] = np.arange(len(used))
    vertices, faces = vertices[used], renumber[faces]
    ends = [int(np.argmin(vertices[:, 0] + vertices[:, 1])), int(np.argmax(vertices[:, 0] + vertices[:, 1]))]
    top = int(np.argmin(vertices[:, 1] * 100 - vertices[:, 0]))  # top of the vertical arm
    return vertices, faces, np.array(ends + [top])


def two_components_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two disjoint grids; the first with three handles, the second with two."""
    first_vertices, first_faces = grid_mesh(3, 2)
    second_vertices, second_faces = grid_mesh(2, 3, cell_px=8.0, origin=(120.0, 100.0))
    vertices = np.concatenate([first_vertices, second_vertices])
    faces = np.concatenate([first_faces, second_faces + len(first_vertices)])
    offset = len(first_vertices)
    return vertices, faces, np.array([0, 3, 11, offset + 0, offset + 11])


CASES = {"square": square_case, "l_shape": l_shape_case, "two_components": two_components_case}


def rotation(angle: float, dtype=torch.float64) -> torch.Tensor:
    return torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], dtype=dtype)


def rigid_motion(points: torch.Tensor, angle: float, shift=(7.0, -4.0)) -> torch.Tensor:
    """Rotate [..., 2] points about (64, 64), then translate."""
    centre = torch.tensor([64.0, 64.0], dtype=points.dtype)
    return (points - centre) @ rotation(angle, points.dtype).T + centre + torch.tensor(shift, dtype=points.dtype)


def make(kind: str, case: str, dtype=torch.float32, **config):
    vertices, faces, handles = CASES[case]()
    if kind == "arap":
        return ArapDeformer(vertices, faces, handles, ArapConfig(**config), dtype=dtype)
    return JacobianDeformer(vertices, faces, handles, JacobianConfig(**config), dtype=dtype)


def deform(deformer, handle_targets: torch.Tensor, jacobians: torch.Tensor | None = None) -> torch.Tensor:
    if isinstance(deformer, ArapDeformer):
        return deformer(handle_targets)
    if jacobians is None:
        identity = torch.eye(2, dtype=handle_targets.dtype, device=handle_targets.device)
        jacobians = identity.expand(handle_targets.shape[0], deformer.num_faces, 2, 2)
    return deformer(handle_targets, jacobians)
