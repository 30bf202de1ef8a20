"""Skeleton and Jacobian residual losses (docs/method.md §9)."""

from __future__ import annotations

import torch

from flexiclip_core.losses import jacobian_residual_loss, skeleton_loss


def test_skeleton_loss_is_zero_for_rigid_motion_and_sums_squared_length_errors_over_poses():
    rest = torch.tensor([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]])
    bones = torch.tensor([[0, 1], [1, 2]])
    rest_lengths = torch.tensor([10.0, 10.0])
    angle = torch.tensor(0.7)
    rotation = torch.stack([torch.stack([angle.cos(), -angle.sin()]), torch.stack([angle.sin(), angle.cos()])])
    poses = torch.stack([rest, rest @ rotation.T + 5.0])
    assert skeleton_loss(poses, bones, rest_lengths).item() < 1e-10
    stretched = rest.clone()
    stretched[2, 1] = 13.0  # bone 1 is 3 px too long; bone 0 unchanged
    loss = skeleton_loss(torch.stack([rest, stretched, stretched]), bones, rest_lengths)
    assert torch.isclose(loss, torch.tensor(2 * (9.0 / 2)))  # two poses × mean(0, 9)


def test_skeleton_loss_without_bones_is_zero():
    keypoints = torch.randn(3, 4, 2, requires_grad=True)
    assert skeleton_loss(keypoints, torch.zeros(0, 2, dtype=torch.long), torch.zeros(0)).item() == 0.0


def test_jacobian_residual_loss_is_the_mean_squared_frobenius_norm():
    residual = torch.zeros(2, 3, 2, 2)
    residual[1, 2] = torch.tensor([[1.0, 2.0], [0.0, 2.0]])  # ‖·‖² = 9 on one of six faces
    assert torch.isclose(jacobian_residual_loss(residual), torch.tensor(9.0 / 6))
