"""``clip-path``: ``<clipPath>`` references → `ClipRegion`s in root viewport units.

A ``clip-path="url(#id)"`` on a shape, group, ``use`` or nested ``svg`` clips everything that
element draws: the walker draws the element first, then `ClipPaths.regions` turns the
referenced ``<clipPath>`` into regions (with ``clipPathUnits="objectBoundingBox"`` relative to
the bounding box of what was drawn, in the element's user space) and each shape drawn gets them
appended to `Shape.clip`, so clips on nested groups intersect down the tree.

A ``<clipPath>`` is the union of its children (shapes, and ``use`` of shapes; text is skipped
with ``text-skipped``), each with its own transform and ``clip-rule``; its ``transform`` applies
after the bounding-box units; a ``clip-path`` on the ``<clipPath>`` itself adds its regions
(intersection). Error rules follow resvg: a reference to a missing element is ignored (drawn
unclipped, SVG 2; ``missing-reference``), one to an element that is no ``<clipPath>`` and an
empty ``<clipPath>`` draw nothing, a reference cycle is cut at the repeated link
(``clip-path-cycle``).

Approximations (``clip-path-approximated``): a region is one fill rule over all its subpaths,
so several children are joined by orienting each child's outline positively and taking the
non-zero rule (exact for children without self-overlap; an even-odd child among several loses
its holes), and a ``clip-path`` on a child of a ``<clipPath>`` with several children is
ignored (one child: exact, the child's clip is intersected).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

import numpy as np

from flexiclip_core.clipart import ClipRegion, FillRule, Shape, SubPath
from flexiclip_core.svg._cascade import Context, initial_context
from flexiclip_core.svg._geometry import segment_bounds
from flexiclip_core.svg._references import href_of, local_reference
from flexiclip_core.svg._style import Affine, LengthContext, multiply, parse_url
from flexiclip_core.svg._tags import SHAPE_TAGS, TEXT_TAGS
from flexiclip_core.svg._xml import Element

if TYPE_CHECKING:
    from flexiclip_core.errors import SvgParseError
    from flexiclip_core.svg._cascade import Cascade
    from flexiclip_core.svg._geometry import ShapeGeometry


class DocumentWalker(Protocol):
    """What clip paths need of the document walker (`svg._document.DocumentWalker`, which
    imports this module): its ids, cascade, warnings and how it resolves and draws elements."""

    ids: dict[str, Element]
    cascade: Cascade
    geometry: ShapeGeometry

    def warn(self, code: str, message: str, element: Element | None = None) -> None: ...

    def error(self, message: str, element: Element) -> SvgParseError: ...

    def passes_conditions(self, element: Element) -> bool: ...

    def child_context(
        self, element: Element, parent: Context, display_applies: bool = True
    ) -> tuple[Context, dict[str, str]] | None: ...


MAX_CLIP_NESTING = 16
"""Deepest chain of ``clip-path`` references followed (clips of clips)."""

NOT_RENDERED = "not-rendered"
"""`ClipPaths.regions` result: the element draws nothing."""


def _apply(ctm: Affine, points: np.ndarray) -> np.ndarray:
    a, b, c, d, e, f = ctm
    return points @ np.array([[a, b], [c, d]]) + np.array([e, f])


def _inverse(ctm: Affine) -> Affine | None:
    a, b, c, d, e, f = ctm
    det = a * d - b * c
    if det == 0.0 or not np.isfinite(det):
        return None
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
    return (ia, ib, ic, id_, -(ia * e + ic * f), -(ib * e + id_ * f))


def object_bounding_box(shapes: list[Shape], ctm: Affine) -> tuple[float, float, float, float] | None:
    """(x, y, width, height) of the shapes' geometry (strokes excluded) in the user space whose
    map to root units is ``ctm``; exact, since an affine image of a cubic is a cubic."""
    inverse = _inverse(ctm)
    if inverse is None:
        return None
    segments = []
    for shape in shapes:
        for subpath in shape.subpaths:
            local = _apply(inverse, subpath.points)
            segments.append(np.stack([local[:-1:3], local[1::3], local[2::3], local[3::3]], axis=1))
    if not segments:
        return None
    lo, hi = segment_bounds(np.concatenate(segments))
    lo, hi = lo.min(axis=0), hi.max(axis=0)
    return float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])


def _signed_area(subpaths: list[SubPath]) -> float:
    """Shoelace area of the control polygons (implicitly closed), positive when y-down clockwise."""
    total = 0.0
    for subpath in subpaths:
        x, y = subpath.points[:, 0], subpath.points[:, 1]
        total += float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))
    return 0.5 * total


def _reversed(subpath: SubPath) -> SubPath:
    return SubPath(subpath.points[::-1].copy(), subpath.closed)


class ClipPaths:
    """Resolves ``clip-path`` values of one document for the walker."""

    def __init__(self, walker: DocumentWalker) -> None:
        self.walker = walker

    def reference(self, value: str, element: Element) -> Element | None | str:
        """The ``<clipPath>`` a ``clip-path`` value names; None: unclipped; `NOT_RENDERED`."""
        value = value.strip()
        if not value or value == "none":
            return None
        parsed = parse_url(value)
        target_id = local_reference(parsed[0]) if parsed else None
        if target_id is None:
            self.walker.warn("clip-path-ignored", f"clip-path {value[:60]!r} is not a local url(#id); ignored", element)
            return None
        target = self.walker.ids.get(target_id)
        if target is None:
            self.walker.warn("missing-reference", f"clip-path target #{target_id} not found; drawn unclipped", element)
            return None
        if target.tag != "clipPath":
            self.walker.warn(
                "clip-path-invalid", f"clip-path target #{target_id} is a <{target.tag}>; not drawn", element
            )
            return NOT_RENDERED
        return target

    def regions(
        self,
        value: str,
        element: Element,
        ctm: Affine,
        lengths: LengthContext,
        shapes: list[Shape],
        active: frozenset[int] = frozenset(),
    ) -> tuple[ClipRegion, ...] | None | str:
        """Regions (root viewport units) of clip-path ``value`` on ``element`` whose user space
        maps to root units by ``ctm`` and which drew ``shapes``; None: unclipped; `NOT_RENDERED`."""
        target = self.reference(value, element)
        if target is None or isinstance(target, str):
            return target
        if id(target) in active or len(active) >= MAX_CLIP_NESTING:
            self.walker.warn("clip-path-cycle", f"clip-path {value[:60]!r} refers back to itself; cut", element)
            return None
        active = active | {id(target)}
        # display does not apply to <clipPath> (SVG 1.1 §14.3.5): one with display none still clips.
        clip_context = self.walker.child_context(target, initial_context(ctm, lengths), display_applies=False)
        if clip_context is None:
            return NOT_RENDERED
        context, own = clip_context
        if target.attrs.get("clipPathUnits", "").strip() == "objectBoundingBox":
            box = object_bounding_box(shapes, ctm)
            if box is None or box[2] <= 0.0 or box[3] <= 0.0:
                return NOT_RENDERED
            x, y, width, height = box
            context = replace(context, ctm=multiply(context.ctm, (width, 0.0, 0.0, height, x, y)))
        children = []
        for child in target.children:
            child_outline = self._child(child, context)
            if child_outline is not None:
                children.append(child_outline)
        if not children:
            return NOT_RENDERED
        if len(children) == 1:
            (subpaths, rule, child_element, child_context, child_own) = children[0]
            regions: tuple[ClipRegion, ...] = (ClipRegion(tuple(subpaths), rule),)
            nested_value = child_own.get("clip-path", "none")
            if nested_value.strip() not in ("", "none"):
                drawn = [Shape(tuple(subpaths), None, None)]
                nested = self.regions(
                    nested_value, child_element, child_context.ctm, child_context.lengths, drawn, active
                )
                if nested == NOT_RENDERED:
                    return NOT_RENDERED
                if isinstance(nested, tuple):
                    regions += nested
        else:
            joined: list[SubPath] = []
            for subpaths, rule, child_element, _, child_own in children:
                if rule == "evenodd" or child_own.get("clip-path", "none").strip() not in ("", "none"):
                    self.walker.warn(
                        "clip-path-approximated",
                        "clip-rule evenodd or clip-path on one of several <clipPath> children is approximated",
                        child_element,
                    )
                joined.extend(subpaths if _signed_area(subpaths) >= 0 else [_reversed(sp) for sp in subpaths])
            regions = (ClipRegion(tuple(joined), "nonzero"),)
        outer_value = own.get("clip-path", "none")
        if outer_value.strip() not in ("", "none"):
            outer = self.regions(outer_value, target, ctm, lengths, shapes, active)
            if outer == NOT_RENDERED:
                return NOT_RENDERED
            if isinstance(outer, tuple):
                regions += outer
        return regions

    def _child(
        self, child: Element, context: Context
    ) -> tuple[list[SubPath], FillRule, Element, Context, dict[str, str]] | None:
        """(outline in root units, clip rule, element, its context, its own properties) of one
        ``<clipPath>`` child, or None when it adds nothing."""
        walker = self.walker
        if not child.is_svg or not walker.passes_conditions(child):
            return None
        if child.tag in TEXT_TAGS:
            walker.warn("text-skipped", "text in a <clipPath> is not converted to outlines; skipped", child)
            return None
        if child.tag not in SHAPE_TAGS and child.tag != "use":
            return None
        resolved = walker.child_context(child, context)
        if resolved is None:
            return None
        child_context, own = resolved
        shape_element, shape_context = child, child_context
        if child.tag == "use":
            target = walker.ids.get(local_reference(href_of(child) or "") or "")
            if target is None or target.tag not in SHAPE_TAGS:
                return None
            x = walker.cascade.length(child, "x", context.lengths, "x")
            y = walker.cascade.length(child, "y", context.lengths, "y")
            inner = replace(child_context, ctm=multiply(child_context.ctm, (1.0, 0.0, 0.0, 1.0, x, y)))
            target_resolved = walker.child_context(target, inner)
            if target_resolved is None:
                return None
            shape_element, shape_context = target, target_resolved[0]
        if shape_context.style.get("visibility", "visible").strip() in ("hidden", "collapse"):
            return None
        raw = walker.geometry.subpaths(shape_element, shape_context.lengths)
        subpaths = []
        for flat, closed in raw:
            points = _apply(shape_context.ctm, np.asarray(flat, dtype=np.float64).reshape(-1, 2))
            if not np.isfinite(points).all():
                raise walker.error("coordinate overflow after transform", shape_element)
            subpaths.append(SubPath(points, closed))
        if not subpaths:
            return None
        rule: FillRule = (
            "evenodd" if shape_context.style.get("clip-rule", "nonzero").strip() == "evenodd" else "nonzero"
        )
        return subpaths, rule, child, child_context, own
