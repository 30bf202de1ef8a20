"""Paint servers: ``fill``/``stroke`` values → what a shape is painted with.

Colours resolve exactly. A gradient resolves into a `GradientServer` (``href`` chains followed
for stops and for attributes) carrying its mean colour (`mean_colour`, what the training
renderer paints by default) and, once placed on a shape by `place_gradient` (its bounding box, its CTM), a
`LinearGradient`/`RadialGradient` in root viewport units that the final renderer and the vector
exports draw (docs/render.md §11). A pattern resolves into a `PatternServer` carrying the mean
fill of its own shapes (what the training renderer paints); `place_pattern` lays it on a shape
as a `Pattern`: its tile and content in pattern space and its frame (docs/render.md §13).
`ShapePaint` builds a shape's `Fill` and `Stroke` from its computed style with them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from flexiclip_core.clipart import (
    Fill,
    FillRule,
    Gradient,
    GradientStop,
    LinearGradient,
    Pattern,
    RadialGradient,
    Shape,
    SpreadMethod,
    Stroke,
)
from flexiclip_core.svg._cascade import INITIAL_STYLE, Cascade, Context, clamp_unit, initial_context
from flexiclip_core.svg._references import href_of, local_reference
from flexiclip_core.svg._style import (
    IDENTITY,
    RGB,
    Affine,
    InvalidValue,
    LengthContext,
    multiply,
    parse_colour,
    parse_length,
    parse_transform,
    parse_url,
)
from flexiclip_core.svg._tags import DRAWABLE_CONTENT_TAGS, GRADIENT_TAGS
from flexiclip_core.svg._viewport import view_box_of, viewbox_to_viewport
from flexiclip_core.svg._warnings import WarningLog
from flexiclip_core.svg._xml import Element

NEUTRAL_GREY: RGB = (0.5, 0.5, 0.5)
MAX_PAINT_SERVER_CHAIN = 32
"""Longest gradient ``href`` chain followed for stops."""


_GEOMETRY_ATTRIBUTES = {
    "linearGradient": ("x1", "y1", "x2", "y2"),
    "radialGradient": ("cx", "cy", "r", "fx", "fy", "fr"),
}
_SHARED_ATTRIBUTES = ("gradientUnits", "gradientTransform", "spreadMethod")
_PATTERN_ATTRIBUTES = (
    "x",
    "y",
    "width",
    "height",
    "patternUnits",
    "patternContentUnits",
    "patternTransform",
    "viewBox",
    "preserveAspectRatio",
)


@dataclass(frozen=True)
class PatternServer:
    """A pattern element with its ``href`` chain resolved, before it is placed on a shape."""

    element: Element
    attributes: dict[str, str]
    """`_PATTERN_ATTRIBUTES` given on the element or inherited through href (nearest wins)."""
    view_box_element: Element | None
    """The element of the chain whose ``viewBox`` applies."""
    content: Element
    """The element of the chain whose children are the tile's content."""


@dataclass(frozen=True)
class GradientServer:
    """A gradient element with its ``href`` chain resolved, before it is placed on a shape."""

    kind: Literal["linear", "radial"]
    element: Element
    stops: tuple[GradientStop, ...]
    """At least two stops (one stop paints a solid colour: no server)."""
    attributes: dict[str, str]
    """Geometry attributes (x1…y2 or cx…fr) given on the element or inherited through href."""
    bounding_box_units: bool
    """``gradientUnits="objectBoundingBox"`` (the default)."""
    transform: Affine
    """``gradientTransform``: gradient space → the units' space."""
    spread: SpreadMethod


@dataclass(frozen=True)
class Paint:
    """A paint: colour and its alpha (before fill/stroke-opacity); a gradient's is its mean."""

    rgb: RGB
    alpha: float
    gradient: GradientServer | None = None
    """The gradient the mean stands for; `place_gradient` draws it on a shape."""
    pattern: PatternServer | None = None
    """The pattern the mean stands for; `place_pattern` lays it on a shape."""
    fallback: Paint | None = None
    """The paint's ``url(#id) fallback``, painted where the pattern is invalid on a shape (resvg)."""


def mean_colour(stops: list[GradientStop]) -> Paint:
    """Mean colour over the gradient parameter t ∈ [0, 1], stops linearly interpolated and
    padded, weighted by opacity (premultiplied), and the mean opacity."""
    premultiplied = np.array([[c * stop.alpha for c in stop.rgb] for stop in stops])  # [S, 3]
    alpha = np.array([stop.alpha for stop in stops])  # [S]
    positions = np.array([stop.offset for stop in stops])  # [S]
    # Integral of the piecewise-linear ramp: pads before the first and after the last stop.
    weight_start = positions[0]
    weight_end = 1.0 - positions[-1]
    widths = np.diff(positions)  # [S-1]
    mean_premultiplied = weight_start * premultiplied[0] + weight_end * premultiplied[-1]
    mean_alpha = weight_start * alpha[0] + weight_end * alpha[-1]
    if len(widths):
        mean_premultiplied = mean_premultiplied + (
            widths[:, None] * (premultiplied[:-1] + premultiplied[1:]) / 2.0
        ).sum(axis=0)
        mean_alpha = mean_alpha + float((widths * (alpha[:-1] + alpha[1:]) / 2.0).sum())
    if mean_alpha <= 1e-9:
        return Paint(stops[0].rgb, 0.0)
    rgb = tuple(float(clamp_unit(v)) for v in mean_premultiplied / mean_alpha)
    return Paint(rgb, float(clamp_unit(mean_alpha)))  # type: ignore[arg-type]


class PaintServers:
    """Resolves paint values of one document, each paint server computed once."""

    def __init__(
        self,
        ids: dict[str, Element],
        cascade: Cascade,
        log: WarningLog,
        draw_detached: Callable[[list[Element], Context], list[Shape]],
    ) -> None:
        """``draw_detached`` walks elements into shapes without adding them to the drawing
        (a pattern's content)."""
        self.ids = ids
        self.cascade = cascade
        self.log = log
        self.draw_detached = draw_detached
        self._cache: dict[int, Paint | None] = {}
        self._resolving_patterns: set[int] = set()
        self._tiles: dict[tuple[int, tuple[float, ...]], tuple[Shape, ...]] = {}

    def resolve(self, value: str, style: dict[str, str], element: Element, context: Context) -> Paint | None:
        """The paint of a ``fill``/``stroke`` value, or None for none."""
        text = value.strip()
        if not text or text == "none":
            return None
        url = parse_url(text)
        if url is not None:
            reference, fallback = url
            if parse_url(fallback) is not None:
                # <paint> is url() [none | <color>]: a second url() makes the value invalid (resvg agrees).
                self.log.warn("invalid-colour", f"paint {text[:60]!r} has a second url(); painted black", element)
                return Paint((0.0, 0.0, 0.0), 1.0)
            target_id = local_reference(reference)
            if target_id is None:
                self.log.warn("external-href", f"paint server {reference[:80]!r} is not a local #id; ignored", element)
                return self.resolve(fallback, style, element, context) if fallback else None
            target = self.ids.get(target_id)
            if target is None:
                if fallback:
                    return self.resolve(fallback, style, element, context)
                self.log.warn("missing-paint-server", f"paint server #{target_id} not found; painted as none", element)
                return None
            if target.tag not in GRADIENT_TAGS and target.tag != "pattern" and fallback:
                # Not a paint server: SVG uses the fallback when one is given.
                self.log.warn(
                    "invalid-paint-server",
                    f"<{target.tag}> is not a paint server; fallback {fallback[:40]!r} used",
                    element,
                )
                return self.resolve(fallback, style, element, context)
            paint = self.server_paint(target, element, context)
            if paint is not None and paint.pattern is not None and fallback:
                paint = replace(paint, fallback=self.resolve(fallback, style, element, context))
            return paint
        if text in ("context-fill", "context-stroke"):
            # The paint of the context element: the <use> instantiating this content, else none
            # (markers, the other context, are not drawn) (SVG 2 §13.3).
            context_value = context.context_paint.get(text[len("context-") :]) if context.context_paint else None
            return (
                self.resolve(context_value, context.context_style or style, element, context) if context_value else None
            )
        if text.lower() == "currentcolor":
            text = style.get("color", "black")
            if text.lower() == "currentcolor":
                text = "black"
        colour = parse_colour(text)
        if colour is None:
            self.log.warn("invalid-colour", f"unknown colour {text[:40]!r}; painted black", element)
            return Paint((0.0, 0.0, 0.0), 1.0)
        return Paint(colour[0], colour[1])

    def server_paint(self, server: Element, element: Element, context: Context) -> Paint | None:
        """The paint of the server ``element`` refers to (a gradient or pattern)."""
        key = id(server)
        if server.tag in GRADIENT_TAGS:
            if key not in self._cache:
                stops = self.gradient_stops(server)
                paint = mean_colour(stops) if stops else None
                if paint is not None and len(stops) > 1:
                    paint = replace(paint, gradient=self._gradient_server(server, tuple(stops)))
                self._cache[key] = paint
            self.log.warn(
                "gradient-mean-colour",
                f"gradient #{server.attrs.get('id')} drawn by the final renderer and exports; the training "
                "renderer paints its mean stop colour",
                element,
            )
            return self._cache[key]
        if server.tag == "pattern":
            if key not in self._cache:
                mean = self._pattern_mean(server, context)
                self._cache[key] = replace(mean, pattern=self._pattern_server(server))
            return self._cache[key]
        self.log.warn("invalid-paint-server", f"<{server.tag}> is not a paint server; painted as none", element)
        return None

    # --- gradients ----------------------------------------------------------------------------

    def _chain(self, gradient: Element) -> list[Element]:
        """The gradient and the gradients its href chain reaches, nearest first (cycles cut)."""
        chain: list[Element] = []
        seen: set[int] = set()
        current: Element | None = gradient
        for _ in range(MAX_PAINT_SERVER_CHAIN):
            if current is None or id(current) in seen or current.tag not in GRADIENT_TAGS:
                break
            seen.add(id(current))
            chain.append(current)
            href = href_of(current)
            target_id = local_reference(href) if href else None
            current = self.ids.get(target_id) if target_id else None
        return chain

    def _gradient_server(self, gradient: Element, stops: tuple[GradientStop, ...]) -> GradientServer:
        """Attributes inherited along the href chain: the nearest element giving one wins;
        geometry attributes come only from gradients of the same kind (SVG 1.1 §13.2)."""
        attributes: dict[str, str] = {}
        own_geometry = _GEOMETRY_ATTRIBUTES[gradient.tag]
        for link in self._chain(gradient):
            names = _SHARED_ATTRIBUTES + (own_geometry if link.tag == gradient.tag else ())
            for name in names:
                value = link.attrs.get(name)
                if value is not None and value.strip() and name not in attributes:
                    attributes[name] = value.strip()
        transform = IDENTITY
        if "gradientTransform" in attributes:
            try:
                transform = parse_transform(
                    attributes["gradientTransform"], clip=self.log.clip, element=gradient.describe()
                )
            except InvalidValue as exc:
                self.log.warn("invalid-attribute", f"gradientTransform: {exc}; identity used", gradient)
        spread = attributes.get("spreadMethod", "pad")
        return GradientServer(
            kind="linear" if gradient.tag == "linearGradient" else "radial",
            element=gradient,
            stops=stops,
            attributes={name: attributes[name] for name in own_geometry if name in attributes},
            bounding_box_units=attributes.get("gradientUnits", "objectBoundingBox") != "userSpaceOnUse",
            transform=transform,
            spread=spread if spread in ("pad", "reflect", "repeat") else "pad",  # type: ignore[arg-type]
        )

    def place_gradient(
        self,
        server: GradientServer,
        bbox: tuple[float, float, float, float],
        ctm: Affine,
        lengths: LengthContext,
        opacity: float,
    ) -> Gradient | Paint | None:
        """``server`` painted on a shape whose geometry bounding box (element user units) is
        ``bbox`` (x_min, y_min, x_max, y_max), under ``ctm``: a gradient in root viewport units,
        a solid `Paint` where SVG paints one colour (zero-length vector, zero radius), or None
        where SVG paints nothing (objectBoundingBox on a box without width or height, a
        non-invertible transform, a negative radius)."""
        element = server.element
        width, height = bbox[2] - bbox[0], bbox[3] - bbox[1]
        if server.bounding_box_units:
            if not (width > 0.0 and height > 0.0):
                return None
            units: Affine = (width, 0.0, 0.0, height, bbox[0], bbox[1])
            length_context = LengthContext(1.0, 1.0, lengths.font_size)
        else:
            units = IDENTITY
            length_context = lengths

        def value(name: str, default: str, axis: str) -> float:
            text = server.attributes.get(name, default)
            try:
                return parse_length(text, length_context, axis, clip=self.log.clip, element=element.describe())
            except InvalidValue as exc:
                self.log.warn("invalid-attribute", f"{name}: {exc}", element)
                return parse_length(default, length_context, axis, clip=self.log.clip, element=element.describe())

        last = server.stops[-1]
        solid_last = Paint(last.rgb, last.alpha)
        matrix = multiply(ctm, multiply(units, server.transform))
        a, b, c, d, e, f = matrix
        determinant = a * d - b * c
        if determinant == 0.0 or not math.isfinite(determinant) or not all(math.isfinite(v) for v in matrix):
            return None
        frame = np.array([[e, f], [a + e, b + f], [c + e, d + f]])
        if server.kind == "linear":
            x1, y1 = value("x1", "0%", "x"), value("y1", "0%", "y")
            x2, y2 = value("x2", "100%", "x"), value("y2", "0%", "y")
            if x1 == x2 and y1 == y2:
                return solid_last
            return LinearGradient(server.stops, frame, opacity, server.spread, x1, y1, x2, y2)
        cx, cy, r = value("cx", "50%", "x"), value("cy", "50%", "y"), value("r", "50%", "other")
        fx = value("fx", server.attributes.get("cx", "50%"), "x")
        fy = value("fy", server.attributes.get("cy", "50%"), "y")
        fr = value("fr", "0%", "other")
        if r < 0.0 or fr < 0.0:
            self.log.warn("invalid-attribute", "negative gradient radius; painted as none", element)
            return None
        if r == 0.0:
            return solid_last
        # SVG 2 §14.3.3: a focal circle reaching past the end circle is not moved (SVG 1.1 moved
        # it onto the edge); the two circles span a cone and outside it nothing is painted.
        return RadialGradient(server.stops, frame, opacity, server.spread, cx, cy, r, fx, fy, fr)

    def _stop_elements(self, gradient: Element) -> list[Element]:
        """The gradient's stops, following href chains until one has stops (cycles guarded)."""
        seen: set[int] = set()
        current: Element | None = gradient
        for _ in range(MAX_PAINT_SERVER_CHAIN):
            if current is None or id(current) in seen:
                break
            seen.add(id(current))
            stops = [child for child in current.children if child.tag == "stop"]
            if stops:
                return stops
            href = href_of(current)
            if not href:
                break
            target_id = local_reference(href)
            if target_id is None:
                self.log.warn("external-href", f"gradient href {href[:80]!r} ignored", current)
                break
            current = self.ids.get(target_id)
            if current is not None and current.tag not in GRADIENT_TAGS:
                break
        return []

    def gradient_stops(self, gradient: Element) -> list[GradientStop]:
        """The gradient's stops in order (offsets clamped to [0, 1] and non-decreasing); empty
        when it has none (SVG paints such a gradient as none)."""
        stops: list[GradientStop] = []
        previous = 0.0
        # Stops inherit from the document's initial style only: their own cascade decides.
        root_context = initial_context(IDENTITY, LengthContext(1.0, 1.0))
        for stop in self._stop_elements(gradient):
            style, own = self.cascade.compute_style(stop, root_context)
            offset_text = stop.attrs.get("offset", "0")
            offset = clamp_unit(self.cascade.number_property(offset_text, 0.0, stop, "offset"))
            previous = max(previous, offset)
            colour_text = own.get("stop-color", "black")
            if colour_text.lower() == "currentcolor":
                colour_text = style.get("color", "black")
            colour = parse_colour(colour_text)
            if colour is None:
                self.log.warn("invalid-colour", f"unknown stop colour {colour_text[:40]!r}; black", stop)
                colour = ((0.0, 0.0, 0.0), 1.0)
            opacity = clamp_unit(self.cascade.number_property(own.get("stop-opacity", "1"), 1.0, stop, "stop-opacity"))
            stops.append(GradientStop(previous, colour[0], colour[1] * opacity))
        return stops

    # --- patterns -----------------------------------------------------------------------------

    def _pattern_mean(self, pattern: Element, context: Context) -> Paint:
        """Mean fill colour of the pattern's own shapes, or neutral grey when it has none."""
        key = id(pattern)
        content = pattern
        seen: set[int] = set()
        while not any(child.tag in DRAWABLE_CONTENT_TAGS for child in content.children):
            href = href_of(content)
            target = self.ids.get(local_reference(href) or "") if href else None
            if target is None or target.tag != "pattern" or id(target) in seen:
                break
            seen.add(id(target))
            content = target
        colours: list[RGB] = []
        if key not in self._resolving_patterns:
            self._resolving_patterns.add(key)
            try:
                inner = replace(context, style=dict(INITIAL_STYLE), opacity=1.0)
                shapes = self.draw_detached(content.children, inner)
                colours = [shape.fill.rgb for shape in shapes if shape.fill is not None]
            finally:
                self._resolving_patterns.discard(key)
        if colours:
            self.log.warn(
                "pattern-mean-colour",
                f"pattern #{pattern.attrs.get('id')} tiled by the final renderer and SVG exports; the training "
                "renderer and Lottie paint the mean colour of its shapes",
                pattern,
            )
            mean = np.mean(np.array(colours), axis=0)
            return Paint((float(mean[0]), float(mean[1]), float(mean[2])), 1.0)
        self.log.warn(
            "pattern-neutral-colour", f"pattern #{pattern.attrs.get('id')} has no shapes; neutral grey", pattern
        )
        return Paint(NEUTRAL_GREY, 1.0)

    def _pattern_server(self, pattern: Element) -> PatternServer:
        """Attributes and content along the href chain: the nearest pattern giving an attribute
        wins; the content is the children of the first pattern that has any (SVG 1.1 §13.3)."""
        attributes: dict[str, str] = {}
        view_box_element: Element | None = None
        content: Element | None = None
        seen: set[int] = set()
        current: Element | None = pattern
        for _ in range(MAX_PAINT_SERVER_CHAIN):
            if current is None or id(current) in seen or current.tag != "pattern":
                break
            seen.add(id(current))
            for name in _PATTERN_ATTRIBUTES:
                value = current.attrs.get(name)
                if value is not None and value.strip() and name not in attributes:
                    attributes[name] = value.strip()
                    if name == "viewBox":
                        view_box_element = current
            if content is None and any(child.tag in DRAWABLE_CONTENT_TAGS for child in current.children):
                content = current
            href = href_of(current)
            target_id = local_reference(href) if href else None
            current = self.ids.get(target_id) if target_id else None
        return PatternServer(pattern, attributes, view_box_element, content or pattern)

    def place_pattern(
        self,
        server: PatternServer,
        bbox: tuple[float, float, float, float],
        context: Context,
        opacity: float,
    ) -> Pattern | Literal["untiled"] | None:
        """``server`` laid on a shape whose geometry bounding box (element user units) is
        ``bbox``, under ``context.ctm``: the tile ``x, y, width, height`` (``patternUnits``), the
        content's units (``viewBox``, else ``patternContentUnits``), ``patternTransform``. None
        where SVG paints nothing: a tile without area, objectBoundingBox units on a box without
        width or height, a non-invertible transform, a pattern inside its own content."""
        element = server.element
        attributes = server.attributes
        box_width, box_height = bbox[2] - bbox[0], bbox[3] - bbox[1]
        bounding_box_units = attributes.get("patternUnits", "objectBoundingBox") != "userSpaceOnUse"
        if bounding_box_units and not (box_width > 0.0 and box_height > 0.0):
            return None
        length_context = LengthContext(1.0, 1.0, context.lengths.font_size) if bounding_box_units else context.lengths

        def value(name: str, axis: str) -> float:
            text = attributes.get(name, "0")
            try:
                return parse_length(text, length_context, axis, clip=self.log.clip, element=element.describe())
            except InvalidValue as exc:
                self.log.warn("invalid-attribute", f"{name}: {exc}; 0 used", element)
                return 0.0

        x, y, width, height = value("x", "x"), value("y", "y"), value("width", "x"), value("height", "y")
        if bounding_box_units:
            x, y = bbox[0] + x * box_width, bbox[1] + y * box_height
            width, height = width * box_width, height * box_height
        if not (width > 0.0 and height > 0.0):
            return None
        transform = IDENTITY
        if "patternTransform" in attributes:
            try:
                transform = parse_transform(
                    attributes["patternTransform"], clip=self.log.clip, element=element.describe()
                )
            except InvalidValue as exc:
                self.log.warn("invalid-attribute", f"patternTransform: {exc}; identity used", element)
        a, b, c, d, e, f = multiply(context.ctm, multiply(transform, (1.0, 0.0, 0.0, 1.0, x, y)))
        determinant = a * d - b * c
        if determinant == 0.0 or not all(math.isfinite(v) for v in (a, b, c, d, e, f, determinant)):
            return None
        view_box = None
        if server.view_box_element is not None:
            view_box = view_box_of(server.view_box_element, self.log.clip, self.log)
        if view_box is not None:
            content_transform = viewbox_to_viewport(
                view_box, width, height, attributes.get("preserveAspectRatio", "xMidYMid meet")
            )
        elif attributes.get("patternContentUnits") == "objectBoundingBox":
            if not (box_width > 0.0 and box_height > 0.0):
                return None
            content_transform = (box_width, 0.0, 0.0, box_height, 0.0, 0.0)
        else:
            content_transform = IDENTITY
        shapes = self._tile_content(server, content_transform, context)
        if shapes is None:
            return None
        if not shapes:
            return "untiled"
        frame = np.array([[e, f], [a + e, b + f], [c + e, d + f]])
        return Pattern(width, height, shapes, frame, opacity)

    def _tile_content(
        self, server: PatternServer, content_transform: Affine, context: Context
    ) -> tuple[Shape, ...] | None:
        """The tile's shapes in pattern space, walked once per content and transform (so a
        pattern shared by many shapes costs its elements once); None inside its own content."""
        key = (id(server.content), tuple(round(v, 9) for v in content_transform))
        if key in self._tiles:
            return self._tiles[key]
        if id(server.content) in self._resolving_patterns:
            self.log.warn("pattern-cycle", "pattern used inside its own content; painted as none", server.element)
            return None
        self._resolving_patterns.add(id(server.content))
        try:
            inner = replace(context, ctm=content_transform, style=dict(INITIAL_STYLE), opacity=1.0, groups=())
            shapes = tuple(self.draw_detached(server.content.children, inner))
        finally:
            self._resolving_patterns.discard(id(server.content))
        self._tiles[key] = shapes
        return shapes


BBox = tuple[float, float, float, float]
"""(x_min, y_min, x_max, y_max) of a shape's geometry in its user units, no stroke."""


class ShapePaint:
    """A shape's fill and stroke from its computed style: paint resolved by ``servers``, a
    gradient or pattern placed on the shape's box, opacities multiplied, stroke properties
    resolved (widths and dashes scaled to root viewport units)."""

    def __init__(self, servers: PaintServers, cascade: Cascade, log: WarningLog, *, clip: str) -> None:
        self.servers = servers
        self.cascade = cascade
        self.log = log
        self.clip = clip

    def placed_paint(
        self, paint: Paint | None, context: Context, bbox: BBox, opacity: float
    ) -> tuple[Paint | None, Gradient | Pattern | None]:
        """A gradient or pattern paint placed on the shape (docs/render.md §11, §13): the mean
        paint and the gradient or pattern, a solid paint where SVG paints one colour, or
        (None, None) where it paints none. ``opacity`` is the fill-/stroke-opacity times the
        group opacity."""
        if paint is not None and paint.pattern is not None:
            pattern = self.servers.place_pattern(paint.pattern, bbox, context, opacity)
            if isinstance(pattern, str):  # "untiled"
                return replace(paint, pattern=None), None
            if pattern is None:  # no tile on this shape: the fallback if given (resvg), else none
                return paint.fallback, None
            return paint, pattern
        if paint is None or paint.gradient is None:
            return paint, None
        placed = self.servers.place_gradient(paint.gradient, bbox, context.ctm, context.lengths, opacity)
        if placed is None or isinstance(placed, Paint):
            return placed, None
        return paint, placed

    def fill(self, element: Element, context: Context, bbox: BBox) -> Fill | None:
        """The fill of a shape element, or None where it paints none (a ``<line>`` never fills)."""
        style = context.style
        if element.tag == "line":
            return None
        paint = self.servers.resolve(style["fill"], style, element, context)
        if paint is None:
            return None
        opacity = clamp_unit(self.cascade.number_property(style["fill-opacity"], 1.0, element, "fill-opacity"))
        paint, server = self.placed_paint(paint, context, bbox, opacity * context.opacity)
        if paint is None:
            return None
        opacity *= paint.alpha * context.opacity
        if opacity <= 0.0:
            return None
        rule: FillRule = "evenodd" if style["fill-rule"].strip() == "evenodd" else "nonzero"
        if isinstance(server, Pattern):
            return Fill(paint.rgb, opacity, rule, pattern=server)
        return Fill(paint.rgb, opacity, rule, server)

    def stroke(self, element: Element, context: Context, scale: float, bbox: BBox) -> Stroke | None:
        """The stroke of a shape element, or None where it paints none; ``scale`` is
        sqrt(|det|) of the CTM, which turns user-unit widths and dashes into root viewport units."""
        style = context.style
        paint = self.servers.resolve(style["stroke"], style, element, context)
        if paint is None:
            return None
        try:
            width = parse_length(
                style["stroke-width"], context.lengths, "other", clip=self.clip, element=element.describe()
            )
        except InvalidValue:
            self.log.warn("invalid-attribute", f"stroke-width {style['stroke-width'][:40]!r}; 1 used", element)
            width = 1.0
        if width <= 0.0:
            return None
        opacity = clamp_unit(self.cascade.number_property(style["stroke-opacity"], 1.0, element, "stroke-opacity"))
        placed, server = self.placed_paint(paint, context, bbox, opacity * context.opacity)
        if placed is None:
            return None
        opacity *= placed.alpha * context.opacity
        if opacity <= 0.0:
            return None
        linecap = style["stroke-linecap"].strip()
        linejoin = style["stroke-linejoin"].strip()
        if linejoin in ("miter-clip", "arcs"):
            linejoin = "miter"
        miter_limit = max(
            1.0, self.cascade.number_property(style["stroke-miterlimit"], 4.0, element, "stroke-miterlimit")
        )
        dashes, dash_offset = self.dashes(element, context)
        return Stroke(
            rgb=placed.rgb,
            width=width * scale,
            opacity=opacity,
            linecap=linecap if linecap in ("butt", "round", "square") else "butt",  # type: ignore[arg-type]
            linejoin=linejoin if linejoin in ("miter", "round", "bevel") else "miter",  # type: ignore[arg-type]
            miter_limit=miter_limit,
            dash_array=tuple(v * scale for v in dashes),
            dash_offset=dash_offset * scale,
            gradient=None if isinstance(server, Pattern) else server,
            pattern=server if isinstance(server, Pattern) else None,
        )

    def dashes(self, element: Element, context: Context) -> tuple[tuple[float, ...], float]:
        """(dash array, dash offset) in user units: () for a solid stroke (none, invalid, a
        negative value or an all-zero array); an odd-length array is repeated to even length."""
        text = context.style["stroke-dasharray"].strip()
        if not text or text == "none":
            return (), 0.0
        values: list[float] = []
        try:
            for part in text.replace(",", " ").split():
                values.append(parse_length(part, context.lengths, "other", clip=self.clip, element=element.describe()))
        except InvalidValue:
            self.log.warn("invalid-attribute", f"stroke-dasharray {text[:40]!r} ignored (solid)", element)
            return (), 0.0
        if not values or any(v < 0 for v in values) or sum(values) <= 0:
            return (), 0.0
        if len(values) % 2:
            values = values * 2
        try:
            offset = parse_length(
                context.style["stroke-dashoffset"], context.lengths, "other", clip=self.clip, element=element.describe()
            )
        except InvalidValue:
            offset = 0.0
        return tuple(values), offset
