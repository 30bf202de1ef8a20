"""Output formats of an animation (docs/method.md §11): MP4, GIF, animated SVG, per-frame SVGs, poster.

Raster outputs come from the exact final renderer (`render.final`) applied to the deformed
vector shapes; vector outputs write the deformed cubic paths themselves. Every file is written
atomically (a temporary name in the same folder, then a rename), so a reader never sees a half
file and a crash leaves the previous output in place; failures raise `ExportError` naming the path.

Frames use the layout of `render.final`: uint8 ``[N, H, W, 3|4]``, straight RGBA, row 0 at top.
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from flexiclip_core.clipart import Clipart, Shape
from flexiclip_core.errors import ConfigError, ExportError
from flexiclip_core.render import Background, render_frames

logger = logging.getLogger(__name__)

SvgCalcMode = Literal["discrete", "linear"]
PosterChoice = Literal["max_motion", "first"]

OUTPUT_NAMES: dict[str, str] = {
    "video": "video.mp4",
    "gif": "animation.gif",
    "svg_animation": "animation.svg",
    "frames": "frames",
    "poster": "poster.png",
}
"""File (or folder) name of each output kind inside an export folder."""

_FRAME_FILE = re.compile(r"^frame_\d+\.(svg|png)$")


@dataclass(frozen=True)
class ExportConfig:
    """How an animation is written out (sizes, timing, formats)."""

    size: int = 512
    """Side of the rendered square frames (MP4, GIF, PNG frames, poster), in px; the 256²
    working canvas is scaled to it."""
    fps: float = 10.0
    """Playback rate of every timed output. 10 fps plays the method's 24 frames as a 2.4 s loop,
    inside the 8–12 fps at which AniClipart-style clips are shown."""
    background: Background = "white"
    """Background of the PNG frames and poster; MP4 and GIF are always composited over white
    (H.264 has no alpha and GIF only 1-bit transparency); SVGs have no background."""
    svg_calc_mode: SvgCalcMode = "discrete"
    """SMIL interpolation of the animated SVG: ``discrete`` shows exactly the rendered frames
    (the same timing as the MP4/GIF); ``linear`` morphs between them and back to frame 0 at the
    loop point (one extra closing keyframe)."""
    poster: PosterChoice = "max_motion"
    """Poster frame: ``max_motion`` is the pose farthest (mean control-point displacement) from
    frame 0 — the one that best shows what the animation does; ``first`` is frame 0 (the rest
    pose when ``fix_start`` is on). A motionless animation gives frame 0 either way."""
    frame_pngs: bool = True
    """Also write ``frames/frame_XXX.png`` beside the per-frame SVGs (image sequences for
    editors and compositing tools)."""
    mp4_crf: int = 18
    """x264 constant rate factor (0 lossless … 51 worst); 18 is visually lossless for flat
    clipart colours and keeps a 24-frame 512² clip in the tens of KB."""
    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 1 <= self.size <= 8192:
            raise ConfigError(f"export size must be an integer in [1, 8192], got {self.size!r}")
        _check_fps(self.fps, ConfigError)
        if self.background not in ("white", "transparent"):
            raise ConfigError(f"export background must be 'white' or 'transparent', got {self.background!r}")
        if self.svg_calc_mode not in ("discrete", "linear"):
            raise ConfigError(f"svg_calc_mode must be 'discrete' or 'linear', got {self.svg_calc_mode!r}")
        if self.poster not in ("max_motion", "first"):
            raise ConfigError(f"poster must be 'max_motion' or 'first', got {self.poster!r}")
        if not 0 <= self.mp4_crf <= 51:
            raise ConfigError(f"mp4_crf must be in [0, 51], got {self.mp4_crf}")


def _check_fps(fps: float, error: type[Exception]) -> None:
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or not 0 < fps <= 240:
        raise error(f"fps must be a number in (0, 240], got {fps!r}")


# --- atomic writes --------------------------------------------------------------------------


def _atomic_write(path: Path, write: Callable[[Path], None], clip: str | None = None) -> Path:
    """Run ``write(temporary_path)`` in ``path``'s folder, then rename it onto ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(handle)
    except OSError as error:
        raise ExportError(f"cannot write {path}: {error}", clip=clip) from error
    temporary = Path(temporary_name)
    try:
        write(temporary)
        os.chmod(temporary, 0o644)  # mkstemp makes it owner-only; outputs are ordinary files
        os.replace(temporary, path)
    except ExportError:
        temporary.unlink(missing_ok=True)
        raise
    except Exception as error:  # noqa: BLE001 — any encoder/OS failure becomes an ExportError
        temporary.unlink(missing_ok=True)
        raise ExportError(f"cannot write {path}: {type(error).__name__}: {error}", clip=clip) from error
    return path


def write_text_atomic(path: Path, text: str, clip: str | None = None) -> Path:
    """Write UTF-8 text via a temporary file in the same folder and a rename; `ExportError` on failure."""
    return _atomic_write(path, lambda temporary: temporary.write_text(text, encoding="utf-8"), clip)


# --- SVG ------------------------------------------------------------------------------------


def _number(value: float) -> str:
    """3-decimal number without trailing zeros (``12.5``, ``-3``, ``0.125``)."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _colour(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(min(max(float(c), 0.0), 1.0) * 255):02x}" for c in rgb)


def _path_data(shape: Shape, pose: np.ndarray, offset: int) -> tuple[str, int]:
    """SVG ``d`` of ``shape`` with its points read from ``pose`` at ``offset``: M/C/Z only."""
    parts: list[str] = []
    for subpath in shape.subpaths:
        n = len(subpath.points)
        pts = pose[offset : offset + n]
        offset += n
        if n == 0:
            continue
        coords = [f"{_number(x)},{_number(y)}" for x, y in pts]
        parts.append("M" + coords[0])
        for i in range(1, n - 2, 3):
            parts.append(f"C{coords[i]} {coords[i + 1]} {coords[i + 2]}")
        if subpath.closed:
            parts.append("Z")
    return "".join(parts), offset


def _paint_attributes(shape: Shape) -> str:
    attributes: list[tuple[str, str]] = []
    fill = shape.fill
    if fill is None:
        attributes.append(("fill", "none"))
    else:
        attributes.append(("fill", _colour(fill.rgb)))
        if fill.opacity < 1:
            attributes.append(("fill-opacity", _number_fine(fill.opacity)))
        if fill.rule != "nonzero":
            attributes.append(("fill-rule", fill.rule))
    stroke = shape.stroke
    if stroke is None or stroke.width <= 0:
        attributes.append(("stroke", "none"))
    else:
        attributes += [("stroke", _colour(stroke.rgb)), ("stroke-width", _number(stroke.width))]
        if stroke.opacity < 1:
            attributes.append(("stroke-opacity", _number_fine(stroke.opacity)))
        if stroke.linecap != "butt":
            attributes.append(("stroke-linecap", stroke.linecap))
        if stroke.linejoin != "miter":
            attributes.append(("stroke-linejoin", stroke.linejoin))
        if stroke.miter_limit != 4.0:
            attributes.append(("stroke-miterlimit", _number(stroke.miter_limit)))
        if stroke.dash_array:
            attributes.append(("stroke-dasharray", " ".join(_number(d) for d in stroke.dash_array)))
            if stroke.dash_offset:
                attributes.append(("stroke-dashoffset", _number(stroke.dash_offset)))
    return " ".join(f"{name}={quoteattr(value)}" for name, value in attributes)


def _number_fine(value: float) -> str:
    """Opacities keep 4 decimals (3 would shift 8-bit alpha by up to one level)."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _pose(clipart: Clipart, points: np.ndarray | None) -> np.ndarray:
    if points is None:
        return clipart.control_points()
    pose = np.asarray(points, dtype=np.float64)
    if pose.shape != (clipart.point_count, 2):
        raise ExportError(
            f"points must have shape ({clipart.point_count}, 2), got {tuple(pose.shape)}", clip=clipart.source or None
        )
    if not np.all(np.isfinite(pose)):
        raise ExportError("non-finite control point", clip=clipart.source or None)
    return pose


def _svg_open(clipart: Clipart, size: int | None) -> list[str]:
    side = clipart.canvas_size if size is None else int(size)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{side}" height="{side}" '
        f'viewBox="0 0 {clipart.canvas_size} {clipart.canvas_size}">',
    ]
    if clipart.source:
        lines.append(f"<title>{escape(clipart.source)}</title>")
    return lines


def clipart_to_svg(clipart: Clipart, points: np.ndarray | None = None, *, size: int | None = None) -> str:
    """A standalone SVG document of ``clipart`` at pose ``points`` [P, 2] (else its rest pose).

    viewBox is the 256² working canvas; ``size`` sets width/height in px (default: 256).
    One ``<path>`` per shape in paint order, ``d`` made of M/C/Z with 3-decimal numbers.
    """
    pose = _pose(clipart, points)
    lines = _svg_open(clipart, size)
    offset = 0
    for index, shape in enumerate(clipart.shapes):
        d, offset = _path_data(shape, pose, offset)
        lines.append(f'<path id="shape-{index}" d="{d}" {_paint_attributes(shape)}/>')
    lines.append("</svg>")
    return "\n".join(lines) + "\n"


def _frame_points(clipart: Clipart, frame_points: np.ndarray) -> np.ndarray:
    frame_points = np.asarray(frame_points, dtype=np.float64)
    if frame_points.ndim != 3 or frame_points.shape[1:] != (clipart.point_count, 2) or len(frame_points) == 0:
        raise ExportError(
            f"frame_points must have shape (N ≥ 1, {clipart.point_count}, 2), got {tuple(frame_points.shape)}",
            clip=clipart.source or None,
        )
    if not np.all(np.isfinite(frame_points)):
        raise ExportError("non-finite control point in frame_points", clip=clipart.source or None)
    return frame_points


def animated_svg(
    clipart: Clipart,
    frame_points: np.ndarray,  # [N, P, 2] canvas px
    fps: float,
    *,
    size: int | None = None,
    calc_mode: SvgCalcMode = "discrete",
) -> str:
    """SVG document that plays the frames with SMIL ``<animate attributeName="d">`` (no script).

    Each path whose shape changes gets one keyframe per frame (``discrete``: frame i shows from
    i/N of the loop; ``linear``: morphs, plus frame 0 again at keyTime 1 to close the loop);
    its static ``d`` is frame 0, what a viewer without SMIL shows.
    """
    frame_points = _frame_points(clipart, frame_points)
    _check_fps(fps, ExportError)
    if calc_mode not in ("discrete", "linear"):
        raise ExportError(f"calc_mode must be 'discrete' or 'linear', got {calc_mode!r}", clip=clipart.source or None)
    frame_count = len(frame_points)
    duration_s = frame_count / fps
    if calc_mode == "discrete":
        key_times = ";".join(_number_fine(i / frame_count) for i in range(frame_count))
    else:
        key_times = ";".join(_number_fine(i / frame_count) for i in range(frame_count + 1))
    lines = _svg_open(clipart, size)
    offsets = np.zeros(frame_count, dtype=np.int64)
    for index, shape in enumerate(clipart.shapes):
        per_frame = []
        for frame in range(frame_count):
            d, offsets[frame] = _path_data(shape, frame_points[frame], int(offsets[frame]))
            per_frame.append(d)
        attributes = f'id="shape-{index}" d="{per_frame[0]}" {_paint_attributes(shape)}'
        if frame_count == 1 or all(d == per_frame[0] for d in per_frame):
            lines.append(f"<path {attributes}/>")
            continue
        values = per_frame + ([per_frame[0]] if calc_mode == "linear" else [])
        lines.append(f"<path {attributes}>")
        lines.append(
            f'<animate attributeName="d" dur="{_number_fine(duration_s)}s" repeatCount="indefinite" '
            f'calcMode="{calc_mode}" keyTimes="{key_times}" values="{";".join(values)}"/>'
        )
        lines.append("</path>")
    lines.append("</svg>")
    return "\n".join(lines) + "\n"


def write_animated_svg(
    clipart: Clipart,
    frame_points: np.ndarray,  # [N, P, 2] canvas px
    path: str | Path,
    fps: float,
    *,
    size: int | None = None,
    calc_mode: SvgCalcMode = "discrete",
) -> Path:
    """Write `animated_svg` to ``path``."""
    text = animated_svg(clipart, frame_points, fps, size=size, calc_mode=calc_mode)
    return write_text_atomic(Path(path), text, clipart.source or None)


def _frame_name(index: int, frame_count: int, suffix: str) -> str:
    digits = max(3, len(str(frame_count - 1)))
    return f"frame_{index:0{digits}d}.{suffix}"


def _remove_stale_frames(out_dir: Path, keep: set[str]) -> None:
    """Drop frame files of an earlier, longer export so the folder holds one animation."""
    for stale in out_dir.iterdir():
        if _FRAME_FILE.match(stale.name) and stale.name not in keep:
            stale.unlink(missing_ok=True)


def write_frame_svgs(
    clipart: Clipart,
    frame_points: np.ndarray,  # [N, P, 2] canvas px
    out_dir: str | Path,
    *,
    size: int | None = None,
) -> list[Path]:
    """Write ``out_dir/frame_000.svg`` … one standalone SVG per frame; returns their paths."""
    frame_points = _frame_points(clipart, frame_points)
    out_dir = Path(out_dir)
    paths = [
        write_text_atomic(out_dir / _frame_name(i, len(frame_points), "svg"), clipart_to_svg(clipart, pose, size=size),
                    clipart.source or None)
        for i, pose in enumerate(frame_points)
    ]
    return paths


def write_frame_pngs(frames: np.ndarray, out_dir: str | Path, *, clip: str | None = None) -> list[Path]:
    """Write ``out_dir/frame_000.png`` … from uint8 frames [N, H, W, 3|4]; returns their paths."""
    frames = _check_frames(frames, clip)
    out_dir = Path(out_dir)
    return [write_poster(frame, out_dir / _frame_name(i, len(frames), "png"), clip=clip) for i, frame in enumerate(frames)]


# --- raster formats -------------------------------------------------------------------------


def _check_frames(frames: np.ndarray, clip: str | None) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] not in (3, 4) or len(frames) == 0:
        raise ExportError(
            f"frames must be uint8 [N ≥ 1, H, W, 3|4], got {frames.dtype} {tuple(frames.shape)}", clip=clip
        )
    return frames


def composite_over_white(frames: np.ndarray) -> np.ndarray:
    """uint8 [..., 3|4] straight RGB(A) → uint8 [..., 3] RGB over a white background."""
    if frames.shape[-1] == 3:
        return frames
    alpha = frames[..., 3:]
    if np.all(alpha == 255):  # already over an opaque background
        return np.ascontiguousarray(frames[..., :3])
    alpha16 = alpha.astype(np.uint16)
    # rgb·a + 255·(255 − a) + 127 ≤ 65152 fits uint16; rounded division by 255.
    blended = frames[..., :3].astype(np.uint16) * alpha16 + 255 * (255 - alpha16) + 127
    return (blended // 255).astype(np.uint8)


def write_mp4(
    frames: np.ndarray,  # uint8 [N, H, W, 3|4]
    path: str | Path,
    fps: float,
    *,
    crf: int = 18,
    clip: str | None = None,
) -> Path:
    """H.264 / yuv420p MP4 (PyAV), BT.709 tagged; RGBA is composited over white, odd sizes padded
    (white) to even. ``faststart`` puts the index first so browsers start playing at once."""
    import av  # imported here: only video export needs FFmpeg's libraries

    frames = composite_over_white(_check_frames(frames, clip))
    _check_fps(fps, ExportError)
    _, height, width, _ = frames.shape
    pad_bottom, pad_right = height % 2, width % 2  # yuv420p subsamples chroma 2×2
    if pad_bottom or pad_right:
        frames = np.pad(frames, ((0, 0), (0, pad_bottom), (0, pad_right), (0, 0)), constant_values=255)

    def write(temporary: Path) -> None:
        with av.open(str(temporary), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height = frames.shape[2], frames.shape[1]
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(int(crf))}
            # Convert with the BT.709 matrix and tag it (limited range), so players need not
            # guess the colour space of an untagged stream (they guess differently).
            codec = stream.codec_context
            codec.colorspace = codec.color_primaries = codec.color_trc = 1  # AVCOL_*_BT709
            codec.color_range = 1  # AVCOL_RANGE_MPEG
            for frame in frames:
                rgb_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
                yuv_frame = rgb_frame.reformat(format="yuv420p", dst_colorspace="ITU709")
                for packet in stream.encode(yuv_frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)

    return _atomic_write(Path(path), write, clip)


def write_gif(
    frames: np.ndarray,  # uint8 [N, H, W, 3|4]
    path: str | Path,
    fps: float,
    *,
    clip: str | None = None,
) -> Path:
    """Looping (loop=0) GIF via Pillow, composited over white, adaptive palette per frame.

    Pillow merges a frame identical to the one before into it (adding its duration), so a
    motionless stretch is stored as fewer, longer frames; playback timing is unchanged.
    """
    from PIL import Image

    frames = composite_over_white(_check_frames(frames, clip))
    _check_fps(fps, ExportError)
    duration_ms = 1000.0 / fps  # GIF stores centiseconds; Pillow rounds
    images = [Image.fromarray(np.ascontiguousarray(frame)) for frame in frames]

    def write(temporary: Path) -> None:
        images[0].save(
            temporary, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms, loop=0,
            disposal=1, optimize=False,
        )

    return _atomic_write(Path(path), write, clip)


def write_poster(frame_rgba: np.ndarray, path: str | Path, *, clip: str | None = None) -> Path:
    """PNG of one uint8 frame [H, W, 3|4] (RGBA kept as RGBA)."""
    from PIL import Image

    frame = _check_frames(np.asarray(frame_rgba)[None], clip)[0]
    image = Image.fromarray(np.ascontiguousarray(frame))

    def write(temporary: Path) -> None:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        temporary.write_bytes(buffer.getvalue())

    return _atomic_write(Path(path), write, clip)


def poster_frame_index(frame_points: np.ndarray, choice: PosterChoice = "max_motion") -> int:
    """Index of the poster frame in ``frame_points`` [N, P, 2] (see `ExportConfig.poster`)."""
    frame_points = np.asarray(frame_points, dtype=np.float64)
    if choice == "first" or len(frame_points) <= 1 or frame_points.shape[1] == 0:
        return 0
    displacement = np.linalg.norm(frame_points - frame_points[:1], axis=-1).mean(axis=-1)  # [N]
    return int(np.argmax(displacement))


# --- everything -----------------------------------------------------------------------------


def export_animation(
    clipart: Clipart,
    frame_points: np.ndarray,  # [N, P, 2] canvas px
    out_dir: str | Path,
    *,
    size: int | None = None,
    fps: float | None = None,
    background: Background | None = None,
    config: ExportConfig | None = None,
) -> dict[str, Path]:
    """Write every output of one animation into ``out_dir``.

    Returns paths by kind: ``video`` (MP4), ``gif``, ``svg_animation``, ``frames`` (folder of
    frame_XXX.svg and, unless disabled, frame_XXX.png), ``poster`` (PNG). ``size``, ``fps`` and
    ``background`` override the corresponding `ExportConfig` fields.
    """
    config = config or ExportConfig()
    overrides = {k: v for k, v in (("size", size), ("fps", fps), ("background", background)) if v is not None}
    if overrides:
        try:
            config = replace(config, **overrides)
        except ConfigError as error:
            raise ExportError(error.reason, clip=clipart.source or None) from error
    clip = clipart.source or None
    frame_points = _frame_points(clipart, frame_points)
    out_dir = Path(out_dir)
    names = OUTPUT_NAMES

    frames = render_frames(clipart, frame_points, config.size, background=config.background)  # [N, S, S, 4]
    outputs: dict[str, Path] = {}
    outputs["video"] = write_mp4(frames, out_dir / names["video"], config.fps, crf=config.mp4_crf, clip=clip)
    outputs["gif"] = write_gif(frames, out_dir / names["gif"], config.fps, clip=clip)
    outputs["svg_animation"] = write_animated_svg(
        clipart, frame_points, out_dir / names["svg_animation"], config.fps, size=config.size,
        calc_mode=config.svg_calc_mode,
    )
    frames_dir = out_dir / names["frames"]
    written = write_frame_svgs(clipart, frame_points, frames_dir, size=config.size)
    if config.frame_pngs:
        written += write_frame_pngs(frames, frames_dir, clip=clip)
    _remove_stale_frames(frames_dir, {p.name for p in written})
    outputs["frames"] = frames_dir
    poster_index = poster_frame_index(frame_points, config.poster)
    outputs["poster"] = write_poster(frames[poster_index], out_dir / names["poster"], clip=clip)
    logger.info("exported %d frames of %s to %s (poster: frame %d)", len(frames), clip or "clip", out_dir, poster_index)
    return outputs
