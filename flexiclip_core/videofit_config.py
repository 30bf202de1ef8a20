"""Settings of the video-fit objective (docs/method.md §13): decode limits, registration, flow,
initialisation and refinement. Imports nothing downstream of the motion model, so
`flexiclip_core.config` can nest it in `AnimationConfig`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from flexiclip_core.errors import ConfigError

LoopTreatment = Literal["crossfade", "none"]


@dataclass(frozen=True)
class ReferenceLimits:
    """Bounds checked while a reference video is read, so a hostile or huge file fails with one
    line instead of exhausting memory or time. Checked before decoding where the container says
    (file size, frame size, duration, frame count) and again while decoding."""

    max_file_bytes: int = 256 * 1024 * 1024
    """Files larger than this are refused before any decoding."""
    max_frames: int = 1200
    """Decoded frames (a PNG folder: files); decoding stops and refuses past it."""
    max_frame_pixels: int = 4096 * 4096
    """Width × height of a source frame."""
    max_duration_s: float = 120.0
    """Length of the video (frames / fps)."""
    max_decode_s: float = 120.0
    """Wall-clock budget of the whole decode."""
    decode_max_side: int = 512
    """Frames are scaled down on decode so their longer side is at most this (the fit works on a
    256² canvas); keeps memory at frames × 512² × 4 floats at most."""
    folder_fps: float = 10.0
    """Frame rate assumed for a folder of PNG frames (only its duration depends on it)."""

    def __post_init__(self) -> None:
        for name in ("max_file_bytes", "max_frames", "max_frame_pixels", "decode_max_side"):
            if getattr(self, name) < 1:
                raise ConfigError(f"reference limit {name} must be ≥ 1, got {getattr(self, name)}")
        for name in ("max_duration_s", "max_decode_s", "folder_fps"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ConfigError(f"reference limit {name} must be positive and finite, got {value}")


@dataclass(frozen=True)
class VideoFitConfig:
    """The video-fit objective that replaces score distillation in the ``video-fit`` preset
    (docs/method.md §13). Weights and their reasons are listed there."""

    registration_steps: int = 90
    """Adam steps refining the similarity (scale, rotation, translation) that maps the rest render
    onto the reference's first frame, after the moment-based start."""
    min_registration_agreement: float = 0.9
    """The first frame must contain the drawing: the share of the drawing pixels of the registered
    first frame and of the rest render that lie within 1 px of the other's mask (the 1-px mask
    agreement) must reach this, else `RegistrationError`. Not the mask IoU (0.85 until
    2026-12-07): correct references of thin line drawings scaled 0.8× under H.264 scored IoU 0.84
    (seagull) and 0.83 (antenna) at agreement 1.00, and were refused; different drawings score
    agreement 0.23–0.66 (docs/method.md §13, registration)."""
    background_tolerance: float = 0.2
    """Colour distance (RGB in [0, 1], Euclidean) from the background colour above which a pixel of
    an opaque reference counts as drawing (masks for registration and the IoU metric)."""
    flow_consistency_px: float = 1.5
    """Forward–backward check: a flow vector is kept when the round trip returns within this
    distance (px at 256²) of its start."""
    keypoint_radius_px: float = 14.0
    """σ of the Gaussian weights of the local affine fit that turns vertex displacements into one
    keypoint target (px at 256²)."""
    flow_initialisation: bool = True
    """Start the refinement from the least-squares fit to the flow tracks; False starts it from
    the model's initial (near-rest) motion — an ablation, which fails on all but small motions."""
    trajectory_roughness: float = 0.0
    """Weight λ of the roughness penalty in the least-squares trajectory fits (the initialisation
    and the residual-flow re-initialisation): each keypoint's control points c minimise
    Σ_n w_n ‖B(t_n) c − x_n‖² + λ N ∫₀¹ ‖x''(t)‖² dt over the N reference frames (w_n the track
    confidence, t the curve parameter in [0, 1]). The factor N makes λ dimensionless and
    independent of the frame count: both terms are px², and λ = 1 weighs the curve's mean squared
    acceleration (px per unit t²) like its mean squared miss. 0 (the old fit, hash-neutral) lets a
    high `trajectory.degree` follow the flow's errors on poorly tracked parts (docs/method.md §13,
    "Trajectory degree"); the video-fit preset uses 10⁻³ with degree 6 (§13, "Degree 6 with the
    roughness penalty as the preset")."""
    refine_steps: tuple[int, ...] = (10, 10, 5)
    """Adam steps of the photometric refinement at each pyramid level (coarse to fine)."""
    refine_blur_px: tuple[float, ...] = (4.0, 2.0, 0.0)
    """Gaussian blur σ (px at 256²) of both videos at each refinement level: a wide basin first,
    then sharp edges."""
    refine_render_size: tuple[int, ...] = (128, 128, 256)
    """Training-render side at each refinement level."""
    refine_learning_rate: float = 0.002
    """Adam learning rate of the trajectory head's bias at the finest refinement level (it holds the
    least-squares control points); every other parameter moves at a tenth of it
    (`fit.OTHER_PARAMETERS_RATE`)."""
    refine_rate_factors: tuple[float, ...] = (5.0, 2.5, 1.0)
    """Factor of ``refine_learning_rate`` at each refinement level (coarse to fine). Adam moves a
    control point by about rate × 32 px (the trajectory's offset scale) per step, so the 25 steps
    at one rate of 0.002 reached only ~1.6 px from the least-squares start, short of the flow's
    errors on a limb turn (docs/method.md §13); the blurred coarse levels take larger steps."""
    residual_reinit_levels: tuple[int, ...] = (2,)
    """Refinement levels (indices into ``refine_steps``) before which the residual-flow
    re-initialisation runs: DIS flow from the current fit's render to each reference frame
    corrects the fitted vertices, and the least-squares trajectories move by the fit of those
    corrections (docs/method.md §13)."""
    residual_min_px: float = 1.0
    """Soft threshold (px) of the re-initialisation's keypoint corrections: each shrinks by this
    length towards 0, so the flow's sub-pixel noise leaves a fit that is already finer alone."""
    robust_scale: float = 0.1
    """Charbonnier scale of the photometric residual: residuals much above it (occlusions, pixels
    outside the drawing's reach, codec noise) count linearly, not quadratically."""
    photometric_weight: float = 1000.0
    """Weight of the mean robust photometric residual (a mean over pixels, so ~1e-3 per px of edge
    error: this brings it to the scale of the skeleton term)."""
    skeleton_weight: float = 0.0
    """Weight of the skeleton loss (px² per bone): keeps bone lengths where the reference is
    ambiguous (inside flat colour regions)."""
    jacobian_residual_weight: float = 1.0
    """Weight of the Jacobian residual term E‖J^R‖²: the temporal residual explains only what the
    pose cannot."""
    loop: LoopTreatment = "crossfade"
    """How the loop is closed: ``crossfade`` blends the motion over the last ``seam_frames``
    frames towards a continuation that lands on frame 0 (frames before the seam unchanged);
    ``none`` keeps the fit as it is (the wrap may jump)."""
    seam_frames: int = 4
    """Frames at the end of the loop that the cross-fade may change."""
    limits: ReferenceLimits = field(default_factory=ReferenceLimits)
    """Decode limits of the reference video."""
    generator: str | None = None
    """Reference generator (a `flexiclip_core.videofit.generate.REFERENCE_GENERATORS` name:
    ``wan-vace``, ``wan-vace-tiny``) that samples the reference from the rest-pose render and the
    prompt when the clip supplies none; None: a supplied reference video is required."""
    reference_candidates: int = 1
    """K: references generated per clip, from seeds ``seed``, ``seed + 1``, … ``seed + K − 1``
    (``AnimationConfig.seed``), so a person can preview the motions; the first is fitted unless
    the clip picks another (the catalog's ``reference_seed``)."""

    def __post_init__(self) -> None:
        levels = {
            len(self.refine_steps),
            len(self.refine_blur_px),
            len(self.refine_render_size),
            len(self.refine_rate_factors),
        }
        if len(levels) != 1:
            raise ConfigError(
                "refine_steps, refine_blur_px, refine_render_size and refine_rate_factors need one entry per "
                f"level, got {len(self.refine_steps)}, {len(self.refine_blur_px)}, {len(self.refine_render_size)}, "
                f"{len(self.refine_rate_factors)}"
            )
        if not all(factor > 0 and math.isfinite(factor) for factor in self.refine_rate_factors):
            raise ConfigError(f"refine_rate_factors must be positive and finite, got {self.refine_rate_factors}")
        if any(not 0 <= level < len(self.refine_steps) for level in self.residual_reinit_levels):
            raise ConfigError(
                f"residual_reinit_levels must index the {len(self.refine_steps)} refinement levels, "
                f"got {self.residual_reinit_levels}"
            )
        if any(steps < 0 for steps in self.refine_steps) or self.registration_steps < 0:
            raise ConfigError("refinement and registration steps must be ≥ 0")
        if any(size < 8 for size in self.refine_render_size):
            raise ConfigError(f"refine_render_size entries must be ≥ 8, got {self.refine_render_size}")
        if not 0.0 < self.min_registration_agreement <= 1.0:
            raise ConfigError(f"min_registration_agreement must be in (0, 1], got {self.min_registration_agreement}")
        if self.loop not in ("crossfade", "none"):
            raise ConfigError(f"loop must be 'crossfade' or 'none', got {self.loop!r}")
        if self.reference_candidates < 1:
            raise ConfigError(f"reference_candidates must be ≥ 1, got {self.reference_candidates}")
        if self.generator is not None and not self.generator.strip():
            raise ConfigError("generator must be a generator name or None, got an empty string")
        if self.seam_frames < 1:
            raise ConfigError(f"seam_frames must be ≥ 1, got {self.seam_frames}")
        if not (self.residual_min_px >= 0 and math.isfinite(self.residual_min_px)):
            raise ConfigError(f"residual_min_px must be ≥ 0 and finite, got {self.residual_min_px}")
        if not (self.trajectory_roughness >= 0 and math.isfinite(self.trajectory_roughness)):
            raise ConfigError(f"trajectory_roughness must be ≥ 0 and finite, got {self.trajectory_roughness}")
        for name in ("background_tolerance", "flow_consistency_px", "keypoint_radius_px", "robust_scale"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ConfigError(f"{name} must be positive and finite, got {value}")
