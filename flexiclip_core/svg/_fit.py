"""Fit the drawing into the working canvas: its bounding box (strokes included) scaled into
``[margin, size − margin]`` with the aspect ratio kept, centred (docs/method.md §2)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from flexiclip_core.clipart import Shape, SubPath
from flexiclip_core.errors import EmptyDrawingError, SvgParseError
from flexiclip_core.svg._geometry import shapes_bounds


def drawing_bounds(shapes: list[Shape]) -> tuple[float, float, float, float]:
    """(x_min, y_min, x_max, y_max) of all shapes, strokes included."""
    bounds = shapes_bounds(shapes)  # [S, 4]
    return (
        float(bounds[:, 0].min()),
        float(bounds[:, 1].min()),
        float(bounds[:, 2].max()),
        float(bounds[:, 3].max()),
    )


def fit_to_canvas(shapes: list[Shape], canvas_size: int, margin_px: float, clip: str) -> tuple[list[Shape], np.ndarray]:
    """Shapes scaled/translated into the canvas and the viewport → canvas matrix [3, 3]."""
    x_min, y_min, x_max, y_max = drawing_bounds(shapes)
    width, height = x_max - x_min, y_max - y_min
    if not (width > 0 or height > 0) or not math.isfinite(width + height):
        raise EmptyDrawingError("drawing has no extent", clip=clip)
    available = canvas_size - 2.0 * margin_px
    if available <= 0:
        raise SvgParseError(f"margin_px={margin_px} leaves no room in a {canvas_size}px canvas", clip=clip)
    scale = available / max(width, height)
    offset_x = canvas_size / 2.0 - scale * (x_min + x_max) / 2.0
    offset_y = canvas_size / 2.0 - scale * (y_min + y_max) / 2.0
    offset = np.array([offset_x, offset_y])
    matrix = np.array([[scale, 0.0, offset_x], [0.0, scale, offset_y], [0.0, 0.0, 1.0]])
    fitted = []
    for shape in shapes:
        subpaths = tuple(SubPath(sp.points * scale + offset, sp.closed) for sp in shape.subpaths)
        fill = shape.fill
        if fill is not None and fill.gradient is not None:
            fill = replace(fill, gradient=fill.gradient.moved(matrix))
        if fill is not None and fill.pattern is not None:
            fill = replace(fill, pattern=fill.pattern.moved(matrix))
        stroke = shape.stroke
        if stroke is not None:
            stroke = replace(
                stroke,
                width=stroke.width * scale,
                dash_array=tuple(v * scale for v in stroke.dash_array),
                dash_offset=stroke.dash_offset * scale,
                gradient=None if stroke.gradient is None else stroke.gradient.moved(matrix),
                pattern=None if stroke.pattern is None else stroke.pattern.moved(matrix),
            )
        clip_regions = None
        if shape.clip is not None:
            clip_regions = tuple(
                replace(
                    region, subpaths=tuple(SubPath(sp.points * scale + offset, sp.closed) for sp in region.subpaths)
                )
                for region in shape.clip
            )
        fitted.append(Shape(subpaths, fill, stroke, shape.element, shape.groups, clip_regions))
    return fitted, matrix
