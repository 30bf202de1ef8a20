"""Paint servers: ``fill``/``stroke`` values → what a shape is painted with.

Colours resolve exactly. Gradients are read into their stops (``href`` chains followed) and,
for now, reduced to one colour by `mean_colour`; patterns to the mean fill of their own shapes
(see the package docstring for the warnings). A renderer that draws gradients will take the
stops from `PaintServers.gradient_stops` instead of the mean.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from flexiclip_core.clipart import Shape
from flexiclip_core.svg._cascade import INITIAL_STYLE, Cascade, Context, clamp_unit, initial_context
from flexiclip_core.svg._references import href_of, local_reference
from flexiclip_core.svg._style import IDENTITY, RGB, LengthContext, parse_colour, parse_url
from flexiclip_core.svg._tags import DRAWABLE_CONTENT_TAGS, GRADIENT_TAGS
from flexiclip_core.svg._warnings import WarningLog
from flexiclip_core.svg._xml import Element

NEUTRAL_GREY: RGB = (0.5, 0.5, 0.5)
MAX_PAINT_SERVER_CHAIN = 32
"""Longest gradient ``href`` chain followed for stops."""


@dataclass(frozen=True)
class Paint:
    """A solid paint: colour and its alpha (before fill/stroke-opacity)."""

    rgb: RGB
    alpha: float


@dataclass(frozen=True)
class GradientStop:
    """One stop of a gradient ramp."""

    offset: float
    """Position in [0, 1], never below the previous stop's (SVG clamps it so)."""
    rgb: RGB
    alpha: float
    """Alpha of the stop colour times ``stop-opacity``."""


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

    def resolve(self, value: str, style: dict[str, str], element: Element, context: Context) -> Paint | None:
        """The paint of a ``fill``/``stroke`` value, or None for none."""
        text = value.strip()
        if not text or text == "none":
            return None
        url = parse_url(text)
        if url is not None:
            reference, fallback = url
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
            return self.server_paint(target, element, context)
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
                self._cache[key] = mean_colour(stops) if stops else None
            self.log.warn(
                "gradient-mean-colour",
                f"gradient #{server.attrs.get('id')} approximated by its mean stop colour",
                element,
            )
            return self._cache[key]
        if server.tag == "pattern":
            if key not in self._cache:
                self._cache[key] = self._pattern_mean(server, context)
            return self._cache[key]
        self.log.warn("invalid-paint-server", f"<{server.tag}> is not a paint server; painted as none", element)
        return None

    # --- gradients ----------------------------------------------------------------------------

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
                f"pattern #{pattern.attrs.get('id')} approximated by the mean colour of its shapes",
                pattern,
            )
            mean = np.mean(np.array(colours), axis=0)
            return Paint((float(mean[0]), float(mean[1]), float(mean[2])), 1.0)
        self.log.warn(
            "pattern-neutral-colour", f"pattern #{pattern.attrs.get('id')} has no shapes; neutral grey", pattern
        )
        return Paint(NEUTRAL_GREY, 1.0)
