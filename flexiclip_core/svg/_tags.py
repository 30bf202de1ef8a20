"""SVG elements by what the walker does with them."""

from __future__ import annotations

SHAPE_TAGS = frozenset({"path", "rect", "circle", "ellipse", "line", "polyline", "polygon"})
CONTAINER_TAGS = frozenset({"g", "a", "switch", "svg"})
TEXT_TAGS = frozenset({"text", "flowRoot"})
GRADIENT_TAGS = frozenset({"linearGradient", "radialGradient"})
DRAWABLE_CONTENT_TAGS = SHAPE_TAGS | CONTAINER_TAGS | {"use"}
"""Elements that draw something (shapes, containers, ``use``)."""
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
"""Elements never rendered where they stand (definitions, metadata, paint servers)."""

SWITCH_CANDIDATE_TAGS = SHAPE_TAGS | TEXT_TAGS | frozenset({"g", "a", "switch", "svg", "use", "image", "foreignObject"})
"""Children a ``<switch>`` may choose: graphics and container elements (SVG 1.1 §5.8.2)."""
