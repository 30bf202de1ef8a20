"""Keypoint poses and pose Jacobians shared by the motion tests."""

from __future__ import annotations

import torch

# A five-keypoint "star" with a fan of triangles around its centre, used to turn keypoint
# positions into per-face pose Jacobians J = E' E⁻¹ (a stand-in for the deform stage).
STAR_KEYPOINTS = torch.tensor(
    [[128.0, 128.0], [128.0, 40.0], [210.0, 100.0], [180.0, 210.0], [76.0, 210.0], [46.0, 100.0]]
)
STAR_FACES = torch.tensor([[0, 1, 2], [0, 2, 3], [0, 3, 4], [0, 4, 5], [0, 5, 1]])


def face_jacobians(positions: torch.Tensor, rest: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """positions [Q, K, 2], rest [K, 2], faces [F, 3] → Jacobians [Q, F, 2, 2]"""

    def edges(points: torch.Tensor) -> torch.Tensor:
        corner = points[..., faces[:, 0], :]
        return torch.stack([points[..., faces[:, 1], :] - corner, points[..., faces[:, 2], :] - corner], dim=-1)

    return edges(positions) @ torch.linalg.inv(edges(rest))


def random_pose_jacobians(pose_count: int, face_count: int, dtype=torch.float64, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    noise = 0.3 * torch.randn(pose_count, face_count, 2, 2, generator=generator, dtype=dtype)
    return torch.eye(2, dtype=dtype) + noise
