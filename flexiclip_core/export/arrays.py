"""The motion itself as arrays (``motion.npz``), for dataset builders and downstream tools.

Per-frame control points, keypoints and mesh vertices in canvas px (256² working canvas, y
down) with the rest pose, the rig's bones and the mesh faces, and the affine map back to the
source document's units, so a sample can be re-rendered or re-targeted without the optimiser.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from flexiclip_core.errors import ExportError
from flexiclip_core.export.files import atomic_write

MOTION_ARRAYS: tuple[str, ...] = (
    "frame_points",
    "frame_keypoints",
    "frame_vertices",
    "rest_points",
    "rest_keypoints",
    "rest_vertices",
    "bones",
    "faces",
    "canvas_to_document",
)
"""Names inside ``motion.npz`` (see `write_motion_arrays` for shapes)."""


def write_motion_arrays(
    path: str | Path,
    *,
    frame_points: np.ndarray,  # [N, P, 2]
    frame_keypoints: np.ndarray,  # [N, K, 2]
    frame_vertices: np.ndarray,  # [N, V, 2]
    rest_points: np.ndarray,  # [P, 2]
    rest_keypoints: np.ndarray,  # [K, 2]
    rest_vertices: np.ndarray,  # [V, 2]
    bones: np.ndarray,  # [B, 2] keypoint index pairs
    faces: np.ndarray,  # [F, 3] vertex indices
    canvas_to_document: np.ndarray,  # [3, 3]
    clip: str | None = None,
) -> Path:
    """Write the arrays as a compressed ``.npz`` (float32 coordinates, int32 indices), atomically."""
    arrays = {
        "frame_points": frame_points,
        "frame_keypoints": frame_keypoints,
        "frame_vertices": frame_vertices,
        "rest_points": rest_points,
        "rest_keypoints": rest_keypoints,
        "rest_vertices": rest_vertices,
    }
    checked: dict[str, Any] = {}  # arrays; Any: savez_compressed's **kwds share its allow_pickle keyword
    for name, array in arrays.items():
        array = np.asarray(array, dtype=np.float32)
        expected = 3 if name.startswith("frame_") else 2
        if array.ndim != expected or array.shape[-1] != 2 or not np.all(np.isfinite(array)):
            raise ExportError(
                f"{name} must be finite [..., 2] with {expected} axes, got {tuple(array.shape)}", clip=clip
            )
        checked[name] = array
    frame_counts = {checked[name].shape[0] for name in ("frame_points", "frame_keypoints", "frame_vertices")}
    if len(frame_counts) != 1:
        raise ExportError(f"frame arrays disagree on the frame count: {sorted(frame_counts)}", clip=clip)
    checked["bones"] = np.asarray(bones, dtype=np.int32).reshape(-1, 2)
    checked["faces"] = np.asarray(faces, dtype=np.int32).reshape(-1, 3)
    checked["canvas_to_document"] = np.asarray(canvas_to_document, dtype=np.float64).reshape(3, 3)

    def write(temporary: Path) -> None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **checked)
        temporary.write_bytes(buffer.getvalue())

    return atomic_write(Path(path), write, clip)
