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
from flexiclip_core.export.files import check_frame_points, remove_stale_frames
from flexiclip_core.export.images import (
    poster_frame_index,
    write_apng,
    write_frame_pngs,
    write_gif,
    write_poster,
    write_webp,
)
from flexiclip_core.export.lottie import write_lottie
from flexiclip_core.export.profiles import OUTPUT_NAMES, ExportConfig, background_rgb
from flexiclip_core.export.svg_anim import write_animated_svg, write_frame_svgs
from flexiclip_core.export.video import composite_over, write_mp4, write_webm
from flexiclip_core.render import render_frames

logger = logging.getLogger(__name__)


def _with_background(frames: np.ndarray, rgb: tuple[int, int, int] | None) -> np.ndarray:
    """uint8 [N, S, S, 4] transparent frames → the same over ``rgb`` (opaque, alpha 255), or as
    they are when ``rgb`` is None."""
    if rgb is None:
        return frames
    opaque = composite_over(frames, rgb)
    return np.concatenate([opaque, np.full(opaque.shape[:-1] + (1,), 255, np.uint8)], axis=-1)


def _write_rasters(
    frames: np.ndarray,  # uint8 [N, S, S, 4] straight RGBA, transparent background
    out_dir: Path,
    poster_index: int,
    config: ExportConfig,
    clip: str | None,
) -> dict[str, Path]:
    """The raster kinds of ``config.formats`` from one size's frames."""
    wanted = set(config.formats)
    rgb = background_rgb(config.background)
    opaque_under = rgb or (255, 255, 255)  # formats without (full) alpha
    with_background = _with_background(frames, rgb)
    outputs: dict[str, Path] = {}
    if "video" in wanted:
        outputs["video"] = write_mp4(
            frames,
            out_dir / OUTPUT_NAMES["video"],
            config.fps,
            crf=config.mp4_crf,
            background_rgb=opaque_under,
            clip=clip,
        )
    if "webm" in wanted:
        outputs["webm"] = write_webm(
            with_background,
            out_dir / OUTPUT_NAMES["webm"],
            config.fps,
            lossless=config.webm_lossless,
            crf=config.webm_crf,
            clip=clip,
        )
    if "webp" in wanted:
        outputs["webp"] = write_webp(
            with_background, out_dir / OUTPUT_NAMES["webp"], config.fps, lossless=config.webp_lossless, clip=clip
        )
    if "apng" in wanted:
        outputs["apng"] = write_apng(with_background, out_dir / OUTPUT_NAMES["apng"], config.fps, clip=clip)
    if "gif" in wanted:
        outputs["gif"] = write_gif(
            frames, out_dir / OUTPUT_NAMES["gif"], config.fps, background_rgb=opaque_under, clip=clip
        )
    if "poster" in wanted:
        outputs["poster"] = write_poster(with_background[poster_index], out_dir / OUTPUT_NAMES["poster"], clip=clip)
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
    wanted = set(config.formats)
    poster_index = poster_frame_index(frame_points, config.poster)
    outputs: dict[str, Path] = {}

    needs_pixels = bool(wanted & {"video", "webm", "webp", "apng", "gif", "poster"}) or (
        "frames" in wanted and config.frame_pngs
    )
    frames = None
    if needs_pixels:
        frames = render_frames(
            clipart, frame_points, config.size, background="transparent", frame_clip_points=frame_clip_points
        )  # [N, S, S, 4]
        outputs.update(_write_rasters(frames, out_dir, poster_index, config, clip))
    if "svg_animation" in wanted:
        outputs["svg_animation"] = write_animated_svg(
            clipart,
            frame_points,
            out_dir / OUTPUT_NAMES["svg_animation"],
            config.fps,
            size=config.size,
            calc_mode=config.svg_calc_mode,
            frame_clip_points=frame_clip_points,
        )
    if "lottie" in wanted:
        outputs["lottie"] = write_lottie(
            clipart,
            frame_points,
            out_dir / OUTPUT_NAMES["lottie"],
            config.fps,
            size=config.size,
            frame_clip_points=frame_clip_points,
        )
    if "frames" in wanted:
        frames_dir = out_dir / OUTPUT_NAMES["frames"]
        written = write_frame_svgs(
            clipart, frame_points, frames_dir, size=config.size, frame_clip_points=frame_clip_points
        )
        if config.frame_pngs and frames is not None:
            written += write_frame_pngs(
                _with_background(frames, background_rgb(config.background)), frames_dir, clip=clip
            )
        remove_stale_frames(frames_dir, {p.name for p in written})
        outputs["frames"] = frames_dir
    for extra in config.extra_sizes:
        extra_frames = render_frames(
            clipart, frame_points, extra, background="transparent", frame_clip_points=frame_clip_points
        )
        for kind, path in _write_rasters(extra_frames, out_dir / f"size_{extra}", poster_index, config, clip).items():
            outputs[f"{kind}@{extra}"] = path
    logger.info(
        "exported %d frames of %s to %s (%s)", len(frame_points), clip or "clip", out_dir, ", ".join(sorted(outputs))
    )
    return outputs
