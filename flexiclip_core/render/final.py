"""Exact, anti-aliased, non-differentiable rasteriser of a `Clipart` (docs/render.md §10).

Output frames are drawn from the (deformed) vector shapes with cairo, straight from the cubic
control points — no SVG round trip — at any requested size. The same renderer is the reference
the differentiable training renderer is tested against.

SVG painting semantics: shapes in paint order; each shape is filled (open subpaths implicitly
closed by a straight line, the fill rule applied over all its subpaths together) and then
stroked (width, caps, joins, miter limit, dashes); colours carry their opacity and composite
with "over". A shape with clip regions is painted through cairo's clip, intersected over its
regions, each with its clip rule (docs/render.md §12). The 256² working canvas is scaled uniformly to ``size``.

Images are uint8 ``[H, W, 4]`` straight (non-premultiplied) RGBA, row 0 at the top.
"""

from __future__ import annotations

import math
import sys
from collections import OrderedDict
from typing import Protocol

import cairocffi as cairo
import numpy as np

from flexiclip_core.clipart import Clipart, Fill, Gradient, LinearGradient, Pattern, Shape, Stroke
from flexiclip_core.errors import RenderError
from flexiclip_core.paint_motion import posed_paint
from flexiclip_core.registry import Registry
from flexiclip_core.render.config import Background

MAX_RENDER_SIZE = 8192
"""Largest output side accepted (a 8192² RGBA frame is 256 MiB)."""

MAX_TILE_SIDE = 2048
"""Largest side in px of one pattern tile's image (a tile larger on the device is drawn blurred)."""

_FILL_RULES = {"nonzero": cairo.FILL_RULE_WINDING, "evenodd": cairo.FILL_RULE_EVEN_ODD}
_LINE_CAPS = {"butt": cairo.LINE_CAP_BUTT, "round": cairo.LINE_CAP_ROUND, "square": cairo.LINE_CAP_SQUARE}
_LINE_JOINS = {"miter": cairo.LINE_JOIN_MITER, "round": cairo.LINE_JOIN_ROUND, "bevel": cairo.LINE_JOIN_BEVEL}
_EXTENDS = {"pad": cairo.EXTEND_PAD, "reflect": cairo.EXTEND_REFLECT, "repeat": cairo.EXTEND_REPEAT}
# Byte positions of R, G, B, A inside cairo's native-endian ARGB32 word.
_ARGB32_TO_RGBA = [2, 1, 0, 3] if sys.byteorder == "little" else [1, 2, 3, 0]


class FinalRenderer(Protocol):
    """An exact rasteriser: one posed clipart → one premultiplied image. Validation, pose
    handling, supersampling and the straight-alpha conversion are shared (module functions)."""

    def rasterise(
        self,
        clipart: Clipart,
        pose: np.ndarray,  # float64 [P, 2] canvas px, finite
        side: int,
        background: Background,
    ) -> np.ndarray:  # uint8 [side, side, 4] premultiplied RGBA
        ...


FINAL_RENDERERS: Registry[FinalRenderer] = Registry("final renderer")
"""Final renderers by name; configs select one with e.g. ``final_renderer: cairo``."""

DEFAULT_FINAL_RENDERER = "cairo"
"""The final renderer configs and the functions below use unless told otherwise."""


def _check_size(size: int, clip: str | None) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise RenderError(f"render size must be an integer, got {size!r}", clip=clip)
    if not 1 <= int(size) <= MAX_RENDER_SIZE:
        raise RenderError(f"render size must be in [1, {MAX_RENDER_SIZE}], got {size}", clip=clip)
    return int(size)


def _check_background(background: str, clip: str | None) -> None:
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
            raise RenderError(f"points must have shape ({clipart.point_count}, 2), got {tuple(pose.shape)}", clip=clip)
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


def posed_clips(clipart: Clipart, clip_points: np.ndarray | None) -> Clipart:
    """``clipart`` with its clip outlines at ``clip_points`` [C, 2] canvas px (None: as they are)."""
    if clip_points is None:
        return clipart
    pose = np.asarray(clip_points, dtype=np.float64)
    if pose.shape != (clipart.clip_point_count, 2) or not np.all(np.isfinite(pose)):
        raise RenderError(
            f"clip points must be finite, of shape ({clipart.clip_point_count}, 2), got {tuple(pose.shape)}",
            clip=clipart.source or None,
        )
    return clipart.with_clip_points(pose)


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
                float(pts[i, 0]),
                float(pts[i, 1]),
                float(pts[i + 1, 0]),
                float(pts[i + 1, 1]),
                float(pts[i + 2, 0]),
                float(pts[i + 2, 1]),
            )
        if subpath.closed:
            context.close_path()
    return offset


def _gradient_pattern(gradient: Gradient) -> cairo.Gradient:
    """The cairo pattern of a gradient placed in canvas px (docs/render.md §11): the gradient's
    own geometry in pattern space, its frame as the pattern matrix."""
    if isinstance(gradient, LinearGradient):
        pattern: cairo.Gradient = cairo.LinearGradient(gradient.x1, gradient.y1, gradient.x2, gradient.y2)
    else:
        pattern = cairo.RadialGradient(gradient.fx, gradient.fy, gradient.fr, gradient.cx, gradient.cy, gradient.r)
    # pixman interpolates the stops' straight (non-premultiplied) colours, as SVG and resvg do.
    for stop in gradient.stops:
        pattern.add_color_stop_rgba(stop.offset, *stop.rgb, stop.alpha * gradient.opacity)
    pattern.set_extend(_EXTENDS[gradient.spread])
    inverse = np.linalg.inv(gradient.matrix())  # canvas px → gradient space
    pattern.set_matrix(
        cairo.Matrix(inverse[0, 0], inverse[1, 0], inverse[0, 1], inverse[1, 1], inverse[0, 2], inverse[1, 2])
    )
    return pattern


def _tile_pattern(context: cairo.Context, pattern: Pattern) -> cairo.SurfacePattern:
    """The cairo pattern of a tiled pattern placed in canvas px (docs/render.md §13): one tile
    drawn into an image at the device resolution the frame gives it, repeated, with the frame
    as the pattern matrix."""
    xx, yx, xy, yy, x0, y0 = context.get_matrix()
    tile_to_device = np.array([[xx, xy, x0], [yx, yy, y0], [0.0, 0.0, 1.0]]) @ pattern.matrix()
    pixels_x = _tile_pixels(pattern.width * float(np.hypot(tile_to_device[0, 0], tile_to_device[1, 0])))
    pixels_y = _tile_pixels(pattern.height * float(np.hypot(tile_to_device[0, 1], tile_to_device[1, 1])))
    tile = _tile_image(pattern, pixels_x, pixels_y)
    source = cairo.SurfacePattern(tile)
    source.set_extend(cairo.EXTEND_REPEAT)
    canvas_to_tile = np.diag([pixels_x / pattern.width, pixels_y / pattern.height, 1.0]) @ np.linalg.inv(
        pattern.matrix()
    )
    source.set_matrix(
        cairo.Matrix(
            canvas_to_tile[0, 0],
            canvas_to_tile[1, 0],
            canvas_to_tile[0, 1],
            canvas_to_tile[1, 1],
            canvas_to_tile[0, 2],
            canvas_to_tile[1, 2],
        )
    )
    return source


def _tile_pixels(device_side: float) -> int:
    """Pixels of a tile side that covers ``device_side`` device px (whole, at most
    `MAX_TILE_SIDE`): drawn at the device resolution, so the tile is as sharp as the shapes."""
    return int(min(max(1, math.ceil(device_side - 1e-6)), MAX_TILE_SIDE))


_TILE_CACHE: OrderedDict[tuple, tuple[Pattern, cairo.ImageSurface]] = OrderedDict()
_TILE_CACHE_PIXELS = 16_000_000
"""Pixels of tile images kept between calls (64 MB): shapes sharing a pattern, and frames where it
keeps its device size, reuse one tile image."""


def _tile_image(pattern: Pattern, pixels_x: int, pixels_y: int) -> cairo.ImageSurface:
    """One tile of ``pattern`` drawn into a ``pixels_x`` × ``pixels_y`` image with its opacity,
    from the cache when the same tile content was drawn at that size (the entry keeps the
    pattern, so the ``id`` in its key stays its own)."""
    key = (id(pattern.shapes), pattern.width, pattern.height, pattern.opacity, pixels_x, pixels_y)
    cached = _TILE_CACHE.get(key)
    if cached is not None:
        _TILE_CACHE.move_to_end(key)
        return cached[1]
    tile = cairo.ImageSurface(cairo.FORMAT_ARGB32, pixels_x, pixels_y)
    tile_context = cairo.Context(tile)
    tile_context.set_antialias(cairo.ANTIALIAS_GRAY)
    tile_context.scale(pixels_x / pattern.width, pixels_y / pattern.height)
    if pattern.shapes:
        points = np.concatenate([sp.points for shape in pattern.shapes for sp in shape.subpaths], axis=0)
        tile_context.push_group()
        _draw_shapes(tile_context, pattern.shapes, points)
        tile_context.pop_group_to_source()
        tile_context.paint_with_alpha(float(pattern.opacity))
    tile.flush()
    _TILE_CACHE[key] = (pattern, tile)
    while sum(image.get_width() * image.get_height() for _, image in _TILE_CACHE.values()) > _TILE_CACHE_PIXELS:
        _TILE_CACHE.popitem(last=False)
    return tile


def _set_paint(context: cairo.Context, paint: Fill | Stroke) -> None:
    """Make the fill's or stroke's paint the source: its pattern or gradient, else its solid
    colour."""
    if paint.pattern is not None:
        context.set_source(_tile_pattern(context, paint.pattern))
    elif paint.gradient is not None:
        context.set_source(_gradient_pattern(paint.gradient))
    else:
        context.set_source_rgba(*(float(c) for c in paint.rgb), float(paint.opacity))


def _paint_shape(context: cairo.Context, shape: Shape, posed: tuple[Fill | None, Stroke | None] | None = None) -> None:
    """Fill then stroke the current path with the shape's paint — ``posed``, its fill and stroke
    carried into the pose (`posed_paint`), else its own — leaving no path behind."""
    fill, stroke = (shape.fill, shape.stroke) if posed is None else posed
    if stroke is not None and (stroke.width <= 0 or stroke.opacity <= 0):
        stroke = None
    if fill is not None and fill.opacity > 0:
        context.set_fill_rule(_FILL_RULES[fill.rule])
        _set_paint(context, fill)
        context.fill_preserve()
    if stroke is not None:
        _set_paint(context, stroke)
        context.set_line_width(float(stroke.width))
        context.set_line_cap(_LINE_CAPS[stroke.linecap])
        context.set_line_join(_LINE_JOINS[stroke.linejoin])
        context.set_miter_limit(max(1.0, float(stroke.miter_limit)))
        context.set_dash(_dash_pattern(stroke), float(stroke.dash_offset))
        context.stroke_preserve()
    context.new_path()


def _square_caps_of_zero_length_subpaths(
    context: cairo.Context, shape: Shape, stroke: Stroke | None, pose: np.ndarray, offset: int
) -> None:
    """Square caps of the shape's zero-length subpaths, which SVG draws and cairo (1.16) does not.

    Each is a stroke-width square centred on the point, axis-aligned in canvas px (SVG aligns it
    with the element's user space, which a rotated element no longer shares).
    """
    if stroke is None or stroke.linecap != "square" or stroke.width <= 0 or stroke.opacity <= 0:
        return
    half = float(stroke.width) / 2.0
    for subpath in shape.subpaths:
        n = len(subpath.points)
        pts = pose[offset : offset + n]
        offset += n
        if n and np.all(pts == pts[0]):
            context.rectangle(float(pts[0, 0]) - half, float(pts[0, 1]) - half, 2.0 * half, 2.0 * half)
    _set_paint(context, stroke)
    context.set_fill_rule(cairo.FILL_RULE_WINDING)
    context.fill()


def _draw(surface: cairo.ImageSurface, clipart: Clipart, pose: np.ndarray, size: int, background: Background) -> None:
    scale = size / float(clipart.canvas_size)
    _draw_mapped(surface, clipart, pose, cairo.Matrix(scale, 0.0, 0.0, scale, 0.0, 0.0), background)


def _draw_mapped(
    surface: cairo.ImageSurface,
    clipart: Clipart,
    pose: np.ndarray,
    canvas_to_pixels: cairo.Matrix,
    background: Background,
) -> None:
    """Draw ``clipart`` at ``pose`` with canvas px mapped to surface pixels by ``canvas_to_pixels``."""
    context = cairo.Context(surface)
    context.set_operator(cairo.OPERATOR_SOURCE)
    if background == "white":
        context.set_source_rgba(1.0, 1.0, 1.0, 1.0)
    else:
        context.set_source_rgba(0.0, 0.0, 0.0, 0.0)
    context.paint()
    context.set_operator(cairo.OPERATOR_OVER)
    context.set_antialias(cairo.ANTIALIAS_GRAY)
    context.set_matrix(canvas_to_pixels)
    _draw_shapes(context, clipart.shapes, pose)
    surface.flush()


def _draw_shapes(context: cairo.Context, shapes: tuple[Shape, ...], pose: np.ndarray) -> None:
    """Paint ``shapes`` in order at ``pose`` [P, 2] (their control points, concatenated) in the
    context's user space."""
    offset = 0
    for shape in shapes:
        start = offset
        if shape.clip is not None:
            context.save()
            _clip_to_regions(context, shape)
        offset = _append_shape_path(context, shape, pose, offset)
        posed = posed_paint(shape, pose[start:offset])
        _paint_shape(context, shape, posed)
        _square_caps_of_zero_length_subpaths(context, shape, posed[1], pose, start)
        if shape.clip is not None:
            context.restore()


def _clip_to_regions(context: cairo.Context, shape: Shape) -> None:
    """Intersect cairo's clip with each of the shape's clip regions (at their posed points)."""
    for region in shape.clip or ():
        for subpath in region.subpaths:
            pts = subpath.points
            context.move_to(float(pts[0, 0]), float(pts[0, 1]))
            for i in range(1, len(pts) - 2, 3):
                context.curve_to(*(float(v) for v in pts[i : i + 3].reshape(-1)))
            context.close_path()
        context.set_fill_rule(_FILL_RULES[region.rule])
        context.clip()


def _surface_premultiplied_rgba(surface: cairo.ImageSurface, side: int, height: int | None = None) -> np.ndarray:
    """Cairo's premultiplied native-endian ARGB32 → premultiplied uint8 RGBA [height, side, 4]
    (``height`` defaults to ``side``)."""
    height = side if height is None else height
    stride = surface.get_stride()
    raw = np.frombuffer(surface.get_data(), dtype=np.uint8).reshape(height, stride)[:, : side * 4]
    pixels = raw.reshape(height, side, 4)  # one native-endian 0xAARRGGBB word per pixel
    return pixels[..., _ARGB32_TO_RGBA]


class CairoRenderer:
    """Final renderer on cairo (cairocffi), gray anti-aliasing.

    Cairo's scan converter samples 256 sub-columns but only 15 sub-rows per pixel, so the alpha
    of a pixel crossed by a near-horizontal edge may be off by up to 1/30; ``supersample`` of 4
    or more brings edge errors under 1% where a reference image is needed.
    """

    name = "cairo"

    def rasterise(
        self,
        clipart: Clipart,
        pose: np.ndarray,  # float64 [P, 2] canvas px, finite
        side: int,
        background: Background,
    ) -> np.ndarray:  # uint8 [side, side, 4] premultiplied RGBA
        surface = cairo.ImageSurface(cairo.FORMAT_ARGB32, side, side)
        _draw(surface, clipart, pose, side, background)
        return _surface_premultiplied_rgba(surface, side)


FINAL_RENDERERS.register("cairo")(CairoRenderer())


def _check_supersample(supersample: int, size: int, clip: str | None) -> int:
    if isinstance(supersample, bool) or not isinstance(supersample, (int, np.integer)) or supersample < 1:
        raise RenderError(f"supersample must be a positive integer, got {supersample!r}", clip=clip)
    if size * supersample > MAX_RENDER_SIZE:
        raise RenderError(f"size × supersample must be at most {MAX_RENDER_SIZE}, got {size}×{supersample}", clip=clip)
    return int(supersample)


def _premultiplied_float(
    renderer: FinalRenderer, clipart: Clipart, pose: np.ndarray, size: int, supersample: int, background: Background
) -> np.ndarray:  # float32 [size, size, 4] premultiplied RGBA in [0, 1]
    image = renderer.rasterise(clipart, pose, size * supersample, background)
    if supersample == 1:
        return image.astype(np.float32) / 255.0
    # Box filter of the k×k sub-pixels in premultiplied space: rows of a block first (contiguous).
    side = size * supersample
    row_sums = image.reshape(size, supersample, side * 4).sum(axis=1, dtype=np.uint32)  # [size, side·4]
    block_sums = row_sums.reshape(size, size, supersample, 4).sum(axis=2)  # [size, size, 4]
    return block_sums.astype(np.float32) / np.float32(255.0 * supersample**2)


def _straight(premultiplied: np.ndarray) -> np.ndarray:
    """Premultiplied float RGBA in [0, 1] → straight float RGBA (colour 0 where alpha is 0)."""
    alpha = premultiplied[..., 3:]
    rgb = np.where(alpha > 0, premultiplied[..., :3] / np.maximum(alpha, 1e-12), 0.0)
    return np.concatenate([np.clip(rgb, 0.0, 1.0), alpha], axis=-1).astype(np.float32)


def _unpremultiply_table() -> np.ndarray:
    """uint8 [256 alpha, 256 premultiplied] → straight channel, rounded (0 where alpha is 0)."""
    alpha = np.arange(256, dtype=np.uint32)[:, None]
    value = np.arange(256, dtype=np.uint32)[None, :]
    table = (value * 255 + alpha // 2) // np.maximum(alpha, 1)
    return np.where(alpha > 0, np.minimum(table, 255), 0).astype(np.uint8)


_UNPREMULTIPLY = _unpremultiply_table()  # constant, read-only
_UNPREMULTIPLY.flags.writeable = False


def _straight_uint8(premultiplied: np.ndarray) -> np.ndarray:
    """Premultiplied uint8 RGBA → straight uint8 RGBA, exact rounding."""
    alpha = premultiplied[..., 3]
    # Opaque pixels are already straight and cairo keeps colour ≤ alpha, so clear pixels are 0:
    # only the partially covered ones (edges, translucent paint) need dividing.
    partial = np.nonzero((alpha > 0) & (alpha < 255))
    if len(partial[0]) == 0:
        return premultiplied
    straight = premultiplied.copy()
    partial_alpha = alpha[partial][:, None]
    straight[partial + (slice(0, 3),)] = _UNPREMULTIPLY[partial_alpha, premultiplied[partial][:, :3]]
    return straight


def _render_uint8(
    renderer: FinalRenderer, clipart: Clipart, pose: np.ndarray, size: int, supersample: int, background: Background
) -> np.ndarray:  # uint8 [size, size, 4] straight RGBA
    if supersample == 1:
        return _straight_uint8(renderer.rasterise(clipart, pose, size, background))
    straight = _straight(_premultiplied_float(renderer, clipart, pose, size, supersample, background))
    return np.rint(straight * 255.0).astype(np.uint8)


def render_clipart(
    clipart: Clipart,
    size: int = 256,
    *,
    points: np.ndarray | None = None,  # [P, 2] canvas px; replaces the control points (a deformed pose)
    background: Background = "white",
    supersample: int = 1,
    renderer: str = DEFAULT_FINAL_RENDERER,
    clip_points: np.ndarray | None = None,  # [C, 2] canvas px: the posed clip outlines
) -> np.ndarray:  # uint8 [size, size, 4] straight RGBA
    """Rasterise ``clipart`` (at pose ``points``, else its rest pose) to a ``size``² image.

    ``supersample`` k renders at k·size and box-filters k×k blocks (finer edge coverage).
    """
    clip = clipart.source or None
    size = _check_size(size, clip)
    supersample = _check_supersample(supersample, size, clip)
    _check_background(background, clip)
    clipart = posed_clips(clipart, clip_points)
    pose = _pose_points(clipart, points)
    return _render_uint8(FINAL_RENDERERS.get(renderer), clipart, pose, size, supersample, background)


def render_frames(
    clipart: Clipart,
    frame_points: np.ndarray,  # [N, P, 2] canvas px
    size: int = 256,
    *,
    background: Background = "white",
    supersample: int = 1,
    renderer: str = DEFAULT_FINAL_RENDERER,
    frame_clip_points: np.ndarray | None = None,  # [N, C, 2] canvas px: posed clip outlines
) -> np.ndarray:  # uint8 [N, size, size, 4] straight RGBA
    """Rasterise one frame per pose in ``frame_points`` (clips at ``frame_clip_points``, else
    at rest)."""
    clip = clipart.source or None
    size = _check_size(size, clip)
    supersample = _check_supersample(supersample, size, clip)
    _check_background(background, clip)
    backend = FINAL_RENDERERS.get(renderer)
    frame_points = np.asarray(frame_points, dtype=np.float64)
    if frame_points.ndim != 3 or frame_points.shape[1:] != (clipart.point_count, 2):
        raise RenderError(
            f"frame_points must have shape (N, {clipart.point_count}, 2), got {tuple(frame_points.shape)}", clip=clip
        )
    if frame_clip_points is not None and len(frame_clip_points) != len(frame_points):
        raise RenderError(f"frame_clip_points has {len(frame_clip_points)} frames, not {len(frame_points)}", clip=clip)
    frames = np.empty((len(frame_points), size, size, 4), dtype=np.uint8)
    for index, points in enumerate(frame_points):
        posed = clipart if frame_clip_points is None else posed_clips(clipart, frame_clip_points[index])
        frames[index] = _render_uint8(backend, posed, _pose_points(posed, points), size, supersample, background)
    return frames


def render_clipart_float(
    clipart: Clipart,
    size: int = 256,
    *,
    points: np.ndarray | None = None,  # [P, 2] canvas px
    background: Background = "white",
    supersample: int = 1,
    premultiplied: bool = False,
    renderer: str = DEFAULT_FINAL_RENDERER,
    clip_points: np.ndarray | None = None,  # [C, 2] canvas px: the posed clip outlines
) -> np.ndarray:  # float32 [size, size, 4] RGBA in [0, 1]
    """`render_clipart` as float32 without the final 8-bit rounding — a reference image for tests
    of the training renderer (use ``supersample`` ≥ 4 for sub-1% edge coverage).

    Straight RGBA unless ``premultiplied``; over a white background the two are equal.
    """
    clip = clipart.source or None
    size = _check_size(size, clip)
    supersample = _check_supersample(supersample, size, clip)
    _check_background(background, clip)
    clipart = posed_clips(clipart, clip_points)
    pose = _pose_points(clipart, points)
    image = _premultiplied_float(FINAL_RENDERERS.get(renderer), clipart, pose, size, supersample, background)
    return image if premultiplied else _straight(image)


def render_document_frame(
    clipart: Clipart,
    width: int,
    *,
    points: np.ndarray | None = None,  # [P, 2] canvas px; replaces the control points
    background: Background = "transparent",
    clip_points: np.ndarray | None = None,  # [C, 2] canvas px: the posed clip outlines
) -> np.ndarray:  # uint8 [H, width, 4] straight RGBA, H from the viewport's aspect ratio
    """Rasterise ``clipart`` in its source document's own root viewport, scaled to ``width`` px
    wide — the frame ``rsvg-convert --width``/``resvg --width`` draw, so their output and this
    one can be compared pixel for pixel (docs/render.md §10). Cairo only.
    """
    clip = clipart.source or None
    width = _check_size(width, clip)
    _check_background(background, clip)
    clipart = posed_clips(clipart, clip_points)
    pose = _pose_points(clipart, points)
    viewport_w, viewport_h = clipart.viewport_size or clipart.document_size
    if not (viewport_w > 0 and viewport_h > 0 and np.isfinite(viewport_w) and np.isfinite(viewport_h)):
        raise RenderError(f"document viewport {viewport_w}×{viewport_h} has no area", clip=clip)
    scale = width / float(viewport_w)
    height = _check_size(max(1, round(viewport_h * scale)), clip)
    canvas_to_pixels = np.diag([scale, scale, 1.0]) @ clipart.document_to_viewport @ clipart.canvas_to_document
    (a, c, e), (b, d, f) = canvas_to_pixels[0], canvas_to_pixels[1]
    if not np.all(np.isfinite(canvas_to_pixels)) or a * d - b * c == 0.0:
        raise RenderError("canvas-to-document map is not invertible", clip=clip)
    surface = cairo.ImageSurface(cairo.FORMAT_ARGB32, width, height)
    _draw_mapped(surface, clipart, pose, cairo.Matrix(a, b, c, d, e, f), background)
    return _straight_uint8(_surface_premultiplied_rgba(surface, width, height))
