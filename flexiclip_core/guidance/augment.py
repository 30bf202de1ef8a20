"""The shared random augmentation applied to rendered frames before encoding (docs/method.md §8).

One random perspective distortion (distortion 0.5) followed by one random resized crop (area
0.4–1) warps every frame of every video identically, so the prior still sees a coherent video
and the final and pose videos stay comparable. Written as a single homography and `grid_sample`
(torchvision must stay out of the environment); differentiable w.r.t. the frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from flexiclip_core.errors import ConfigError

_CORNERS = ((-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0))  # normalised (x, y), y down


@dataclass(frozen=True)
class AugmentationConfig:
    """Random perspective + square resized crop (the reference's torchvision settings, docs/method.md §12)."""

    perspective_distortion: float = 0.5
    """Each image corner moves inward by up to this fraction of the half-size (0 disables)."""
    crop_scale: tuple[float, float] = (0.4, 1.0)
    """Range of the crop's area as a fraction of the image."""
    crop_ratio: tuple[float, float] = (1.0, 1.0)
    """Range of the crop's aspect ratio (width / height), sampled log-uniformly; the reference's
    (1, 1) keeps the drawing's proportions through the square resize."""
    fill: float = 1.0
    """Value of pixels warped in from outside the image (1 = the white background)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.perspective_distortion < 1.0:
            raise ConfigError(f"perspective_distortion must be in [0, 1), got {self.perspective_distortion}")
        low, high = self.crop_scale
        if not 0.0 < low <= high <= 1.0:
            raise ConfigError(f"crop_scale must satisfy 0 < low ≤ high ≤ 1, got {self.crop_scale}")
        if not 0.0 < self.crop_ratio[0] <= self.crop_ratio[1]:
            raise ConfigError(f"crop_ratio must satisfy 0 < low ≤ high, got {self.crop_ratio}")


def homography_from_points(source: Tensor, target: Tensor) -> Tensor:  # [3, 3]
    """The projective map H with H(source_i) = target_i for four points [4, 2] (h₃₃ = 1)."""
    rows = []
    values = []
    for (x, y), (u, v) in zip(source.unbind(0), target.unbind(0), strict=True):
        one, zero = torch.ones_like(x), torch.zeros_like(x)
        rows.append(torch.stack([x, y, one, zero, zero, zero, -x * u, -y * u]))
        rows.append(torch.stack([zero, zero, zero, x, y, one, -x * v, -y * v]))
        values.extend([u, v])
    solution = torch.linalg.solve(torch.stack(rows), torch.stack(values))
    return torch.cat([solution, torch.ones_like(solution[:1])]).reshape(3, 3)


def random_warp(config: AugmentationConfig, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """One random output → input map as a 3×3 homography on normalised coordinates (on ``device``).

    Crop first (output pixel → point of the perspective-warped image), then the perspective
    (that point → source pixel), composing torchvision's RandomPerspective → RandomResizedCrop.
    """
    sample_device = generator.device if generator is not None else device
    draws = torch.rand(12, generator=generator, device=sample_device, dtype=torch.float64)
    corners = torch.tensor(_CORNERS, dtype=torch.float64, device=sample_device)
    # Perspective: the output shows the source's corner i at the displaced corner i.
    displaced = corners - corners * config.perspective_distortion * draws[:8].reshape(4, 2)
    perspective = homography_from_points(displaced, corners)
    # Resized crop: area and log-aspect drawn uniformly; sides clamped to the image.
    low, high = config.crop_scale
    area = low + (high - low) * draws[8]
    log_low, log_high = math.log(config.crop_ratio[0]), math.log(config.crop_ratio[1])
    aspect = torch.exp(log_low + (log_high - log_low) * draws[9])
    half_width = torch.sqrt(area * aspect).clamp(max=1.0)
    half_height = torch.sqrt(area / aspect).clamp(max=1.0)
    centre_x = (2 * draws[10] - 1) * (1 - half_width)
    centre_y = (2 * draws[11] - 1) * (1 - half_height)
    zero, one = torch.zeros_like(area), torch.ones_like(area)
    crop = torch.stack(
        [
            torch.stack([half_width, zero, centre_x]),
            torch.stack([zero, half_height, centre_y]),
            torch.stack([zero, zero, one]),
        ]
    )
    return (perspective @ crop).to(device=device, dtype=torch.float32)


def sampling_grid(warp: Tensor, height: int, width: int) -> Tensor:  # [1, H, W, 2]
    """`grid_sample` grid (x, y in [−1, 1], pixel centres) of an output → input homography."""
    ys = (torch.arange(height, device=warp.device, dtype=warp.dtype) * 2 + 1) / height - 1
    xs = (torch.arange(width, device=warp.device, dtype=warp.dtype) * 2 + 1) / width - 1
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    points = torch.stack([grid_x, grid_y, torch.ones_like(grid_x)], dim=-1)  # [H, W, 3]
    mapped = points @ warp.T
    return (mapped[..., :2] / mapped[..., 2:]).unsqueeze(0)


def augment_frames(
    frames: Tensor,
    generator: torch.Generator | None = None,
    config: AugmentationConfig = AugmentationConfig(),
) -> Tensor:
    """Warp all frames [..., 3, H, W] (e.g. [videos, Q, 3, H, W]) with ONE random augmentation.

    Differentiable w.r.t. ``frames``; the randomness comes from ``generator`` only.
    """
    *leading, channels, height, width = frames.shape
    warp = random_warp(config, generator, frames.device)
    grid = sampling_grid(warp, height, width).to(frames.dtype)
    flat = frames.reshape(-1, channels, height, width)
    # Sampling (frames − fill) with zero padding fills the outside with ``fill``.
    warped = F.grid_sample(
        flat - config.fill,
        grid.expand(flat.shape[0], -1, -1, -1),
        mode="bilinear",
        padding_mode="zeros",
        align_corners=False,
    )
    return (warped + config.fill).reshape(*leading, channels, height, width)
