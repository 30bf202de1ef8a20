"""Walk an SVG element tree and emit painted shapes in document (root viewport) coordinates.

The walker owns the traversal: conditional processing, ``<use>`` instantiation, nesting and
element limits, basic-shape geometry and how a shape's fill and stroke are built. It delegates
styles and attribute values to `_cascade.Cascade`, paint values to `_paint.PaintServers` and
nested viewports to `_viewport`.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from flexiclip_core.clipart import Fill, Gradient, ParseWarning, Pattern, Shape, Stroke, SubPath
from flexiclip_core.errors import SvgLimitExceeded, SvgParseError
from flexiclip_core.svg._cascade import Cascade, Context, clamp_unit, initial_context
from flexiclip_core.svg._clip import clip_shapes_to_viewport
from flexiclip_core.svg._clip_paths import NOT_RENDERED, ClipPaths
from flexiclip_core.svg._geometry import (
    CommandBudgetExceeded,
    PathDataError,
    RawSubPath,
    cubic_bounds,
    ellipse_path,
    parse_path_data,
    polyline_path,
    rect_path,
    shapes_bounds,
)
from flexiclip_core.svg._paint import Paint, PaintServers
from flexiclip_core.svg._references import cyclic_uses, expanded_extent, href_of, index_ids, local_reference
from flexiclip_core.svg._style import (
    IDENTITY,
    Affine,
    InvalidValue,
    LengthContext,
    multiply,
    parse_length,
    parse_numbers,
)
from flexiclip_core.svg._tags import NEVER_DRAWN_TAGS, SHAPE_TAGS, SWITCH_CANDIDATE_TAGS, TEXT_TAGS
from flexiclip_core.svg._viewport import nested_viewport
from flexiclip_core.svg._warnings import WarningLog
from flexiclip_core.svg._xml import Element

_SVG11_FEATURE_PREFIX = "http://www.w3.org/TR/SVG11/feature#"
_CLIPPING_PROPERTIES = (("mask", "mask-ignored"), ("filter", "filter-ignored"))


class DocumentWalker:
    """One parse: walks the tree once and accumulates shapes, warnings and counters."""

    def __init__(self, root: Element, *, clip: str, max_elements: int, max_depth: int, max_path_commands: int) -> None:
        self.root = root
        self.clip = clip
        self.max_elements = max_elements
        self.max_depth = max_depth
        self.max_path_commands = max_path_commands
        self.ids = index_ids(root)
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
        self.cyclic_uses = cyclic_uses(root, self.ids)
        self.shapes: list[Shape] = []
        self.log = WarningLog(clip)
        self.instantiated_elements = 0
        self.path_commands = 0
        self._geometry_cache: dict[int, tuple[list[RawSubPath], int]] = {}
        self._shape_bounds: dict[int, tuple[Shape, np.ndarray]] = {}
        self.unpainted: list[Shape] = []
        """Geometry of rendered shapes that paint nothing (hidden, no paint, opacity 0): it still
        counts in a group's object bounding box (SVG 2 §8.10, as resvg does)."""
        self.cascade = Cascade(root, self.log)
        self.paint = PaintServers(self.ids, self.cascade, self.log, self._draw_detached)
        self.clip_paths = ClipPaths(self)

    @property
    def warnings(self) -> list[ParseWarning]:
        return self.log.warnings

    # --- bookkeeping --------------------------------------------------------------------------

    def warn(self, code: str, message: str, element: Element | None = None) -> None:
        self.log.warn(code, message, element)

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

    # --- walking ------------------------------------------------------------------------------

    def walk_document(self, root_ctm: Affine, root_lengths: LengthContext) -> list[Shape]:
        """Every visible shape of the document, in paint order; ``root_ctm`` maps the root's user
        units to its viewport."""
        if not self.passes_conditions(self.root):
            # Conditional processing applies to the root too: a failing root draws nothing.
            self.warn("conditional-root", "the root <svg> fails its conditional attributes; nothing drawn", self.root)
            return self.shapes
        resolved = self.child_context(self.root, initial_context(root_ctm, root_lengths))
        if resolved is not None:
            context, _ = resolved
            for child in self.root.children:
                self.walk(child, context)
        return self.shapes

    def _draw_detached(self, elements: list[Element], context: Context) -> list[Shape]:
        """Shapes of ``elements`` walked aside, not added to the drawing (pattern content)."""
        saved = self.shapes
        self.shapes = []
        try:
            for element in elements:
                self.walk(element, context)
            return self.shapes
        finally:
            self.shapes = saved

    def passes_conditions(self, element: Element) -> bool:
        """SVG conditional processing: requiredExtensions never match (none is supported); SVG 1.1
        features do; systemLanguage matches English: "en" or an "en-" tag (SVG 1.1 §5.8.5)."""
        if "requiredExtensions" in element.attrs:
            return False
        features = element.attrs.get("requiredFeatures")
        if features is not None and not all(f.startswith(_SVG11_FEATURE_PREFIX) for f in features.split()):
            return False
        languages = element.attrs.get("systemLanguage")
        if languages is not None:
            tags = [lang.strip().lower() for lang in languages.split(",")]
            if not any(tag == "en" or tag.startswith("en-") for tag in tags):
                return False
        return True

    def child_context(
        self, element: Element, parent: Context, display_applies: bool = True
    ) -> tuple[Context, dict[str, str]] | None:
        """The context ``element``'s content inherits, or None when it is not rendered
        (``display: none``, unless ``display_applies`` is False: it does not on a ``<clipPath>``)."""
        self._count_element(element)
        if parent.depth + 1 > self.max_depth:
            raise SvgLimitExceeded(
                f"nesting deeper than max_depth={self.max_depth} once <use> references are expanded",
                limit="max_depth",
                clip=self.clip,
                element=element.describe(),
            )
        style, own = self.cascade.compute_style(element, parent)
        if display_applies and own.get("display", "").strip() == "none":
            return None
        opacity = parent.opacity
        if "opacity" in own:
            opacity *= clamp_unit(self.cascade.number_property(own["opacity"], 1.0, element, "opacity"))
        for name, code in _CLIPPING_PROPERTIES:
            value = own.get(name, "none").strip()
            if value and value != "none":
                self.warn(code, f"{name} {value[:60]!r} ignored (drawn unclipped/unfiltered)", element)
        # A <symbol> is not a transformable element (SVG 2 §8.5): its transform is ignored, as resvg does.
        transform = IDENTITY if element.tag == "symbol" else self.cascade.transform_of(element, own, parent.lengths)
        ctm = multiply(parent.ctm, transform)
        if not all(math.isfinite(v) for v in ctm):
            raise self.error("coordinate overflow in the composed transform", element)
        font_size = parent.lengths.font_size
        if style.get("font-size") != parent.style.get("font-size"):
            try:
                font_size = float(style["font-size"].removesuffix("px"))
            except ValueError:
                pass
        lengths = (
            parent.lengths if font_size == parent.lengths.font_size else replace(parent.lengths, font_size=font_size)
        )
        context = replace(parent, ctm=ctm, style=style, opacity=opacity, lengths=lengths, depth=parent.depth + 1)
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
        context, own = resolved
        first_shape, first_unpainted = len(self.shapes), len(self.unpainted)
        self._walk_content(element, context)
        clip_value = own.get("clip-path", "none")
        if clip_value.strip() not in ("", "none") and len(self.shapes) > first_shape:
            self._clip_drawn(element, clip_value, context, first_shape, self.unpainted[first_unpainted:])

    def _clip_drawn(
        self, element: Element, value: str, context: Context, first_shape: int, unpainted: list[Shape]
    ) -> None:
        """Clip the shapes ``element`` drew (from ``first_shape`` on) by its ``clip-path``; the
        ``unpainted`` geometry it walked counts in the object bounding box."""
        drawn = self.shapes[first_shape:]
        ctm = context.ctm
        if element.tag == "use":
            # As resvg does: the use's x/y translation is part of the space its clip lives in.
            x = self.cascade.length(element, "x", context.lengths, "x")
            y = self.cascade.length(element, "y", context.lengths, "y")
            ctm = multiply(ctm, (1.0, 0.0, 0.0, 1.0, x, y))
        regions = self.clip_paths.regions(value, element, ctm, context.lengths, drawn + unpainted)
        if regions == NOT_RENDERED:
            del self.shapes[first_shape:]
        elif isinstance(regions, tuple):
            # Each clipped shape gets its own copy of the outlines: count them like path data.
            self._count_commands(len(drawn) * sum(r.point_count for r in regions) // 3, element)
            self.shapes[first_shape:] = [replace(s, clip=(s.clip or ()) + regions) for s in drawn]

    def _walk_content(self, element: Element, context: Context) -> None:
        """Draw a rendered element in its resolved ``context``."""
        tag = element.tag
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
                # Only elements that render can be chosen; unknown ones and non-SVG ones are skipped.
                if child.is_svg and child.tag in SWITCH_CANDIDATE_TAGS and self.passes_conditions(child):
                    self.walk(child, context)
                    break
        elif tag == "svg":
            self.walk_viewport(element, context, element, None, None)
        elif tag == "use":
            self.walk_use(element, context)
        elif tag in TEXT_TAGS:
            self.warn("text-skipped", "text is not converted to outlines; skipped", element)
        elif tag == "image":
            href = href_of(element) or ""
            if href and not href.startswith("data:") and not href.startswith("#"):
                self.warn("external-href", f"image href {href[:80]!r} not fetched", element)
            self.warn("image-skipped", "raster <image> skipped", element)
        else:
            self.warn("element-unsupported", f"<{tag}> is not drawn", element)

    def walk_viewport(
        self,
        element: Element,
        context: Context,
        content: Element,
        width_override: float | None,
        height_override: float | None,
        where: Element | None = None,
    ) -> None:
        """A nested <svg> or an instantiated <symbol>: a new viewport with its own viewBox, its
        content clipped to it unless ``overflow`` is visible/auto (warnings name ``where``, the
        <use> for an instance, else ``element``)."""
        viewport = nested_viewport(self.cascade, element, content, context.lengths, width_override, height_override)
        if viewport is None:
            return
        inner = replace(context, ctm=multiply(context.ctm, viewport.transform), lengths=viewport.lengths)
        first_shape = len(self.shapes)
        for child in content.children:
            self.walk(child, inner)
        if len(self.shapes) == first_shape:
            return
        overflow = self.cascade.specified_style(content).get("overflow", "hidden").strip()
        if overflow in ("visible", "auto"):
            return
        # UA style sheet: overflow is hidden on nested viewports; "scroll" clips like it.
        drawn = self.shapes[first_shape:]
        self.shapes[first_shape:] = clip_shapes_to_viewport(
            drawn, self._bounds_of(drawn), viewport.rect, context.ctm, self.log, (where or element).describe()
        )

    def _bounds_of(self, shapes: list[Shape]) -> np.ndarray:
        """float64 [S, 4] `shapes_bounds` of ``shapes``, cached per shape: every nesting level of
        viewports tests all the shapes drawn inside it."""
        cache = self._shape_bounds
        missing = [s for s in shapes if id(s) not in cache or cache[id(s)][0] is not s]
        if missing:
            for shape, row in zip(missing, shapes_bounds(missing)):
                cache[id(shape)] = (shape, row)
        return np.array([cache[id(s)][1] for s in shapes])

    def walk_use(self, element: Element, context: Context) -> None:
        href = href_of(element)
        if not href:
            return
        target_id = local_reference(href)
        if target_id is None:
            self.warn(
                "external-href", f"<use> href {href[:80]!r} is not a local #id; ignored, nothing fetched", element
            )
            return
        target = self.ids.get(target_id)
        if target is None:
            self.warn("missing-reference", f"<use> target #{target_id} not found", element)
            return
        if id(element) in self.cyclic_uses or id(target) in context.active_references or target is self.root:
            self.warn("use-cycle", f"<use> of #{target_id} refers to itself; skipped", element)
            return
        lengths = context.lengths
        x = self.cascade.length(element, "x", lengths, "x")
        y = self.cascade.length(element, "y", lengths, "y")
        instance_id = element.attrs.get("id") or f"use#{element.ordinal}"
        ctm = multiply(context.ctm, (1.0, 0.0, 0.0, 1.0, x, y))
        # The use is the context element of what it instantiates; a context-* value of its own
        # already refers to an outer context, so resolve it to that first.
        context_paint = {}
        for name in ("fill", "stroke"):
            value = context.style[name].strip()
            if value in ("context-fill", "context-stroke"):
                value = (context.context_paint or {}).get(value[len("context-") :], "none")
            context_paint[name] = value
        inner = replace(
            context,
            ctm=ctm,
            groups=context.groups + (instance_id,),
            active_references=context.active_references | {id(target)},
            context_paint=context_paint,
            context_style=context.style,
        )
        if target.tag in ("symbol", "svg"):
            resolved = self.child_context(target, inner)
            if resolved is None:
                return
            symbol_context, _ = resolved
            width = self.cascade.length(element, "width", lengths, "x", -1.0)
            height = self.cascade.length(element, "height", lengths, "y", -1.0)
            self.walk_viewport(
                target,
                symbol_context,
                target,
                width if width >= 0 else None,
                height if height >= 0 else None,
                element,
            )
            return
        self.walk(target, inner)

    # --- shapes -------------------------------------------------------------------------------

    def geometry(self, element: Element, context: Context) -> list[RawSubPath]:
        """Untransformed subpaths of a basic shape or path (paths cached per element)."""
        tag = element.tag
        lengths = context.lengths
        length = self.cascade.length
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
            x = length(element, "x", lengths, "x")
            y = length(element, "y", lengths, "y")
            width = length(element, "width", lengths, "x")
            height = length(element, "height", lengths, "y")
            if width <= 0 or height <= 0:
                return []
            rx_given = "rx" in element.attrs and element.attrs["rx"].strip() not in ("", "auto")
            ry_given = "ry" in element.attrs and element.attrs["ry"].strip() not in ("", "auto")
            rx = length(element, "rx", lengths, "x") if rx_given else 0.0
            ry = length(element, "ry", lengths, "y") if ry_given else 0.0
            if rx_given and not ry_given:
                ry = rx
            elif ry_given and not rx_given:
                rx = ry
            rx = min(max(rx, 0.0), width / 2.0)
            ry = min(max(ry, 0.0), height / 2.0)
            self._count_commands(4, element)
            return [rect_path(x, y, width, height, rx, ry)]
        if tag in ("circle", "ellipse"):
            cx = length(element, "cx", lengths, "x")
            cy = length(element, "cy", lengths, "y")
            if tag == "circle":
                rx = ry = length(element, "r", lengths, "other")
            else:
                rx = length(element, "rx", lengths, "x", -1.0)
                ry = length(element, "ry", lengths, "y", -1.0)
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
                length(element, "x1", lengths, "x"),
                length(element, "y1", lengths, "y"),
                length(element, "x2", lengths, "x"),
                length(element, "y2", lengths, "y"),
            ]
            self._count_commands(2, element)
            path = polyline_path(coordinates, closed=False)
            return [path] if path else []
        # polyline / polygon
        coordinates = parse_numbers(
            element.attrs.get("points", ""), "points", clip=self.clip, element=element.describe()
        )
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
        if style.get("visibility", "visible").strip() in ("hidden", "collapse"):
            self.unpainted.append(Shape(tuple(subpaths), None, None))
            return
        bbox = _geometry_bbox(raw_subpaths)
        fill = self.make_fill(element, context, bbox)
        stroke = self.make_stroke(element, context, math.sqrt(abs(determinant)), bbox)
        if fill is None and stroke is None:
            self.unpainted.append(Shape(tuple(subpaths), None, None))
            return
        markers = [style.get(name, "none").strip() for name in ("marker-start", "marker-mid", "marker-end")]
        if any(m and m != "none" for m in markers):
            self.warn("marker-ignored", "markers are not drawn", element)
        self.shapes.append(Shape(tuple(subpaths), fill, stroke, element.describe(), context.groups))

    def placed_paint(
        self, paint: Paint | None, context: Context, bbox: tuple[float, float, float, float], opacity: float
    ) -> tuple[Paint | None, Gradient | Pattern | None]:
        """A gradient or pattern paint placed on the shape (docs/render.md §11, §13): the mean
        paint and the gradient or pattern, a solid paint where SVG paints one colour, or
        (None, None) where it paints none. ``opacity`` is the fill-/stroke-opacity times the
        group opacity."""
        if paint is not None and paint.pattern is not None:
            pattern = self.paint.place_pattern(paint.pattern, bbox, context, opacity)
            if isinstance(pattern, str):  # "untiled"
                return replace(paint, pattern=None), None
            if pattern is None:  # no tile on this shape: the fallback if given (resvg), else none
                return paint.fallback, None
            return paint, pattern
        if paint is None or paint.gradient is None:
            return paint, None
        placed = self.paint.place_gradient(paint.gradient, bbox, context.ctm, context.lengths, opacity)
        if placed is None or isinstance(placed, Paint):
            return placed, None
        return paint, placed

    def make_fill(self, element: Element, context: Context, bbox: tuple[float, float, float, float]) -> Fill | None:
        style = context.style
        if element.tag == "line":
            return None
        paint = self.paint.resolve(style["fill"], style, element, context)
        if paint is None:
            return None
        opacity = clamp_unit(self.cascade.number_property(style["fill-opacity"], 1.0, element, "fill-opacity"))
        paint, server = self.placed_paint(paint, context, bbox, opacity * context.opacity)
        if paint is None:
            return None
        opacity *= paint.alpha * context.opacity
        if opacity <= 0.0:
            return None
        rule = "evenodd" if style["fill-rule"].strip() == "evenodd" else "nonzero"
        if isinstance(server, Pattern):
            return Fill(paint.rgb, opacity, rule, pattern=server)
        return Fill(paint.rgb, opacity, rule, server)

    def make_stroke(
        self, element: Element, context: Context, scale: float, bbox: tuple[float, float, float, float]
    ) -> Stroke | None:
        style = context.style
        paint = self.paint.resolve(style["stroke"], style, element, context)
        if paint is None:
            return None
        try:
            width = parse_length(
                style["stroke-width"], context.lengths, "other", clip=self.clip, element=element.describe()
            )
        except InvalidValue:
            self.warn("invalid-attribute", f"stroke-width {style['stroke-width'][:40]!r}; 1 used", element)
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
            offset = parse_length(
                context.style["stroke-dashoffset"], context.lengths, "other", clip=self.clip, element=element.describe()
            )
        except InvalidValue:
            offset = 0.0
        return tuple(values), offset


def _geometry_bbox(raw_subpaths: list[RawSubPath]) -> tuple[float, float, float, float]:
    """Tight (x_min, y_min, x_max, y_max) of the geometry in element user units, no stroke: the
    box objectBoundingBox gradients are laid on."""
    boxes = np.array([cubic_bounds(np.asarray(flat, dtype=np.float64).reshape(-1, 2)) for flat, _ in raw_subpaths])
    return (
        float(boxes[:, 0].min()),
        float(boxes[:, 1].min()),
        float(boxes[:, 2].max()),
        float(boxes[:, 3].max()),
    )
