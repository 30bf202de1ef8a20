"""The FlexiClip optimisation (docs/method.md §5–10): one typed config, named presets, one loop.

Per iteration (flexiclip preset):
  trajectories → keypoints at the Q pose times [Q, K, 2]
  → ARAP with the keypoints as handles → pose vertices V^P → pose Jacobians J^P   (AniClipart's pose)
  → temporal residuals J^R (ODE, J^R(0) = 0) → Poisson solve with J = J^P + J^R → final vertices V
  → bind control points → render final and pose-only videos (Q distinct poses only)
  → one shared augmentation → VAE encode (Q frames per video) → tile to N frames
    (causal video VAEs, e.g. Wan: tile the frames to N = 4k + 1 and encode each video in one call)
  → one batched prior call: SDS on the final video + flow-matching estimator between the videos
  → + skeleton loss + Jacobian residual term → backward → Adam.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from flexiclip_core.binding import Binding, bind_clip_points, bind_points
from flexiclip_core.clipart import Clipart
from flexiclip_core.config import (
    POSE_DEFORMER,
    PRESETS,
    AnimationConfig,
    ExecutionConfig,
    fit_config_to_prior,
    load_config_prior,
    lr_factor,
    preset,
    worker_execution,
)
from flexiclip_core.deform import DEFORMERS, MeshDeformer
from flexiclip_core.guidance import (
    GuidanceRequest,
    SdsResult,
    VideoPrior,
    augment_frames,
    score_distillation_clips,
    tile_latents,
)
from flexiclip_core.guidance.compile import compile_prior
from flexiclip_core.losses import jacobian_residual_loss, skeleton_loss
from flexiclip_core.mesh import Mesh, build_mesh
from flexiclip_core.motion import (
    KeypointTrajectories,
    TemporalJacobians,
)
from flexiclip_core.render import (
    TRAINING_RENDERERS,
    TrainingRenderer,
)
from flexiclip_core.rig import Rig

log = logging.getLogger(__name__)

__all__ = [
    "AnimationConfig",
    "AnimationResult",
    "ClipAnimator",
    "ExecutionConfig",
    "POSE_DEFORMER",
    "PRESETS",
    "StepReport",
    "fit_config_to_prior",
    "load_config_prior",
    "lr_factor",
    "optimise",
    "preset",
    "worker_execution",
]
"""The config names are re-exported: callers take the config and the loop from one place."""


@dataclass(frozen=True, eq=False)
class AnimationResult:
    """The optimised motion at the N output frames (numpy, canvas px) plus what produced it."""

    clipart: Clipart
    rig: Rig
    mesh: Mesh
    frame_points: np.ndarray
    """[N, P, 2] deformed control points."""
    frame_vertices: np.ndarray
    """[N, V, 2] deformed mesh vertices."""
    frame_jacobians: np.ndarray
    """[N, F, 2, 2] per-face Jacobians of the final deformation w.r.t. the rest mesh."""
    frame_keypoints: np.ndarray
    """[N, K, 2] keypoints."""
    loss_history: list[dict[str, float]]
    config: AnimationConfig
    prior_name: str
    prior_is_trained: bool
    prior_licence: str
    """Licence of the prior's weights ("n/a" for test priors): outputs inherit its obligations."""
    device: str
    seconds: float
    frame_clip_points: np.ndarray | None = None
    """[N, C, 2] deformed clip outline points (`Clipart.clip_points` order); None: no clips."""


@dataclass(frozen=True)
class StepReport:
    """Loss terms of one iteration (floats, for logs and progress bars)."""

    step: int
    total: float
    terms: dict[str, float]


class ClipAnimator:
    """Holds everything that is built once per clip and runs the optimisation steps."""

    def __init__(
        self,
        clipart: Clipart,
        rig: Rig,
        prior: VideoPrior | None,
        prompt: str,
        config: AnimationConfig,
        *,
        negative_prompt: str | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        """``dtype``: of the geometry (trajectories, ODE, deformers, renderer); float64 serves
        exactness tests. The prior computes in its own dtypes whatever this is. ``prior`` None
        builds the motion model alone (video-fit, `flexiclip_core.videofit`): `pose` and the
        renderer work, the SDS steps do not."""
        self.clipart = clipart
        self.rig = rig
        self._prior = prior
        self.config = config
        self.device = torch.device(device)
        self.dtype = dtype
        torch.manual_seed(config.seed)
        self.generator = torch.Generator(device="cpu").manual_seed(config.seed)

        self.mesh: Mesh = build_mesh(clipart, rig, config.mesh, silhouette_config=config.silhouette)
        self.binding: Binding = bind_points(self.mesh, clipart, rig)
        # Clip outlines are attached points bound like the control points (docs/render.md §12).
        self.clip_binding = bind_clip_points(self.mesh, clipart, rig) if clipart.clip_point_count else None
        self.handle_keypoints = torch.as_tensor(self.mesh.handle_keypoints, dtype=torch.long, device=self.device)
        self.arap = self._deformer(POSE_DEFORMER, dtype)
        # None when the final pose is the ARAP pose itself.
        self.final_deformer: MeshDeformer | None = (
            self._deformer(config.deformer, dtype) if DEFORMERS.get(config.deformer).needs_jacobians else None
        )
        self.renderer: TrainingRenderer = TRAINING_RENDERERS.get(config.training_renderer)(
            clipart, config.render, device=self.device, dtype=dtype
        )

        rest_keypoints = torch.as_tensor(rig.keypoints, dtype=dtype, device=self.device)
        self.bones = torch.as_tensor(rig.bones, dtype=torch.long, device=self.device).reshape(-1, 2)
        self.rest_bone_lengths = torch.linalg.vector_norm(
            rest_keypoints[self.bones[:, 0]] - rest_keypoints[self.bones[:, 1]], dim=-1
        )
        self.trajectories = KeypointTrajectories(rest_keypoints, config.schedule, config.trajectory).to(self.device)
        self.temporal = (
            TemporalJacobians(config.schedule, config.temporal, dtype=dtype).to(self.device)
            if config.temporal_jacobians
            else None
        )
        self.frame_to_pose = config.schedule.frame_to_pose().to(self.device)
        if prior is not None:
            prior.latent_frame_count(config.schedule.frame_count)  # a causal VAE rejects N ≠ 4k + 1 here
        self.text = None if prior is None else prior.encode_text([prompt], [negative_prompt or ""])

        params = list(self.trajectories.parameters()) + (list(self.temporal.parameters()) if self.temporal else [])
        self.optimizer = torch.optim.Adam(params, lr=config.learning_rate, betas=config.adam_betas, eps=config.adam_eps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: lr_factor(step, config))
        self.step_index = 0
        self.stage_timer: Callable[[str], AbstractContextManager] = lambda name: nullcontext()
        """Context manager factory wrapped around each stage (benchmarks install a timer)."""

    @property
    def prior(self) -> VideoPrior:
        """The video prior of the SDS steps (an animator built without one raises here)."""
        if self._prior is None:
            raise RuntimeError("this ClipAnimator was built without a prior (motion model only, for video-fit)")
        return self._prior

    def _deformer(self, name: str, dtype: torch.dtype) -> MeshDeformer:
        """The `DEFORMERS` entry ``name`` on this clip's mesh, with the config field of its name."""
        mesh = self.mesh
        return DEFORMERS.get(name)(
            mesh.vertices, mesh.faces, mesh.handle_vertices, getattr(self.config, name), device=self.device, dtype=dtype
        )

    def trainable_modules(self) -> dict[str, torch.nn.Module]:
        modules: dict[str, torch.nn.Module] = {"trajectories": self.trajectories}
        if self.temporal is not None:
            modules["temporal"] = self.temporal
        return modules

    def pose(self) -> dict[str, Tensor]:
        """The current motion at the Q distinct poses (differentiable)."""
        stage = self.stage_timer
        with stage("trajectories"):
            keypoints = self.trajectories()  # [Q, K, 2]
            handle_targets = keypoints[:, self.handle_keypoints]  # [Q, H, 2]
        with stage("deform_arap"):
            pose_vertices = self.arap(handle_targets)  # [Q, V, 2]
        out = {"keypoints": keypoints, "pose_vertices": pose_vertices}
        with stage("jacobians"):
            pose_jacobians = self.arap.jacobians(pose_vertices)  # [Q, F, 2, 2], rest E⁻¹ precomputed
        if self.final_deformer is None:
            out["final_vertices"] = pose_vertices
            out["final_jacobians"] = pose_jacobians
            return out
        if self.temporal is not None:
            with stage("temporal_ode"):
                residual = self.temporal(pose_jacobians)
            jacobians = pose_jacobians + residual
            out["residual_jacobians"] = residual
        else:
            jacobians = pose_jacobians
        out["pose_jacobians"] = pose_jacobians
        out["final_jacobians"] = jacobians
        with stage("deform_poisson"):
            out["final_vertices"] = self.final_deformer(handle_targets, jacobians)
        return out

    def guidance_frames(self) -> tuple[dict[str, Tensor], Tensor]:
        """The current pose (`pose`) and the frames the prior sees, [videos, T, 3, H, W]:
        the Q distinct poses of the final (and pose-only) video, augmented, for a per-frame
        VAE; the whole N-frame videos for a causal one. Per clip (its own mesh and renderer)."""
        cfg = self.config
        stage = self.stage_timer
        pose = self.pose()
        vertex_sets = [pose["final_vertices"]] + ([pose["pose_vertices"]] if cfg.flow_loss else [])
        with stage("bind"):
            vertices = torch.cat(vertex_sets, dim=0)
            points = self.binding.apply(vertices)  # [videos·Q, P, 2]
            clips = {} if self.clip_binding is None else {"clip_points": self.clip_binding.apply(vertices)}
        with stage("render"):
            images = self.renderer.render(points, **clips)[:, :3]  # [videos·Q, 3, H, W] over white
        q = cfg.schedule.pose_count
        frames = images.reshape(len(vertex_sets), q, *images.shape[1:])  # [videos, Q, 3, H, W]
        if cfg.augment:
            with stage("augment"):
                frames = augment_frames(frames, generator=self.generator, config=cfg.sds.augmentation)
        if self.prior.frame_encoding != "per_frame":
            # Each latent frame depends on every frame before it: encode the whole N-frame video.
            frames = frames.index_select(1, self.frame_to_pose)  # [videos, N, 3, H, W]
        return pose, frames

    def video_latents(self, encoded: Tensor) -> Tensor:
        """The prior's encoding of `guidance_frames` → the N-frame video latents [videos, C, N', h, w]."""
        if self.prior.frame_encoding == "per_frame":
            return tile_latents(encoded, self.frame_to_pose)  # [videos, C, N, h, w]
        return encoded  # [videos, C, (N−1)/4 + 1, h, w]

    def guidance_request(self, latents: Tensor) -> GuidanceRequest:
        """This clip's share of the prior call, from its video latents [videos, C, N', h, w]."""
        if self.text is None:
            raise RuntimeError("this ClipAnimator was built without a prior: it has no prompt embedding")
        return GuidanceRequest(
            text=self.text,
            final_latents=latents[:1],
            pose_latents=latents[1:2] if self.config.flow_loss else None,
            config=self.config.sds,
            generator=self.generator,
        )

    def total_loss(self, pose: dict[str, Tensor], sds: SdsResult) -> tuple[Tensor, dict[str, Tensor]]:
        """Total loss and its terms from the pose and this clip's score distillation."""
        cfg = self.config
        with self.stage_timer("losses"):
            terms: dict[str, Tensor] = {"sds": sds.loss_sds}
            terms["skeleton"] = cfg.skeleton_weight * skeleton_loss(
                pose["keypoints"], self.bones, self.rest_bone_lengths
            )
            if cfg.flow_loss and sds.loss_flow is not None:
                flow = sds.loss_flow
                if "residual_jacobians" in pose:
                    flow = flow + jacobian_residual_loss(pose["residual_jacobians"])
                terms["flow"] = cfg.flow_weight * flow
            total = torch.stack(list(terms.values())).sum()
        return total, terms

    def losses(self) -> tuple[Tensor, dict[str, Tensor]]:
        """Total loss and its terms for one iteration (the lockstep iteration of this clip alone)."""
        (outcome,) = clip_losses([self])
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def step_on_device(self) -> tuple[Tensor, dict[str, Tensor]]:
        """One iteration; the detached total and terms stay on the device (no host sync)."""
        self.optimizer.zero_grad(set_to_none=True)
        total, terms = self.losses()
        with self.stage_timer("backward"):
            total.backward()
        with self.stage_timer("adam"):
            self.optimizer.step()
            self.scheduler.step()
        self.step_index += 1
        return total.detach(), {name: value.detach() for name, value in terms.items()}

    def step(self) -> StepReport:
        """One iteration, its losses read back to the host (one sync per call)."""
        total, terms = self.step_on_device()
        return StepReport(self.step_index, float(total), {name: float(value) for name, value in terms.items()})

    @torch.no_grad()
    def result(self, loss_history: list[dict[str, float]], seconds: float) -> AnimationResult:
        pose = self.pose()
        tile = self.frame_to_pose
        vertices = pose["final_vertices"][tile]
        points = self.binding.apply(vertices)
        return AnimationResult(
            clipart=self.clipart,
            rig=self.rig,
            mesh=self.mesh,
            frame_points=points.double().cpu().numpy(),
            frame_clip_points=(
                None if self.clip_binding is None else self.clip_binding.apply(vertices).double().cpu().numpy()
            ),
            frame_vertices=vertices.double().cpu().numpy(),
            frame_jacobians=pose["final_jacobians"][tile].double().cpu().numpy(),
            frame_keypoints=pose["keypoints"][tile].double().cpu().numpy(),
            loss_history=loss_history,
            config=self.config,
            prior_name=self.prior.name,
            prior_is_trained=self.prior.is_trained,
            prior_licence=self.prior.licence,
            device=str(self.device),
            seconds=seconds,
        )


ClipLosses = tuple[Tensor, dict[str, Tensor]]
"""A clip's total loss and its terms for one iteration (device tensors)."""


def clip_losses(animators: Sequence[ClipAnimator], pad_to: int | None = None) -> list[ClipLosses | Exception]:
    """One iteration's forward for K lockstep-compatible clips (docs/method.md §10).

    Per clip: pose, deformation, render and augmentation (meshes and renderers differ per clip).
    Shared: ONE encoder call over all clips' frames and ONE prior call over K×3 samples, each
    clip drawing t and ε from its own generator and getting its own loss. Element i is clip i's
    (total, terms), or the exception its own stages raised (that clip then takes no part in the
    shared calls). A failure of a shared call is raised: it belongs to no single clip.
    ``pad_to``: the prior call always carries that many clips' samples (`score_distillation_clips`);
    the encoder call is not padded (only the denoiser is compiled).
    """
    outcomes: list[ClipLosses | Exception | None] = [None] * len(animators)
    live: list[tuple[int, ClipAnimator, dict[str, Tensor], Tensor]] = []
    for index, animator in enumerate(animators):
        try:
            pose, frames = animator.guidance_frames()
        except Exception as exc:  # noqa: BLE001 - this clip's own geometry/render failure drops only this clip
            outcomes[index] = exc
            continue
        live.append((index, animator, pose, frames))
    if live:
        head = live[0][1]
        prior = head.prior
        with head.stage_timer("prior_encode"):
            clip_frames = [frames for _, _, _, frames in live]
            encoded = prior.encode_frames(clip_frames[0] if len(clip_frames) == 1 else torch.cat(clip_frames))
            latents = [
                animator.video_latents(part)
                for (_, animator, _, _), part in zip(live, encoded.split([len(f) for f in clip_frames]))
            ]
        with head.stage_timer("prior_score"):
            results = score_distillation_clips(
                prior,
                [animator.guidance_request(part) for (_, animator, _, _), part in zip(live, latents)],
                pad_to=pad_to,
            )
        for (index, animator, pose, _), sds in zip(live, results):
            try:
                outcomes[index] = animator.total_loss(pose, sds)
            except Exception as exc:  # noqa: BLE001 - this clip's own loss terms: drops only this clip
                outcomes[index] = exc
    return [outcome for outcome in outcomes if outcome is not None]


def optimise(
    animator: ClipAnimator,
    *,
    on_step: Callable[[StepReport], None] | None = None,
    execution: ExecutionConfig = ExecutionConfig(),
) -> AnimationResult:
    """Run all iterations of ``animator.config`` and return the final motion.

    Losses are read back to the host every ``execution.report_every`` steps (and after the last),
    in one transfer: history, ``on_step`` and the non-finite check see every step, late by at
    most that many steps; a non-finite loss raises `FloatingPointError` naming its step (also
    when a later step fails because of it before the read-back).
    """
    if execution.compile_prior:
        compile_prior(animator.prior, backend=execution.compile_backend)  # once per prior object
    started = time.perf_counter()
    history: list[dict[str, float]] = []
    pending: list[tuple[int, Tensor, dict[str, Tensor]]] = []
    remaining = animator.config.iterations - animator.step_index
    for index in range(remaining):
        try:
            total, terms = animator.step_on_device()
        except Exception:
            # A non-finite loss already pending is the root cause (e.g. the NaN parameters it left
            # make the renderer fail): report it first, as a per-step check would have.
            _report(pending, history, on_step)
            raise
        pending.append((animator.step_index, total, terms))
        if len(pending) == execution.report_every or index == remaining - 1:
            _report(pending, history, on_step)
            pending.clear()
    return animator.result(history, time.perf_counter() - started)


def _report(
    pending: list[tuple[int, Tensor, dict[str, Tensor]]],
    history: list[dict[str, float]],
    on_step: Callable[[StepReport], None] | None,
) -> None:
    """Read the pending steps' losses back in one transfer, record them, stop at a non-finite one."""
    if not pending:
        return
    names = list(pending[0][2])
    rows = torch.stack([torch.stack([total, *terms.values()]) for _, total, terms in pending]).cpu().tolist()
    for (step, _, _), (total, *values) in zip(pending, rows):
        report = StepReport(step, total, dict(zip(names, values)))
        history.append({"step": float(step), "total": total, **report.terms})
        if not math.isfinite(total):
            raise FloatingPointError(f"loss became {total} at step {step}")
        if on_step is not None:
            on_step(report)
