"""One clip from SVG to outputs: parse → rig → optimise → export + metrics.

This is the whole method behind one function, `animate_clip`; the CLI's `animate` and the
pipeline's Ray actors call it and know nothing of the stages inside. Workers that optimise
several clips in lockstep (`flexiclip_core.lockstep`) call its two halves around the shared
optimisation: `prepare_clip` (parse, rig, mesh, animator) and `finish_clip` (exports, metrics).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flexiclip_core.clipart import Clipart
from flexiclip_core.errors import ConfigError
from flexiclip_core.export import FORMATS, ExportConfig, composite_over_white, export_animation, write_text_atomic
from flexiclip_core.export.arrays import write_motion_arrays
from flexiclip_core.guidance import VideoPrior
from flexiclip_core.learned_metrics import LearnedMetrics
from flexiclip_core.metrics import MetricReport, compute_metrics
from flexiclip_core.optimize import (
    AnimationConfig,
    AnimationResult,
    ClipAnimator,
    ExecutionConfig,
    StepReport,
    fit_config_to_prior,
    optimise,
)
from flexiclip_core.output_kinds import OUTPUT_KINDS
from flexiclip_core.render import render_frames
from flexiclip_core.rig import Rig, rig_clipart
from flexiclip_core.svg import ParseConfig, parse_svg
from flexiclip_core.videofit.reference import ReferenceVideo

log = logging.getLogger(__name__)

CLIP_FILE_KEYS: tuple[str, ...] = (*FORMATS, "motion", "metrics", "config")
"""Possible keys of `ClipOutputs.files`: the media kinds the `ExportConfig` asks for (see
`flexiclip_core.output_kinds.OUTPUT_KINDS`; ``<kind>@<S>`` for extra sizes), then motion.npz (the
per-frame arrays, `flexiclip_core.export.arrays`), metrics.json and config.json, always written."""


@dataclass(frozen=True)
class ClipRequest:
    """One clip to animate: the drawing, the prompt and its optional rig."""

    svg: str | os.PathLike | bytes
    """Path to the SVG or its bytes."""
    prompt: str
    """Text describing the motion."""
    clip_id: str | None = None
    """Name used in messages and outputs (defaults to the file name)."""
    negative_prompt: str | None = None
    """Text the motion should avoid (the unconditional branch of CFG)."""
    keypoints: np.ndarray | None = None
    """[K, 2] keypoints in SVG user units, or None for the automatic rig."""
    bones: np.ndarray | None = None
    """[B, 2] skeleton edges (keypoint index pairs)."""
    layers: list[dict[str, Any]] | None = None
    """Layer specs: {"name", "groups": [svg group ids], "keypoints": [indices]}."""
    reference_video: str | os.PathLike | ReferenceVideo | None = None
    """Video file, ``file://`` URI or PNG folder the motion is fitted to (objective ``video-fit``,
    docs/method.md §13), or a reference already in memory (a generated one); None for score
    distillation."""


@dataclass(frozen=True)
class ClipOutputs:
    """What one animated clip produced."""

    files: dict[str, Path]
    metrics: MetricReport
    result: AnimationResult


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
    extra: dict[str, Any] | None = None
    """What the objective adds to metrics.json and config.json (video-fit: the reference's
    provenance and the fit metrics)."""


def _clip_id(request: ClipRequest) -> str:
    return request.clip_id or (Path(request.svg).name if not isinstance(request.svg, bytes) else "clip")


def _parse_and_rig(request: ClipRequest, config: AnimationConfig) -> tuple[str, Clipart, Rig]:
    clip_id = _clip_id(request)
    clipart = parse_svg(request.svg, clip_id=clip_id, config=ParseConfig())
    rig = rig_clipart(
        clipart,
        keypoints=request.keypoints,
        bones=request.bones,
        layers=request.layers,
        config=config.rig,
        silhouette_config=config.silhouette,
    )
    return clip_id, clipart, rig


def prepare_clip(request: ClipRequest, prior: VideoPrior, config: AnimationConfig, *, device: str) -> PreparedClip:
    """Parse, rig and mesh ``request`` and build its animator (everything before the
    optimisation); raises the clip's own error (bad SVG, rig, mesh)."""
    if config.objective != "sds":
        raise ConfigError(
            f"method {config.method!r} (objective {config.objective!r}) is fitted by `fit_clip`, "
            "not optimised against a prior"
        )
    clip_id, clipart, rig = _parse_and_rig(request, config)
    config = fit_config_to_prior(config, prior)  # e.g. 25 = 4k + 1 frames for a causal video VAE
    animator = ClipAnimator(
        clipart, rig, prior, request.prompt, config, negative_prompt=request.negative_prompt, device=device
    )
    return PreparedClip(request, clip_id, clipart, rig, config, animator)


def fit_clip(
    request: ClipRequest,
    config: AnimationConfig,
    *,
    device: str = "cpu",
    on_step: Callable[[StepReport], None] | None = None,
) -> tuple[PreparedClip, AnimationResult]:
    """The video-fit objective (docs/method.md §13): parse, rig, read ``request.reference_video``
    and fit the motion model to it; no prior. Raises the clip's own errors (SVG, rig, mesh,
    `ReferenceVideoError`)."""
    from flexiclip_core.errors import ReferenceVideoError
    from flexiclip_core.videofit import load_reference_video
    from flexiclip_core.videofit.fit import VideoFitter

    clip_id = _clip_id(request)
    if request.reference_video is None:
        raise ReferenceVideoError("the video-fit method needs a reference video", clip=clip_id)
    # Read first: a bad reference is refused before the (slower) automatic rig runs.
    if isinstance(request.reference_video, ReferenceVideo):
        reference = request.reference_video
    else:
        reference = load_reference_video(request.reference_video, clip=clip_id, limits=config.video_fit.limits)
    _, clipart, rig = _parse_and_rig(request, config)
    fitter = VideoFitter(clipart, rig, reference, config, clip=clip_id, device=device)
    fitted = fitter.fit(on_step)
    extra = {**reference.provenance(), "video_fit": fitted.metrics, "video_fit_seconds": fitted.seconds}
    return PreparedClip(request, clip_id, clipart, rig, config, fitter.animator, extra), fitted.result


def animate_clip(
    request: ClipRequest,
    prior: VideoPrior | None,
    config: AnimationConfig,
    out_dir: str | os.PathLike,
    *,
    device: str = "cpu",
    export: ExportConfig | None = None,
    on_step: Callable[[StepReport], None] | None = None,
    learned_metrics: LearnedMetrics | None = None,
    execution: ExecutionConfig = ExecutionConfig(),
) -> ClipOutputs:
    """Animate one clip and write every output into ``out_dir`` (created if needed).

    ``learned_metrics`` (models loaded once by the caller) fills the learned metric columns;
    without it they are None with the reason. ``execution``: host-sync interval and compiled
    prior (long-lived workers pass `worker_execution`); it never changes the result.
    """
    if config.objective == "video-fit":
        clip, result = fit_clip(request, config, device=device, on_step=on_step)
        return finish_clip(clip, result, out_dir, export=export, learned_metrics=learned_metrics)
    if prior is None:
        raise ValueError(f"objective {config.objective!r} needs a video prior")
    clip = prepare_clip(request, prior, config, device=device)
    result = optimise(clip.animator, on_step=on_step, execution=execution)
    return finish_clip(clip, result, out_dir, export=export, learned_metrics=learned_metrics)


def finish_clip(
    clip: PreparedClip,
    result: AnimationResult,
    out_dir: str | os.PathLike,
    *,
    export: ExportConfig | None = None,
    learned_metrics: LearnedMetrics | None = None,
) -> ClipOutputs:
    """Write every output of an optimised clip into ``out_dir`` (created if needed): media,
    motion.npz, metrics.json, config.json."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clipart, rig, config, request, clip_id = clip.clipart, clip.rig, clip.config, clip.request, clip.clip_id
    export = export or ExportConfig()
    files = export_animation(
        clipart, result.frame_points, out, config=export, frame_clip_points=result.frame_clip_points
    )
    files["motion"] = write_motion_arrays(
        out / OUTPUT_KINDS.get("motion").file_name,
        frame_points=result.frame_points,
        frame_keypoints=result.frame_keypoints,
        frame_vertices=result.frame_vertices,
        rest_points=clipart.control_points(),
        rest_keypoints=rig.keypoints,
        rest_vertices=result.mesh.vertices,
        bones=rig.bones,
        faces=result.mesh.faces,
        canvas_to_document=clipart.canvas_to_document,
        clip=clip_id,
    )
    frames_rgba = render_frames(
        clipart,
        result.frame_points,
        size=clipart.canvas_size,
        background="transparent",
        renderer=config.final_renderer,
        frame_clip_points=result.frame_clip_points,
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
        "clip_id": clip_id,
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "prior": result.prior_name,
        "prior_is_trained": result.prior_is_trained,
        "prior_licence": result.prior_licence,
        "prior_note": None if result.prior_is_trained else clip.animator.prior.description,
        "device": result.device,
        "seconds": result.seconds,
        **(clip.extra or {}),
    }
    files["metrics"] = _write_json(
        out / "metrics.json",
        {
            **provenance,
            "metrics": report.values,
            "missing_reasons": report.reasons,
            "final_losses": result.loss_history[-1] if result.loss_history else {},
        },
    )
    files["config"] = _write_json(
        out / OUTPUT_KINDS.get("config").file_name,
        {
            **provenance,
            "method": config.method,
            "config_hash": config.config_hash(),
            "config": config.to_dict(),
            "keypoints": rig.keypoints.tolist(),
            "bones": rig.bones.tolist(),
            "rig_source": rig.source,
            "export": export.to_dict(),
        },
    )
    log.info("clip %s animated in %.1f s with prior %s", clip_id, result.seconds, result.prior_name)
    return ClipOutputs(files=files, metrics=report, result=result)


def _write_json(path: Path, payload: dict[str, Any]) -> Path:
    return write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
