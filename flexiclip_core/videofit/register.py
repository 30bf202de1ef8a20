"""Registration of a reference video to the drawing (docs/method.md §13): letterbox bars, the
background model, resampling to the config's N frames over the reference's duration, and the
similarity (scale, rotation, translation) that maps the rest render onto the first frame.

The result, `FitTarget`, is the reference resampled into the 256² canvas: every later stage
(flow, initialisation, refinement, metrics) works in canvas pixels as the rest of the method.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional

from flexiclip_core.clipart import CANVAS_SIZE
from flexiclip_core.errors import ReferenceVideoError, RegistrationError
from flexiclip_core.videofit.image import Appearance, gaussian_blur, mask_agreement, mask_iou
from flexiclip_core.videofit.reference import ReferenceVideo
from flexiclip_core.videofit_config import VideoFitConfig

BAR_MAX_LEVEL = 0.08
"""Letterbox bars are near-black: every channel of every frame below this."""
BAR_UNIFORMITY = 0.03
"""…and uniform: no pixel of the line farther than this from the line's mean, in any frame."""


@dataclass(frozen=True, eq=False)
class FitTarget:
    """The reference in canvas coordinates at the config's N frames."""

    frames: Tensor
    """[N, channels, S, S] reference frames in the comparison space (`Appearance`), S = 256."""
    valid: Tensor
    """[N, 1, S, S] 1 where the canvas pixel falls inside the reference picture (letterbox bars and
    the outside of the frame count 0)."""
    appearance: Appearance
    """How renders are compared with ``frames``."""
    similarity: np.ndarray
    """[2, 3] affine map canvas px → reference px (after bar cropping) of the registration."""
    registration_iou: float
    """Mask IoU of the registered first frame and the rest render."""
    registration_agreement: float
    """Share of the drawing pixels of both masks (registered first frame, rest render) within 1 px
    of the other mask (`mask_agreement`): what the refusal tests."""
    source_frames: np.ndarray
    """[N] index of the reference frame shown at each output frame."""
    crop: tuple[int, int, int, int]
    """(top, bottom, left, right) rows/columns of letterbox bars cut from the reference."""


def letterbox_crop(frames: np.ndarray) -> tuple[int, int, int, int]:
    """Rows and columns of near-black uniform bars at the edges of every frame.

    frames: np.ndarray  # [T, H, W, 4] straight RGBA
    returns: (top, bottom, left, right) counts, leaving at least half of each side.
    """
    rgb = frames[..., :3]

    def is_bar(lines: np.ndarray) -> np.ndarray:  # [T, L, M, 3] → [L]
        level = lines.max(axis=(0, 2, 3)) < BAR_MAX_LEVEL
        spread = np.abs(lines - lines.mean(axis=2, keepdims=True)).max(axis=(0, 2, 3)) < BAR_UNIFORMITY
        return level & spread

    def leading(flags: np.ndarray) -> int:
        count = int(np.argmin(flags)) if not flags.all() else len(flags)
        return min(count, len(flags) // 4)

    rows, cols = is_bar(rgb), is_bar(rgb.transpose(0, 2, 1, 3))
    return leading(rows), leading(rows[::-1]), leading(cols), leading(cols[::-1])


def estimate_background(frame: np.ndarray) -> np.ndarray:
    """Median colour of the 2-px border ring of an opaque frame.

    frame: np.ndarray  # [H, W, 4]
    returns: np.ndarray  # [3]
    """
    ring = np.concatenate(
        [frame[:2, :, :3].reshape(-1, 3), frame[-2:, :, :3].reshape(-1, 3)]
        + [frame[:, :2, :3].reshape(-1, 3), frame[:, -2:, :3].reshape(-1, 3)]
    )
    return np.median(ring, axis=0)


def source_frame_indices(frame_count: int, reference_frames: int) -> np.ndarray:
    """Reference frame nearest to each output frame when N output frames span the reference's
    duration as one loop period: output n sits at time n·D/N, reference frame j at j·D/T.

    returns: np.ndarray  # [N] int
    """
    times = np.arange(frame_count) * reference_frames / frame_count
    return np.minimum(np.floor(times + 0.5).astype(int), reference_frames - 1)


def _canvas_grid(size: int, dtype: torch.dtype) -> Tensor:
    """Canvas-px centres of an S × S render of the 256² canvas.  # [S, S, 2] (x, y)"""
    centres = (torch.arange(size, dtype=dtype) + 0.5) * (CANVAS_SIZE / size)
    y, x = torch.meshgrid(centres, centres, indexing="ij")
    return torch.stack([x, y], dim=-1)


def similarity_matrix(log_scale: Tensor, angle: Tensor, translation: Tensor) -> Tensor:
    """[2, 3] map canvas px → reference px: s·R(θ)·x + t."""
    scale = torch.exp(log_scale)
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    return torch.stack([torch.stack([cos, -sin, translation[0]]), torch.stack([sin, cos, translation[1]])])


def warp_to_canvas(images: Tensor, matrix: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """Sample reference images at the canvas pixels of an S × S render.

    images: Tensor  # [B, C, H, W] reference px
    matrix: Tensor  # [2, 3] canvas px → reference px
    returns: (warped [B, C, S, S] (bilinear, border-clamped), valid [1, 1, S, S] inside the picture)
    """
    height, width = images.shape[-2:]
    grid = _canvas_grid(size, images.dtype).to(images.device)  # [S, S, 2]
    source = grid @ matrix[:, :2].T + matrix[:, 2]  # [S, S, 2] reference px
    normalised = torch.stack([source[..., 0] / width * 2.0 - 1.0, source[..., 1] / height * 2.0 - 1.0], dim=-1)
    warped = functional.grid_sample(
        images,
        normalised.expand(images.shape[0], -1, -1, -1),
        mode="bilinear",
        padding_mode="border",
        align_corners=False,
    )
    inside = (normalised.abs() <= 1.0).all(dim=-1).to(images.dtype)[None, None]
    return warped, inside


def register_reference(
    reference: ReferenceVideo,
    rest_rgba: np.ndarray,
    frame_count: int,
    config: VideoFitConfig,
    *,
    clip: str | None = None,
) -> FitTarget:
    """Find the drawing in the reference's first frame and resample the reference into the
    canvas at ``frame_count`` frames.

    rest_rgba: np.ndarray  # [256, 256, 4] straight RGBA float in [0, 1]: the rest pose, final renderer
    Raises `RegistrationError` when fewer than ``config.min_registration_agreement`` of the drawing
    pixels of the registered first frame and of the rest render lie within 1 px of the other's
    mask, `ReferenceVideoError` for an unusable reference.
    """
    frames = reference.frames
    top = bottom = left = right = 0
    background: np.ndarray | None = None
    if not reference.has_alpha:  # transparent edges are not bars
        top, bottom, left, right = letterbox_crop(frames)
        cropped = frames[:, top : frames.shape[1] - bottom, left : frames.shape[2] - right]
        background = estimate_background(cropped[0])
        if float(np.max(background)) < BAR_MAX_LEVEL:  # a black background is not a letterbox
            top = bottom = left = right = 0
            background = estimate_background(frames[0])
    frames = frames[:, top : frames.shape[1] - bottom, left : frames.shape[2] - right]
    appearance = Appearance(
        None if background is None else torch.as_tensor(background, dtype=torch.float32),
        config.background_tolerance,
    )
    indices = source_frame_indices(frame_count, reference.frame_count)
    chosen = torch.from_numpy(np.ascontiguousarray(frames[indices])).permute(0, 3, 1, 2)  # [N, 4, H, W]
    reference_appearance = appearance.of_straight(chosen)  # [N, C, H, W]

    rest = appearance.of_straight(torch.from_numpy(rest_rgba.astype(np.float32)).permute(2, 0, 1)[None])
    rest_mask = appearance.mask(rest)[0]  # [256, 256]
    first_mask = appearance.mask(reference_appearance[:1])[0]  # [H, W]
    if not bool(rest_mask.any()):
        raise ReferenceVideoError("the rest render of the drawing is empty: nothing to register", clip=clip)
    if not bool(first_mask.any()):
        raise RegistrationError(
            f"reference {_name(reference)}: its first frame shows nothing but background "
            f"({'alpha is empty' if background is None else 'no pixel differs from the background colour'})",
            clip=clip,
        )
    matrix = _register(reference_appearance[:1], rest, rest_mask, first_mask, appearance, config)
    warped, inside = warp_to_canvas(reference_appearance, matrix, CANVAS_SIZE)
    first_registered = appearance.mask(warped[:1])
    iou = float(mask_iou(first_registered, rest_mask[None])[0])
    agreement = float(mask_agreement(first_registered, rest_mask[None])[0])
    if agreement < config.min_registration_agreement:
        raise RegistrationError(
            f"reference {_name(reference)}: its first frame does not contain the drawing (after "
            f"registration {agreement:.0%} of the drawing's pixels lie within 1 px of the rest pose, "
            f"need ≥ {config.min_registration_agreement:.0%}; mask IoU {iou:.2f})",
            clip=clip,
        )
    return FitTarget(
        frames=warped,
        valid=inside.expand(len(indices), -1, -1, -1).contiguous(),
        appearance=appearance,
        similarity=matrix.detach().double().numpy(),
        registration_iou=iou,
        registration_agreement=agreement,
        source_frames=indices,
        crop=(top, bottom, left, right),
    )


def _name(reference: ReferenceVideo) -> str:
    return repr(reference.source.rsplit("/", 1)[-1])


def _register(
    first: Tensor,
    rest: Tensor,
    rest_mask: Tensor,
    first_mask: Tensor,
    appearance: Appearance,
    config: VideoFitConfig,
) -> Tensor:
    """Similarity canvas px → reference px: moments (area, centroid) for the start, then Adam on
    the blurred photometric difference, coarse to fine, at a 128² canvas.

    first: [1, C, H, W]; rest: [1, C, 256, 256]; masks: bool [256, 256] and [H, W].
    """

    def moments(mask: Tensor, pixel: float) -> tuple[float, Tensor]:
        ys, xs = torch.nonzero(mask, as_tuple=True)
        centroid = torch.stack([xs.double().mean(), ys.double().mean()]) + 0.5
        return float(len(xs)) * pixel * pixel, centroid * pixel

    rest_area, rest_centroid = moments(rest_mask, 1.0)
    first_area, first_centroid = moments(first_mask, 1.0)
    scale = math.sqrt(first_area / rest_area)
    log_scale = torch.tensor(math.log(scale), dtype=torch.float32, requires_grad=True)
    angle = torch.tensor(0.0, dtype=torch.float32, requires_grad=True)
    translation = (first_centroid - scale * rest_centroid).float().requires_grad_(True)
    optimiser = torch.optim.Adam(
        [{"params": [log_scale, angle], "lr": 0.01}, {"params": [translation], "lr": 0.5 * max(scale, 1.0)}]
    )
    steps = config.registration_steps
    fine_from = (2 * steps) // 3  # the last third at full canvas resolution, for sub-pixel precision
    for step in range(steps):
        size = 128 if step < fine_from else CANVAS_SIZE
        if step in (0, fine_from):
            rest_small = functional.interpolate(rest, size=(size, size), mode="area")
            for group in optimiser.param_groups:
                group["lr"] *= 1.0 if step == 0 else 0.2
        sigma = (4.0 * (1.0 - step / max(steps, 1)) + 0.5) * size / 128  # px of this size
        optimiser.zero_grad()
        warped, inside = warp_to_canvas(first, similarity_matrix(log_scale, angle, translation), size)
        difference = gaussian_blur(warped, sigma) - gaussian_blur(rest_small, sigma)
        loss = (difference.square() * inside).mean()
        loss.backward()
        optimiser.step()
    return similarity_matrix(log_scale, angle, translation).detach().float()
