"""Walk an SVG element tree and emit painted shapes in document (root viewport) coordinates."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace

import numpy as np

from flexiclip_core.clipart import Fill, ParseWarning, Shape, Stroke, SubPath
from flexiclip_core.errors import SvgLimitExceeded, SvgParseError
from flexiclip_core.svg._geometry import (
    CommandBudgetExceeded,
    PathDataError,
    RawSubPath,
    ellipse_path,
    parse_path_data,
    polyline_path,
    rect_path,
)
from flexiclip_core.svg._style import (
    IDENTITY,
    RGB,
    Affine,
    CssRule,
    InvalidValue,
    LengthContext,
    multiply,
    parse_colour,
    parse_declarations,
    parse_length,
    parse_numbers,
    parse_stylesheet,
    parse_transform,
    parse_url,
)
from flexiclip_core.svg._xml import Element

logger = logging.getLogger(__name__)

INHERITED_PROPERTIES = frozenset(
    {
        "fill",
        "fill-opacity",
        "fill-rule",
        "stroke",
        "stroke-width",
        "stroke-opacity",
        "stroke-linecap",
        "stroke-linejoin",
        "stroke-miterlimit",
        "stroke-dasharray",
        "stroke-dashoffset",
        "visibility",
        "color",
        "font-size",
        "marker-start",
        "marker-mid",
        "marker-end",
    }
)
NON_INHERITED_PROPERTIES = frozenset({"opacity", "display", "clip-path", "mask", "filter", "stop-color", "stop-opacity"})
PROPERTIES = INHERITED_PROPERTIES | NON_INHERITED_PROPERTIES
INITIAL_STYLE: dict[str, str] = {
    "fill": "black",
    "fill-opacity": "1",
    "fill-rule": "nonzero",
    "stroke": "none",
    "stroke-width": "1",
    "stroke-opacity": "1",
    "stroke-linecap": "butt",
    "stroke-linejoin": "miter",
    "stroke-miterlimit": "4",
    "stroke-dasharray": "none",
    "stroke-dashoffset": "0",
    "visibility": "visible",
    "color": "black",
    "font-size": "16px",
    "marker-start": "none",
    "marker-mid": "none",
    "marker-end": "none",
}

SHAPE_TAGS = frozenset({"path", "rect", "circle", "ellipse", "line", "polyline", "polygon"})
CONTAINER_TAGS = frozenset({"g", "a", "switch", "svg"})
TEXT_TAGS = frozenset({"text", "flowRoot"})
NEVER_DRAWN_TAGS = frozenset(
    {
        "defs",
        "symbol",
        "clipPath",
        "mask",
        "pattern",
        "marker",
        "linearGradient",
        "radialGradient",
        "filter",
        "style",
        "title",
        "desc",
        "metadata",
        "script",
        "foreignObject",
        "font",
        "font-face",
        "cursor",
        "view",
    }
)
NEUTRAL_GREY: RGB = (0.5, 0.5, 0.5)
MAX_WARNINGS = 200
MAX_PAINT_SERVER_CHAIN = 32
_SVG11_FEATURE_PREFIX = "http://www.w3.org/TR/SVG11/feature#"


@dataclass(frozen=True)
class Context:
    """What an element inherits from its ancestors."""

    ctm: Affine
    """Element user units → root viewport units."""
    style: dict[str, str]
    """Computed inherited properties."""
    opacity: float
    """Product of ancestors' `opacity`."""
    groups: tuple[str, ...]
    lengths: LengthContext
    depth: int
    active_references: frozenset[int] = field(default_factory=frozenset)
    """ids (Python ``id``) of elements being instantiated by enclosing <use>s, against cycles."""


@dataclass(frozen=True)
class Paint:
    rgb: RGB
    alpha: float


def _index_ids(root: Element) -> dict[str, Element]:
    ids: dict[str, Element] = {}
    stack = [root]
    while stack:
        element = stack.pop()
        element_id = element.attrs.get("id")
        if element_id and element_id not in ids:
            ids[element_id] = element
        stack.extend(reversed(element.children))
    return ids


def _collect_stylesheets(root: Element) -> list[Element]:
    sheets = []
    stack = [root]
    while stack:
        element = stack.pop()
        if element.tag == "style":
            sheets.append(element)
        stack.extend(reversed(element.children))
    return sheets


def _local_reference(value: str) -> str | None:
    """The id of a same-document reference ``#id``, else None."""
    value = value.strip()
    if value.startswith("#") and len(value) > 1:
        return value[1:]
    return None


def _clamp_unit(value: float) -> float:
    return min(max(value, 0.0), 1.0)


def expanded_extent(root: Element, ids: dict[str, Element], cap: int) -> tuple[int, int]:
    """(elements, nesting depth) of the tree once every local <use> is expanded, each capped
    at ``cap`` + 1; computed iteratively with memoisation, so nested-<use> bombs are measured
    in time linear in the file without instantiating anything. Reference cycles count once."""
    sizes: dict[int, int] = {}
    depths: dict[int, int] = {}
    in_progress: set[int] = set()

    def successors(element: Element) -> list[Element]:
        following = list(element.children)
        if element.tag == "use":
            href = element.attrs.get("href") or element.attrs.get("xlink:href") or ""
            target = ids.get(_local_reference(href) or "")
            if target is not None:
                following.append(target)
        return following

    stack: list[tuple[Element, bool]] = [(root, False)]
    while stack:
        element, expanded = stack.pop()
        key = id(element)
        if expanded:
            in_progress.discard(key)
            size, depth = 1, 1
            for successor in successors(element):
                size += sizes.get(id(successor), 0)
                depth = max(depth, 1 + depths.get(id(successor), 0))
            sizes[key] = min(size, cap + 1)
            depths[key] = min(depth, cap + 1)
            continue
        if key in sizes or key in in_progress:
            continue
        in_progress.add(key)
        stack.append((element, True))
        stack.extend((successor, False) for successor in successors(element) if id(successor) not in sizes)
    return sizes[id(root)], depths[id(root)]


class DocumentWalker:
    """One parse: walks the tree once and accumulates shapes, warnings and counters."""

    def __init__(self, root: Element, *, clip: str, max_elements: int, max_depth: int, max_path_commands: int) -> None:
        self.root = root
        self.clip = clip
        self.max_elements = max_elements
        self.max_depth = max_depth
        self.max_path_commands = max_path_commands
        self.ids = _index_ids(root)
        elements, depth = expanded_extent(root, self.ids, max(max_elements, max_depth))
        if elements > max_elements:
            raise SvgLimitExceeded(
                f"more than max_elements={max_elements} elements once <use> references are expanded",
                limit="max_elements",
                clip=clip,
            )
        if depth > max_depth:
            raise SvgLimitExceeded(
                f"nesting deeper than max_depth={max_depth} once <use> references are expanded",
                limit="max_depth",
                clip=clip,
            )
        self.shapes: list[Shape] = []
        self.warnings: list[ParseWarning] = []
        self._warning_keys: set[tuple[str, str]] = set()
        self.instantiated_elements = 0
        self.path_commands = 0
        self._geometry_cache: dict[int, tuple[list[RawSubPath], int]] = {}
        self._paint_cache: dict[int, Paint | None] = {}
        self._resolving_patterns: set[int] = set()
        self.css_rules: list[CssRule] = []
        for sheet in _collect_stylesheets(root):
            if sheet.attrs.get("type", "text/css").strip().lower() not in ("text/css", ""):
                self.warn("style-unsupported", f"stylesheet of type {sheet.attrs['type']!r} ignored", sheet)
                continue
            rules, unsupported = parse_stylesheet(sheet.text)
            for selector in unsupported:
                if selector.lower().startswith("@import"):
                    self.warn("external-href", f"stylesheet import {selector[:80]!r} ignored, nothing fetched", sheet)
                else:
                    self.warn("css-selector-unsupported", f"CSS selector or rule {selector[:60]!r} ignored", sheet)
            self.css_rules.extend(rules)
        self.css_rules.sort(key=lambda rule: (rule.selector.specificity, rule.order))

    # --- bookkeeping --------------------------------------------------------------------------

    def warn(self, code: str, message: str, element: Element | None = None) -> None:
        self.warn_text(code, message, element.describe() if element is not None else "")

    def warn_text(self, code: str, message: str, where: str) -> None:
        key = (code, where)
        if key in self._warning_keys:
            return
        self._warning_keys.add(key)
        if len(self.warnings) == MAX_WARNINGS:
            self.warnings.append(ParseWarning("warnings-truncated", f"more than {MAX_WARNINGS} warnings; rest dropped"))
        if len(self.warnings) > MAX_WARNINGS:
            return
        logger.debug("clip %r: %s %s: %s", self.clip, where, code, message)
        self.warnings.append(ParseWarning(code, message, where))

    def _count_element(self, element: Element) -> None:
        self.instantiated_elements += 1
        if self.instantiated_elements > self.max_elements:
            raise SvgLimitExceeded(
                f"more than max_elements={self.max_elements} elements once <use> references are expanded",
                limit="max_elements",
                clip=self.clip,
                element=element.describe(),
            )

    def _count_commands(self, commands: int, element: Element) -> None:
        self.path_commands += commands
        if self.path_commands > self.max_path_commands:
            raise SvgLimitExceeded(
                f"more than max_path_commands={self.max_path_commands} path commands and points",
                limit="max_path_commands",
                clip=self.clip,
                element=element.describe(),
            )

    def error(self, message: str, element: Element) -> SvgParseError:
        return SvgParseError(message, clip=self.clip, element=element.describe())

    # --- values -------------------------------------------------------------------------------

    def length(self, element: Element, name: str, context: LengthContext, axis: str, default: float = 0.0) -> float:
        value = element.attrs.get(name)
        if value is None or not value.strip():
            return default
        try:
            return parse_length(value, context, axis, clip=self.clip, element=element.describe())
        except InvalidValue as exc:
            self.warn("invalid-attribute", f"{name}: {exc}", element)
            return default

    def transform_of(self, element: Element) -> Affine:
        value = element.attrs.get("transform")
        if not value or not value.strip():
            return IDENTITY
        try:
            return parse_transform(value, clip=self.clip, element=element.describe())
        except InvalidValue as exc:
            self.warn("invalid-transform", f"{exc}; transform ignored", element)
            return IDENTITY

    def specified_style(self, element: Element) -> dict[str, str]:
        """Presentation attributes < stylesheet rules (by specificity) < style attribute."""
        specified = {name: value.strip() for name, value in element.attrs.items() if name in PROPERTIES}
        if self.css_rules:
            element_id = element.attrs.get("id")
            classes = frozenset(element.attrs.get("class", "").split())
            for rule in self.css_rules:
                if rule.selector.matches(element.tag, element_id, classes):
                    specified.update((k, v) for k, v in rule.declarations.items() if k in PROPERTIES)
        style_attribute = element.attrs.get("style")
        if style_attribute:
            declarations = parse_declarations(style_attribute)
            if "marker" in declarations:
                for name in ("marker-start", "marker-mid", "marker-end"):
                    declarations.setdefault(name, declarations["marker"])
            specified.update((k, v) for k, v in declarations.items() if k in PROPERTIES)
        if "marker" in element.attrs:
            for name in ("marker-start", "marker-mid", "marker-end"):
                specified.setdefault(name, element.attrs["marker"])
        return specified

    def compute_style(self, element: Element, parent: Context) -> tuple[dict[str, str], dict[str, str]]:
        """(inherited computed properties, non-inherited specified properties) of ``element``."""
        specified = self.specified_style(element)
        style = dict(parent.style)
        own: dict[str, str] = {}
        for name, value in specified.items():
            if value == "inherit":
                if name in INHERITED_PROPERTIES:
                    continue
                value = parent.style.get(name, "")
            if name in INHERITED_PROPERTIES:
                style[name] = value
            else:
                own[name] = value
        if "font-size" in specified and specified["font-size"] != "inherit":
            try:
                parent_font = parent.lengths.font_size
                size = parse_length(
                    specified["font-size"],
                    LengthContext(parent_font * 100.0, parent_font * 100.0, parent_font),
                    "x",
                    clip=self.clip,
                    element=element.describe(),
                )
                style["font-size"] = f"{size}px"
            except InvalidValue:
                style["font-size"] = parent.style["font-size"]
        return style, own

    def number_property(self, value: str, default: float, element: Element, name: str) -> float:
        text = value.strip()
        try:
            if text.endswith("%"):
                number = float(text[:-1]) / 100.0
            else:
                number = float(text)
        except ValueError:
            self.warn("invalid-attribute", f"{name}: invalid number {text[:40]!r}", element)
            return default
        if not math.isfinite(number):
            raise self.error(f"non-finite {name} {text[:40]!r}", element)
        return number

    # --- paint --------------------------------------------------------------------------------

    def resolve_paint(self, value: str, style: dict[str, str], element: Element, context: Context) -> Paint | None:
        text = value.strip()
        if not text or text == "none":
            return None
        url = parse_url(text)
        if url is not None:
            reference, fallback = url
            target_id = _local_reference(reference)
            if target_id is None:
                self.warn("external-href", f"paint server {reference[:80]!r} is not a local #id; ignored", element)
                return self.resolve_paint(fallback, style, element, context) if fallback else None
            target = self.ids.get(target_id)
            if target is None:
                if fallback:
                    return self.resolve_paint(fallback, style, element, context)
                self.warn("missing-paint-server", f"paint server #{target_id} not found; painted as none", element)
                return None
            return self.paint_server(target, element, context)
        if text.lower() == "currentcolor":
            text = style.get("color", "black")
            if text.lower() == "currentcolor":
                text = "black"
        colour = parse_colour(text)
        if colour is None:
            self.warn("invalid-colour", f"unknown colour {text[:40]!r}; painted black", element)
            return Paint((0.0, 0.0, 0.0), 1.0)
        return Paint(colour[0], colour[1])

    def paint_server(self, server: Element, element: Element, context: Context) -> Paint | None:
        key = id(server)
        if server.tag in ("linearGradient", "radialGradient"):
            if key not in self._paint_cache:
                self._paint_cache[key] = self.gradient_mean(server)
            self.warn(
                "gradient-mean-colour",
                f"gradient #{server.attrs.get('id')} approximated by its mean stop colour",
                element,
            )
            return self._paint_cache[key]
        if server.tag == "pattern":
            if key not in self._paint_cache:
                self._paint_cache[key] = self.pattern_mean(server, context)
            return self._paint_cache[key]
        self.warn("invalid-paint-server", f"<{server.tag}> is not a paint server; painted as none", element)
        return None

    def _stops(self, gradient: Element) -> list[Element]:
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
            href = current.attrs.get("href") or current.attrs.get("xlink:href")
            if not href:
                break
            target_id = _local_reference(href)
            if target_id is None:
                self.warn("external-href", f"gradient href {href[:80]!r} ignored", current)
                break
            current = self.ids.get(target_id)
            if current is not None and current.tag not in ("linearGradient", "radialGradient"):
                break
        return []

    def gradient_mean(self, gradient: Element) -> Paint | None:
        """Mean colour over the gradient parameter t ∈ [0, 1], stops linearly interpolated and
        padded, weighted by opacity (premultiplied), and the mean opacity."""
        stops = self._stops(gradient)
        if not stops:
            return None
        offsets: list[float] = []
        colours: list[RGB] = []
        alphas: list[float] = []
        previous = 0.0
        root_context = Context(IDENTITY, dict(INITIAL_STYLE), 1.0, (), LengthContext(1.0, 1.0), 0)
        for stop in stops:
            style, own = self.compute_style(stop, root_context)
            offset_text = stop.attrs.get("offset", "0")
            offset = _clamp_unit(self.number_property(offset_text, 0.0, stop, "offset"))
            previous = max(previous, offset)
            colour_text = own.get("stop-color", "black")
            if colour_text.lower() == "currentcolor":
                colour_text = style.get("color", "black")
            colour = parse_colour(colour_text)
            if colour is None:
                self.warn("invalid-colour", f"unknown stop colour {colour_text[:40]!r}; black", stop)
                colour = ((0.0, 0.0, 0.0), 1.0)
            opacity = _clamp_unit(self.number_property(own.get("stop-opacity", "1"), 1.0, stop, "stop-opacity"))
            offsets.append(previous)
            colours.append(colour[0])
            alphas.append(colour[1] * opacity)
        premultiplied = np.array([[c * a for c in rgb] for rgb, a in zip(colours, alphas)])  # [S, 3]
        alpha = np.array(alphas)  # [S]
        positions = np.array(offsets)  # [S]
        # Integral of the piecewise-linear ramp: pads before the first and after the last stop.
        weight_start = positions[0]
        weight_end = 1.0 - positions[-1]
        widths = np.diff(positions)  # [S-1]
        mean_premultiplied = weight_start * premultiplied[0] + weight_end * premultiplied[-1]
        mean_alpha = weight_start * alpha[0] + weight_end * alpha[-1]
        if len(widths):
            mean_premultiplied = mean_premultiplied + (widths[:, None] * (premultiplied[:-1] + premultiplied[1:]) / 2.0).sum(axis=0)
            mean_alpha = mean_alpha + float((widths * (alpha[:-1] + alpha[1:]) / 2.0).sum())
        if mean_alpha <= 1e-9:
            return Paint(colours[0], 0.0)
        rgb = tuple(float(_clamp_unit(v)) for v in mean_premultiplied / mean_alpha)
        return Paint(rgb, float(_clamp_unit(mean_alpha)))  # type: ignore[arg-type]

    def pattern_mean(self, pattern: Element, context: Context) -> Paint:
        """Mean fill colour of the pattern's own shapes, or neutral grey when it has none."""
        key = id(pattern)
        content = pattern
        seen: set[int] = set()
        while not any(child.tag in SHAPE_TAGS | CONTAINER_TAGS | {"use"} for child in content.children):
            href = content.attrs.get("href") or content.attrs.get("xlink:href")
            target = self.ids.get(_local_reference(href) or "") if href else None
            if target is None or target.tag != "pattern" or id(target) in seen:
                break
            seen.add(id(target))
            content = target
        colours: list[RGB] = []
        if key not in self._resolving_patterns:
            self._resolving_patterns.add(key)
            saved = self.shapes
            self.shapes = []
            try:
                inner = replace(context, style=dict(INITIAL_STYLE), opacity=1.0)
                for child in content.children:
                    self.walk(child, inner)
                colours = [shape.fill.rgb for shape in self.shapes if shape.fill is not None]
            finally:
                self.shapes = saved
                self._resolving_patterns.discard(key)
        if colours:
            self.warn("pattern-mean-colour", f"pattern #{pattern.attrs.get('id')} approximated by the mean colour of its shapes", pattern)
            mean = np.mean(np.array(colours), axis=0)
            return Paint((float(mean[0]), float(mean[1]), float(mean[2])), 1.0)
        self.warn("pattern-neutral-colour", f"pattern #{pattern.attrs.get('id')} has no shapes; neutral grey", pattern)
        return Paint(NEUTRAL_GREY, 1.0)

    # --- walking ------------------------------------------------------------------------------

    def passes_conditions(self, element: Element) -> bool:
        """SVG conditional processing: requiredExtensions never match; SVG 1.1 features do."""
        if "requiredExtensions" in element.attrs:
            return False
        features = element.attrs.get("requiredFeatures")
        if features is not None and not all(f.startswith(_SVG11_FEATURE_PREFIX) for f in features.split()):
            return False
        languages = element.attrs.get("systemLanguage")
        if languages is not None and not any(lang.strip().lower().startswith("en") for lang in languages.split(",")):
            return False
        return True

    def child_context(self, element: Element, parent: Context) -> tuple[Context, dict[str, str]] | None:
        """The context ``element``'s content inherits, or None when it is not rendered."""
        self._count_element(element)
        if parent.depth + 1 > self.max_depth:
            raise SvgLimitExceeded(
                f"nesting deeper than max_depth={self.max_depth} once <use> references are expanded",
                limit="max_depth",
                clip=self.clip,
                element=element.describe(),
            )
        style, own = self.compute_style(element, parent)
        if own.get("display", "").strip() == "none":
            return None
        opacity = parent.opacity
        if "opacity" in own:
            opacity *= _clamp_unit(self.number_property(own["opacity"], 1.0, element, "opacity"))
        for name, code in (("clip-path", "clip-path-ignored"), ("mask", "mask-ignored"), ("filter", "filter-ignored")):
            value = own.get(name, "none").strip()
            if value and value != "none":
                self.warn(code, f"{name} {value[:60]!r} ignored (drawn unclipped/unfiltered)", element)
        ctm = multiply(parent.ctm, self.transform_of(element))
        if not all(math.isfinite(v) for v in ctm):
            raise self.error("coordinate overflow in the composed transform", element)
        font_size = parent.lengths.font_size
        if style.get("font-size") != parent.style.get("font-size"):
            try:
                font_size = float(style["font-size"].removesuffix("px"))
            except ValueError:
                pass
        lengths = parent.lengths if font_size == parent.lengths.font_size else replace(parent.lengths, font_size=font_size)
        context = Context(ctm, style, opacity, parent.groups, lengths, parent.depth + 1, parent.active_references)
        return context, own

    def walk(self, element: Element, parent: Context) -> None:
        tag = element.tag
        if not element.is_svg:
            self._count_element(element)
            return
        if tag in NEVER_DRAWN_TAGS:
            self._count_element(element)
            return
        if not self.passes_conditions(element):
            self._count_element(element)
            return
        resolved = self.child_context(element, parent)
        if resolved is None:
            return
        context, _ = resolved
        if tag in SHAPE_TAGS:
            self.draw_shape(element, context)
        elif tag in ("g", "a"):
            group_id = element.attrs.get("id") or f"g#{element.ordinal}"
            if tag == "g":
                context = replace(context, groups=context.groups + (group_id,))
            for child in element.children:
                self.walk(child, context)
        elif tag == "switch":
            for child in element.children:
                if self.passes_conditions(child):
                    self.walk(child, context)
                    break
        elif tag == "svg":
            self.walk_viewport(element, context, element, None, None)
        elif tag == "use":
            self.walk_use(element, context)
        elif tag in TEXT_TAGS:
            self.warn("text-skipped", "text is not converted to outlines; skipped", element)
        elif tag == "image":
            href = element.attrs.get("href") or element.attrs.get("xlink:href") or ""
            if href and not href.startswith("data:") and not href.startswith("#"):
                self.warn("external-href", f"image href {href[:80]!r} not fetched", element)
            self.warn("image-skipped", "raster <image> skipped", element)
        else:
            self.warn("element-unsupported", f"<{tag}> is not drawn", element)

    def viewport_transform(self, width: float, height: float, view_box_source: Element) -> tuple[Affine, LengthContext | None]:
        """viewBox → viewport (width × height at the origin) with preserveAspectRatio, and the
        length context of the new user space (None without a viewBox)."""
        view_box_text = view_box_source.attrs.get("viewBox")
        if not view_box_text:
            return IDENTITY, None
        numbers = parse_numbers(view_box_text, "viewBox", clip=self.clip, element=view_box_source.describe())
        if len(numbers) != 4 or numbers[2] <= 0 or numbers[3] <= 0:
            self.warn("invalid-attribute", f"viewBox {view_box_text[:60]!r} ignored", view_box_source)
            return IDENTITY, None
        preserve = view_box_source.attrs.get("preserveAspectRatio", "")
        return viewbox_to_viewport(numbers, width, height, preserve), LengthContext(numbers[2], numbers[3])

    def walk_viewport(
        self,
        element: Element,
        context: Context,
        content: Element,
        width_override: float | None,
        height_override: float | None,
    ) -> None:
        """A nested <svg> or an instantiated <symbol>: a new viewport with its own viewBox."""
        lengths = context.lengths
        x = self.length(element, "x", lengths, "x") if element is content else 0.0
        y = self.length(element, "y", lengths, "y") if element is content else 0.0
        width = width_override if width_override is not None else self.length(element, "width", lengths, "x", lengths.viewport_width)
        height = height_override if height_override is not None else self.length(element, "height", lengths, "y", lengths.viewport_height)
        if width <= 0 or height <= 0:
            return
        transform, inner_lengths = self.viewport_transform(width, height, content)
        ctm = multiply(context.ctm, multiply((1.0, 0.0, 0.0, 1.0, x, y), transform))
        inner_lengths = inner_lengths or LengthContext(width, height)
        inner_lengths = replace(inner_lengths, font_size=lengths.font_size)
        inner = replace(context, ctm=ctm, lengths=inner_lengths)
        for child in content.children:
            self.walk(child, inner)

    def walk_use(self, element: Element, context: Context) -> None:
        href = element.attrs.get("href") or element.attrs.get("xlink:href")
        if not href:
            return
        target_id = _local_reference(href)
        if target_id is None:
            self.warn("external-href", f"<use> href {href[:80]!r} is not a local #id; ignored, nothing fetched", element)
            return
        target = self.ids.get(target_id)
        if target is None:
            self.warn("missing-reference", f"<use> target #{target_id} not found", element)
            return
        if id(target) in context.active_references or target is self.root:
            self.warn("use-cycle", f"<use> of #{target_id} refers to itself; skipped", element)
            return
        lengths = context.lengths
        x = self.length(element, "x", lengths, "x")
        y = self.length(element, "y", lengths, "y")
        instance_id = element.attrs.get("id") or f"use#{element.ordinal}"
        ctm = multiply(context.ctm, (1.0, 0.0, 0.0, 1.0, x, y))
        inner = replace(
            context,
            ctm=ctm,
            groups=context.groups + (instance_id,),
            active_references=context.active_references | {id(target)},
        )
        if target.tag in ("symbol", "svg"):
            resolved = self.child_context(target, inner)
            if resolved is None:
                return
            symbol_context, _ = resolved
            width = self.length(element, "width", lengths, "x", -1.0)
            height = self.length(element, "height", lengths, "y", -1.0)
            self.walk_viewport(
                target,
                symbol_context,
                target,
                width if width >= 0 else None,
                height if height >= 0 else None,
            )
            return
        self.walk(target, inner)

    # --- shapes -------------------------------------------------------------------------------

    def geometry(self, element: Element, context: Context) -> list[RawSubPath]:
        """Untransformed subpaths of a basic shape or path (paths cached per element)."""
        tag = element.tag
        lengths = context.lengths
        if tag == "path":
            key = id(element)
            if key not in self._geometry_cache:
                budget = self.max_path_commands - self.path_commands
                try:
                    parsed = parse_path_data(
                        element.attrs.get("d", ""), clip=self.clip, element=element.describe(), max_commands=budget
                    )
                except CommandBudgetExceeded as exc:
                    self._count_commands(exc.commands + 1, element)
                    raise  # pragma: no cover - _count_commands raised already
                except PathDataError as exc:
                    self.warn("path-data-error", f"{exc}; drawn up to the error", element)
                    parsed = (exc.partial, exc.commands)
                self._geometry_cache[key] = parsed
            subpaths, commands = self._geometry_cache[key]
            self._count_commands(commands, element)
            return subpaths
        if tag == "rect":
            x = self.length(element, "x", lengths, "x")
            y = self.length(element, "y", lengths, "y")
            width = self.length(element, "width", lengths, "x")
            height = self.length(element, "height", lengths, "y")
            if width <= 0 or height <= 0:
                return []
            rx_given = "rx" in element.attrs and element.attrs["rx"].strip() not in ("", "auto")
            ry_given = "ry" in element.attrs and element.attrs["ry"].strip() not in ("", "auto")
            rx = self.length(element, "rx", lengths, "x") if rx_given else 0.0
            ry = self.length(element, "ry", lengths, "y") if ry_given else 0.0
            if rx_given and not ry_given:
                ry = rx
            elif ry_given and not rx_given:
                rx = ry
            rx = min(max(rx, 0.0), width / 2.0)
            ry = min(max(ry, 0.0), height / 2.0)
            self._count_commands(4, element)
            return [rect_path(x, y, width, height, rx, ry)]
        if tag in ("circle", "ellipse"):
            cx = self.length(element, "cx", lengths, "x")
            cy = self.length(element, "cy", lengths, "y")
            if tag == "circle":
                rx = ry = self.length(element, "r", lengths, "other")
            else:
                rx = self.length(element, "rx", lengths, "x", -1.0)
                ry = self.length(element, "ry", lengths, "y", -1.0)
                if rx < 0 <= ry:
                    rx = ry
                elif ry < 0 <= rx:
                    ry = rx
            if rx <= 0 or ry <= 0:
                return []
            self._count_commands(4, element)
            return [ellipse_path(cx, cy, rx, ry)]
        if tag == "line":
            coordinates = [
                self.length(element, "x1", lengths, "x"),
                self.length(element, "y1", lengths, "y"),
                self.length(element, "x2", lengths, "x"),
                self.length(element, "y2", lengths, "y"),
            ]
            self._count_commands(2, element)
            path = polyline_path(coordinates, closed=False)
            return [path] if path else []
        # polyline / polygon
        coordinates = parse_numbers(element.attrs.get("points", ""), "points", clip=self.clip, element=element.describe())
        if len(coordinates) % 2:
            self.warn("invalid-attribute", "odd number of coordinates in points; last one dropped", element)
            coordinates = coordinates[:-1]
        self._count_commands(len(coordinates) // 2, element)
        path = polyline_path(coordinates, closed=tag == "polygon")
        return [path] if path else []

    def draw_shape(self, element: Element, context: Context) -> None:
        style = context.style
        raw_subpaths = self.geometry(element, context)
        if not raw_subpaths:
            return
        if style.get("visibility", "visible").strip() in ("hidden", "collapse"):
            return
        a, b, c, d, e, f = context.ctm
        determinant = a * d - b * c
        if determinant == 0.0 or not math.isfinite(determinant):
            return
        linear = np.array([[a, c], [b, d]])
        offset = np.array([e, f])
        subpaths = []
        for flat, closed in raw_subpaths:
            local = np.asarray(flat, dtype=np.float64).reshape(-1, 2)
            points = local @ linear.T + offset
            if not np.isfinite(points).all():
                raise self.error("coordinate overflow after transform", element)
            subpaths.append(SubPath(points, closed))
        fill = self.make_fill(element, context)
        stroke = self.make_stroke(element, context, math.sqrt(abs(determinant)))
        if fill is None and stroke is None:
            return
        markers = [style.get(name, "none").strip() for name in ("marker-start", "marker-mid", "marker-end")]
        if any(m and m != "none" for m in markers):
            self.warn("marker-ignored", "markers are not drawn", element)
        self.shapes.append(Shape(tuple(subpaths), fill, stroke, element.describe(), context.groups))

    def make_fill(self, element: Element, context: Context) -> Fill | None:
        style = context.style
        if element.tag == "line":
            return None
        paint = self.resolve_paint(style["fill"], style, element, context)
        if paint is None:
            return None
        opacity = _clamp_unit(self.number_property(style["fill-opacity"], 1.0, element, "fill-opacity"))
        opacity *= paint.alpha * context.opacity
        if opacity <= 0.0:
            return None
        rule = "evenodd" if style["fill-rule"].strip() == "evenodd" else "nonzero"
        return Fill(paint.rgb, opacity, rule)

    def make_stroke(self, element: Element, context: Context, scale: float) -> Stroke | None:
        style = context.style
        paint = self.resolve_paint(style["stroke"], style, element, context)
        if paint is None:
            return None
        try:
            width = parse_length(style["stroke-width"], context.lengths, "other", clip=self.clip, element=element.describe())
        except InvalidValue:
            self.warn("invalid-attribute", f"stroke-width {style['stroke-width'][:40]!r}; 1 used", element)
            width = 1.0
        if width <= 0.0:
            return None
        opacity = _clamp_unit(self.number_property(style["stroke-opacity"], 1.0, element, "stroke-opacity"))
        opacity *= paint.alpha * context.opacity
        if opacity <= 0.0:
            return None
        linecap = style["stroke-linecap"].strip()
        linejoin = style["stroke-linejoin"].strip()
        if linejoin in ("miter-clip", "arcs"):
            linejoin = "miter"
        miter_limit = max(1.0, self.number_property(style["stroke-miterlimit"], 4.0, element, "stroke-miterlimit"))
        dashes, dash_offset = self.dashes(element, context)
        return Stroke(
            rgb=paint.rgb,
            width=width * scale,
            opacity=opacity,
            linecap=linecap if linecap in ("butt", "round", "square") else "butt",  # type: ignore[arg-type]
            linejoin=linejoin if linejoin in ("miter", "round", "bevel") else "miter",  # type: ignore[arg-type]
            miter_limit=miter_limit,
            dash_array=tuple(v * scale for v in dashes),
            dash_offset=dash_offset * scale,
        )

    def dashes(self, element: Element, context: Context) -> tuple[tuple[float, ...], float]:
        text = context.style["stroke-dasharray"].strip()
        if not text or text == "none":
            return (), 0.0
        values: list[float] = []
        try:
            for part in text.replace(",", " ").split():
                values.append(parse_length(part, context.lengths, "other", clip=self.clip, element=element.describe()))
        except InvalidValue:
            self.warn("invalid-attribute", f"stroke-dasharray {text[:40]!r} ignored (solid)", element)
            return (), 0.0
        if not values or any(v < 0 for v in values) or sum(values) <= 0:
            return (), 0.0
        if len(values) % 2:
            values = values * 2
        try:
            offset = parse_length(context.style["stroke-dashoffset"], context.lengths, "other", clip=self.clip, element=element.describe())
        except InvalidValue:
            offset = 0.0
        return tuple(values), offset


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
