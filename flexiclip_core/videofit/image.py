"""Small image operations shared by registration and refinement: blur, the comparison space of
a reference (premultiplied RGBA, or colour over its background) and its drawing mask."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional


def gaussian_blur(images: Tensor, sigma_px: float) -> Tensor:
    """Separable Gaussian blur with reflect padding; σ ≤ 0.3 px returns the input.

    images: Tensor  # [B, C, H, W]
    returns: Tensor  # [B, C, H, W]
    """
    if sigma_px <= 0.3:
        return images
    radius = max(1, math.ceil(3.0 * sigma_px))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (offsets / sigma_px) ** 2)
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    padded = functional.pad(images, (radius, radius, 0, 0), mode="reflect")
    out = functional.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    padded = functional.pad(out, (0, 0, radius, radius), mode="reflect")
    return functional.conv2d(padded, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


@dataclass(frozen=True)
class Appearance:
    """How a render is compared with a reference: a reference with alpha is compared as
    premultiplied RGBA; an opaque one as colour, with the render composited over the reference's
    background colour (so the background needs no mask estimate)."""

    background: Tensor | None
    """[3] RGB in [0, 1] of an opaque reference's background; None when the reference has alpha."""
    tolerance: float
    """Colour distance from the background above which an opaque pixel is drawing (`mask`)."""

    @property
    def channels(self) -> int:
        """4 (premultiplied RGBA) with alpha, 3 (RGB) without."""
        return 4 if self.background is None else 3

    def of_render(self, premultiplied: Tensor) -> Tensor:
        """A training render in the comparison space.

        premultiplied: Tensor  # [B, 4, H, W] premultiplied RGB, alpha
        returns: Tensor        # [B, channels, H, W]
        """
        if self.background is None:
            return premultiplied
        alpha = premultiplied[:, 3:4]
        return premultiplied[:, :3] + (1.0 - alpha) * self.background.to(premultiplied).view(1, 3, 1, 1)

    def of_straight(self, rgba: Tensor) -> Tensor:
        """Straight RGBA frames (a decoded reference, a final render) in the comparison space.

        rgba: Tensor  # [B, 4, H, W] straight RGB, alpha in [0, 1]
        returns: Tensor  # [B, channels, H, W]
        """
        alpha = rgba[:, 3:4]
        return self.of_render(torch.cat([rgba[:, :3] * alpha, alpha], dim=1))

    def mask(self, appearance: Tensor) -> Tensor:
        """Drawing mask of frames in the comparison space: alpha > 0.5, or colour farther than
        ``tolerance`` from the background.

        appearance: Tensor  # [B, channels, H, W]
        returns: Tensor     # [B, H, W] bool
        """
        if self.background is None:
            return appearance[:, 3] > 0.5
        distance = torch.linalg.vector_norm(appearance - self.background.to(appearance).view(1, 3, 1, 1), dim=1)
        return distance > self.tolerance


def mask_iou(first: Tensor, second: Tensor) -> Tensor:
    """Intersection over union per frame of two boolean masks; 1 where both are empty.

    first, second: Tensor  # [B, H, W] bool
    returns: Tensor        # [B]
    """
    intersection = (first & second).flatten(1).sum(1).double()
    union = (first | second).flatten(1).sum(1).double()
    return torch.where(union > 0, intersection / union.clamp(min=1), torch.ones_like(union))


def mask_agreement(first: Tensor, second: Tensor, radius_px: int = 1) -> Tensor:
    """Per frame, the share of the drawing pixels of both masks that lie within ``radius_px``
    (Chebyshev) of the other mask: (|A ∩ D(B)| + |B ∩ D(A)|) / (|A| + |B|), D a (2r + 1)² dilation;
    1 where both are empty. Unlike IoU it does not count a sub-pixel edge shift — the codec's
    blur of a thin outline — as a miss (docs/method.md §13).

    first, second: Tensor  # [B, H, W] bool
    returns: Tensor        # [B]
    """
    size = 2 * radius_px + 1

    def dilate(mask: Tensor) -> Tensor:
        return functional.max_pool2d(mask[:, None].double(), size, stride=1, padding=radius_px)[:, 0] > 0.5

    near = (first & dilate(second)).flatten(1).sum(1).double() + (second & dilate(first)).flatten(1).sum(1).double()
    total = first.flatten(1).sum(1).double() + second.flatten(1).sum(1).double()
    return torch.where(total > 0, near / total.clamp(min=1), torch.ones_like(total))
