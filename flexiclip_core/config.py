"""The typed animation config (docs/method.md §5–10): one dataclass with the paper's defaults and a
docstring per field, validated overrides, the method presets as named instances, the execution
settings that never change a result, and the config-level helpers (learning-rate schedule, the
prior the config names, a frame schedule the prior accepts). `flexiclip_core.optimize` runs it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from flexiclip_core.deform import DEFORMERS, ArapConfig, JacobianConfig
from flexiclip_core.errors import ConfigError
from flexiclip_core.guidance import PRIORS, SdsConfig, VideoPrior, load_prior
from flexiclip_core.mesh import MeshConfig
from flexiclip_core.motion import PoseSchedule, TemporalConfig, TrajectoryConfig
from flexiclip_core.render import (
    DEFAULT_FINAL_RENDERER,
    DEFAULT_TRAINING_RENDERER,
    FINAL_RENDERERS,
    TRAINING_RENDERERS,
    TrainRenderConfig,
)
from flexiclip_core.rig import RigConfig
from flexiclip_core.silhouette import SilhouetteConfig
from flexiclip_core.videofit_config import VideoFitConfig

log = logging.getLogger(__name__)

OBJECTIVES: tuple[str, ...] = ("sds", "video-fit")
"""`AnimationConfig.objective` values: score distillation, or a fit to a reference video."""

POSE_DEFORMER = "arap"
"""The pose stage is AniClipart's ARAP from keypoint handles in every preset (docs/method.md §5);
``AnimationConfig.deformer`` chooses the final deformation."""


HASH_NEUTRAL_DEFAULTS: dict[tuple[str, ...], Any] = {
    ("trajectory", "degree"): 3,
    ("render", "paint_gradients"): False,
    ("video_fit", "trajectory_roughness"): 0.0,
}
"""Settings added after results were made, left out of `AnimationConfig.config_hash` at the value
that reproduces those results (by the field path in `AnimationConfig.to_dict`): adding such a
setting re-animates nothing, and any other value is hashed as usual."""


@dataclass(frozen=True)
class AnimationConfig:
    """Everything that determines an animation result (its hash identifies the result)."""

    method: str = "flexiclip"
    """Preset name this config derives from (informational; the fields below decide)."""
    objective: str = "sds"
    """What the motion is optimised against: ``sds`` (score distillation through the prior,
    §8–10) or ``video-fit`` (a fit to a reference video, §13; settings in ``video_fit``)."""
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
    video_fit: VideoFitConfig = field(default_factory=VideoFitConfig)
    """The video-fit objective (used when ``objective`` is ``video-fit``)."""

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"unknown objective {self.objective!r} (known: {', '.join(OBJECTIVES)})")
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
                f"temporal Jacobians and the flow loss need deformer={driven} (driven by Jacobians), "
                f"got {self.deformer!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def config_hash(self) -> str:
        """sha256 (16 hex digits) of the canonical JSON of every field, less those of
        `HASH_NEUTRAL_DEFAULTS` at their listed value."""
        fields = self.to_dict()
        for path, neutral in HASH_NEUTRAL_DEFAULTS.items():
            *parents, leaf = path
            section = fields
            for name in parents:
                section = section[name]
            if section.get(leaf) == neutral:
                del section[leaf]
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
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
        elif _optional_text(names[head]) and (value is None or isinstance(value, str)):
            changes[head] = value  # a `str | None` field (e.g. video_fit.generator): a name, or null
        else:
            changes[head] = _coerce(current, value, prefix + head)
    for head, sub in nested.items():
        changes[head] = _apply_overrides(getattr(config, head), sub, prefix=f"{prefix}{head}.")
    return dataclasses.replace(config, **changes)


def _optional_text(field: dataclasses.Field) -> bool:
    """The field is declared ``str | None`` (annotations are strings here: postponed evaluation)."""
    return str(field.type).replace(" ", "") in ("str|None", "None|str", "Optional[str]")


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
    # The FlexiClip model fitted to a reference video (§13): N distinct poses played once, in the
    # reference's order; no SDS, so no prior, no augmentation and no SDS flow term. One Bézier per
    # keypoint spans the whole reference, so degree 6 rather than the papers' cubic (a cubic
    # cannot swing out and back), with the roughness penalty that keeps it off the flow's errors:
    # on the sway of all 28 known-answer drawings, 22 inside the point bounds (cubic: 21) and 14
    # with worst-frame IoU ≥ 0.97 (cubic: 7); §13, "Degree 6 with the roughness penalty as the
    # preset". Gradients painted per pixel: the reference shows them, and a flat paint biases the
    # photometric term over them (§13, "Gradient fills").
    "video-fit": AnimationConfig(
        method="video-fit",
        objective="video-fit",
        flow_loss=False,
        augment=False,
        schedule=PoseSchedule(frame_count=24, loop_count=0),
        trajectory=TrajectoryConfig(degree=6),
        render=TrainRenderConfig(paint_gradients=True),
        video_fit=VideoFitConfig(trajectory_roughness=1e-3),
    ),
}
"""The paper's methods and ablations as named configs."""


def load_config_prior(config: AnimationConfig, device: torch.device | str | None = None) -> VideoPrior:
    """The prior ``config.prior`` names, built through `PRIORS` on ``device``."""
    return load_prior(config.prior, device=device)


def parse_override(item: str) -> tuple[str, Any]:
    """One ``KEY=VALUE`` override (`AnimationConfig.with_overrides`' dotted key) as (key, value):
    VALUE read as JSON where it parses (``64``, ``false``, ``[5, 0, 0]``), else as text. The one
    reading of ``--set`` for the CLI and the benches."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
    try:
        return key.strip(), json.loads(text)
    except ValueError:
        return key.strip(), text


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
    shift_size = getattr(prior, "shift_frame_size", None)
    if shift_size is not None and tuple(shift_size) != (config.render.size, config.render.size):
        # One schedule per loaded prior, shared by all its clips: say so rather than re-shift silently.
        log.warning(
            "prior %s: its timestep shift is tuned for %dx%d frames, this clip renders %dx%d "
            "(set WanPriorConfig.frame_size or timestep_shift; docs/priors.md)",
            prior.name,
            *shift_size,
            config.render.size,
            config.render.size,
        )
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
