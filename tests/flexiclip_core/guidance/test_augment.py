"""The shared frame augmentation: one homography for all frames, differentiable, white fill."""

from __future__ import annotations

import pytest
import torch

from flexiclip_core.errors import ConfigError
from flexiclip_core.guidance import AugmentationConfig, augment_frames
from flexiclip_core.guidance.augment import homography_from_points, random_warp


def _frames(videos: int = 2, poses: int = 3) -> torch.Tensor:  # [V, Q, 3, 64, 64] a dark square on white
    frames = torch.ones(videos, poses, 3, 64, 64)
    frames[..., 16:48, 20:44] = 0.2
    return frames


def test_no_distortion_and_full_crop_is_the_identity() -> None:
    config = AugmentationConfig(perspective_distortion=0.0, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0))
    frames = torch.rand(1, 2, 3, 32, 32)
    out = augment_frames(frames, torch.Generator().manual_seed(0), config)
    torch.testing.assert_close(out, frames, atol=1e-5, rtol=0)


def test_all_frames_of_all_videos_share_one_warp() -> None:
    frames = _frames()
    out = augment_frames(frames, torch.Generator().manual_seed(1))
    assert out.shape == frames.shape
    assert not torch.allclose(out, frames)
    torch.testing.assert_close(out[0, 0], out[1, 2])  # identical inputs → identical outputs


def test_reproducible_from_the_generator_and_different_across_draws() -> None:
    frames = _frames(1, 1)
    first = augment_frames(frames, torch.Generator().manual_seed(2))
    again = augment_frames(frames, torch.Generator().manual_seed(2))
    other = augment_frames(frames, torch.Generator().manual_seed(3))
    torch.testing.assert_close(first, again)
    assert not torch.allclose(first, other)


def test_outside_is_filled_white_and_gradients_reach_the_frames() -> None:
    white = torch.ones(1, 1, 3, 32, 32, requires_grad=True)
    out = augment_frames(white, torch.Generator().manual_seed(4))
    torch.testing.assert_close(out, torch.ones_like(out), atol=1e-5, rtol=0)
    frames = _frames(1, 2).requires_grad_(True)
    augment_frames(frames, torch.Generator().manual_seed(5)).sum().backward()
    assert frames.grad is not None and float(frames.grad.abs().sum()) > 0


def test_homography_maps_the_four_points() -> None:
    source = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]], dtype=torch.float64)
    target = torch.tensor([[-0.8, -0.9], [0.7, -1.0], [1.0, 0.6], [-0.9, 0.95]], dtype=torch.float64)
    warp = homography_from_points(source, target)
    mapped = torch.cat([source, torch.ones(4, 1, dtype=torch.float64)], dim=1) @ warp.T
    torch.testing.assert_close(mapped[:, :2] / mapped[:, 2:], target)


def test_warp_stays_within_the_configured_ranges() -> None:
    """Crops lie inside the image; the perspective keeps the output centre inside the source."""
    generator = torch.Generator().manual_seed(6)
    crop_only = AugmentationConfig(perspective_distortion=0.0)
    perspective_only = AugmentationConfig(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0))
    corners = torch.tensor([[-1.0, -1.0, 1.0], [1.0, -1.0, 1.0], [1.0, 1.0, 1.0], [-1.0, 1.0, 1.0]])
    centre = torch.tensor([[0.0, 0.0, 1.0]])
    areas = []
    for _ in range(50):
        mapped = corners @ random_warp(crop_only, generator, torch.device("cpu")).T
        points = mapped[:, :2] / mapped[:, 2:]
        assert float(points.abs().max()) <= 1.0 + 1e-5
        areas.append(float((points[1, 0] - points[0, 0]) * (points[2, 1] - points[1, 1])) / 4)
        mapped_centre = centre @ random_warp(perspective_only, generator, torch.device("cpu")).T
        assert float((mapped_centre[:, :2] / mapped_centre[:, 2:]).abs().max()) < 0.5
    assert min(areas) >= 0.4 - 1e-5 and max(areas) <= 1.0 + 1e-5 and max(areas) - min(areas) > 0.2


def test_config_validation() -> None:
    with pytest.raises(ConfigError):
        AugmentationConfig(perspective_distortion=1.5)
    with pytest.raises(ConfigError):
        AugmentationConfig(crop_scale=(0.8, 0.4))
