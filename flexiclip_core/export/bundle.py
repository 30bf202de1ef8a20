"""Every output of one animation into one folder, as an `ExportConfig` asks (docs/method.md §11).

Raster outputs come from the exact final renderer (`flexiclip_core.render`) applied to the deformed
vector shapes, rendered once per size with a transparent background and then composited as
each format needs; vector outputs (SVG, Lottie) write the deformed cubic paths themselves.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from flexiclip_core.clipart import Clipart
from flexiclip_core.errors import ConfigError, ExportError
from flexiclip_core.export.files import check_frame_points
from flexiclip_core.export.images import poster_frame_index
from flexiclip_core.export.profiles import ExportConfig, background_rgb
from flexiclip_core.output_kinds import EncodeJob, OutputKind, export_kinds
from flexiclip_core.render import render_frames

logger = logging.getLogger(__name__)


def _write_kinds(kinds: list[OutputKind], job: EncodeJob, out_dir: Path) -> dict[str, Path]:
    """Each of ``kinds`` written by its encoder into ``out_dir`` (`OUTPUT_KINDS`)."""
    outputs: dict[str, Path] = {}
    for kind in kinds:
        assert kind.encode is not None  # export_kinds() only
        outputs[kind.name] = kind.encode(job, out_dir / kind.file_name)
    return outputs


def export_animation(
    clipart: Clipart,
    frame_points: np.ndarray,  # [N, P, 2] canvas px
    out_dir: str | Path,
    *,
    size: int | None = None,
    fps: float | None = None,
    background: str | None = None,
    config: ExportConfig | None = None,
    frame_clip_points: np.ndarray | None = None,  # [N, C, 2] canvas px: posed clip outlines
) -> dict[str, Path]:
    """Write every output kind of ``config.formats`` into ``out_dir`` (clip outlines at
    ``frame_clip_points``, else at rest).

    Returns paths by kind (see `OUTPUT_NAMES`): ``video`` (MP4), ``webm``, ``webp``, ``apng``,
    ``gif``, ``svg_animation``, ``lottie``, ``frames`` (folder of frame_XXX.svg and, unless
    disabled, frame_XXX.png), ``poster`` (PNG); each of ``config.extra_sizes`` adds its raster
    kinds as ``<kind>@<S>`` in ``out_dir/size_<S>/``. ``size``, ``fps`` and ``background``
    override the corresponding `ExportConfig` fields.
    """
    config = config or ExportConfig()
    clip = clipart.source or None
    overrides: dict[str, Any] = {
        k: v for k, v in (("size", size), ("fps", fps), ("background", background)) if v is not None
    }
    if overrides:
        try:
            config = replace(config, **overrides)
        except ConfigError as error:
            raise ExportError(error.reason, clip=clip) from error
    frame_points = check_frame_points(clipart, frame_points)
    out_dir = Path(out_dir)
    kinds = [kind for kind in export_kinds() if kind.name in config.formats]
    job = EncodeJob(
        clipart,
        frame_points,
        frame_clip_points,
        None,
        config.size,
        poster_frame_index(frame_points, config.poster),
        background_rgb(config.background),
        config,
        clip,
    )

    def render(size: int) -> np.ndarray:  # uint8 [N, S, S, 4] over transparency
        return render_frames(clipart, frame_points, size, background="transparent", frame_clip_points=frame_clip_points)

    if any(kind.wants_pixels(config) for kind in kinds):
        job = replace(job, frames=render(config.size))
    outputs = _write_kinds(kinds, job, out_dir)
    rasters = [kind for kind in kinds if kind.raster]
    for extra in config.extra_sizes if rasters else ():
        extra_job = replace(job, frames=render(extra), size=extra)
        for name, path in _write_kinds(rasters, extra_job, out_dir / f"size_{extra}").items():
            outputs[f"{name}@{extra}"] = path
    logger.info(
        "exported %d frames of %s to %s (%s)", len(frame_points), clip or "clip", out_dir, ", ".join(sorted(outputs))
    )
    return outputs
