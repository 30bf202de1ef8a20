"""Exact, anti-aliased, non-differentiable rasteriser of a `Clipart` (render.md, "Final renderer").

Output frames are drawn from the (deformed) vector shapes with cairo, straight from the cubic
control points — no SVG round trip — at any requested size. The same renderer is the reference
the differentiable training renderer is tested against.

SVG painting semantics: shapes in paint order; each shape is filled (open subpaths implicitly
closed by a straight line, the fill rule applied over all its subpaths together) and then
stroked (width, caps, joins, miter limit, dashes); colours carry their opacity and composite
with "over". The 256² working canvas is scaled uniformly to ``size``.

Images are uint8 ``[H, W, 4]`` straight (non-premultiplied) RGBA, row 0 at the top.
"""

from __future__ import annotations

import logging
from typing import Literal, Protocol

import cairocffi as cairo
import numpy as np

from flexiclip_core.clipart import Clipart, Shape, Stroke
from flexiclip_core.errors import RenderError
from flexiclip_core.registry import Registry

logger = logging.getLogger(__name__)

Background = Literal["white", "transparent"]

MAX_RENDER_SIZE = 8192
"""Largest output side accepted (a 8192² RGBA frame is 256 MiB)."""

_FILL_RULES = {"nonzero": cairo.FILL_RULE_WINDING, "evenodd": cairo.FILL_RULE_EVEN_ODD}
_LINE_CAPS = {"butt": cairo.LINE_CAP_BUTT, "round": cairo.LINE_CAP_ROUND, "square": cairo.LINE_CAP_SQUARE}
_LINE_JOINS = {"miter": cairo.LINE_JOIN_MITER, "round": cairo.LINE_JOIN_ROUND, "bevel": cairo.LINE_JOIN_BEVEL}


class FinalRenderer(Protocol):
    """An exact rasteriser of a clipart at a given pose."""

    def render(
        self,
        clipart: Clipart,
        size: int = 256,
        *,
        points: np.ndarray | None = None,  # [P, 2] canvas px
        background: Background = "white",
    ) -> np.ndarray:  # uint8 [size, size, 4] straight RGBA
        ...

    def render_frames(
        self,
        clipart: Clipart,
        frame_points: np.ndarray,  # [N, P, 2] canvas px
        size: int = 256,
        *,
        background: Background = "white",
    ) -> np.ndarray:  # uint8 [N, size, size, 4] straight RGBA
        ...


FINAL_RENDERERS: Registry[FinalRenderer] = Registry("final renderer")
"""Final renderers by name; configs select one with e.g. ``final_renderer: cairo``."""


def _check_size(size: int, clip: str) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise RenderError(f"render size must be an integer, got {size!r}", clip=clip)
    if not 1 <= int(size) <= MAX_RENDER_SIZE:
        raise RenderError(f"render size must be in [1, {MAX_RENDER_SIZE}], got {size}", clip=clip)
    return int(size)


def _check_background(background: str, clip: str) -> None:
    if background not in ("white", "transparent"):
        raise RenderError(f"background must be 'white' or 'transparent', got {background!r}", clip=clip)


def _pose_points(clipart: Clipart, points: np.ndarray | None) -> np.ndarray:
    """The [P, 2] float64 control points to draw, validated."""
    clip = clipart.source or None
    if points is None:
        pose = clipart.control_points()
    else:
        pose = np.asarray(points, dtype=np.float64)
        if pose.shape != (clipart.point_count, 2):
            raise RenderError(
                f"points must have shape ({clipart.point_count}, 2), got {tuple(pose.shape)}", clip=clip
            )
    if not np.all(np.isfinite(pose)):
        # Name the first shape holding a non-finite point, so the message points at the element.
        bad = int(np.argmax(~np.all(np.isfinite(pose), axis=1)))
        offset = 0
        for shape in clipart.shapes:
            if bad < offset + shape.point_count:
                raise RenderError("non-finite control point", clip=clip, element=shape.element or None)
            offset += shape.point_count
        raise RenderError("non-finite control point", clip=clip)
    return pose


def _dash_pattern(stroke: Stroke) -> list[float]:
    """Cairo dash list for an SVG dash array; empty means solid (SVG error cases included)."""
    dashes = [float(d) for d in stroke.dash_array]
    if not dashes or any(d < 0 or not np.isfinite(d) for d in dashes) or sum(dashes) <= 0:
        return []
    if len(dashes) % 2 == 1:
        dashes = dashes * 2  # SVG repeats an odd list to make it even
    return dashes


def _append_shape_path(context: cairo.Context, shape: Shape, pose: np.ndarray, offset: int) -> int:
    """Add the shape's subpaths (from ``pose`` starting at ``offset``) to the current path."""
    for subpath in shape.subpaths:
        n = len(subpath.points)
        pts = pose[offset : offset + n]
        offset += n
        if n == 0:
            continue
        context.move_to(float(pts[0, 0]), float(pts[0, 1]))
        for i in range(1, n - 2, 3):
            context.curve_to(
                float(pts[i, 0]), float(pts[i, 1]),
                float(pts[i + 1, 0]), float(pts[i + 1, 1]),
                float(pts[i + 2, 0]), float(pts[i + 2, 1]),
            )
        if subpath.closed:
            context.close_path()
    return offset


def _paint_shape(context: cairo.Context, shape: Shape) -> None:
    """Fill then stroke the current path with the shape's paint, leaving no path behind."""
    fill = shape.fill
    stroke = shape.stroke
    if stroke is not None and (stroke.width <= 0 or stroke.opacity <= 0):
        stroke = None
    if fill is not None and fill.opacity > 0:
        context.set_fill_rule(_FILL_RULES[fill.rule])
        context.set_source_rgba(*(float(c) for c in fill.rgb), float(fill.opacity))
        context.fill_preserve()
    if stroke is not None:
        context.set_source_rgba(*(float(c) for c in stroke.rgb), float(stroke.opacity))
        context.set_line_width(float(stroke.width))
        context.set_line_cap(_LINE_CAPS[stroke.linecap])
        context.set_line_join(_LINE_JOINS[stroke.linejoin])
        context.set_miter_limit(max(1.0, float(stroke.miter_limit)))
        context.set_dash(_dash_pattern(stroke), float(stroke.dash_offset))
        context.stroke_preserve()
    context.new_path()


def _draw(surface: cairo.ImageSurface, clipart: Clipart, pose: np.ndarray, size: int, background: Background) -> None:
    context = cairo.Context(surface)
    context.set_operator(cairo.OPERATOR_SOURCE)
    if background == "white":
        context.set_source_rgba(1.0, 1.0, 1.0, 1.0)
    else:
        context.set_source_rgba(0.0, 0.0, 0.0, 0.0)
    context.paint()
    context.set_operator(cairo.OPERATOR_OVER)
    context.set_antialias(cairo.ANTIALIAS_GRAY)
    scale = size / float(clipart.canvas_size)
    context.scale(scale, scale)
    offset = 0
    for shape in clipart.shapes:
        offset = _append_shape_path(context, shape, pose, offset)
        _paint_shape(context, shape)
    surface.flush()


def _surface_to_rgba(surface: cairo.ImageSurface, size: int) -> np.ndarray:
    """Cairo's premultiplied native-endian ARGB32 → straight uint8 RGBA [size, size, 4]."""
    stride = surface.get_stride()
    raw = np.frombuffer(surface.get_data(), dtype=np.uint8).reshape(size, stride)[:, : size * 4]
    argb = raw.reshape(size, size, 4).view(np.uint32)[..., 0]  # native-endian 0xAARRGGBB words
    alpha = ((argb >> 24) & 0xFF).astype(np.uint16)
    premultiplied = np.stack([(argb >> 16) & 0xFF, (argb >> 8) & 0xFF, argb & 0xFF], axis=-1).astype(np.uint16)
    safe_alpha = np.maximum(alpha, 1)[..., None]
    straight = (premultiplied * 255 + safe_alpha // 2) // safe_alpha
    straight = np.where(alpha[..., None] > 0, np.minimum(straight, 255), 0)
    return np.concatenate([straight, alpha[..., None]], axis=-1).astype(np.uint8)


class CairoRenderer:
    """Final renderer on cairo (cairocffi), gray anti-aliasing (analytic area coverage)."""

    name = "cairo"

    def render(
        self,
        clipart: Clipart,
        size: int = 256,
        *,
        points: np.ndarray | None = None,  # [P, 2] canvas px
        background: Background = "white",
    ) -> np.ndarray:  # uint8 [size, size, 4] straight RGBA
        clip = clipart.source or None
        size = _check_size(size, clip)
        _check_background(background, clip)
        pose = _pose_points(clipart, points)
        surface = cairo.ImageSurface(cairo.FORMAT_ARGB32, size, size)
        _draw(surface, clipart, pose, size, background)
        return _surface_to_rgba(surface, size)

    def render_frames(
        self,
        clipart: Clipart,
        frame_points: np.ndarray,  # [N, P, 2] canvas px
        size: int = 256,
        *,
        background: Background = "white",
    ) -> np.ndarray:  # uint8 [N, size, size, 4] straight RGBA
        clip = clipart.source or None
        size = _check_size(size, clip)
        _check_background(background, clip)
        frame_points = np.asarray(frame_points, dtype=np.float64)
        if frame_points.ndim != 3 or frame_points.shape[1:] != (clipart.point_count, 2):
            raise RenderError(
                f"frame_points must have shape (N, {clipart.point_count}, 2), got {tuple(frame_points.shape)}",
                clip=clip,
            )
        frames = np.empty((len(frame_points), size, size, 4), dtype=np.uint8)
        surface = cairo.ImageSurface(cairo.FORMAT_ARGB32, size, size)
        for index, points in enumerate(frame_points):
            pose = _pose_points(clipart, points)
            _draw(surface, clipart, pose, size, background)
            frames[index] = _surface_to_rgba(surface, size)
        return frames


FINAL_RENDERERS.register("cairo")(CairoRenderer())


def render_clipart(
    clipart: Clipart,
    size: int = 256,
    *,
    points: np.ndarray | None = None,  # [P, 2] canvas px; replaces the control points (a deformed pose)
    background: Background = "white",
    renderer: str = "cairo",
) -> np.ndarray:  # uint8 [size, size, 4] straight RGBA
    """Rasterise ``clipart`` (at pose ``points``, else its rest pose) to a ``size``² image."""
    return FINAL_RENDERERS.get(renderer).render(clipart, size, points=points, background=background)


def render_frames(
    clipart: Clipart,
    frame_points: np.ndarray,  # [N, P, 2] canvas px
    size: int = 256,
    *,
    background: Background = "white",
    renderer: str = "cairo",
) -> np.ndarray:  # uint8 [N, size, size, 4] straight RGBA
    """Rasterise one frame per pose in ``frame_points``."""
    return FINAL_RENDERERS.get(renderer).render_frames(clipart, frame_points, size, background=background)


def render_clipart_float(
    clipart: Clipart,
    size: int = 256,
    *,
    points: np.ndarray | None = None,  # [P, 2] canvas px
    background: Background = "white",
    renderer: str = "cairo",
) -> np.ndarray:  # float32 [size, size, 4] straight RGBA in [0, 1]
    """`render_clipart` as float32 in [0, 1] (8-bit precision), for comparisons in tests."""
    image = render_clipart(clipart, size, points=points, background=background, renderer=renderer)
    return image.astype(np.float32) / 255.0
