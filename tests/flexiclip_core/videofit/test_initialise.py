"""Least-squares initialisation: keypoint targets from tracks, Bézier control points, and the MLP
head that reproduces them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from flexiclip_core.motion import KeypointTrajectories, PoseSchedule
from flexiclip_core.motion.trajectories import bezier_basis, cubic_bezier_basis
from flexiclip_core.videofit.flow import VertexTracks
from flexiclip_core.videofit.initialise import (
    bezier_control_points,
    keypoint_targets,
    set_trajectory_control_points,
)


def test_a_rigid_motion_of_the_tracks_carries_keypoints_exactly_also_at_a_limb_end():
    grid = np.stack(np.meshgrid(np.arange(0, 40, 4.0), np.arange(0, 20, 4.0)), -1).reshape(-1, 2)  # [50, 2]
    keypoints = np.array([[36.0, 8.0], [100.0, 100.0]])  # one at the edge, one far from every vertex
    angle, shift = math.radians(30.0), np.array([5.0, -2.0])
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    moved = grid @ rotation.T + shift
    tracks = VertexTracks(positions=np.stack([grid, moved]), weights=np.ones((2, len(grid))))
    targets, confidence = keypoint_targets(keypoints, grid, tracks, radius_px=6.0)
    # The edge keypoint follows the rotation exactly (a displacement average would lag behind it).
    np.testing.assert_allclose(targets[1, 0], keypoints[0] @ rotation.T + shift, atol=0.05)
    assert confidence[1, 0] > 0.5
    # The far keypoint has (almost) no tracked neighbour and no confidence.
    assert confidence[1, 1] < 1e-6
    np.testing.assert_array_equal(targets[0], keypoints)  # frame 0 is the rest pose


def test_an_untracked_frame_keeps_the_previous_target():
    grid = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 4.0]])
    positions = np.stack([grid, grid + 3.0, grid + 9.0])
    weights = np.array([[1.0] * 4, [1.0] * 4, [0.0] * 4])
    targets, _ = keypoint_targets(np.array([[2.0, 2.0]]), grid, VertexTracks(positions, weights), radius_px=4.0)
    np.testing.assert_allclose(targets[:, 0], [[2.0, 2.0], [5.0, 5.0], [5.0, 5.0]], atol=1e-6)


def test_bezier_least_squares_recovers_known_control_points_with_the_first_pinned():
    control = np.array([[[10.0, 20.0], [14.0, 25.0], [3.0, 30.0], [12.0, 18.0]]])  # [1, 4, 2]
    times = np.linspace(0.0, 1.0, 24)
    basis = cubic_bezier_basis(torch.as_tensor(times)).numpy()
    targets = np.einsum("nc,kcd->nkd", basis, control)
    fitted = bezier_control_points(targets, np.ones((24, 1)), times, first=control[:, 0])
    np.testing.assert_allclose(fitted, control, atol=1e-9)
    # At t = 1/2 the curve is (P0 + 3P1 + 3P2 + P3) / 8 = (10 + 42 + 9 + 12)/8 = 9.125 in x.
    assert np.einsum("c,cd->d", cubic_bezier_basis(torch.tensor([0.5], dtype=torch.float64)).numpy()[0], fitted[0])[
        0
    ] == pytest.approx(9.125, abs=1e-9)


def test_a_half_sine_over_the_clip_needs_more_than_a_cubic_and_degree_six_follows_it():
    # A keypoint that goes out 20 px and comes back over the clip (x = 20·sin(πt), the sway of the
    # known-answer tests): the best cubic with the start pinned misses the last pose by 0.9 px
    # (4.5 % of the amplitude); degree 6 follows it within 0.02 px.
    times = np.linspace(0.0, 1.0, 24)
    targets = np.zeros((24, 1, 2))
    targets[:, 0, 0] = 20.0 * np.sin(np.pi * times)
    first = np.zeros((1, 2))
    misses = {}
    for degree in (3, 6):
        control = bezier_control_points(targets, np.ones((24, 1)), times, first=first, degree=degree)
        assert control.shape == (1, degree + 1, 2)
        curve = np.einsum("nc,kcd->nkd", bezier_basis(torch.as_tensor(times), degree).numpy(), control)
        misses[degree] = np.abs(curve - targets)[:, 0, 0]  # [24] px
    assert misses[3][-1] == pytest.approx(0.9032, abs=1e-3)
    assert misses[6].max() < 0.02


def test_bezier_least_squares_of_degree_six_recovers_a_curve_given_by_hand():
    # Control points (0, …, 0, 64) in x: the curve is x = 64·t⁶, so x(½) = 1 and x(1) = 64.
    times = np.linspace(0.0, 1.0, 24)
    targets = np.zeros((24, 1, 2))
    targets[:, 0, 0] = 64.0 * times**6
    fitted = bezier_control_points(targets, np.ones((24, 1)), times, first=np.zeros((1, 2)), degree=6)
    np.testing.assert_allclose(fitted[0, :, 0], [0, 0, 0, 0, 0, 0, 64], atol=1e-8)
    half = np.einsum("c,c->", bezier_basis(torch.tensor([0.5], dtype=torch.float64), 6).numpy()[0], fitted[0, :, 0])
    assert half == pytest.approx(1.0, abs=1e-9)


def test_the_roughness_penalty_gives_the_hand_solved_quadratic():
    """Degree 2, samples at t = 0, ½, 1 with x = 5, 5, 6 and weight 1, the start pinned at 5. Write
    the curve as x = 5 + bt + ct² (x'' = 2c): the objective is
    f = (b/2 + c/4)² + (b + c − 1)² + λN·4c², N = 3, λ = 1/240, so λN·4 = μ = 1/20.
    ∂f/∂b = 0: 10b + 9c = 8;  ∂f/∂c = 0: 18b + (17 + 16μ)c = 16. So c = 1.6 / (0.8 + 16μ) = 2/(1 + 20μ)
    = 1 and b = (8 − 9)/10 = −0.1: control points 5, 5 + b/2 = 4.95, 5 + b + c = 5.9 (λ = 0: c = 2,
    b = −1, the interpolant 5, 4.5, 6). y = 2 throughout stays 2.
    """
    times = np.array([0.0, 0.5, 1.0])
    targets = np.array([[[5.0, 2.0]], [[5.0, 2.0]], [[6.0, 2.0]]])  # [3, 1, 2]
    first = np.array([[5.0, 2.0]])
    smooth = bezier_control_points(targets, np.ones((3, 1)), times, first=first, degree=2, roughness=1.0 / 240.0)
    np.testing.assert_allclose(smooth[0], [[5.0, 2.0], [4.95, 2.0], [5.9, 2.0]], atol=1e-9)
    exact = bezier_control_points(targets, np.ones((3, 1)), times, first=first, degree=2, roughness=0.0)
    np.testing.assert_allclose(exact[0, :, 0], [5.0, 4.5, 6.0], atol=1e-9)
    # Unpinned the fit is free to move the start too; the penalty still costs only curvature, so
    # a straight line through the samples (x = 5 + t, y = 2) keeps its control points.
    line = np.array([[[5.0, 2.0]], [[5.5, 2.0]], [[6.0, 2.0]]])
    straight = bezier_control_points(line, np.ones((3, 1)), times, first=None, degree=2, roughness=1.0)
    np.testing.assert_allclose(straight[0, :, 0], [5.0, 5.5, 6.0], atol=1e-9)


def test_the_mlp_head_is_set_to_output_the_control_points_exactly():
    torch.manual_seed(0)
    rest = torch.tensor([[100.0, 120.0], [130.0, 90.0], [60.0, 200.0]], dtype=torch.float64)
    trajectories = KeypointTrajectories(rest, PoseSchedule(frame_count=24, loop_count=0))
    wanted = rest.numpy()[:, None, :] + np.arange(4)[None, :, None] * np.array([3.0, -2.0])
    set_trajectory_control_points(trajectories, wanted)
    np.testing.assert_allclose(trajectories.control_points().detach().numpy(), wanted, atol=1e-9)
    # Every layer stays trainable: a loss on the output reaches the first linear layer.
    trajectories().sum().backward()
    assert trajectories.offset_mlp[0].weight.grad.abs().sum() > 0


def test_residual_tracks_carry_fitted_vertices_to_where_the_reference_draws_them():
    from flexiclip_core.videofit.flow import residual_tracks

    # A smooth texture of three blobs, drawn by the fit at x and by the reference 2 px right and
    # 1 px down: the material at a fitted vertex v lies at v + (2, 1) in the reference.
    ys, xs = np.mgrid[0:64, 0:64] + 0.5

    def texture(dx: float, dy: float) -> np.ndarray:
        image = np.zeros((64, 64))
        for cx, cy, amplitude in ((24.0, 26.0, 200.0), (40.0, 30.0, 150.0), (30.0, 42.0, 120.0)):
            image += amplitude * np.exp(-((xs - dx - cx) ** 2 + (ys - dy - cy) ** 2) / (2 * 6.0**2))
        return np.clip(image, 0, 255).astype(np.uint8)

    rendered, reference = texture(0.0, 0.0)[None], texture(2.0, 1.0)[None]
    vertices = np.array([[[26.0, 28.0], [36.0, 32.0], [30.0, 38.0], [2.0, 2.0]]])  # the last outside the drawing
    mask = np.ones((1, 64, 64), dtype=bool)
    drawn = rendered > 20
    tracks = residual_tracks(vertices, rendered, reference, drawn, mask, mask, consistency_px=1.0)
    np.testing.assert_allclose(tracks.positions[0, :3] - vertices[0, :3], [[2.0, 1.0]] * 3, atol=0.25)
    np.testing.assert_array_equal(tracks.weights[0], [1.0, 1.0, 1.0, 0.0])
