"""Deformer benchmark: factorised solves for 6 poses vs the same system by dense least squares.

The mesh is a figure-like silhouette (head, arms, torso, legs) plus a shirt layer, each meshed
with Triangle ('pq20a30', as the mesh stage does), with 13 keypoints bound as 19 handles. Every figure is the median over
``repeats`` runs, in milliseconds unless named otherwise; the dense baseline is measured in the
same run so the speed-up compares like with like on whatever machine runs it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import triangle

from flexiclip_core.deform import DEFORMERS, JacobianConfig, JacobianDeformer

POSES = 6
"""Distinct poses per clip (docs/method.md §6: Q = N / (2L) = 6)."""

KEYPOINTS_PX = np.array(
    [
        [128.0, 38.0],  # head
        [90.0, 100.0],
        [166.0, 100.0],  # shoulders
        [50.0, 98.0],
        [206.0, 98.0],  # elbows
        [14.0, 97.0],
        [242.0, 97.0],  # hands
        [100.0, 170.0],
        [156.0, 170.0],  # hips
        [80.0, 210.0],
        [176.0, 210.0],  # knees
        [68.0, 244.0],
        [188.0, 244.0],  # feet
    ]
)
"""13 figure keypoints (canvas px), bound to their nearest body-mesh vertices as handles."""


def figure_polygon() -> np.ndarray:
    """A simple closed outline [P, 2] of a chunky standing figure with arms out, ~256 px tall."""
    head_centre, head_radius = np.array([128.0, 40.0]), 38.0
    # Head arc from the right side of the neck over the top to the left side of the neck.
    neck_half_width = 20.0
    start = np.arcsin(neck_half_width / head_radius)  # measured from straight down
    angles = np.linspace(np.pi / 2 - start, -3 * np.pi / 2 + start, 48)
    head = head_centre + head_radius * np.stack((np.cos(angles), np.sin(angles)), axis=1)
    body = np.array(
        [
            [108.0, 80.0],
            [4.0, 70.0],
            [2.0, 124.0],
            [66.0, 122.0],  # left arm
            [64.0, 168.0],
            [28.0, 252.0],
            [112.0, 252.0],
            [128.0, 204.0],  # left leg
            [144.0, 252.0],
            [228.0, 252.0],
            [192.0, 168.0],  # right leg
            [190.0, 122.0],
            [254.0, 124.0],
            [252.0, 70.0],
            [148.0, 80.0],  # right arm
        ]
    )
    return np.concatenate([head, body])


SHIRT_POLYGON_PX = np.array(
    [
        [100.0, 76.0],
        [156.0, 76.0],
        [250.0, 68.0],
        [252.0, 128.0],
        [196.0, 126.0],
        [200.0, 182.0],
        [56.0, 182.0],
        [60.0, 126.0],
        [4.0, 128.0],
        [6.0, 68.0],
    ]
)
"""A shirt layer over the torso and arms: a second mesh component, as the mesh stage makes one
per layer."""

SHIRT_KEYPOINTS = (1, 2, 3, 4, 7, 8)
"""Keypoints (shoulders, elbows, hips) also bound in the shirt layer."""


def _triangulate(outline: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    segments = np.stack((np.arange(len(outline)), (np.arange(len(outline)) + 1) % len(outline)), axis=1)
    mesh = triangle.triangulate({"vertices": outline, "segments": segments}, "pq20a30")
    return mesh["vertices"].astype(np.float64), mesh["triangles"].astype(np.int64)


def _nearest(vertices: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.linalg.norm(vertices[None, :, :] - points[:, None, :], axis=2).argmin(axis=1)


def figure_mesh() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rest vertices [V, 2], faces [F, 3], handle vertices [H]) of the benchmark figure.

    Two components (body silhouette, shirt), meshed with Triangle 'pq20a30'; 13 body keypoints
    plus 6 of them bound again in the shirt layer: H = 19.
    """
    body_vertices, body_faces = _triangulate(figure_polygon())
    shirt_vertices, shirt_faces = _triangulate(SHIRT_POLYGON_PX)
    vertices = np.concatenate([body_vertices, shirt_vertices])
    faces = np.concatenate([body_faces, shirt_faces + len(body_vertices)])
    handles = np.concatenate(
        [
            _nearest(body_vertices, KEYPOINTS_PX),
            _nearest(shirt_vertices, KEYPOINTS_PX[list(SHIRT_KEYPOINTS)]) + len(body_vertices),
        ]
    )
    return vertices, faces, handles


def _median_ms(action: Callable[[], object], repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(timings)


def _stacked_least_squares(deformer: JacobianDeformer, weight: float) -> tuple[torch.Tensor, Callable]:
    """The dense [√M G; √λ K] matrix of the screened Poisson system and its right-hand side."""
    vertex_count, face_count = deformer.num_vertices, deformer.num_faces
    faces = deformer.faces
    edge_inverses = deformer.edge_inverses.to(torch.float64)
    row_b, row_c = edge_inverses[:, 0, :], edge_inverses[:, 1, :]
    coefficients = torch.stack((-(row_b + row_c), row_b, row_c), dim=1)  # [F, 3, 2]
    root_area = deformer.face_areas.to(torch.float64).sqrt()
    matrix = torch.zeros(2 * face_count + deformer.num_handles, vertex_count, dtype=torch.float64)
    for derivative in range(2):
        rows = 2 * torch.arange(face_count) + derivative
        for corner in range(3):
            matrix.index_put_(
                (rows, faces[:, corner]), root_area * coefficients[:, corner, derivative], accumulate=True
            )
    matrix[2 * face_count + torch.arange(deformer.num_handles), deformer.handle_vertices] = weight**0.5

    def right_hand_side(handle_targets: torch.Tensor, jacobians: torch.Tensor) -> torch.Tensor:
        # Rows (f, k) of coordinate i hold √area_f J_f[i, k]; columns are (pose, coordinate).
        gradient_rows = root_area[None, :, None, None] * jacobians.to(torch.float64).transpose(2, 3)
        gradient_rows = gradient_rows.reshape(jacobians.shape[0], 2 * face_count, 2)
        handle_rows = weight**0.5 * handle_targets.to(torch.float64)
        stacked = torch.cat((gradient_rows, handle_rows), dim=1)  # [B, 2F + H, 2]
        return stacked.permute(1, 0, 2).reshape(stacked.shape[1], -1)

    return matrix, right_hand_side


def run(repeats: int = 5) -> dict[str, float]:
    """Median timings of both deformers for 6 poses on the figure mesh, plus the dense baseline."""
    generator = torch.Generator().manual_seed(0)
    rest_vertices, faces, handles = figure_mesh()
    figures: dict[str, float] = {
        "deform_mesh_vertices": float(len(rest_vertices)),
        "deform_mesh_faces": float(len(faces)),
        "deform_mesh_handles": float(len(handles)),
    }

    config = JacobianConfig()
    started = time.perf_counter()
    jacobian_deformer = DEFORMERS.get("jacobian")(rest_vertices, faces, handles, config)
    figures["deform_factor_ms"] = (time.perf_counter() - started) * 1000.0
    rest = jacobian_deformer.rest_vertices
    handle_targets = rest[handles].expand(POSES, -1, -1) + 4.0 * torch.randn(
        POSES, len(handles), 2, generator=generator
    )
    jacobians = torch.eye(2) + 0.1 * torch.randn(POSES, len(faces), 2, 2, generator=generator)

    with torch.no_grad():
        figures["deform_solve_ms_6poses"] = _median_ms(lambda: jacobian_deformer(handle_targets, jacobians), repeats)
    targets_leaf = handle_targets.clone().requires_grad_(True)
    jacobians_leaf = jacobians.clone().requires_grad_(True)
    upstream = torch.randn(POSES, len(rest_vertices), 2, generator=generator)

    def backward_only() -> float:
        vertices = jacobian_deformer(targets_leaf, jacobians_leaf)
        started = time.perf_counter()
        (vertices * upstream).sum().backward()
        return (time.perf_counter() - started) * 1000.0

    figures["deform_backward_ms_6poses"] = statistics.median(backward_only() for _ in range(repeats))

    matrix, right_hand_side = _stacked_least_squares(jacobian_deformer, config.handle_weight)

    def dense_least_squares() -> torch.Tensor:
        stacked = right_hand_side(handle_targets, jacobians)
        solution = torch.linalg.lstsq(matrix, stacked).solution  # [V, 2B]
        return solution.reshape(len(rest_vertices), POSES, 2).permute(1, 0, 2)

    figures["deform_dense_lstsq_ms_6poses"] = _median_ms(dense_least_squares, max(1, min(repeats, 3)))
    figures["deform_speedup_vs_dense_lstsq"] = (
        figures["deform_dense_lstsq_ms_6poses"] / figures["deform_solve_ms_6poses"]
    )
    with torch.no_grad():
        agreement = (dense_least_squares() - jacobian_deformer(handle_targets, jacobians).double()).abs().max()
    figures["deform_dense_lstsq_max_diff_px"] = float(agreement)

    dense_deformer = DEFORMERS.get("jacobian")(rest_vertices, faces, handles, JacobianConfig(solver="dense_cholesky"))
    with torch.no_grad():
        figures["deform_dense_cholesky_solve_ms_6poses"] = _median_ms(
            lambda: dense_deformer(handle_targets, jacobians), repeats
        )

    started = time.perf_counter()
    arap_deformer = DEFORMERS.get("arap")(rest_vertices, faces, handles)
    figures["arap_factor_ms"] = (time.perf_counter() - started) * 1000.0
    with torch.no_grad():
        figures["arap_solve_ms_6poses"] = _median_ms(lambda: arap_deformer(handle_targets), repeats)

    def arap_backward_only() -> float:
        vertices = arap_deformer(targets_leaf)
        started = time.perf_counter()
        (vertices * upstream).sum().backward()
        return (time.perf_counter() - started) * 1000.0

    figures["arap_backward_ms_6poses"] = statistics.median(arap_backward_only() for _ in range(repeats))
    return figures


if __name__ == "__main__":
    import json

    torch.set_num_threads(min(2, torch.get_num_threads()))
    print(json.dumps(run(), indent=2))
