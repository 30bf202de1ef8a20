"""Losses of docs/method.md §9 besides the prior's own terms (those come from `guidance`).

Total: L = L_SDS(final) + λ_flow (L_flow,score + L_flow,jacobian) + w_skel L_skel.
"""

from __future__ import annotations

import torch
from torch import Tensor


def skeleton_loss(keypoints: Tensor, bones: Tensor, rest_lengths: Tensor) -> Tensor:
    """Σ_q mean over bones of (‖p_q(a) − p_q(b)‖ − ℓ⁰_ab)² (docs/method.md §9).

    keypoints [Q, K, 2] px; bones [B, 2] long; rest_lengths [B] px. Zero without bones.
    """
    if bones.numel() == 0:
        return keypoints.new_zeros(())
    lengths = torch.linalg.vector_norm(keypoints[:, bones[:, 0]] - keypoints[:, bones[:, 1]], dim=-1)
    return ((lengths - rest_lengths) ** 2).mean(dim=1).sum()


def jacobian_residual_loss(residual_jacobians: Tensor) -> Tensor:
    """E_q ‖J_q − J^P_q‖²_F = mean over poses and faces of ‖J^R‖²_F. residual_jacobians [Q, F, 2, 2]."""
    return residual_jacobians.pow(2).sum(dim=(-1, -2)).mean()
