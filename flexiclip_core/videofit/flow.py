"""Dense correspondences without learned weights (docs/method.md §13): OpenCV's DIS optical flow
from the first target frame to every frame, forward–backward checked and masked to the drawing,
sampled at the rest mesh vertices."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from flexiclip_core.videofit.image import Appearance

DRAWING_CONTRAST = 0.3
"""Colour distance from the background at which a pixel reads fully as drawing in the flow's
grey image (the drawing's own shading is kept beside it)."""


@dataclass(frozen=True, eq=False)
class VertexTracks:
    """Where the reference moves each rest mesh vertex."""

    positions: np.ndarray
    """[N, V, 2] canvas px: rest vertex + flow displacement from frame 0 to frame n."""
    weights: np.ndarray
    """[N, V] 1 where the flow at the vertex passed the forward–backward check inside the drawing
    and the picture, else 0 (frame 0: all 1, the rest pose)."""


def flow_image(appearance: Appearance, frames: Tensor) -> np.ndarray:
    """Grey uint8 images for the flow: half luminance, half "drawing-ness" (alpha, or colour
    distance from the background), so a shape with the background's brightness still has edges.

    frames: Tensor  # [N, channels, S, S] in the comparison space
    returns: np.ndarray  # [N, S, S] uint8
    """
    rgb = frames[:, :3]
    if appearance.background is None:
        drawing = frames[:, 3]
        luma_source = rgb + (1.0 - frames[:, 3:4])  # premultiplied over white
    else:
        distance = torch.linalg.vector_norm(rgb - appearance.background.to(rgb).view(1, 3, 1, 1), dim=1)
        drawing = (distance / DRAWING_CONTRAST).clamp(max=1.0)
        luma_source = rgb
    luma = 0.299 * luma_source[:, 0] + 0.587 * luma_source[:, 1] + 0.114 * luma_source[:, 2]
    grey = 0.5 * luma.clamp(0.0, 1.0) + 0.5 * drawing
    return (grey * 255.0 + 0.5).to(torch.uint8).cpu().numpy()


def dense_flows(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DIS flow (medium preset) from image 0 to every image and back.

    images: np.ndarray  # [N, S, S] uint8
    returns: (forward [N, S, S, 2], backward [N, S, S, 2]) px; forward[n] maps image 0 to n:
             image_n(x + forward[n](x)) ≈ image_0(x); backward[n] maps n to 0.
    """
    import cv2  # opencv-python-headless (Apache-2.0), no learned weights

    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    forward = np.zeros((*images.shape, 2), dtype=np.float32)
    backward = np.zeros_like(forward)
    for index in range(1, len(images)):
        forward[index] = dis.calc(images[0], images[index], np.zeros_like(forward[index]))
        backward[index] = dis.calc(images[index], images[0], np.zeros_like(backward[index]))
    return forward, backward


def _sample(field: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear sample of a [S, S, C] field at canvas-px points [M, 2] (pixel centres at +0.5)."""
    size = field.shape[0]
    x = np.clip(points[:, 0] - 0.5, 0.0, size - 1.0)
    y = np.clip(points[:, 1] - 0.5, 0.0, size - 1.0)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, size - 1), np.minimum(y0 + 1, size - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    top = field[y0, x0] * (1 - fx) + field[y0, x1] * fx
    bottom = field[y1, x0] * (1 - fx) + field[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def _inside(mask: np.ndarray, points: np.ndarray) -> np.ndarray:
    """[M] bool: whether each canvas-px point of [M, 2] lies in the [S, S] bool ``mask`` (bilinear > ½)."""
    return _sample(mask.astype(np.float64)[..., None], points)[:, 0] > 0.5


def _round_trip(
    start: np.ndarray, forward: np.ndarray, backward: np.ndarray, end_mask: np.ndarray, consistency_px: float
) -> tuple[np.ndarray, np.ndarray]:
    """The forward–backward check of one pair of frames, shared by the tracks from the rest pose
    and the residual tracks: ``start`` [M, 2] carried by ``forward`` [S, S, 2]; returns (moved
    [M, 2], kept [M] bool), kept where ``backward`` brings each point back within ``consistency_px``
    of its start and it lands in ``end_mask`` [S, S] bool."""
    moved = start + _sample(forward, start)
    back = moved + _sample(backward, moved)
    kept = (np.linalg.norm(back - start, axis=1) <= consistency_px) & _inside(end_mask, moved)
    return moved, kept


def track_vertices(
    rest_vertices: np.ndarray,
    forward: np.ndarray,
    backward: np.ndarray,
    drawing_mask: np.ndarray,
    valid: np.ndarray,
    consistency_px: float,
) -> VertexTracks:
    """Flow at the rest vertices, kept where the round trip 0 → n → 0 closes within
    ``consistency_px`` and both ends lie in the drawing and the picture.

    rest_vertices: [V, 2] canvas px (the flow runs at 256², canvas px = flow px)
    forward, backward: [N, S, S, 2] (`dense_flows`)
    drawing_mask: [N, S, S] bool, drawing pixels of each target frame
    valid: [N, S, S] bool, canvas pixels inside the reference picture
    """
    frames = forward.shape[0]
    positions = np.repeat(rest_vertices[None].astype(np.float64), frames, axis=0)
    weights = np.ones((frames, len(rest_vertices)))
    keep_start = _inside(drawing_mask[0] & valid[0], rest_vertices)
    for index in range(1, frames):
        positions[index], kept = _round_trip(
            rest_vertices, forward[index], backward[index], drawing_mask[index] & valid[index], consistency_px
        )
        weights[index] = (kept & keep_start).astype(np.float64)
    return VertexTracks(positions=positions, weights=weights)


def residual_tracks(
    fitted_vertices: np.ndarray,
    rendered: np.ndarray,
    reference: np.ndarray,
    rendered_mask: np.ndarray,
    reference_mask: np.ndarray,
    valid: np.ndarray,
    consistency_px: float,
) -> VertexTracks:
    """Where the reference has the material that the current fit draws at each fitted vertex:
    DIS flow from the fit's render of frame n to reference frame n and back (the residual of the
    fit, a few px, which DIS finds where the 0 → n flow of a far turn is lost), sampled at the
    fitted vertices, kept where the round trip closes within ``consistency_px`` and both ends lie
    in their drawings and the picture.

    fitted_vertices: [N, V, 2] canvas px, the current fit's final vertices per frame
    rendered, reference: [N, S, S] uint8 flow images (`flow_image`) of the fit's render and the reference
    rendered_mask, reference_mask, valid: [N, S, S] bool
    returns: VertexTracks with positions [N, V, 2] = fitted vertex + residual flow, weights [N, V]
    """
    import cv2  # opencv-python-headless (Apache-2.0), no learned weights

    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    positions = fitted_vertices.astype(np.float64).copy()
    weights = np.zeros(positions.shape[:2])
    empty = np.zeros((*rendered.shape[1:], 2), dtype=np.float32)
    for index in range(len(positions)):
        forward = dis.calc(rendered[index], reference[index], empty.copy())
        backward = dis.calc(reference[index], rendered[index], empty.copy())
        start = positions[index].copy()  # a view would see the assignment below
        positions[index], kept = _round_trip(
            start, forward, backward, reference_mask[index] & valid[index], consistency_px
        )
        weights[index] = (kept & _inside(rendered_mask[index], start)).astype(np.float64)
    return VertexTracks(positions=positions, weights=weights)
