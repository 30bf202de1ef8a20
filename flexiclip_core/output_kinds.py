"""The output kinds, keyed by format: the one registry every consumer reads (`OUTPUT_KINDS`).

Each `OutputKind` says how the kind is encoded, the file it becomes in a clip's folder, whether
the pipeline publishes it (its media suffix, which gives the catalog its ``<kind>_uri`` and
``<kind>_sha256`` columns), whether it is in the default export and its link text in the run
report. `ExportConfig` validates ``formats`` against it, `export_animation` writes whatever it
lists, `catalogs.rows.MEDIA_KINDS` and the report's download links are derived from it, and a
test checks ``flexiclip animate --format``'s help against it. A new format is one
`OUTPUT_KINDS.register` call with its encoder.

Kinds without an encoder (``motion``, ``config``, ``source_svg``) are written by the pipeline
around the export (`flexiclip_core.animate`, the worker) and only published.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from flexiclip_core.clipart import Clipart
from flexiclip_core.registry import Registry

# The encoders import their writers when called: `catalogs.rows` and the report read this registry,
# and must not pay for the export package (the renderer, torch) to learn the kinds' names.

if TYPE_CHECKING:
    from flexiclip_core.export.images import PosterChoice
    from flexiclip_core.export.svg_anim import SvgCalcMode


class EncodeSettings(Protocol):
    """The `ExportConfig` fields encoders read (`profiles` imports this module, so the config is
    named by what it offers)."""

    @property
    def fps(self) -> float: ...
    @property
    def mp4_crf(self) -> int: ...
    @property
    def webm_lossless(self) -> bool: ...
    @property
    def webm_crf(self) -> int: ...
    @property
    def webp_lossless(self) -> bool: ...
    @property
    def svg_calc_mode(self) -> SvgCalcMode: ...
    @property
    def poster(self) -> PosterChoice: ...
    @property
    def frame_pngs(self) -> bool: ...


@dataclass(frozen=True)
class EncodeJob:
    """One size of one animation, as every encoder sees it."""

    clipart: Clipart
    frame_points: np.ndarray  # [N, P, 2] canvas px
    frame_clip_points: np.ndarray | None  # [N, C, 2] canvas px, or None (clip outlines at rest)
    frames: np.ndarray | None  # uint8 [N, S, S, 4] straight RGBA over transparency; None: no pixels needed
    size: int  # S, px
    poster_index: int
    background: tuple[int, int, int] | None  # None: transparent
    settings: EncodeSettings
    clip: str | None

    @property
    def pixels(self) -> np.ndarray:
        if self.frames is None:
            raise ValueError("this export rendered no frames (no kind asked for pixels)")
        return self.frames

    @cached_property
    def with_background(self) -> np.ndarray:
        """The frames over ``background`` (opaque, alpha 255), or as they are when transparent."""
        from flexiclip_core.export.video import composite_over

        if self.background is None:
            return self.pixels
        opaque = composite_over(self.pixels, self.background)
        return np.concatenate([opaque, np.full(opaque.shape[:-1] + (1,), 255, np.uint8)], axis=-1)

    @property
    def opaque_under(self) -> tuple[int, int, int]:
        """What formats without (full) alpha are composited over."""
        return self.background or (255, 255, 255)


Encoder = Callable[[EncodeJob, Path], Path]
"""Writes one kind to the given path (file or folder) and returns it."""


@dataclass(frozen=True)
class OutputKind:
    """One output format of a clip."""

    name: str
    """Key in `ExportConfig.formats`, in the returned paths and of the ``<name>_uri`` column."""
    file_name: str
    """File (or folder) name in a clip's export folder."""
    label: str
    """Link text in the run report's downloads."""
    encode: Encoder | None = None
    """Writer of the kind; None for files the pipeline writes around the export."""
    media_suffix: str | None = None
    """Suffix of the published content-addressed object; None: not published (``frames``)."""
    raster: bool = False
    """Drawn from the rendered pixels (repeated for each of `ExportConfig.extra_sizes`)."""
    default: bool = False
    """In the default export (`ExportConfig.formats`'s default)."""
    needs_pixels: Callable[[EncodeSettings], bool] | None = None
    """Whether writing it needs the rendered frames (default: when ``raster``)."""

    def wants_pixels(self, settings: EncodeSettings) -> bool:
        return self.needs_pixels(settings) if self.needs_pixels is not None else self.raster


def _video(job: EncodeJob, path: Path) -> Path:
    from flexiclip_core.export.video import write_mp4

    settings = job.settings
    return write_mp4(
        job.pixels, path, settings.fps, crf=settings.mp4_crf, background_rgb=job.opaque_under, clip=job.clip
    )


def _gif(job: EncodeJob, path: Path) -> Path:
    from flexiclip_core.export.images import write_gif

    return write_gif(job.pixels, path, job.settings.fps, background_rgb=job.opaque_under, clip=job.clip)


def _svg_animation(job: EncodeJob, path: Path) -> Path:
    from flexiclip_core.export.svg_anim import write_animated_svg

    return write_animated_svg(
        job.clipart,
        job.frame_points,
        path,
        job.settings.fps,
        size=job.size,
        calc_mode=job.settings.svg_calc_mode,
        frame_clip_points=job.frame_clip_points,
    )


def _frames(job: EncodeJob, folder: Path) -> Path:
    from flexiclip_core.export.files import remove_stale_frames
    from flexiclip_core.export.images import write_frame_pngs
    from flexiclip_core.export.svg_anim import write_frame_svgs

    written = write_frame_svgs(
        job.clipart, job.frame_points, folder, size=job.size, frame_clip_points=job.frame_clip_points
    )
    if job.settings.frame_pngs and job.frames is not None:
        written += write_frame_pngs(job.with_background, folder, clip=job.clip)
    remove_stale_frames(folder, {p.name for p in written})
    return folder


def _poster(job: EncodeJob, path: Path) -> Path:
    from flexiclip_core.export.images import write_poster

    return write_poster(job.with_background[job.poster_index], path, clip=job.clip)


def _lottie(job: EncodeJob, path: Path) -> Path:
    from flexiclip_core.export.lottie import write_lottie

    return write_lottie(
        job.clipart, job.frame_points, path, job.settings.fps, size=job.size, frame_clip_points=job.frame_clip_points
    )


def _webm(job: EncodeJob, path: Path) -> Path:
    from flexiclip_core.export.video import write_webm

    settings = job.settings
    return write_webm(
        job.with_background, path, settings.fps, lossless=settings.webm_lossless, crf=settings.webm_crf, clip=job.clip
    )


def _webp(job: EncodeJob, path: Path) -> Path:
    from flexiclip_core.export.images import write_webp

    return write_webp(job.with_background, path, job.settings.fps, lossless=job.settings.webp_lossless, clip=job.clip)


def _apng(job: EncodeJob, path: Path) -> Path:
    from flexiclip_core.export.images import write_apng

    return write_apng(job.with_background, path, job.settings.fps, clip=job.clip)


OUTPUT_KINDS: Registry[OutputKind] = Registry("output kind")
"""Every output kind by name, in order: the export's formats, then what the pipeline adds."""

for _kind in (
    OutputKind("video", "video.mp4", "MP4", _video, ".mp4", raster=True, default=True),
    OutputKind("gif", "animation.gif", "GIF", _gif, ".gif", raster=True, default=True),
    OutputKind("svg_animation", "animation.svg", "SVG", _svg_animation, ".svg", default=True),
    OutputKind("frames", "frames", "frames", _frames, None, default=True, needs_pixels=lambda s: s.frame_pngs),
    OutputKind("poster", "poster.png", "poster", _poster, ".png", raster=True, default=True),
    OutputKind("lottie", "animation.json", "Lottie", _lottie, ".json", default=True),
    OutputKind("webm", "video.webm", "WebM", _webm, ".webm", raster=True, default=True),
    OutputKind("webp", "animation.webp", "WebP", _webp, ".webp", raster=True, default=True),
    # Not in the default set: animated WebP does the same job smaller.
    OutputKind("apng", "animation.apng", "APNG", _apng, ".apng", raster=True),
    # What a dataset sample needs beside the renderings: per-frame arrays, config.json, the input SVG.
    OutputKind("motion", "motion.npz", "motion", media_suffix=".npz"),
    OutputKind("config", "config.json", "config", media_suffix=".json"),
    OutputKind("source_svg", "source.svg", "source SVG", media_suffix=".svg"),
):
    OUTPUT_KINDS.register(_kind.name)(_kind)


def export_kinds() -> list[OutputKind]:
    """The kinds `export_animation` can write (those with an encoder), in registry order."""
    return [kind for kind in OUTPUT_KINDS.values() if kind.encode is not None]
