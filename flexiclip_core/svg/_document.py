"""Walk an SVG element tree and emit painted shapes in document (root viewport) coordinates.

The walker owns the traversal: conditional processing, ``<use>`` instantiation, nesting and
element limits, and how a shape's transformed outline is assembled. It delegates styles and
attribute values to `_cascade.Cascade`, a shape's untransformed geometry and the path-command
budget to `_geometry.ShapeGeometry`, its fill and stroke to `_paint.ShapePaint` (paint values to
`_paint.PaintServers`), clip paths to `_clip_paths.ClipPaths` and nested viewports to `_viewport`.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from flexiclip_core.clipart import Fill, ParseWarning, Shape, SubPath
from flexiclip_core.errors import SvgLimitExceeded, SvgParseError
from flexiclip_core.svg._cascade import Cascade, Context, clamp_unit, initial_context
from flexiclip_core.svg._clip import clip_shapes_to_viewport
from flexiclip_core.svg._clip_paths import NOT_RENDERED, ClipPaths
from flexiclip_core.svg._geometry import (
    CommandBudgetExceeded,
    RawSubPath,
    ShapeGeometry,
    is_similarity,
    line_stroke_outline,
    shapes_bounds,
    subpaths_bbox,
)
from flexiclip_core.svg._paint import PaintServers, ShapePaint
from flexiclip_core.svg._references import cyclic_uses, expanded_extent, href_of, index_ids, local_reference
from flexiclip_core.svg._style import IDENTITY, Affine, LengthContext, multiply
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
        self._shape_bounds: dict[int, tuple[Shape, np.ndarray]] = {}
        self.unpainted: list[Shape] = []
        """Geometry of rendered shapes that paint nothing (hidden, no paint, opacity 0): it still
        counts in a group's object bounding box (SVG 2 §8.10, as resvg does)."""
        self.cascade = Cascade(root, self.log)
        self.geometry = ShapeGeometry(self.cascade, self.log, clip=clip, max_path_commands=max_path_commands)
        self.paint = PaintServers(self.ids, self.cascade, self.log, self._draw_detached)
        self.shape_paint = ShapePaint(self.paint, self.cascade, self.log, clip=clip)
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
            self.geometry.count_commands(len(drawn) * sum(r.point_count for r in regions) // 3, element)
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

    def draw_shape(self, element: Element, context: Context) -> None:
        style = context.style
        raw_subpaths = self.geometry.subpaths(element, context.lengths)
        if not raw_subpaths:
            return
        a, b, c, d, e, f = context.ctm
        determinant = a * d - b * c
        if determinant == 0.0 or not math.isfinite(determinant):
            return
        subpaths = self._transformed(raw_subpaths, context.ctm, element)
        if style.get("visibility", "visible").strip() in ("hidden", "collapse"):
            self.unpainted.append(Shape(tuple(subpaths), None, None))
            return
        bbox = subpaths_bbox(raw_subpaths)
        scale = math.sqrt(abs(determinant))
        fill = self.shape_paint.fill(element, context, bbox)
        stroke = self.shape_paint.stroke(element, context, scale, bbox)
        if fill is None and stroke is None:
            self.unpainted.append(Shape(tuple(subpaths), None, None))
            return
        markers = [style.get(name, "none").strip() for name in ("marker-start", "marker-mid", "marker-end")]
        if any(m and m != "none" for m in markers):
            self.warn("marker-ignored", "markers are not drawn", element)
        if stroke is not None and element.tag == "line" and not is_similarity(context.ctm):
            # One stroke width cannot draw a line under a skew or a non-uniform scale: its
            # painted area, outlined in user space, is filled instead (a <line> has no fill).
            flat = raw_subpaths[0][0]
            budget = self.geometry.max_path_commands - self.geometry.path_commands
            try:
                outlines = line_stroke_outline(
                    (flat[0], flat[1]),
                    (flat[-2], flat[-1]),
                    stroke.width / scale,
                    stroke.linecap,
                    tuple(v / scale for v in stroke.dash_array),
                    stroke.dash_offset / scale,
                    max_dashes=budget // 8,
                )
            except CommandBudgetExceeded as exc:
                self.geometry.count_commands(8 * exc.commands, element)
                raise  # pragma: no cover - count_commands raised already
            self.geometry.count_commands(8 * len(outlines), element)
            band = self._transformed(outlines, context.ctm, element)
            if band:
                fill = Fill(stroke.rgb, stroke.opacity, "nonzero", stroke.gradient, pattern=stroke.pattern)
                self.shapes.append(Shape(tuple(band), fill, None, element.describe(), context.groups))
            else:  # a zero-length line with butt caps paints nothing
                self.unpainted.append(Shape(tuple(subpaths), None, None))
            return
        self.shapes.append(Shape(tuple(subpaths), fill, stroke, element.describe(), context.groups))

    def _transformed(self, raw_subpaths: list[RawSubPath], ctm: Affine, element: Element) -> list[SubPath]:
        """``raw_subpaths`` (user units) mapped by ``ctm`` into root viewport units."""
        a, b, c, d, e, f = ctm
        linear = np.array([[a, c], [b, d]])
        offset = np.array([e, f])
        subpaths = []
        for flat, closed in raw_subpaths:
            local = np.asarray(flat, dtype=np.float64).reshape(-1, 2)
            points = local @ linear.T + offset
            if not np.isfinite(points).all():
                raise self.error("coordinate overflow after transform", element)
            subpaths.append(SubPath(points, closed))
        return subpaths
