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

import dataclasses
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from flexiclip_core.binding import Binding, bind_points
from flexiclip_core.clipart import Clipart
from flexiclip_core.deform import DEFORMERS, ArapConfig, JacobianConfig, MeshDeformer
from flexiclip_core.errors import ConfigError
from flexiclip_core.guidance import (
    PRIORS,
    SdsConfig,
    VideoPrior,
    augment_frames,
    load_prior,
    score_distillation,
    tile_latents,
)
from flexiclip_core.guidance.compile import compile_prior
from flexiclip_core.losses import jacobian_residual_loss, skeleton_loss
from flexiclip_core.mesh import Mesh, MeshConfig, build_mesh
from flexiclip_core.motion import (
    KeypointTrajectories,
    PoseSchedule,
    TemporalConfig,
    TemporalJacobians,
    TrajectoryConfig,
)
from flexiclip_core.render import (
    DEFAULT_FINAL_RENDERER,
    DEFAULT_TRAINING_RENDERER,
    FINAL_RENDERERS,
    TRAINING_RENDERERS,
    TrainingRenderer,
    TrainRenderConfig,
)
from flexiclip_core.rig import Rig, RigConfig
from flexiclip_core.silhouette import SilhouetteConfig

log = logging.getLogger(__name__)

POSE_DEFORMER = "arap"
"""The pose stage is AniClipart's ARAP from keypoint handles in every preset (docs/method.md §5);
``AnimationConfig.deformer`` chooses the final deformation."""


@dataclass(frozen=True)
class AnimationConfig:
    """Everything that determines an animation result (its hash identifies the result)."""

    method: str = "flexiclip"
    """Preset name this config derives from (informational; the fields below decide)."""
    deformer: str = "jacobian"
    """Final deformation, a `DEFORMERS` name: ``arap`` from handles (AniClipart; the final pose is
    the ARAP pose) or ``jacobian``, Poisson from Jacobians (FlexiClip). Its settings are the
    config field of the same name."""
    training_renderer: str = DEFAULT_TRAINING_RENDERER
    """Differentiable renderer, a `TRAINING_RENDERERS` name (``torch``, ``pydiffvg``); settings in
    ``render``."""
    final_renderer: str = DEFAULT_FINAL_RENDERER
    """Renderer of the output frames used for the metrics, a `FINAL_RENDERERS` name (``cairo``)."""
    prior: str = "modelscope"
    """Video prior spec, ``NAME[:ARGUMENT]`` with NAME in `PRIORS` (``modelscope``,
    ``modelscope:/weights``, ``tiny``), loaded by `load_config_prior`. Callers that pass a loaded
    prior instead (the pipeline's workers load one per worker) decide the prior themselves."""
    temporal_jacobians: bool = True
    """Add the ODE-integrated residual Jacobians J^R to the pose Jacobians (FlexiClip §3)."""
    flow_loss: bool = True
    """Flow-matching term between the final and the pose-only video (FlexiClip §4)."""
    iterations: int = 1000
    """Optimisation steps: 1000 (flexiclip), 500 (aniclipart)."""
    learning_rate: float = 0.005
    """Adam learning rate for all trainable modules."""
    adam_betas: tuple[float, float] = (0.9, 0.9)
    """Adam β1, β2."""
    adam_eps: float = 1e-6
    """Adam ε."""
    warmup_steps: int = 100
    """Steps of the sine warm-up of the learning-rate factor."""
    warmup_start_factor: float = 0.1
    """Learning-rate factor at step 0 of the warm-up."""
    final_lr_factor: float = 0.4
    """Learning-rate factor reached at the last step by the log-linear decay."""
    skeleton_weight: float = 25.0
    """Weight of the skeleton (bone length) loss."""
    flow_weight: float = 15.0
    """λ_flow, weight of the flow-matching loss (both its score and Jacobian terms)."""
    seed: int = 1000
    """Seed of parameter initialisation, noise and augmentation."""
    augment: bool = True
    """Apply the shared random perspective / resized-crop augmentation before encoding."""
    schedule: PoseSchedule = field(default_factory=PoseSchedule)
    """Frames, loops and distinct poses."""
    trajectory: TrajectoryConfig = field(default_factory=TrajectoryConfig)
    """Keypoint trajectory model."""
    temporal: TemporalConfig = field(default_factory=TemporalConfig)
    """Temporal Jacobian ODE."""
    sds: SdsConfig = field(default_factory=SdsConfig)
    """Score distillation."""
    render: TrainRenderConfig = field(default_factory=TrainRenderConfig)
    """Settings of the training renderer (whichever ``training_renderer`` names)."""
    silhouette: SilhouetteConfig = field(default_factory=SilhouetteConfig)
    """Silhouette raster, shared by the rig and the mesh (both must see the same components)."""
    rig: RigConfig = field(default_factory=RigConfig)
    """Automatic rig."""
    mesh: MeshConfig = field(default_factory=MeshConfig)
    """Mesh generation."""
    arap: ArapConfig = field(default_factory=ArapConfig)
    """ARAP deformer (pose deformation)."""
    jacobian: JacobianConfig = field(default_factory=JacobianConfig)
    """Poisson/Jacobian deformer (final deformation)."""

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise ConfigError(f"iterations must be ≥ 1, got {self.iterations}")
        # Unknown names fail here, listing the known ones.
        final_deformer = DEFORMERS.get(self.deformer)
        if not dataclasses.is_dataclass(getattr(self, self.deformer, None)):
            raise ConfigError(f"deformer {self.deformer!r} has no settings field of its name in AnimationConfig")
        TRAINING_RENDERERS.get(self.training_renderer)
        FINAL_RENDERERS.get(self.final_renderer)
        PRIORS.get(self.prior.partition(":")[0].strip())
        if not final_deformer.needs_jacobians and (self.temporal_jacobians or self.flow_loss):
            driven = " or ".join(repr(name) for name in DEFORMERS.names() if DEFORMERS.get(name).needs_jacobians)
            raise ConfigError(
                f"temporal Jacobians and the flow loss need deformer={driven} (driven by Jacobians), got {self.deformer!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def config_hash(self) -> str:
        """sha256 (16 hex digits) of the canonical JSON of every field."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def with_overrides(self, overrides: dict[str, Any]) -> AnimationConfig:
        """A copy with (possibly nested, dotted or dict) overrides applied and validated."""
        return _apply_overrides(self, overrides, prefix="")


def _apply_overrides(config: Any, overrides: dict[str, Any], prefix: str) -> Any:
    names = {f.name: f for f in dataclasses.fields(config)}
    changes: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        head, _, rest = key.partition(".")
        if head not in names:
            raise ConfigError(f"unknown config field {prefix + head!r} (known: {', '.join(sorted(names))})")
        current = getattr(config, head)
        if rest or (dataclasses.is_dataclass(current) and isinstance(value, dict)):
            nested.setdefault(head, {}).update({rest: value} if rest else value)
        else:
            changes[head] = _coerce(current, value, prefix + head)
    for head, sub in nested.items():
        changes[head] = _apply_overrides(getattr(config, head), sub, prefix=f"{prefix}{head}.")
    return dataclasses.replace(config, **changes)


def _coerce(current: Any, value: Any, name: str) -> Any:
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"config field {name!r} must be a boolean, got {value!r}")
        return value
    if isinstance(current, int) and not isinstance(current, bool):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config field {name!r} must be an integer, got {value!r}")
        return value
    if isinstance(current, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"config field {name!r} must be a finite number, got {value!r}")
        return float(value)
    if isinstance(current, str):
        if not isinstance(value, str):
            raise ConfigError(f"config field {name!r} must be a string, got {value!r}")
        return value
    if isinstance(current, tuple):
        if not isinstance(value, (list, tuple)) or len(value) != len(current):
            raise ConfigError(f"config field {name!r} must be a list of {len(current)} values, got {value!r}")
        return tuple(_coerce(c, v, name) for c, v in zip(current, value))
    raise ConfigError(f"config field {name!r} cannot be overridden")


@dataclass(frozen=True)
class ExecutionConfig:
    """How the optimisation is executed, never what it computes: outside `AnimationConfig` and its hash."""

    report_every: int = 1
    """Steps between host synchronisations that read the losses back (history, progress, NaN check).
    1 suits a CPU; on a GPU a larger value keeps the device queue full."""
    compile_prior: bool = False
    """``torch.compile`` the prior's denoiser once, before the first step (`compile_prior`). Off for
    one-off CLI runs (the compile costs minutes); `worker_execution` turns it on for long-lived
    CUDA workers."""
    compile_backend: str = "inductor"
    """``torch.compile`` backend (``inductor``; ``aot_eager`` traces without generating kernels)."""

    def __post_init__(self) -> None:
        if self.report_every < 1:
            raise ConfigError(f"report_every must be ≥ 1, got {self.report_every}")


def worker_execution(device: torch.device | str) -> ExecutionConfig:
    """Execution settings of a long-lived worker: compiled prior and sparse host syncs on CUDA."""
    on_cuda = torch.device(device).type == "cuda"
    return ExecutionConfig(report_every=25 if on_cuda else 1, compile_prior=on_cuda)


PRESETS: dict[str, AnimationConfig] = {
    "flexiclip": AnimationConfig(),
    "aniclipart": AnimationConfig(
        method="aniclipart", deformer="arap", temporal_jacobians=False, flow_loss=False, iterations=500
    ),
    "flexiclip-no-temporal": AnimationConfig(method="flexiclip-no-temporal", temporal_jacobians=False),
    "flexiclip-no-flow": AnimationConfig(method="flexiclip-no-flow", flow_loss=False),
}
"""The paper's methods and ablations as named configs."""


def load_config_prior(config: AnimationConfig, device: torch.device | str | None = None) -> VideoPrior:
    """The prior ``config.prior`` names, built through `PRIORS` on ``device``."""
    return load_prior(config.prior, device=device)


def preset(name: str) -> AnimationConfig:
    """The named method preset."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown method {name!r} (known: {', '.join(PRESETS)})") from None


def fit_config_to_prior(config: AnimationConfig, prior: VideoPrior) -> AnimationConfig:
    """``config`` with a frame schedule the prior's encoder accepts (unchanged when it already does).

    A causal video VAE (Wan: N = 4k + 1) gets the seamless ping-pong plus a closing frame with
    the same loop count: N = 24, L = 2 becomes N = 25 (rest pose + 24, Q = 7 poses), see
    docs/priors.md. Per-frame priors take any schedule.
    """
    schedule = config.schedule
    try:
        prior.latent_frame_count(schedule.frame_count)
        return config
    except ConfigError:
        pass
    loops = max(schedule.loop_count, 1)
    step = math.lcm(prior.temporal_compression, 2 * loops)
    frame_count = step * max(1, round((schedule.frame_count - 1) / step)) + 1
    fitted = dataclasses.replace(schedule, frame_count=frame_count, loop_count=loops, hold_turns=False)
    log.info(
        "prior %s encodes videos of 4k + 1 frames: schedule %d frames / %d loops → %d frames, %d poses",
        prior.name,
        schedule.frame_count,
        schedule.loop_count,
        fitted.frame_count,
        fitted.pose_count,
    )
    return dataclasses.replace(config, schedule=fitted)


def lr_factor(step: int, config: AnimationConfig) -> float:
    """Sine warm-up 0.1 → 1 over the first steps times log-linear decay to 0.4× at the end (§5)."""
    ramp = min(step / max(config.warmup_steps, 1), 1.0)
    warm = config.warmup_start_factor + (1.0 - config.warmup_start_factor) * math.sin(0.5 * math.pi * ramp)
    progress = step / max(config.iterations - 1, 1)
    return warm * math.exp(math.log(config.final_lr_factor) * progress)


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
        prior: VideoPrior,
        prompt: str,
        config: AnimationConfig,
        *,
        negative_prompt: str | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        self.clipart = clipart
        self.rig = rig
        self.prior = prior
        self.config = config
        self.device = torch.device(device)
        dtype = torch.float32
        torch.manual_seed(config.seed)
        self.generator = torch.Generator(device="cpu").manual_seed(config.seed)

        self.mesh: Mesh = build_mesh(clipart, rig, config.mesh, silhouette_config=config.silhouette)
        self.binding: Binding = bind_points(self.mesh, clipart, rig)
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
            TemporalJacobians(config.schedule, config.temporal).to(self.device) if config.temporal_jacobians else None
        )
        self.frame_to_pose = config.schedule.frame_to_pose().to(self.device)
        prior.latent_frame_count(config.schedule.frame_count)  # a causal VAE rejects N ≠ 4k + 1 here
        self.text = prior.encode_text([prompt], [negative_prompt or ""])

        params = list(self.trajectories.parameters()) + (list(self.temporal.parameters()) if self.temporal else [])
        self.optimizer = torch.optim.Adam(params, lr=config.learning_rate, betas=config.adam_betas, eps=config.adam_eps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: lr_factor(step, config))
        self.step_index = 0
        self.stage_timer: Callable[[str], AbstractContextManager] = lambda name: nullcontext()
        """Context manager factory wrapped around each stage (benchmarks install a timer)."""

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

    def losses(self) -> tuple[Tensor, dict[str, Tensor]]:
        """Total loss and its terms for one iteration."""
        cfg = self.config
        stage = self.stage_timer
        pose = self.pose()
        two_videos = cfg.flow_loss
        vertex_sets = [pose["final_vertices"]] + ([pose["pose_vertices"]] if two_videos else [])
        with stage("bind"):
            points = self.binding.apply(torch.cat(vertex_sets, dim=0))  # [videos·Q, P, 2]
        with stage("render"):
            images = self.renderer.render(points)[:, :3]  # [videos·Q, 3, H, W] over white
        q = cfg.schedule.pose_count
        frames = images.reshape(len(vertex_sets), q, *images.shape[1:])  # [videos, Q, 3, H, W]
        if cfg.augment:
            with stage("augment"):
                frames = augment_frames(frames, generator=self.generator, config=cfg.sds.augmentation)
        with stage("prior_encode"):
            if self.prior.frame_encoding == "per_frame":
                latents = tile_latents(self.prior.encode_frames(frames), self.frame_to_pose)  # [videos, C, N, h, w]
            else:
                # Each latent frame depends on every frame before it: encode the whole N-frame video.
                video = frames.index_select(1, self.frame_to_pose)  # [videos, N, 3, H, W]
                latents = self.prior.encode_frames(video)  # [videos, C, (N−1)/4 + 1, h, w]
        with stage("prior_score"):
            sds = score_distillation(
                self.prior,
                self.text,
                latents[:1],
                latents[1:2] if two_videos else None,
                cfg.sds,
                generator=self.generator,
            )
        with stage("losses"):
            terms: dict[str, Tensor] = {"sds": sds.loss_sds}
            terms["skeleton"] = cfg.skeleton_weight * skeleton_loss(
                pose["keypoints"], self.bones, self.rest_bone_lengths
            )
            if two_videos:
                flow = sds.loss_flow
                if "residual_jacobians" in pose:
                    flow = flow + jacobian_residual_loss(pose["residual_jacobians"])
                terms["flow"] = cfg.flow_weight * flow
            total = torch.stack(list(terms.values())).sum()
        return total, terms

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
