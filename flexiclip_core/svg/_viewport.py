"""Viewports: ``viewBox`` and ``preserveAspectRatio`` (SVG 1.1 §7.7–7.8) for the root ``<svg>``
(which also gives the page, the visible area) and for nested ``<svg>`` / instantiated
``<symbol>`` elements.

A nested viewport's rectangle (`Viewport.rect`, in the parent's user units) is what the walker
clips the content to (`_clip.clip_shapes_to_viewport`, exact for fills under any affine map)
unless ``overflow`` is ``visible`` or ``auto``. A ``<use>`` of a ``<symbol>``/``<svg>`` sizes
the viewport from its own ``width``/``height``, else the referenced element's, else 100%
(SVG 2).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from flexiclip_core.errors import EmptyDrawingError, SvgParseError
from flexiclip_core.svg._cascade import Cascade
from flexiclip_core.svg._clip import Page
from flexiclip_core.svg._style import (
    IDENTITY,
    Affine,
    InvalidValue,
    LengthContext,
    multiply,
    parse_length,
    parse_numbers,
)
from flexiclip_core.svg._warnings import WarningLog
from flexiclip_core.svg._xml import Element

DEFAULT_VIEWPORT = 100.0
"""Viewport side assumed when the root has neither usable width/height nor a viewBox."""


def viewbox_to_viewport(view_box: list[float], width: float, height: float, preserve_aspect_ratio: str) -> Affine:
    """SVG viewBox → viewport transform (SVG 1.1 §7.8) for a viewport at the origin."""
    vx, vy, vw, vh = view_box
    scale_x, scale_y = width / vw, height / vh
    words = preserve_aspect_ratio.replace("defer", "").split()
    align = words[0] if words else "xMidYMid"
    meet_or_slice = words[1] if len(words) > 1 else "meet"
    if align == "none":
        return (scale_x, 0.0, 0.0, scale_y, -vx * scale_x, -vy * scale_y)
    scale = max(scale_x, scale_y) if meet_or_slice == "slice" else min(scale_x, scale_y)
    translate_x = -vx * scale
    translate_y = -vy * scale
    if "xMid" in align:
        translate_x += (width - vw * scale) / 2.0
    elif "xMax" in align:
        translate_x += width - vw * scale
    if "YMid" in align:
        translate_y += (height - vh * scale) / 2.0
    elif "YMax" in align:
        translate_y += height - vh * scale
    return (scale, 0.0, 0.0, scale, translate_x, translate_y)


def view_box_of(element: Element, clip: str, log: WarningLog) -> list[float] | None:
    """The element's ``viewBox`` (min-x, min-y, width, height), or None when absent or invalid
    (warned: SVG then draws without one)."""
    text = element.attrs.get("viewBox")
    if not text:
        return None
    numbers = parse_numbers(text, "viewBox", clip=clip, element=element.describe())
    if len(numbers) != 4 or numbers[2] <= 0 or numbers[3] <= 0:
        log.warn("invalid-attribute", f"viewBox {text[:60]!r} ignored", element)
        return None
    return numbers


@dataclass(frozen=True)
class RootViewport:
    """The root ``<svg>``'s viewport: the map of its user units and the page."""

    document_to_viewport: np.ndarray
    """float64 [3, 3]: root user units (viewBox) → viewport units."""
    affine: tuple[float, float, float, float, float, float]
    """The same map as an SVG matrix."""
    document_size: tuple[float, float]
    lengths: LengthContext
    page: Page | None
    """The visible page in viewport units; None when the file gives neither a size nor a
    viewBox."""
    viewport_size: tuple[float, float]
    """Width and height of the root viewport in px (`DEFAULT_VIEWPORT` for a missing size)."""


def root_viewport(root: Element, clip: str, log: WarningLog) -> RootViewport:
    """Viewport of the root element from its width/height and viewBox (percentages and
    missing sizes fall back on the viewBox, else `DEFAULT_VIEWPORT`). A zero width or height
    renders nothing (`EmptyDrawingError`) and a negative one is an error, as resvg refuses both."""
    view_box = view_box_of(root, clip, log)
    absolute = LengthContext(DEFAULT_VIEWPORT, DEFAULT_VIEWPORT)

    def dimension(name: str, axis: str) -> float | None:
        value = root.attrs.get(name, "").strip()
        if not value or value.endswith("%"):
            return None
        try:
            number = parse_length(value, absolute, axis, clip=clip, element=root.describe())
        except InvalidValue:
            log.warn("invalid-attribute", f"{name} {value[:40]!r} ignored", root)
            return None
        if number == 0.0:
            raise EmptyDrawingError(
                f'{name}="{value[:40]}": a zero-size root renders nothing', clip=clip, element=root.describe()
            )
        if number < 0.0:
            raise SvgParseError(
                f'{name}="{value[:40]}": a negative size is an error', clip=clip, element=root.describe()
            )
        return number

    width, height = dimension("width", "x"), dimension("height", "y")
    page: Page | None = None
    if view_box is not None:
        width = width or (height * view_box[2] / view_box[3] if height else view_box[2])
        height = height or (width * view_box[3] / view_box[2])
        affine = viewbox_to_viewport(view_box, width, height, root.attrs.get("preserveAspectRatio", ""))
        document_size = (view_box[2], view_box[3])
        lengths = LengthContext(view_box[2], view_box[3])
        page = (0.0, 0.0, width, height)
    else:
        if width and height:
            page = (0.0, 0.0, width, height)
        width = width or DEFAULT_VIEWPORT
        height = height or DEFAULT_VIEWPORT
        affine = IDENTITY
        document_size = (width, height)
        lengths = LengthContext(width, height)
    a, b, c, d, e, f = affine
    matrix = np.array([[a, c, e], [b, d, f], [0.0, 0.0, 1.0]])
    return RootViewport(matrix, affine, document_size, lengths, page, (float(width), float(height)))


@dataclass(frozen=True)
class Viewport:
    """A nested viewport established by an ``<svg>`` or an instantiated ``<symbol>``."""

    transform: Affine
    """Content user units → the parent's user units (position, then viewBox mapping)."""
    lengths: LengthContext
    """Length context of the content (the viewBox size, else the viewport size)."""
    rect: tuple[float, float, float, float]
    """(x, y, width, height) of the viewport in the parent's user units."""


def nested_viewport(
    cascade: Cascade,
    element: Element,
    content: Element,
    lengths: LengthContext,
    width_override: float | None,
    height_override: float | None,
) -> Viewport | None:
    """The viewport ``element`` establishes for ``content`` (the element itself for a nested
    ``<svg>``; the referenced ``<symbol>``/``<svg>`` for a ``<use>``, which sizes it through
    the overrides); None when it has no area (SVG then draws nothing)."""
    x = cascade.length(element, "x", lengths, "x") if element is content else 0.0
    y = cascade.length(element, "y", lengths, "y") if element is content else 0.0
    width = (
        width_override
        if width_override is not None
        else cascade.length(element, "width", lengths, "x", lengths.viewport_width)
    )
    height = (
        height_override
        if height_override is not None
        else cascade.length(element, "height", lengths, "y", lengths.viewport_height)
    )
    if width <= 0 or height <= 0:
        return None
    view_box = view_box_of(content, cascade.clip, cascade.log)
    if view_box is None:
        transform, inner_lengths = IDENTITY, LengthContext(width, height)
    else:
        preserve = content.attrs.get("preserveAspectRatio", "")
        transform = viewbox_to_viewport(view_box, width, height, preserve)
        inner_lengths = LengthContext(view_box[2], view_box[3])
    inner_lengths = replace(inner_lengths, font_size=lengths.font_size)
    return Viewport(multiply((1.0, 0.0, 0.0, 1.0, x, y), transform), inner_lengths, (x, y, width, height))
