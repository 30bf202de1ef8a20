"""The video-fit engine (docs/method.md §13): the FlexiClip motion model — keypoint trajectories,
ARAP pose, temporal Jacobians, Poisson deformation, binding — fitted to a reference video.

  rest render (final renderer) → registration of the reference's first frame (similarity,
  background model, letterbox, N frames over its duration)            `register.register_reference`
  → DIS flow 0 → n, forward–backward checked, at the rest vertices      `flow.track_vertices`
  → keypoint targets (local affine LS) → Bézier control points (LS) → trajectory MLP head
                                                                         `initialise`
  → photometric refinement through the training renderer, coarse to fine, robust, under the
    skeleton and Jacobian-residual regularisers                          `VideoFitter.refine`
    with a residual-flow re-initialisation before the sharp level (the fit drawn, DIS flow to
    each reference frame, the trajectories moved by the corrections) `VideoFitter.reinitialise`
  → loop seam (cross-fade), metrics (fit PSNR, mask IoU, flow residual).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional

from flexiclip_core.clipart import CANVAS_SIZE, Clipart
from flexiclip_core.losses import jacobian_residual_loss, skeleton_loss
from flexiclip_core.optimize import AnimationConfig, AnimationResult, ClipAnimator, StepReport
from flexiclip_core.render import TRAINING_RENDERERS, TrainingRenderer, render_frames
from flexiclip_core.rig import Rig
from flexiclip_core.videofit.flow import VertexTracks, dense_flows, flow_image, residual_tracks, track_vertices
from flexiclip_core.videofit.image import gaussian_blur, mask_agreement, mask_iou
from flexiclip_core.videofit.initialise import (
    bezier_control_points,
    keypoint_targets,
    set_trajectory_control_points,
)
from flexiclip_core.videofit.reference import ReferenceVideo
from flexiclip_core.videofit.register import FitTarget, register_reference

OTHER_PARAMETERS_RATE = 0.1
"""Learning-rate factor of every refined parameter but the trajectory head's bias."""

__all__ = ["VideoFitResult", "VideoFitter", "crossfade_seam", "fit_reference"]


@dataclass(frozen=True, eq=False)
class VideoFitResult:
    """A fitted motion with what it was fitted to and how well."""

    result: AnimationResult
    """The motion at the N output frames (after the loop treatment), as `optimise` returns one."""
    target: FitTarget
    """The registered reference."""
    tracks: VertexTracks
    """Flow tracks of the rest vertices."""
    metrics: dict[str, float]
    """``fit_psnr`` (dB), ``fit_mask_iou_mean``, ``fit_mask_iou_min``, ``fit_mask_agreement_1px_min``
    (the worst frame's share of drawing pixels within 1 px of the other mask), ``fit_flow_residual_px``,
    ``registration_iou``, ``loop_seam_px`` (the wrap's jump the cross-fade spread)."""
    seconds: dict[str, float]
    """Wall time per stage: ``register``, ``flow``, ``initialise``, ``refine``, ``total``."""


def crossfade_seam(values: np.ndarray, seam_frames: int) -> tuple[np.ndarray, float]:
    """Close the loop of per-frame values by easing the last ``seam_frames`` frames.

    The continuation x̂_N = 2x_{N−1} − x_{N−2} is where the motion would go after its last frame;
    d = x̂_N − x_0 is the jump the wrap adds to a normal step. Frame n of the seam moves by
    −s(w_n)·d with w_n = (n − (N − S − 1)) / (S + 1) and s the smoothstep, so the eased motion
    would reach x_0 exactly one step after its last frame. Frames n < N − S are unchanged; seam
    frame n moves by s(w_n)·‖d‖ < ‖d‖.

    values: np.ndarray  # [N, ...]
    returns: (eased values [N, ...], max ‖d‖ over the trailing axes' points)
    """
    count = len(values)
    seam = min(seam_frames, count - 2)
    if seam < 1:
        return values, 0.0
    jump = 2.0 * values[-1] - values[-2] - values[0]
    eased = values.copy()
    for n in range(count - seam, count):
        w = (n - (count - seam - 1)) / (seam + 1)
        eased[n] = values[n] - (3.0 * w * w - 2.0 * w**3) * jump
    size = float(np.abs(jump).max()) if jump.ndim == 0 else float(np.linalg.norm(jump.reshape(-1, 2), axis=-1).max())
    return eased, size


class VideoFitter:
    """Fits one clip's motion model to a reference; built once per clip like `ClipAnimator`,
    whose motion model (trajectories, ARAP, temporal Jacobians, Poisson, binding) it uses as is."""

    def __init__(
        self,
        clipart: Clipart,
        rig: Rig,
        reference: ReferenceVideo,
        config: AnimationConfig,
        *,
        clip: str | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.clip = clip or clipart.source or None
        self.reference = reference
        self.config = config
        self.animator = ClipAnimator(clipart, rig, None, "", config, device=device, dtype=dtype)
        self.device = self.animator.device
        self.dtype = dtype
        self._renderers: dict[int, TrainingRenderer] = {}
        self.residual_flow_px: list[float] = []
        """Mean residual flow (px) found by each residual-flow re-initialisation, in order."""

    def renderer(self, size: int) -> TrainingRenderer:
        """The training renderer at side ``size``, premultiplied (built once per size)."""
        if size not in self._renderers:
            render = dataclasses.replace(self.config.render, size=size, background="transparent")
            self._renderers[size] = TRAINING_RENDERERS.get(self.config.training_renderer)(
                self.animator.clipart, render, device=self.device, dtype=self.dtype
            )
        return self._renderers[size]

    def register(self) -> FitTarget:
        """Registration of the reference against the rest pose drawn by the final renderer."""
        clipart = self.animator.clipart
        rest = render_frames(
            clipart,
            clipart.control_points()[None],
            size=CANVAS_SIZE,
            background="transparent",
            renderer=self.config.final_renderer,
        )[0]
        return register_reference(
            self.reference,
            rest.astype(np.float32) / 255.0,
            self.config.schedule.frame_count,
            self.config.video_fit,
            clip=self.clip,
        )

    def track(self, target: FitTarget) -> VertexTracks:
        """Flow tracks of the rest mesh vertices through the registered reference."""
        appearance = target.appearance
        forward, backward = dense_flows(flow_image(appearance, target.frames))
        return track_vertices(
            self.animator.mesh.vertices,
            forward,
            backward,
            appearance.mask(target.frames).numpy(),
            target.valid[:, 0].numpy() > 0.5,
            self.config.video_fit.flow_consistency_px,
        )

    def initialise(self, tracks: VertexTracks) -> np.ndarray:
        """Least-squares initialisation of the trajectories from the tracks; returns the keypoint
        targets [N, K, 2] it fitted (pose times: the schedule's, one pose per frame)."""
        rig, schedule = self.animator.rig, self.config.schedule
        targets, confidence = keypoint_targets(
            rig.keypoints, self.animator.mesh.vertices, tracks, self.config.video_fit.keypoint_radius_px
        )
        trajectories = self.animator.trajectories
        base = trajectories.base_control_points  # [K, C, 2]
        first = base[:, 0].double().cpu().numpy() if schedule.fix_start else None
        times = schedule.pose_times(dtype=torch.float64).numpy()
        control = bezier_control_points(
            targets, confidence, times, first, trajectories.config.degree, self.config.video_fit.trajectory_roughness
        )
        set_trajectory_control_points(trajectories, control)
        return targets

    @torch.no_grad()
    def reinitialise(self, target: FitTarget) -> float:
        """Residual-flow re-initialisation (docs/method.md §13): the current fit is drawn by the
        final renderer, DIS flow from each drawn frame to the reference frame gives corrected
        targets of the fitted vertices (`residual_tracks`), and the keypoints' least-squares
        trajectories move by the least-squares fit of the corrections. Returns the mean residual
        flow (px) over the vertices that passed the check."""
        animator, fit = self.animator, self.config.video_fit
        motion = self.motion()
        frames = render_frames(
            animator.clipart,
            motion["points"],
            size=CANVAS_SIZE,
            background="transparent",
            renderer=self.config.final_renderer,
            frame_clip_points=motion.get("clip_points"),
        )
        appearance = target.appearance
        ours = appearance.of_straight(torch.from_numpy(frames.astype(np.float32) / 255.0).permute(0, 3, 1, 2))
        tracks = residual_tracks(
            motion["vertices"],
            flow_image(appearance, ours),
            flow_image(appearance, target.frames),
            appearance.mask(ours).numpy(),
            appearance.mask(target.frames).numpy(),
            target.valid[:, 0].numpy() > 0.5,
            fit.flow_consistency_px,
        )
        rest_keypoints, rest_vertices = animator.rig.keypoints, animator.mesh.vertices
        corrected, confidence = keypoint_targets(rest_keypoints, rest_vertices, tracks, fit.keypoint_radius_px)
        current, _ = keypoint_targets(
            rest_keypoints,
            rest_vertices,
            VertexTracks(positions=motion["vertices"], weights=tracks.weights),
            fit.keypoint_radius_px,
        )
        # The affine fit is linear in the tracked positions for fixed weights: the difference is the
        # keypoints' correction, free of the fit's own bias (a local affine map is not ARAP).
        delta = corrected - current  # [N, K, 2]
        # Soft threshold: a correction shrinks by `residual_min_px` towards 0, so the flow's own
        # sub-pixel noise does not undo a fit that is already finer than the flow (in the family)
        # while a limb that is pixels off still moves by nearly all of it.
        length = np.linalg.norm(delta, axis=-1, keepdims=True)
        delta = delta * np.clip(1.0 - fit.residual_min_px / np.maximum(length, 1e-12), 0.0, None)
        trajectories = animator.trajectories
        schedule = self.config.schedule
        first = np.zeros((len(rest_keypoints), 2)) if schedule.fix_start else None
        times = schedule.pose_times(dtype=torch.float64).numpy()
        step = bezier_control_points(
            delta, confidence, times, first, trajectories.config.degree, fit.trajectory_roughness
        )
        control = trajectories.control_points().double().cpu().numpy() + step
        set_trajectory_control_points(trajectories, control)
        moved = np.linalg.norm(tracks.positions - motion["vertices"], axis=-1)
        return float((moved * tracks.weights).sum() / max(tracks.weights.sum(), 1.0))

    def refine(self, target: FitTarget, on_step: Callable[[StepReport], None] | None = None) -> list[dict[str, float]]:
        """Photometric refinement, coarse to fine (docs/method.md §13 lists the terms and weights)."""
        fit = self.config.video_fit
        animator = self.animator
        # The head's bias holds the least-squares control points; every other weight (hidden
        # layers, head weights, temporal module) moves at a tenth of the rate, because Adam's first
        # steps move each parameter by about the rate whatever its gradient, and a shift of all
        # hidden weights at once throws the whole start away.
        head_bias = animator.trajectories.offset_mlp[-1].bias
        others = [
            p for module in animator.trainable_modules().values() for p in module.parameters() if p is not head_bias
        ]
        optimiser = torch.optim.Adam(
            [
                {"params": [head_bias], "lr": fit.refine_learning_rate},
                {"params": others, "lr": fit.refine_learning_rate * OTHER_PARAMETERS_RATE},
            ],
            betas=self.config.adam_betas,
        )
        appearance = target.appearance
        history: list[dict[str, float]] = []
        step = 0
        levels = zip(fit.refine_steps, fit.refine_blur_px, fit.refine_render_size, fit.refine_rate_factors)
        for level, (steps, blur_px, size, factor) in enumerate(levels):
            if steps == 0:
                continue
            if level in fit.residual_reinit_levels:
                self.residual_flow_px.append(self.reinitialise(target))
            for group, rate in zip(optimiser.param_groups, (1.0, OTHER_PARAMETERS_RATE)):
                group["lr"] = fit.refine_learning_rate * rate * factor
            scale = size / CANVAS_SIZE
            frames = functional.interpolate(target.frames, size=(size, size), mode="area").to(self.device, self.dtype)
            valid = functional.interpolate(target.valid, size=(size, size), mode="area").to(self.device, self.dtype)
            blurred_target = gaussian_blur(frames, blur_px * scale)
            renderer = self.renderer(size)
            for _ in range(steps):
                optimiser.zero_grad(set_to_none=True)
                pose = animator.pose()
                vertices = pose["final_vertices"]  # [N, V, 2]
                points = animator.binding.apply(vertices)  # [N, P, 2]
                clips = {} if animator.clip_binding is None else {"clip_points": animator.clip_binding.apply(vertices)}
                rendered = appearance.of_render(renderer.render(points, **clips))  # [N, C, s, s]
                residual = gaussian_blur(rendered, blur_px * scale) - blurred_target
                charbonnier = (
                    torch.sqrt(residual.square().sum(1, keepdim=True) + fit.robust_scale**2) - fit.robust_scale
                )
                terms = {"photometric": fit.photometric_weight * (charbonnier * valid).mean()}
                terms["skeleton"] = fit.skeleton_weight * skeleton_loss(
                    pose["keypoints"], animator.bones, animator.rest_bone_lengths
                )
                if "residual_jacobians" in pose:
                    terms["jacobian_residual"] = fit.jacobian_residual_weight * jacobian_residual_loss(
                        pose["residual_jacobians"]
                    )
                total = torch.stack(list(terms.values())).sum()
                total.backward()
                optimiser.step()
                step += 1
                report = StepReport(
                    step, float(total.detach()), {name: float(value.detach()) for name, value in terms.items()}
                )
                if not math.isfinite(report.total):
                    raise FloatingPointError(f"video-fit loss became {report.total} at step {step}")
                history.append({"step": float(step), "total": report.total, **report.terms})
                if on_step is not None:
                    on_step(report)
        return history

    @torch.no_grad()
    def motion(self) -> dict[str, np.ndarray]:
        """The current motion at the N frames: points, clip points, vertices, Jacobians, keypoints."""
        animator = self.animator
        pose = animator.pose()
        tile = animator.frame_to_pose
        vertices = pose["final_vertices"][tile]
        out = {
            "points": animator.binding.apply(vertices),
            "vertices": vertices,
            "jacobians": pose["final_jacobians"][tile],
            "keypoints": pose["keypoints"][tile],
        }
        if animator.clip_binding is not None:
            out["clip_points"] = animator.clip_binding.apply(vertices)
        return {name: value.double().cpu().numpy() for name, value in out.items()}

    def fit(self, on_step: Callable[[StepReport], None] | None = None) -> VideoFitResult:
        """Register, track, initialise, refine; then close the loop and measure."""
        seconds: dict[str, float] = {}
        started = time.perf_counter()
        clock = started

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            seconds[name] = now - clock
            clock = now

        target = self.register()
        lap("register")
        tracks = self.track(target)
        lap("flow")
        if self.config.video_fit.flow_initialisation:
            self.initialise(tracks)
        lap("initialise")
        history = self.refine(target, on_step)
        lap("refine")
        motion = self.motion()
        seam_px = 0.0
        if self.config.video_fit.loop == "crossfade":
            seam = self.config.video_fit.seam_frames
            motion["points"], seam_px = crossfade_seam(motion["points"], seam)
            for name in ("vertices", "jacobians", "keypoints", "clip_points"):
                if name in motion:
                    motion[name] = crossfade_seam(motion[name], seam)[0]
        metrics = self.measure(motion, target, tracks)
        metrics["loop_seam_px"] = seam_px
        seconds["total"] = time.perf_counter() - started
        animator = self.animator
        result = AnimationResult(
            clipart=animator.clipart,
            rig=animator.rig,
            mesh=animator.mesh,
            frame_points=motion["points"],
            frame_clip_points=motion.get("clip_points"),
            frame_vertices=motion["vertices"],
            frame_jacobians=motion["jacobians"],
            frame_keypoints=motion["keypoints"],
            loss_history=history,
            config=self.config,
            prior_name=f"reference:{self.reference.source_kind}",
            prior_is_trained=True,
            prior_licence=self.reference.licence,
            device=str(self.device),
            seconds=seconds["total"],
        )
        return VideoFitResult(result=result, target=target, tracks=tracks, metrics=metrics, seconds=seconds)

    def measure(self, motion: dict[str, np.ndarray], target: FitTarget, tracks: VertexTracks) -> dict[str, float]:
        """Fit PSNR (dB, comparison space, inside the picture), per-frame mask IoU and 1-px mask
        agreement of the final render against the reference, and mean distance (px) of the fitted vertices from the
        flow tracks that passed the check."""
        clipart = self.animator.clipart
        frames = render_frames(
            clipart,
            motion["points"],
            size=CANVAS_SIZE,
            background="transparent",
            renderer=self.config.final_renderer,
            frame_clip_points=motion.get("clip_points"),
        )
        rgba = torch.from_numpy(frames.astype(np.float32) / 255.0).permute(0, 3, 1, 2)
        appearance = target.appearance
        ours = appearance.of_straight(rgba)
        valid = target.valid
        squared = ((ours - target.frames).square() * valid).sum() / (valid.sum() * ours.shape[1]).clamp(min=1)
        psnr = float(10.0 * torch.log10(1.0 / squared.clamp(min=1e-10)))
        inside = valid[:, 0] > 0.5
        ours_mask, target_mask = appearance.mask(ours) & inside, appearance.mask(target.frames) & inside
        iou = mask_iou(ours_mask, target_mask)
        agreement = mask_agreement(ours_mask, target_mask, radius_px=1)
        weights = tracks.weights
        distances = np.linalg.norm(motion["vertices"] - tracks.positions, axis=-1)
        residual = float((distances * weights).sum() / max(weights.sum(), 1.0))
        return {
            "fit_psnr": psnr,
            "fit_mask_iou_mean": float(iou.mean()),
            "fit_mask_iou_min": float(iou.min()),
            "fit_mask_agreement_1px_min": float(agreement.min()),
            "fit_flow_residual_px": residual,
            "registration_iou": target.registration_iou,
        }


def fit_reference(
    clipart: Clipart,
    rig: Rig,
    reference: ReferenceVideo,
    config: AnimationConfig,
    *,
    clip: str | None = None,
    device: torch.device | str = "cpu",
    on_step: Callable[[StepReport], None] | None = None,
) -> VideoFitResult:
    """Fit ``config``'s motion model for one drawing to ``reference`` (one call of `VideoFitter`)."""
    return VideoFitter(clipart, rig, reference, config, clip=clip, device=device).fit(on_step)
