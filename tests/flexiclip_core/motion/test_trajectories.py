"""Keypoint trajectories (cubic Béziers from the offset MLP)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flexiclip_core.errors import ConfigError
from flexiclip_core.motion import (
    KeypointTrajectories,
    PoseSchedule,
    TrajectoryConfig,
    cubic_bezier_basis,
)
from flexiclip_core.motion.trajectories import bezier_basis, bezier_roughness_gram
from tests.flexiclip_core.motion.poses import STAR_KEYPOINTS


def test_bezier_basis_is_a_partition_of_unity_and_exact_at_the_ends():
    basis = cubic_bezier_basis(torch.linspace(0, 1, 7, dtype=torch.float64))
    assert torch.allclose(basis.sum(-1), torch.ones(7, dtype=torch.float64))
    assert basis[0].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert basis[-1].tolist() == [0.0, 0.0, 0.0, 1.0]


def test_bezier_basis_of_degree_six_by_hand_at_an_interior_time():
    # C(6, i)·0.25^i·0.75^(6−i): 0.75^6 = 0.177978515625; 6·0.25·0.75^5 = 0.35595703125;
    # 15·0.25²·0.75^4 = 0.296630859375; 20·0.25³·0.75³ = 0.1318359375; 15·0.25^4·0.75² =
    # 0.032958984375; 6·0.25^5·0.75 = 0.00439453125; 0.25^6 = 0.000244140625.
    row = bezier_basis(torch.tensor([0.25], dtype=torch.float64), 6)[0]
    expected = [
        0.177978515625,
        0.35595703125,
        0.296630859375,
        0.1318359375,
        0.032958984375,
        0.00439453125,
        0.000244140625,
    ]
    assert row.tolist() == pytest.approx(expected, abs=1e-15)
    # Degree 3 is the cubic basis itself, value for value.
    times = torch.linspace(0, 1, 7, dtype=torch.float64)
    assert torch.equal(bezier_basis(times, 3), cubic_bezier_basis(times))


def test_trajectories_of_degree_six_have_seven_control_points_and_start_at_rest():
    config = TrajectoryConfig(degree=6, seed=1)
    trajectories = KeypointTrajectories(STAR_KEYPOINTS, PoseSchedule(frame_count=24, loop_count=0), config)
    assert trajectories.control_points().shape == (len(STAR_KEYPOINTS), 7, 2)
    poses = trajectories()
    assert poses.shape == (24, len(STAR_KEYPOINTS), 2)
    assert torch.equal(poses[0], STAR_KEYPOINTS)
    with pytest.raises(ConfigError, match="degree"):
        TrajectoryConfig(degree=0)
    with pytest.raises(ConfigError, match="degree"):
        TrajectoryConfig(degree=13)


@pytest.mark.parametrize("fix_start", [True, False])
def test_trajectories_start_within_init_offset_of_rest(fix_start):
    torch.manual_seed(3)
    schedule = PoseSchedule(fix_start=fix_start)
    trajectories = KeypointTrajectories(STAR_KEYPOINTS, schedule)
    control_points = trajectories.control_points()
    distance = (control_points - STAR_KEYPOINTS[:, None, :]).norm(dim=-1)
    assert float(distance.detach().max()) < 0.01
    # Not all collapsed onto the rest point: the trajectories have a direction to start from.
    assert float(distance[:, 1:].detach().min()) > 0.0
    positions = trajectories()
    assert positions.shape == (6, len(STAR_KEYPOINTS), 2)
    assert float((positions.detach() - STAR_KEYPOINTS).norm(dim=-1).max()) < 0.01
    if fix_start:
        assert torch.equal(positions[0], STAR_KEYPOINTS)
        assert torch.equal(control_points[:, 0], STAR_KEYPOINTS)


def test_pose_zero_stays_at_rest_after_training_steps_when_start_is_fixed():
    torch.manual_seed(4)
    trajectories = KeypointTrajectories(STAR_KEYPOINTS, PoseSchedule())
    target = STAR_KEYPOINTS + torch.tensor([5.0, -3.0])
    for _ in range(5):
        trajectories.zero_grad()
        loss = (trajectories() - target).square().sum()
        loss.backward()
        # Sign descent = Adam's first steps (torch.optim's first step costs seconds of imports).
        with torch.no_grad():
            for parameter in trajectories.parameters():
                parameter -= 0.005 * parameter.grad.sign()
    positions = trajectories().detach()
    assert torch.equal(positions[0], STAR_KEYPOINTS)
    # ... while the later poses actually moved towards the target.
    assert float((positions[-1] - STAR_KEYPOINTS).norm(dim=-1).mean()) > 0.1


def test_trajectory_seed_makes_initialisation_reproducible_without_touching_global_rng():
    config = TrajectoryConfig(seed=7)
    before = torch.random.get_rng_state()
    first = KeypointTrajectories(STAR_KEYPOINTS, PoseSchedule(), config).control_points()
    assert torch.equal(torch.random.get_rng_state(), before)
    second = KeypointTrajectories(STAR_KEYPOINTS, PoseSchedule(), config).control_points()
    assert torch.equal(first, second)


def test_trajectories_follow_rest_keypoints_dtype_and_reject_bad_input():
    trajectories = KeypointTrajectories(STAR_KEYPOINTS.double(), PoseSchedule(frame_count=8, loop_count=0))
    assert trajectories().dtype == torch.float64
    assert trajectories().shape == (8, len(STAR_KEYPOINTS), 2)
    assert all(p.dtype == torch.float64 for p in trajectories.parameters())
    assert trajectories.positions_at(torch.tensor([0.0, 0.5])).shape == (2, len(STAR_KEYPOINTS), 2)
    with pytest.raises(ValueError):
        KeypointTrajectories(torch.zeros(4, 3))
    with pytest.raises(ValueError):
        KeypointTrajectories(torch.tensor([[0.0, float("nan")]]))


def test_the_roughness_gram_matrix_of_the_cubic_and_of_degree_six_by_hand():
    # Cubic: x'' = 6[(1 − t)(c0 − 2c1 + c2) + t(c1 − 2c2 + c3)], and ∫(1 − t)² = ∫t² = 1/3,
    # ∫t(1 − t) = 1/6: G_00 = 36/3 = 12, G_01 = 36(−2/3 + 1/6) = −18, G_11 = 36(4/3 − 4/6 + 1/3) = 36,
    # G_02 = 36(1/3 − 2/6) = 0, G_03 = 36/6 = 6.
    gram = bezier_roughness_gram(3)
    assert gram[0, 0] == pytest.approx(12.0, abs=1e-12)
    assert gram[0, 1] == pytest.approx(-18.0, abs=1e-12)
    assert gram[1, 1] == pytest.approx(36.0, abs=1e-12)
    assert gram[0, 2] == pytest.approx(0.0, abs=1e-12)
    assert gram[0, 3] == pytest.approx(6.0, abs=1e-12)
    # x = t² as a cubic has control points (0, 0, 1/3, 1): ∫(x'')² = ∫4 = 4 = cᵀGc.
    parabola = np.array([0.0, 0.0, 1.0 / 3.0, 1.0])
    assert parabola @ gram @ parabola == pytest.approx(4.0, abs=1e-12)
    # Degree 6: x = t⁶ (control points 0, …, 0, 1) has x'' = 30t⁴, ∫900t⁸ = 100 = G_66; a line
    # traversed at constant speed (control points i/6) has no roughness.
    six = bezier_roughness_gram(6)
    assert six[6, 6] == pytest.approx(100.0, abs=1e-9)
    line = np.arange(7) / 6.0
    assert line @ six @ line == pytest.approx(0.0, abs=1e-9)
    assert not bezier_roughness_gram(1).any()
