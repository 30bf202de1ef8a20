"""Vector outputs as SVG: one standalone SVG per pose and a SMIL-animated SVG (docs/method.md §11).

The deformed cubic paths are written as they are (M/C/Z, 3-decimal numbers), one ``<path>``
per shape in paint order, with the shape's fill and stroke attributes; no script is needed to
play the animated SVG. A gradient paint is written as a ``userSpaceOnUse`` gradient just before
its path, its geometry in gradient space and its frame as ``gradientTransform``, carried into
each pose by `posed_paint` (docs/render.md §11); the animated SVG animates that transform with
``<animateTransform>`` (translate, rotate, skewX, scale per frame). A clipped shape's regions
become a chain of ``<clipPath>`` elements (each clipped by the next, i.e. their intersection) at
the posed clip points, animated like the paths (docs/render.md §12).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from flexiclip_core.clipart import Clipart, ClipRegion, Fill, Gradient, LinearGradient, Shape, Stroke
from flexiclip_core.errors import ExportError
from flexiclip_core.export.files import (
    check_clip_poses,
    check_fps,
    check_frame_points,
    check_pose,
    frame_name,
    write_text_atomic,
)
from flexiclip_core.paint_motion import posed_paint

SvgCalcMode = Literal["discrete", "linear"]
"""SMIL interpolation of the animated SVG (`ExportConfig.svg_calc_mode`)."""


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


def _precise(value: float) -> str:
    """7 significant digits: gradient geometry and frames may be in any units."""
    text = f"{float(value):.7g}"
    return "0" if text == "-0" else text


def _gradient_id(index: int, role: str) -> str:
    return f"shape-{index}-{role}"


def _gradient_element(gradient: Gradient, gradient_id: str, animation: str = "") -> str:
    """A ``userSpaceOnUse`` gradient element (its geometry in gradient space, its frame as
    ``gradientTransform``), with ``animation`` children if any."""
    matrix = gradient.matrix()
    transform = "matrix(" + " ".join(_precise(v) for v in matrix[:2].T.reshape(-1)) + ")"
    if isinstance(gradient, LinearGradient):
        tag = "linearGradient"
        geometry = {"x1": gradient.x1, "y1": gradient.y1, "x2": gradient.x2, "y2": gradient.y2}
    else:
        tag = "radialGradient"
        geometry = {
            "cx": gradient.cx,
            "cy": gradient.cy,
            "r": gradient.r,
            "fx": gradient.fx,
            "fy": gradient.fy,
            "fr": gradient.fr,
        }
    attributes = " ".join(f'{name}="{_precise(value)}"' for name, value in geometry.items())
    stops = "".join(
        f'<stop offset="{_number_fine(stop.offset)}" stop-color="{_colour(stop.rgb)}"'
        + (f' stop-opacity="{_number_fine(stop.alpha)}"' if stop.alpha < 1 else "")
        + "/>"
        for stop in gradient.stops
    )
    return (
        f'<{tag} id="{gradient_id}" gradientUnits="userSpaceOnUse" {attributes} gradientTransform="{transform}" '
        f'spreadMethod="{gradient.spread}">{stops}{animation}</{tag}>'
    )


def _gradient_defs(index: int, fill: Fill | None, stroke: Stroke | None) -> list[str]:
    """``<defs>`` of the shape's gradients in one pose (none without gradients)."""
    elements = [
        _gradient_element(paint.gradient, _gradient_id(index, role))
        for paint, role in ((fill, "fill"), (stroke, "stroke"))
        if paint is not None and paint.gradient is not None
    ]
    return ["<defs>" + "".join(elements) + "</defs>"] if elements else []


def _decomposed(matrix: np.ndarray) -> tuple[float, float, float, float, float, float]:
    """An invertible affine [3, 3] as translate(tx, ty) rotate(θ°) skewX(φ°) scale(sx, sy)."""
    linear = matrix[:2, :2]
    angle = math.atan2(linear[1, 0], linear[0, 0])
    cos, sin = math.cos(angle), math.sin(angle)
    upper = np.array([[cos, sin], [-sin, cos]]) @ linear  # R(−θ)·L = [[sx, k], [0, sy]]
    sx, k, sy = float(upper[0, 0]), float(upper[0, 1]), float(upper[1, 1])
    skew = math.degrees(math.atan(k / sy))
    return float(matrix[0, 2]), float(matrix[1, 2]), math.degrees(angle), skew, sx, sy


def _transform_animation(gradients: list[Gradient], timing: str, closing: bool) -> str:
    """``<animateTransform>`` elements replaying the gradients' frames (one value per pose; the
    rotation unwrapped so linear interpolation takes the short way)."""
    parts = np.array([_decomposed(g.matrix()) for g in gradients])  # [N, 6]
    parts[:, 2] = np.degrees(np.unwrap(np.radians(parts[:, 2])))
    if closing:
        parts = np.concatenate([parts, parts[:1]])
    columns = {
        "translate": [f"{_precise(tx)} {_precise(ty)}" for tx, ty in parts[:, :2]],
        "rotate": [_precise(v) for v in parts[:, 2]],
        "skewX": [_precise(v) for v in parts[:, 3]],
        "scale": [f"{_precise(sx)} {_precise(sy)}" for sx, sy in parts[:, 4:6]],
    }
    return "".join(
        f'<animateTransform attributeName="gradientTransform" type="{kind}" '
        f'additive="{"replace" if position == 0 else "sum"}" {timing} values="{";".join(values)}"/>'
        for position, (kind, values) in enumerate(columns.items())
    )


def _paint_attributes(
    shape: Shape, index: int | None = None, posed: tuple[Fill | None, Stroke | None] | None = None
) -> str:
    """Paint attributes of the shape, or of its ``posed`` fill and stroke; with ``index``,
    gradients refer to that shape's gradient elements."""
    attributes: list[tuple[str, str]] = []
    fill, stroke = (shape.fill, shape.stroke) if posed is None else posed
    if fill is None:
        attributes.append(("fill", "none"))
    else:
        if fill.gradient is not None and index is not None:
            attributes.append(("fill", f"url(#{_gradient_id(index, 'fill')})"))
            if fill.gradient.opacity < 1:
                attributes.append(("fill-opacity", _number_fine(fill.gradient.opacity)))
        else:
            attributes.append(("fill", _colour(fill.rgb)))
            if fill.opacity < 1:
                attributes.append(("fill-opacity", _number_fine(fill.opacity)))
        if fill.rule != "nonzero":
            attributes.append(("fill-rule", fill.rule))
    if stroke is None or stroke.width <= 0:
        attributes.append(("stroke", "none"))
    else:
        if stroke.gradient is not None and index is not None:
            attributes += [("stroke", f"url(#{_gradient_id(index, 'stroke')})")]
            opacity = stroke.gradient.opacity
        else:
            attributes += [("stroke", _colour(stroke.rgb))]
            opacity = stroke.opacity
        attributes.append(("stroke-width", _number(stroke.width)))
        if opacity < 1:
            attributes.append(("stroke-opacity", _number_fine(opacity)))
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
    clip_poses = check_clip_poses(clipart, None if clip_points is None else np.asarray(clip_points)[None], 1)
    lines = _svg_open(clipart, size)
    defs, clip_references = _clip_paths(clipart, clip_poses, None)
    lines += defs
    offset = 0
    for index, shape in enumerate(clipart.shapes):
        start = offset
        d, offset = _path_data(shape, pose, offset)
        posed = posed_paint(shape, pose[start:offset])
        lines.extend(_gradient_defs(index, *posed))
        clipped = clip_references.get(index, "")
        lines.append(f'<path id="shape-{index}" d="{d}" {_paint_attributes(shape, index, posed)}{clipped}/>')
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
    timing = f'dur="{_number_fine(duration_s)}s" repeatCount="indefinite" calcMode="{calc_mode}" keyTimes="{key_times}"'
    defs, clip_references = _clip_paths(clipart, check_clip_poses(clipart, frame_clip_points, frame_count), timing)
    lines += defs
    offsets = np.zeros(frame_count, dtype=np.int64)
    for index, shape in enumerate(clipart.shapes):
        per_frame = []
        start = int(offsets[0])
        for frame in range(frame_count):
            d, offsets[frame] = _path_data(shape, frame_points[frame], int(offsets[frame]))
            per_frame.append(d)
        lines.extend(_animated_gradient_defs(index, shape, frame_points[:, start : int(offsets[0])], timing, calc_mode))
        clipped = clip_references.get(index, "")
        attributes = f'id="shape-{index}" d="{per_frame[0]}" {_paint_attributes(shape, index)}{clipped}'
        if frame_count == 1 or all(d == per_frame[0] for d in per_frame):
            lines.append(f"<path {attributes}/>")
            continue
        values = per_frame + ([per_frame[0]] if calc_mode == "linear" else [])
        lines.append(f"<path {attributes}>")
        lines.append(f'<animate attributeName="d" {timing} values="{";".join(values)}"/>')
        lines.append("</path>")
    lines.append("</svg>")
    return "\n".join(lines) + "\n"


def _animated_gradient_defs(
    index: int,
    shape: Shape,
    shape_frames: np.ndarray,  # [N, n, 2] the shape's control points per frame
    timing: str,
    calc_mode: SvgCalcMode,
) -> list[str]:
    """``<defs>`` of the shape's gradients at frame 0, their frames animated when they move (a
    frame whose pose collapses the shape keeps the rest frame)."""
    posed = [posed_paint(shape, points) for points in shape_frames]
    elements = []
    for position, role, paint in ((0, "fill", shape.fill), (1, "stroke", shape.stroke)):
        if paint is None or paint.gradient is None:
            continue
        frames: list[Gradient] = []
        for pose in posed:
            moved = pose[position]
            frames.append(paint.gradient if moved is None or moved.gradient is None else moved.gradient)
        moves = any(not np.array_equal(g.frame, frames[0].frame) for g in frames[1:])
        animation = _transform_animation(frames, timing, calc_mode == "linear") if moves else ""
        elements.append(_gradient_element(frames[0], _gradient_id(index, role), animation))
    return ["<defs>" + "".join(elements) + "</defs>"] if elements else []


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
    clip_poses = check_clip_poses(clipart, frame_clip_points, len(frame_points))
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
