"""Atomic file writes and frame-file naming shared by every output writer.

Every file is written under a temporary name in its own folder and then renamed onto its
final name, so a reader never sees a half file and a crash leaves the previous output in
place; failures raise `ExportError` naming the path.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from flexiclip_core.clipart import Clipart
from flexiclip_core.errors import ExportError
from flexiclip_core.file_mode import published_file_mode

FRAME_FILE = re.compile(r"^frame_\d+\.(svg|png)$")
"""Names of per-frame files inside a ``frames/`` folder."""


def atomic_write(path: Path, write: Callable[[Path], object], clip: str | None = None) -> Path:
    """Run ``write(temporary_path)`` in ``path``'s folder, then rename it onto ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(handle)
    except OSError as error:
        raise ExportError(f"cannot write {path}: {error}", clip=clip) from error
    temporary = Path(temporary_name)
    try:
        write(temporary)
        os.chmod(temporary, published_file_mode())  # mkstemp makes it owner-only; outputs are ordinary files
        os.replace(temporary, path)
    except ExportError:
        temporary.unlink(missing_ok=True)
        raise
    except Exception as error:
        temporary.unlink(missing_ok=True)
        raise ExportError(f"cannot write {path}: {type(error).__name__}: {error}", clip=clip) from error
    return path


def write_text_atomic(path: Path, text: str, clip: str | None = None) -> Path:
    """Write UTF-8 text via a temporary file in the same folder and a rename; `ExportError` on failure."""
    return atomic_write(path, lambda temporary: temporary.write_text(text, encoding="utf-8"), clip)


def check_fps(fps: float, error: type[Exception]) -> None:
    """Raise ``error`` unless ``fps`` is a finite number in (0, 240]."""
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or not 0 < fps <= 240:
        raise error(f"fps must be a number in (0, 240], got {fps!r}")


def check_frames(frames: np.ndarray, clip: str | None) -> np.ndarray:
    """``frames`` as uint8 [N ≥ 1, H, W, 3|4], else `ExportError`."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] not in (3, 4) or len(frames) == 0:
        raise ExportError(
            f"frames must be uint8 [N ≥ 1, H, W, 3|4], got {frames.dtype} {tuple(frames.shape)}", clip=clip
        )
    return frames


def frame_name(index: int, frame_count: int, suffix: str) -> str:
    """``frame_007.svg``: at least three digits, enough for ``frame_count`` frames."""
    digits = max(3, len(str(frame_count - 1)))
    return f"frame_{index:0{digits}d}.{suffix}"


def remove_stale_frames(out_dir: Path, keep: set[str]) -> None:
    """Drop frame files of an earlier, longer export so the folder holds one animation."""
    for stale in out_dir.iterdir():
        if FRAME_FILE.match(stale.name) and stale.name not in keep:
            stale.unlink(missing_ok=True)


def check_pose(clipart: Clipart, points: np.ndarray | None) -> np.ndarray:
    """``points`` [P, 2] as float64 (``None``: the rest pose); `ExportError` on a wrong shape or NaN."""
    if points is None:
        return clipart.control_points()
    pose = np.asarray(points, dtype=np.float64)
    if pose.shape != (clipart.point_count, 2):
        raise ExportError(
            f"points must have shape ({clipart.point_count}, 2), got {tuple(pose.shape)}", clip=clipart.source or None
        )
    if not np.all(np.isfinite(pose)):
        raise ExportError("non-finite control point", clip=clipart.source or None)
    return pose


def check_frame_points(clipart: Clipart, frame_points: np.ndarray) -> np.ndarray:
    """``frame_points`` [N ≥ 1, P, 2] as float64; `ExportError` on a wrong shape or NaN."""
    frame_points = np.asarray(frame_points, dtype=np.float64)
    if frame_points.ndim != 3 or frame_points.shape[1:] != (clipart.point_count, 2) or len(frame_points) == 0:
        raise ExportError(
            f"frame_points must have shape (N ≥ 1, {clipart.point_count}, 2), got {tuple(frame_points.shape)}",
            clip=clipart.source or None,
        )
    if not np.all(np.isfinite(frame_points)):
        raise ExportError("non-finite control point in frame_points", clip=clipart.source or None)
    return frame_points


def check_clip_poses(clipart: Clipart, frame_clip_points: np.ndarray | None, frames: int) -> np.ndarray:
    """[N, C, 2] posed clip points: ``frame_clip_points`` checked, or the rest pose each frame."""
    count = clipart.clip_point_count
    if frame_clip_points is None:
        return np.broadcast_to(clipart.clip_points(), (frames, count, 2))
    poses = np.asarray(frame_clip_points, dtype=np.float64)
    if poses.shape != (frames, count, 2) or not np.all(np.isfinite(poses)):
        raise ExportError(
            f"frame_clip_points must be finite, of shape ({frames}, {count}, 2), got {tuple(poses.shape)}",
            clip=clipart.source or None,
        )
    return poses
