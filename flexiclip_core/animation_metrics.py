"""The papers' animation metrics MV, TC, GD, DS, AE (docs/metrics.md §7), and the scoring of one
clip's motion, animated or static, by the same code (what `flexiclip evaluate` runs per clip).

The FlexiClip and AniClipart papers name these five metrics but publish no formulas; the
definitions here are the project's, chosen so that each has a known answer (a static video, a
rigid motion, a synthetic jitter) and reads off the motion the outputs show: the displayed mesh
vertices V_t against the rest mesh, and their per-face Jacobians J_t = E'_t E⁻¹ (docs/method.md §5)
with the proper polar decomposition J = R(J) S(J).

Data contract: a `ClipMotion` holds what ``motion.npz`` stores (`flexiclip_core.export.arrays`);
`static_motion` is the input repeated for N frames, the baseline every evaluation table carries.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from flexiclip_core.metrics import MetricReport, animation_energy, compute_metrics, nearest_rotations, temporal_jerk

if TYPE_CHECKING:
    from flexiclip_core.clipart import Clipart
    from flexiclip_core.learned_metrics import LearnedMetrics

__all__ = [
    "ANIMATION_COLUMNS",
    "ClipMotion",
    "ClipScore",
    "displayed_jacobians",
    "stretch_tensors",
    "motion_vitality_mesh",
    "geometric_distortion",
    "deformation_smoothness",
    "animation_metrics",
    "static_motion",
    "score_motion",
]

ANIMATION_COLUMNS: tuple[str, ...] = ("mv", "tc", "gd", "ds", "ae")
"""The papers' animation metrics, in the papers' column order (docs/metrics.md §7)."""


@dataclass(frozen=True)
class ClipMotion:
    """One clip's motion as ``motion.npz`` stores it (canvas px of the 256² canvas, y down)."""

    frame_points: np.ndarray
    """[N, P, 2] the drawing's control points per output frame."""
    frame_keypoints: np.ndarray
    """[N, K, 2] keypoints per output frame."""
    frame_vertices: np.ndarray
    """[N, V, 2] deformed mesh vertices per output frame."""
    rest_points: np.ndarray
    """[P, 2] control points of the input drawing."""
    rest_keypoints: np.ndarray
    """[K, 2] the rig's rest keypoints."""
    rest_vertices: np.ndarray
    """[V, 2] the rest mesh."""
    bones: np.ndarray
    """[B, 2] keypoint index pairs."""
    faces: np.ndarray
    """[F, 3] vertex indices of the mesh triangles."""

    @property
    def frame_count(self) -> int:
        return int(self.frame_vertices.shape[0])

    @classmethod
    def from_npz(cls, arrays: dict[str, np.ndarray] | np.lib.npyio.NpzFile) -> ClipMotion:
        """The motion in a loaded ``motion.npz`` (float64 coordinates, int64 indices)."""
        return cls(
            frame_points=np.asarray(arrays["frame_points"], dtype=np.float64),
            frame_keypoints=np.asarray(arrays["frame_keypoints"], dtype=np.float64),
            frame_vertices=np.asarray(arrays["frame_vertices"], dtype=np.float64),
            rest_points=np.asarray(arrays["rest_points"], dtype=np.float64),
            rest_keypoints=np.asarray(arrays["rest_keypoints"], dtype=np.float64),
            rest_vertices=np.asarray(arrays["rest_vertices"], dtype=np.float64),
            bones=np.asarray(arrays["bones"], dtype=np.int64).reshape(-1, 2),
            faces=np.asarray(arrays["faces"], dtype=np.int64).reshape(-1, 3),
        )


def displayed_jacobians(rest_vertices: np.ndarray, faces: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Per-face J = E' E⁻¹ of the displayed vertices against the rest mesh (docs/method.md §5).

    rest_vertices [V, 2], faces [F, 3], vertices [N, V, 2] → [N, F, 2, 2]. Degenerate rest faces
    (zero area) get the identity, as they carry no deformation that could be seen.
    """
    rest = rest_vertices[faces]  # [F, 3, 2]
    edges = np.stack((rest[:, 1] - rest[:, 0], rest[:, 2] - rest[:, 0]), axis=-1)  # [F, 2, 2] columns
    det = np.linalg.det(edges)
    usable = np.abs(det) > 1e-12
    inverses = np.tile(np.eye(2), (len(faces), 1, 1))
    inverses[usable] = np.linalg.inv(edges[usable])
    corners = vertices[:, faces]  # [N, F, 3, 2]
    deformed = np.stack((corners[:, :, 1] - corners[:, :, 0], corners[:, :, 2] - corners[:, :, 0]), axis=-1)
    jacobians = deformed @ inverses
    jacobians[:, ~usable] = np.eye(2)
    return jacobians


def stretch_tensors(jacobians: np.ndarray) -> np.ndarray:
    """S(J) = R(J)ᵀ J, the stretch of the proper polar decomposition J = R S (rotation removed).

    [..., 2, 2] → same. Rigid motions give S = I; a mirrored face keeps its flip in S.
    """
    return np.swapaxes(nearest_rotations(jacobians), -1, -2) @ jacobians


def motion_vitality_mesh(vertices: np.ndarray, rest_vertices: np.ndarray) -> float:
    """MV: mean over t and vertices of ‖V_t − V^rest‖ (px). vertices [N, V, 2], rest [V, 2]."""
    return float(np.linalg.norm(vertices - rest_vertices[None], axis=-1).mean())


def geometric_distortion(jacobians: np.ndarray) -> float:
    """GD: mean over t and faces of ‖S(J_t) − I‖_F × 100 (= ‖J − R(J)‖_F × 100). [N, F, 2, 2]."""
    return float(np.linalg.norm(stretch_tensors(jacobians) - np.eye(2), axis=(-2, -1)).mean() * 100.0)


def deformation_smoothness(jacobians: np.ndarray) -> float:
    """DS: mean over t (looping) and faces of ‖S(J_{t+1}) − S(J_t)‖_F × 100. [N, F, 2, 2].

    The change of shape from frame to frame, rotations removed: 0 for any rigid motion."""
    stretch = stretch_tensors(jacobians)
    return float(np.linalg.norm(np.roll(stretch, -1, axis=0) - stretch, axis=(-2, -1)).mean() * 100.0)


def animation_metrics(motion: ClipMotion) -> dict[str, float]:
    """MV, TC, GD, DS, AE of a motion (docs/metrics.md §7), keyed by `ANIMATION_COLUMNS`.

    TC is the vertices' looping temporal jerk and AE their animation energy (docs/metrics.md §2)
    on the displayed mesh; MV, GD, DS are defined in §7.
    """
    vertices = motion.frame_vertices
    jacobians = displayed_jacobians(motion.rest_vertices, motion.faces, vertices)
    values = {
        "mv": motion_vitality_mesh(vertices, motion.rest_vertices),
        "tc": temporal_jerk(vertices),
        "gd": geometric_distortion(jacobians),
        "ds": deformation_smoothness(jacobians),
        "ae": animation_energy(vertices),
    }
    for name, value in values.items():
        if not np.isfinite(value):
            raise ValueError(f"animation metric {name} is not finite ({value})")
    return values


def static_motion(motion: ClipMotion) -> ClipMotion:
    """The static baseline: the input drawing (rest pose, rest mesh, rest keypoints) for as many
    frames as ``motion`` has."""
    count = motion.frame_count
    return replace(
        motion,
        frame_points=np.repeat(motion.rest_points[None], count, axis=0),
        frame_keypoints=np.repeat(motion.rest_keypoints[None], count, axis=0),
        frame_vertices=np.repeat(motion.rest_vertices[None], count, axis=0),
    )


@dataclass(frozen=True)
class ClipScore:
    """Every metric of one clip's motion: the columns of docs/metrics.md §2–4 and §7."""

    values: dict[str, float | None]
    """Column → value; None where not computed (a learned metric without weights, no bones)."""
    reasons: dict[str, str]
    """Column → why it is None."""


def score_motion(
    clipart: Clipart,
    motion: ClipMotion,
    prompt: str,
    *,
    final_renderer: str | None = None,
    learned_metrics: LearnedMetrics | None = None,
) -> ClipScore:
    """All metric columns of ``motion`` on ``clipart``: the frames are drawn again by the final
    renderer from the motion's control points (clip paths at rest), the geometry metrics read the
    displayed Jacobians, and the learned ones use ``learned_metrics`` (None: reported missing).
    """
    from flexiclip_core.export import composite_over_white
    from flexiclip_core.render import DEFAULT_FINAL_RENDERER, render_frames

    renderer = final_renderer or DEFAULT_FINAL_RENDERER
    size = clipart.canvas_size
    frames_rgba = render_frames(clipart, motion.frame_points, size=size, background="transparent", renderer=renderer)
    learned = learned_reasons = None
    if learned_metrics is not None:
        rest_rgba = render_frames(
            clipart, motion.rest_points[None], size=size, background="transparent", renderer=renderer
        )
        learned, learned_reasons = learned_metrics.compute(
            composite_over_white(frames_rgba), composite_over_white(rest_rgba)[0], prompt
        )
    report: MetricReport = compute_metrics(
        vertices=motion.frame_vertices,
        faces=motion.faces,
        jacobians=displayed_jacobians(motion.rest_vertices, motion.faces, motion.frame_vertices),
        keypoints=motion.frame_keypoints,
        bones=motion.bones,
        rest_keypoints=motion.rest_keypoints,
        frames_rgba=frames_rgba,
        learned=learned,
        learned_reasons=learned_reasons,
    )
    values: dict[str, float | None] = {**report.values, **animation_metrics(motion)}
    return ClipScore(values=values, reasons=dict(report.reasons))
