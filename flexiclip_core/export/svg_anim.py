"""Vector outputs as SVG: one standalone SVG per pose and a SMIL-animated SVG (docs/method.md §11).

The deformed cubic paths are written as they are (M/C/Z, 3-decimal numbers), one ``<path>``
per shape in paint order, with the shape's fill and stroke attributes; no script is needed to
play the animated SVG. A clipped shape's regions become a chain of ``<clipPath>`` elements (each
clipped by the next, i.e. their intersection) at the posed clip points, animated like the paths
(docs/render.md §11).
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from flexiclip_core.clipart import Clipart, ClipRegion, Shape
from flexiclip_core.errors import ExportError
from flexiclip_core.export.files import check_fps, check_frame_points, check_pose, frame_name, write_text_atomic
from flexiclip_core.export.profiles import SvgCalcMode


def _number(value: float) -> str:
    """3-decimal number without trailing zeros (``12.5``, ``-3``, ``0.125``)."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _colour(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(min(max(float(c), 0.0), 1.0) * 255):02x}" for c in rgb)


def _path_data(shape: Shape | ClipRegion, pose: np.ndarray, offset: int) -> tuple[str, int]:
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


def _clip_poses(clipart: Clipart, frame_clip_points: np.ndarray | None, frames: int) -> np.ndarray:
    """[N, C, 2] posed clip points: ``frame_clip_points`` checked, or the rest pose each frame."""
    count = clipart.clip_point_count
    if frame_clip_points is None:
        return np.broadcast_to(clipart.clip_points(), (frames, count, 2))
    poses = np.asarray(frame_clip_points, dtype=np.float64)
    if poses.shape != (frames, count, 2) or not np.all(np.isfinite(poses)):
        raise ExportError(
            f"frame_clip_points must be finite, of shape ({frames}, {count}, 2), got {tuple(poses.shape)}",
            clip=clipart.source or None,
        )
    return poses


def _clip_paths(clipart: Clipart, poses: np.ndarray, animate: str | None) -> tuple[list[str], dict[int, str]]:
    """``<defs>`` lines of every clipped shape's regions at ``poses`` [N, C, 2] (frame 0 static,
    ``animate`` the SMIL attributes after ``attributeName="d"`` when the outline moves) and the
    ``clip-path`` value of each clipped shape index."""
    lines: list[str] = []
    references: dict[int, str] = {}
    offsets = np.zeros(len(poses), dtype=np.int64)
    for index, shape in enumerate(clipart.shapes):
        regions = shape.clip or ()
        for level, region in enumerate(regions):
            per_frame = []
            for frame in range(len(poses)):
                d, offsets[frame] = _path_data(region, poses[frame], int(offsets[frame]))
                per_frame.append(d)
            nested = f' clip-path="url(#clip-{index}-{level + 1})"' if level + 1 < len(regions) else ""
            lines.append(f'<clipPath id="clip-{index}-{level}"{nested}>')
            path = f'<path d="{per_frame[0]}" clip-rule="{region.rule}"'
            if animate is None or all(d == per_frame[0] for d in per_frame):
                lines.append(path + "/>")
            else:
                values = per_frame + ([per_frame[0]] if 'calcMode="linear"' in animate else [])
                lines += [path + ">", f'<animate attributeName="d" {animate} values="{";".join(values)}"/>', "</path>"]
            lines.append("</clipPath>")
        if regions:
            references[index] = f' clip-path="url(#clip-{index}-0)"'
    return (["<defs>", *lines, "</defs>"] if lines else []), references


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


def clipart_to_svg(
    clipart: Clipart,
    points: np.ndarray | None = None,
    *,
    size: int | None = None,
    clip_points: np.ndarray | None = None,  # [C, 2] canvas px: the posed clip outlines
) -> str:
    """A standalone SVG document of ``clipart`` at pose ``points`` [P, 2] (else its rest pose).

    viewBox is the 256² working canvas; ``size`` sets width/height in px (default: 256).
    One ``<path>`` per shape in paint order, ``d`` made of M/C/Z with 3-decimal numbers.
    """
    pose = check_pose(clipart, points)
    clip_poses = _clip_poses(clipart, None if clip_points is None else np.asarray(clip_points)[None], 1)
    lines = _svg_open(clipart, size)
    defs, clip_references = _clip_paths(clipart, clip_poses, None)
    lines += defs
    offset = 0
    for index, shape in enumerate(clipart.shapes):
        d, offset = _path_data(shape, pose, offset)
        clipped = clip_references.get(index, "")
        lines.append(f'<path id="shape-{index}" d="{d}" {_paint_attributes(shape)}{clipped}/>')
    lines.append("</svg>")
    return "\n".join(lines) + "\n"


def animated_svg(
    clipart: Clipart,
    frame_points: np.ndarray,  # [N, P, 2] canvas px
    fps: float,
    *,
    size: int | None = None,
    calc_mode: SvgCalcMode = "discrete",
    frame_clip_points: np.ndarray | None = None,  # [N, C, 2] canvas px: posed clip outlines
) -> str:
    """SVG document that plays the frames with SMIL ``<animate attributeName="d">`` (no script).

    Each path whose shape changes gets one keyframe per frame (``discrete``: frame i shows from
    i/N of the loop; ``linear``: morphs, plus frame 0 again at keyTime 1 to close the loop);
    its static ``d`` is frame 0, what a viewer without SMIL shows.
    """
    frame_points = check_frame_points(clipart, frame_points)
    check_fps(fps, ExportError)
    if calc_mode not in ("discrete", "linear"):
        raise ExportError(f"calc_mode must be 'discrete' or 'linear', got {calc_mode!r}", clip=clipart.source or None)
    frame_count = len(frame_points)
    duration_s = frame_count / fps
    if calc_mode == "discrete":
        key_times = ";".join(_number_fine(i / frame_count) for i in range(frame_count))
    else:
        key_times = ";".join(_number_fine(i / frame_count) for i in range(frame_count + 1))
    lines = _svg_open(clipart, size)
    smil = f'dur="{_number_fine(duration_s)}s" repeatCount="indefinite" calcMode="{calc_mode}" keyTimes="{key_times}"'
    defs, clip_references = _clip_paths(clipart, _clip_poses(clipart, frame_clip_points, frame_count), smil)
    lines += defs
    offsets = np.zeros(frame_count, dtype=np.int64)
    for index, shape in enumerate(clipart.shapes):
        per_frame = []
        for frame in range(frame_count):
            d, offsets[frame] = _path_data(shape, frame_points[frame], int(offsets[frame]))
            per_frame.append(d)
        attributes = f'id="shape-{index}" d="{per_frame[0]}" {_paint_attributes(shape)}{clip_references.get(index, "")}'
        if frame_count == 1 or all(d == per_frame[0] for d in per_frame):
            lines.append(f"<path {attributes}/>")
            continue
        values = per_frame + ([per_frame[0]] if calc_mode == "linear" else [])
        lines.append(f"<path {attributes}>")
        lines.append(f'<animate attributeName="d" {smil} values="{";".join(values)}"/>')
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
    frame_clip_points: np.ndarray | None = None,  # [N, C, 2] canvas px: posed clip outlines
) -> Path:
    """Write `animated_svg` to ``path``."""
    text = animated_svg(clipart, frame_points, fps, size=size, calc_mode=calc_mode, frame_clip_points=frame_clip_points)
    return write_text_atomic(Path(path), text, clipart.source or None)


def write_frame_svgs(
    clipart: Clipart,
    frame_points: np.ndarray,  # [N, P, 2] canvas px
    out_dir: str | Path,
    *,
    size: int | None = None,
    frame_clip_points: np.ndarray | None = None,  # [N, C, 2] canvas px: posed clip outlines
) -> list[Path]:
    """Write ``out_dir/frame_000.svg`` … one standalone SVG per frame; returns their paths."""
    frame_points = check_frame_points(clipart, frame_points)
    clip_poses = _clip_poses(clipart, frame_clip_points, len(frame_points))
    out_dir = Path(out_dir)
    paths = [
        write_text_atomic(
            out_dir / frame_name(i, len(frame_points), "svg"),
            clipart_to_svg(clipart, pose, size=size, clip_points=clip_poses[i]),
            clipart.source or None,
        )
        for i, pose in enumerate(frame_points)
    ]
    return paths
