"""Shared scenes and decoders of the export tests: a small clipart with every paint kind, its
moving frames, and the alpha-aware WebM reader."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from scipy.ndimage import binary_dilation, binary_erosion

from flexiclip_core.clipart import Clipart, Fill, Shape, Stroke, SubPath


def polygon_subpath(corners: list[tuple[float, float]], closed: bool = True) -> SubPath:
    corners_array = np.asarray(corners, dtype=np.float64)
    if closed:
        corners_array = np.vstack([corners_array, corners_array[:1]])
    points = [corners_array[0]]
    for start, end in zip(corners_array[:-1], corners_array[1:]):
        points += [start + (end - start) / 3, start + 2 * (end - start) / 3, end]
    return SubPath(np.asarray(points), closed)


def circle_subpath(cx: float, cy: float, radius: float) -> SubPath:
    k = 0.5522847498 * radius
    return SubPath(
        np.array(
            [
                (cx + radius, cy),
                (cx + radius, cy + k),
                (cx + k, cy + radius),
                (cx, cy + radius),
                (cx - k, cy + radius),
                (cx - radius, cy + k),
                (cx - radius, cy),
                (cx - radius, cy - k),
                (cx - k, cy - radius),
                (cx, cy - radius),
                (cx + k, cy - radius),
                (cx + radius, cy - k),
                (cx + radius, cy),
            ]
        ),
        True,
    )


def make_clipart() -> Clipart:
    """A red body, a semi-transparent blue even-odd ring, a dashed open green stroke, a static sun."""
    return Clipart(
        (
            Shape(
                (polygon_subpath([(60, 120), (190, 120), (190, 200), (60, 200)]),),
                Fill((0.9, 0.1, 0.1)),
                Stroke((0.0, 0.0, 0.0), 3.0, linejoin="round"),
                element="<path id='body'>",
            ),
            Shape(
                (circle_subpath(120, 80, 40), circle_subpath(120, 80, 20)),
                Fill((0.1, 0.2, 0.9), 0.7, "evenodd"),
                None,
                element="<path id='head'>",
            ),
            Shape(
                (polygon_subpath([(70, 220), (130, 240), (190, 220)], closed=False),),
                None,
                Stroke((0.1, 0.6, 0.2), 5.0, linecap="round", dash_array=(12.0, 6.0), dash_offset=3.0),
            ),
            Shape((circle_subpath(225, 30, 15),), Fill((1.0, 0.8, 0.0)), None, element="<circle id='sun'>"),
        ),
        source="test-clip",
    )


def moving_frames(clipart: Clipart, frame_count: int = 6) -> np.ndarray:
    """[N, P, 2]: the first three shapes sway and bob; the sun (last 13 points) stays put."""
    rest = clipart.control_points()
    frames = []
    for i in range(frame_count):
        phase = 2 * np.pi * i / frame_count
        pose = rest.copy()
        moving = slice(0, len(rest) - 13)
        pose[moving, 0] += 12 * np.sin(phase) * (rest[moving, 1] - 60) / 180
        pose[moving, 1] += 6 * (1 - np.cos(phase))
        frames.append(pose)
    return np.stack(frames)


def soft_iou(a: np.ndarray, b: np.ndarray) -> float:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return float(np.minimum(a, b).sum() / np.maximum(a, b).sum())


MARGIN = np.ones((7, 7), dtype=bool)  # 3 px either side: away from anti-aliased and chroma-blurred edges


def decode_webm_rgba(path: Path) -> tuple[list[np.ndarray], av.VideoStream]:
    """Frames of a VP9 WebM as RGBA [H, W, 4]: FFmpeg's native vp9 decoder drops the alpha plane
    (stored as Matroska BlockAdditional), libvpx-vp9's keeps it. Alpha is read from the decoded
    plane itself: swscale's yuva420p → rgba loses the last columns of widths not divisible by 8."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoder = av.CodecContext.create("libvpx-vp9", "r")
        frames = []
        for packet in container.demux(stream):
            for frame in decoder.decode(packet):
                assert frame.format.name == "yuva420p"
                plane = frame.planes[3]
                alpha = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
                frames.append(np.dstack([frame.to_ndarray(format="rgb24"), alpha]))
        return frames, stream


def outside_and_solid_inside(alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masks [H, W]: pixels ≥ 3 px away from anything drawn, and pixels ≥ 3 px inside opaque paint."""
    outside = ~binary_dilation(alpha > 0, structure=MARGIN)
    inside = binary_erosion(alpha == 255, structure=MARGIN)
    return outside, inside
