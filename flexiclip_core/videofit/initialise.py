"""Least-squares initialisation of the motion model from vertex tracks (docs/method.md §13):
per-frame keypoint targets from local affine fits of the tracked vertices, then the cubic Bézier
control points of every keypoint's trajectory by linear least squares, written into the
trajectory MLP's head so the model outputs exactly those control points."""

from __future__ import annotations

from typing import cast

import numpy as np
import torch
from torch import nn

from flexiclip_core.motion import KeypointTrajectories
from flexiclip_core.motion.trajectories import bezier_basis, bezier_roughness_gram
from flexiclip_core.videofit.flow import VertexTracks

AFFINE_RIDGE = 1e-2
"""Ridge of the local affine fit towards the identity (per unit of total weight and σ²): a
keypoint whose neighbourhood is nearly collinear gets a rigid-ish, not a degenerate, map."""
MIN_TRACK_WEIGHT = 1e-3
"""A keypoint whose tracked neighbourhood weighs less than this in a frame keeps the previous
frame's target (its trajectory fit then weighs that frame down)."""


def keypoint_targets(
    rest_keypoints: np.ndarray, rest_vertices: np.ndarray, tracks: VertexTracks, radius_px: float
) -> tuple[np.ndarray, np.ndarray]:
    """Where the tracked vertices around each keypoint carry it in each frame.

    For keypoint k and frame n: the affine map A minimising
    Σ_v w_v ‖A(x_v − p_k) + b − y_nv‖² + λ‖A − I‖²,  w_v = track weight · exp(−‖x_v − p_k‖² / 2σ²),
    gives the target p_k + b (a local affine fit reaches keypoints at limb ends, where a plain
    average of displacements lags under rotation).

    rest_keypoints: [K, 2]; rest_vertices: [V, 2]; tracks: positions [N, V, 2], weights [N, V]
    returns: (targets [N, K, 2] canvas px, confidence [N, K] in [0, 1])
    """
    offsets = rest_vertices[None, :, :] - rest_keypoints[:, None, :]  # [K, V, 2]
    proximity = np.exp(-0.5 * (offsets**2).sum(-1) / radius_px**2)  # [K, V]
    design = np.concatenate([offsets, np.ones((*offsets.shape[:2], 1))], axis=-1)  # [K, V, 3]
    weights = tracks.weights[:, None, :] * proximity[None]  # [N, K, V]
    normal = np.einsum("nkv,kvi,kvj->nkij", weights, design, design)  # [N, K, 3, 3]
    right = np.einsum("nkv,kvi,nvj->nkij", weights, design, tracks.positions)  # [N, K, 3, 2]
    total = weights.sum(-1)  # [N, K]
    ridge = AFFINE_RIDGE * total[..., None, None] * radius_px**2 * np.diag([1.0, 1.0, 0.0])
    identity = np.zeros((3, 2))
    identity[:2] = np.eye(2)
    # The translation row of the prior is the keypoint itself: b = p_k when no vertex is tracked.
    prior = np.broadcast_to(identity, (*total.shape, 3, 2)).copy()
    prior[..., 2, :] = rest_keypoints[None]
    ridge = ridge + 1e-9 * np.eye(3)
    solution = np.linalg.solve(normal + ridge, right + ridge @ prior)  # [N, K, 3, 2]
    targets = solution[..., 2, :]
    confidence = np.clip(total / np.maximum(proximity.sum(-1)[None], 1e-12), 0.0, 1.0)
    for frame in range(len(targets)):
        weak = total[frame] < MIN_TRACK_WEIGHT
        targets[frame, weak] = rest_keypoints[weak] if frame == 0 else targets[frame - 1, weak]
    targets[0] = rest_keypoints  # frame 0 is the rest pose (registration put it there)
    confidence[0] = 1.0
    return targets, confidence


def bezier_control_points(
    targets: np.ndarray,
    confidence: np.ndarray,
    pose_times: np.ndarray,
    first: np.ndarray | None,
    degree: int = 3,
    roughness: float = 0.0,
) -> np.ndarray:
    """Bézier control points of ``degree`` per keypoint fitting the targets at the pose times, by
    weighted linear least squares; ``first`` [K, 2] pins control point 0 (the rest pose under
    fix_start). ``roughness`` λ > 0 adds λ N ∫₀¹ ‖x''‖² dt (N = len(pose_times); `VideoFitConfig.
    trajectory_roughness`) as rows of a square root of the exact Gram matrix
    (`bezier_roughness_gram`) under the weighted rows; λ = 0 solves the old system unchanged.

    targets: [N, K, 2]; confidence: [N, K]; pose_times: [N] in [0, 1]
    returns: [K, degree + 1, 2]
    """
    basis = bezier_basis(torch.as_tensor(pose_times, dtype=torch.float64), degree).numpy()  # [N, degree + 1]
    weights = np.sqrt(np.maximum(confidence, 1e-3))  # [N, K]
    keypoints = targets.shape[1]
    penalty = np.zeros((0, degree + 1))
    if roughness > 0:
        # G = Vᵀ diag(e) V (e ≥ 0): the rows √(λN e) V add λN cᵀ G c to the squared residual.
        eigenvalues, vectors = np.linalg.eigh(bezier_roughness_gram(degree))
        penalty = np.sqrt(roughness * len(pose_times) * np.clip(eigenvalues, 0.0, None))[:, None] * vectors.T
    control = np.zeros((keypoints, degree + 1, 2))
    for k in range(keypoints):
        rows = basis * weights[:, k, None]
        rhs = targets[:, k] * weights[:, k, None]
        if len(penalty):
            rows = np.concatenate([rows, penalty])
            rhs = np.concatenate([rhs, np.zeros((len(penalty), 2))])
        if first is not None:
            rhs = rhs - rows[:, :1] * first[k][None]
            solution, *_ = np.linalg.lstsq(rows[:, 1:], rhs, rcond=None)
            control[k, 0], control[k, 1:] = first[k], solution
        else:
            control[k], *_ = np.linalg.lstsq(rows, rhs, rcond=None)
    return control


@torch.no_grad()
def set_trajectory_control_points(trajectories: KeypointTrajectories, control_points: np.ndarray) -> None:
    """Make the trajectory MLP output ``control_points`` [K, C, 2] exactly: the head's bias absorbs
    the difference, its weights (and every hidden layer) keep their values, so all parameters stay
    trainable. Control point 0 stays pinned under fix_start."""
    head = cast(nn.Linear, trajectories.offset_mlp[-1])
    hidden = trajectories.offset_mlp[:-1](trajectories.normalised_input)  # [1, width]
    desired = torch.as_tensor(control_points, dtype=head.bias.dtype, device=head.bias.device)
    base = trajectories.base_control_points  # [K, 4, 2]
    offsets = (desired - base) / trajectories.config.offset_scale_px  # [K, C, 2]
    head.bias.copy_(offsets.reshape(-1) - (hidden @ head.weight.T)[0])
