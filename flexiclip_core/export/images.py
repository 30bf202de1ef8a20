"""Image outputs through Pillow: GIF, animated WebP and APNG (both with alpha), PNG poster and frames.

Frames are uint8 ``[N, H, W, 3|4]``, straight RGBA, row 0 at top. Every file loops forever
(``loop=0``) and is written atomically.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Literal

import numpy as np

from flexiclip_core.errors import ExportError
from flexiclip_core.export.files import atomic_write, check_fps, check_frames, frame_name
from flexiclip_core.export.video import composite_over

PosterChoice = Literal["max_motion", "first"]
"""Which frame the poster shows (`ExportConfig.poster`)."""


def _images(frames: np.ndarray) -> list:
    from PIL import Image

    return [Image.fromarray(np.ascontiguousarray(frame)) for frame in frames]


def frame_delays_ms(frame_count: int, fps: float, tick_ms: int) -> list[int]:
    """Delay of each of ``frame_count`` frames in ms, in whole ticks of ``tick_ms`` (GIF: 10,
    WebP: 1) rounded on the running clock (half up): frame k lasts
    round((k + 1)/(fps·tick)) − round(k/(fps·tick)) ticks, so the delays add up to the loop's
    N/fps to the nearest tick instead of drifting by N rounding errors."""
    ticks_per_frame = 1000.0 / (fps * tick_ms)
    clock = [math.floor(ticks_per_frame * k + 0.5) for k in range(frame_count + 1)]
    return [tick_ms * (clock[k + 1] - clock[k]) for k in range(frame_count)]


def write_gif(
    frames: np.ndarray,  # uint8 [N, H, W, 3|4]
    path: str | Path,
    fps: float,
    *,
    background_rgb: tuple[int, int, int] = (255, 255, 255),
    clip: str | None = None,
) -> Path:
    """Looping (loop=0) GIF via Pillow, composited over ``background_rgb`` (white: GIF's 1-bit
    transparency would cut the anti-aliased edges), adaptive palette per frame.

    Pillow merges a frame identical to the one before into it (adding its duration), so a
    motionless stretch is stored as fewer, longer frames; playback timing is unchanged.
    GIF stores whole centiseconds: the delays are rounded on the running clock
    (`frame_delays_ms`), so the loop keeps its length N/fps (15 fps: 7, 6, 7, … cs, where
    Pillow would truncate every 6.67 cs to 6 and play 10% fast).
    """
    frames = composite_over(check_frames(frames, clip), background_rgb)
    check_fps(fps, ExportError)
    duration_ms = frame_delays_ms(len(frames), fps, 10)
    images = _images(frames)

    def write(temporary: Path) -> None:
        images[0].save(
            temporary,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=duration_ms,
            loop=0,
            disposal=1,
            optimize=False,
        )

    return atomic_write(Path(path), write, clip)


def write_webp(
    frames: np.ndarray,  # uint8 [N, H, W, 3|4]
    path: str | Path,
    fps: float,
    *,
    lossless: bool = True,
    quality: int = 90,
    clip: str | None = None,
) -> Path:
    """Looping animated WebP via Pillow; RGBA keeps its alpha (lossless alpha even when the
    colour is lossy). ``quality`` is the lossy quality, or the effort when ``lossless``."""
    frames = check_frames(frames, clip)
    check_fps(fps, ExportError)
    images = _images(frames)
    duration_ms = frame_delays_ms(len(frames), fps, 1)  # WebP stores whole milliseconds

    def write(temporary: Path) -> None:
        images[0].save(
            temporary,
            format="WEBP",
            save_all=True,
            append_images=images[1:],
            duration=duration_ms,
            loop=0,
            lossless=lossless,
            quality=quality,
            alpha_quality=100,
            method=4,
        )

    return atomic_write(Path(path), write, clip)


def write_apng(
    frames: np.ndarray,  # uint8 [N, H, W, 3|4]
    path: str | Path,
    fps: float,
    *,
    clip: str | None = None,
) -> Path:
    """Looping animated PNG via Pillow, lossless with alpha. Each frame replaces the canvas
    (blend ``OP_SOURCE``) so transparent areas never show an earlier frame."""
    from PIL.PngImagePlugin import Blend, Disposal

    frames = check_frames(frames, clip)
    check_fps(fps, ExportError)
    images = _images(frames)

    def write(temporary: Path) -> None:
        images[0].save(
            temporary,
            format="PNG",
            save_all=True,
            append_images=images[1:],
            duration=1000.0 / fps,
            loop=0,
            disposal=Disposal.OP_NONE,
            blend=Blend.OP_SOURCE,
        )

    return atomic_write(Path(path), write, clip)


def write_poster(frame_rgba: np.ndarray, path: str | Path, *, clip: str | None = None) -> Path:
    """PNG of one uint8 frame [H, W, 3|4] (RGBA kept as RGBA)."""
    frame = check_frames(np.asarray(frame_rgba)[None], clip)[0]
    image = _images(frame[None])[0]

    def write(temporary: Path) -> None:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        temporary.write_bytes(buffer.getvalue())

    return atomic_write(Path(path), write, clip)


def write_frame_pngs(frames: np.ndarray, out_dir: str | Path, *, clip: str | None = None) -> list[Path]:
    """Write ``out_dir/frame_000.png`` … from uint8 frames [N, H, W, 3|4]; returns their paths."""
    frames = check_frames(frames, clip)
    out_dir = Path(out_dir)
    return [
        write_poster(frame, out_dir / frame_name(i, len(frames), "png"), clip=clip) for i, frame in enumerate(frames)
    ]


def poster_frame_index(frame_points: np.ndarray, choice: PosterChoice = "max_motion") -> int:
    """Index of the poster frame in ``frame_points`` [N, P, 2] (see `ExportConfig.poster`)."""
    frame_points = np.asarray(frame_points, dtype=np.float64)
    if choice == "first" or len(frame_points) <= 1 or frame_points.shape[1] == 0:
        return 0
    displacement = np.linalg.norm(frame_points - frame_points[:1], axis=-1).mean(axis=-1)  # [N]
    return int(np.argmax(displacement))
