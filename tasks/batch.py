"""Clips in lockstep on one worker (issue 14, docs/pipeline.md §6): prepare, optimise together, finish.

`ClipWorker.animate_batch` hands a worker several clips at once. Each clip is prepared alone
(`prepare_clip`: parse, rig, mesh, animator: its errors are that clip's), clips whose
`lockstep_key` match are optimised together (`flexiclip_core.lockstep.optimise_lockstep`), and
each result is finished alone (`finish_clip`: export, motion arrays, metrics, JSON records).
The stages are those of `flexiclip_core.animate.animate_clip` split at the optimisation; a test
(tests/tasks/test_batch.py) holds the two paths to the same files.

`auto_clips_per_worker` picks K, the clips a worker takes per call, from the device and the
GPU memory left once the prior is loaded (a pure function; the figures are in
`PER_CLIP_PEAK_GIB`).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from flexiclip_core.animate import ClipOutputs, ClipRequest
    from flexiclip_core.clipart import Clipart
    from flexiclip_core.config import AnimationConfig
    from flexiclip_core.export import ExportConfig
    from flexiclip_core.guidance import VideoPrior
    from flexiclip_core.learned_metrics import LearnedMetrics
    from flexiclip_core.optimize import AnimationResult, ClipAnimator
    from flexiclip_core.rig import Rig

log = logging.getLogger(__name__)

AUTO = "auto"
"""``clips_per_worker`` value: choose K from the device and its free memory."""

GIB = 1024**3

PER_CLIP_PEAK_GIB: dict[tuple[str, str], float] = {
    # Measured on an H200 (../shared/spec/gpu-notes.md): one clip at paper settings, weights included.
    ("modelscope", "flexiclip"): 9.4,
    ("modelscope", "aniclipart"): 6.6,
    # Not measured: Wan's iteration costs 1.7× ModelScope's FLOPs (docs/priors.md), mostly the
    # causal VAE's activations over 2 × 25 frames; assumed twice ModelScope's peak until measured.
    ("wan", "flexiclip"): 18.8,
    ("wan", "aniclipart"): 13.2,
    # Toy priors: well under a GiB; rounded up.
    ("tiny", "flexiclip"): 1.0,
    ("tiny", "aniclipart"): 1.0,
    ("wan-tiny", "flexiclip"): 1.0,
    ("wan-tiny", "aniclipart"): 1.0,
}
"""GPU memory one clip needs (GiB), per (prior name, preset family). The single-clip peak
includes the weights, which a batch shares: counting them once per clip is part of the margin."""

UNKNOWN_PEAK_GIB = 18.8
"""A prior not in the table gets the largest real-size figure."""

MEMORY_HEADROOM = 1.25
"""Each clip's estimate is multiplied by this (allocator fragmentation, compile workspaces)."""

MAX_CLIPS_PER_WORKER = 8
"""``auto`` never goes above this: the measured prior batch gains flatten out by 12 samples
(4 clips × 3 guidance samples), and a larger batch only delays every clip's row."""


def preset_family(method: str) -> str:
    """``aniclipart`` (one video, no Jacobians) or ``flexiclip`` (every other preset, the larger)."""
    return "aniclipart" if method == "aniclipart" else "flexiclip"


def per_clip_gib(prior_name: str, methods: set[str] | list[str] | tuple[str, ...]) -> float:
    """The largest `PER_CLIP_PEAK_GIB` figure over ``methods`` for ``prior_name``."""
    families = {preset_family(m) for m in methods} or {"flexiclip"}
    return max(PER_CLIP_PEAK_GIB.get((prior_name, family), UNKNOWN_PEAK_GIB) for family in families)


def auto_clips_per_worker(
    device: str,
    free_bytes: int | None,
    prior_name: str,
    methods: set[str] | list[str] | tuple[str, ...] = ("flexiclip",),
    *,
    gpu_share: float = 1.0,
) -> int:
    """K for ``clips_per_worker="auto"``: 1 on CPU; on CUDA as many clips as fit the free memory.

    ``free_bytes``: the worker's free GPU memory with its prior loaded (None: unknown → 1);
    ``gpu_share``: the worker's fraction of that GPU (actors sharing a GPU share its memory).
    K = floor(free · share / (per-clip GiB · headroom)), between 1 and `MAX_CLIPS_PER_WORKER`.
    """
    if not device.startswith("cuda") or free_bytes is None or free_bytes <= 0:
        return 1  # a CPU runs clips one after the other either way: batching gains nothing there
    share = min(max(gpu_share, 0.0), 1.0) or 1.0
    need = per_clip_gib(prior_name, methods) * MEMORY_HEADROOM * GIB
    return max(1, min(MAX_CLIPS_PER_WORKER, math.floor(free_bytes * share / need)))


def resolve_clips_per_worker(value: int | str) -> int | str:
    """Validate a ``clips_per_worker`` setting: a positive int (also as text), or ``auto``.

    Raises `ConfigError` (bad input, exit status 2) for anything else.
    """
    from flexiclip_core.errors import ConfigError

    number: object = value
    if isinstance(value, str):
        text = value.strip().lower()
        if text == AUTO:
            return AUTO
        number = int(text) if text.isdigit() else None
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ConfigError(f"clips_per_worker must be a positive integer or 'auto', got {value!r}")
    return number


@dataclass(eq=False)
class PreparedClip:
    """One clip parsed, rigged and meshed, with its animator built and not yet optimised."""

    request: ClipRequest
    clip_id: str
    clipart: Clipart
    rig: Rig
    config: AnimationConfig
    """The clip's config fitted to the prior (`fit_config_to_prior`)."""
    animator: ClipAnimator


def prepare_clip(request: ClipRequest, prior: VideoPrior, config: AnimationConfig, *, device: str) -> PreparedClip:
    """Parse, rig and mesh ``request`` and build its animator (the stages of `animate_clip` before
    the optimisation); raises the clip's own error (bad SVG, rig, mesh)."""
    from flexiclip_core.optimize import ClipAnimator, fit_config_to_prior
    from flexiclip_core.rig import rig_clipart
    from flexiclip_core.svg import ParseConfig, parse_svg

    clip_id = request.clip_id or "clip"
    clipart = parse_svg(request.svg, clip_id=clip_id, config=ParseConfig())
    rig = rig_clipart(
        clipart,
        keypoints=request.keypoints,
        bones=request.bones,
        layers=request.layers,
        config=config.rig,
        silhouette_config=config.silhouette,
    )
    config = fit_config_to_prior(config, prior)
    animator = ClipAnimator(
        clipart, rig, prior, request.prompt, config, negative_prompt=request.negative_prompt, device=device
    )
    return PreparedClip(request, clip_id, clipart, rig, config, animator)


def finish_clip(
    clip: PreparedClip,
    result: AnimationResult,
    out_dir: str | Path,
    *,
    export: ExportConfig | None = None,
    learned_metrics: LearnedMetrics | None = None,
) -> ClipOutputs:
    """Write every output of an optimised clip into ``out_dir`` (the stages of `animate_clip`
    after the optimisation: media, motion.npz, metrics.json, config.json)."""
    from flexiclip_core.animate import ClipOutputs
    from flexiclip_core.export import ExportConfig, composite_over_white, export_animation, write_text_atomic
    from flexiclip_core.export.arrays import write_motion_arrays
    from flexiclip_core.metrics import compute_metrics
    from flexiclip_core.render import render_frames

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clipart, rig, config, request = clip.clipart, clip.rig, clip.config, clip.request
    prior = clip.animator.prior
    export = export or ExportConfig()
    files = export_animation(clipart, result.frame_points, out, config=export)
    files["motion"] = write_motion_arrays(
        out / "motion.npz",
        frame_points=result.frame_points,
        frame_keypoints=result.frame_keypoints,
        frame_vertices=result.frame_vertices,
        rest_points=clipart.control_points(),
        rest_keypoints=rig.keypoints,
        rest_vertices=result.mesh.vertices,
        bones=rig.bones,
        faces=result.mesh.faces,
        canvas_to_document=clipart.canvas_to_document,
        clip=clip.clip_id,
    )
    frames_rgba = render_frames(
        clipart, result.frame_points, size=clipart.canvas_size, background="transparent", renderer=config.final_renderer
    )
    learned = learned_reasons = None
    if learned_metrics is not None:
        rest_rgba = render_frames(
            clipart,
            clipart.control_points()[None],
            size=clipart.canvas_size,
            background="transparent",
            renderer=config.final_renderer,
        )
        learned, learned_reasons = learned_metrics.compute(
            composite_over_white(frames_rgba), composite_over_white(rest_rgba)[0], request.prompt
        )
    report = compute_metrics(
        vertices=result.frame_vertices,
        faces=result.mesh.faces,
        jacobians=result.frame_jacobians,
        keypoints=result.frame_keypoints,
        bones=rig.bones,
        rest_keypoints=rig.keypoints,
        frames_rgba=frames_rgba,
        learned=learned,
        learned_reasons=learned_reasons,
    )
    provenance = {
        "clip_id": clip.clip_id,
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "prior": prior.name,
        "prior_is_trained": prior.is_trained,
        "prior_licence": prior.licence,
        "prior_note": None if prior.is_trained else prior.description,
        "device": result.device,
        "seconds": result.seconds,
    }
    metrics_record = {
        **provenance,
        "metrics": report.values,
        "missing_reasons": report.reasons,
        "final_losses": result.loss_history[-1] if result.loss_history else {},
    }
    config_record = {
        **provenance,
        "method": config.method,
        "config_hash": config.config_hash(),
        "config": config.to_dict(),
        "keypoints": rig.keypoints.tolist(),
        "bones": rig.bones.tolist(),
        "rig_source": rig.source,
        "export": export.to_dict(),
    }
    for name, record in (("metrics", metrics_record), ("config", config_record)):
        text = json.dumps(record, indent=2, sort_keys=True, default=_json_default) + "\n"
        files[name] = write_text_atomic(out / f"{name}.json", text)
    log.info("clip %s animated in %.1f s with prior %s (lockstep batch)", clip.clip_id, result.seconds, prior.name)
    return ClipOutputs(files=files, metrics=report, result=result)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
