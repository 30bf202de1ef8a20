"""Untrusted SVG → `Clipart`: a hardened, streaming SVG reader.

`parse_svg` reads a file path or raw bytes and returns the drawing as cubic Bézier shapes in the
256² working canvas, paint order kept, its bounding box (strokes included) fitted into
``[margin, size − margin]`` with the aspect ratio kept and centred.

Security (docs/pipeline.md §8):
  - the file size is checked before anything is read (`SvgLimits.max_bytes`);
  - the XML is parsed by expat as a stream; element count and nesting depth are enforced while
    streaming, so huge or deep files stop at the first element over the limit
    (`SvgLimitExceeded`, naming the limit and the clip);
  - the DOCTYPE's internal subset may declare general entities with literal values (Illustrator
    writes them), expanded under `SvgLimits.max_entities`/``max_entity_depth``/
    ``max_entity_expansion``, decided before the first element; external entities, parameter
    entities, notations and any external DTD but the W3C SVG DTDs are refused
    (`SvgSecurityError`); no DTD is ever loaded (`_dtd`). ``<!ATTLIST>`` namespace and
    ``#FIXED`` values apply, other declarations are ignored (``dtd-declaration-ignored``);
  - only same-document ``#id`` references are followed (``use``, paint servers, gradient
    hrefs); every other href (files, URLs, ``data:``) is ignored with an ``external-href``
    warning and nothing is ever opened or fetched;
  - ``<use>`` expansion counts every instantiated element against ``max_elements`` and every
    instantiated path command against ``max_path_commands``, and reference cycles are cut, so
    "billion laughs" through nested ``<use>`` is bounded (the expanded size is computed from
    the tree before anything is instantiated); path data is tokenised in windows and reading
    stops at the command budget, so one huge ``d`` costs bounded time and memory;
  - NaN, infinity or overflowing numbers in path data, attributes or transforms raise
    `SvgParseError` naming the element; malformed XML, binary garbage, an empty file or a
    non-<svg> root raise `SvgParseError` with the reason.

What is approximated or skipped (each reported as a `ParseWarning` with a stable code):
  - linear/radial gradients are kept (`Fill.gradient`/`Stroke.gradient`, resolved into canvas
    px, docs/render.md §11) for the final renderer and the vector exports; ``rgb``/``opacity``
    hold the mean over the gradient parameter of the piecewise-linear stop ramp (pads
    included, premultiplied by stop opacity) and the mean opacity, which the training renderer
    paints (``gradient-mean-colour``);
  - patterns are kept (`Fill.pattern`/`Stroke.pattern`: the tile's shapes in pattern space and
    its frame, docs/render.md §13) for the final renderer and the SVG exports; ``rgb`` holds
    the mean fill colour of the pattern's own shapes, which the training renderer and Lottie
    paint (``pattern-mean-colour``), or neutral grey when it has none (``pattern-neutral-colour``);
  - a stroke under a non-uniform or skewing transform gets one width, scaled by
    sqrt|det| of the transform (SVG would draw it with a varying width), except on a
    ``<line>``, whose stroke is then outlined in its user space and filled (exact);
  - ``stroke-dasharray``/``stroke-dashoffset`` are kept in `Stroke` (canvas px) for the exact
    final renderer; the training renderer draws strokes solid;
  - ``clip-path`` becomes `Shape.clip` regions (`_clip_paths`, docs/render.md §12; a group's
    clip is applied shape by shape, several ``<clipPath>`` children are joined under non-zero:
    ``clip-path-approximated``); ``mask`` and ``filter`` are ignored: the element is drawn
    unmasked and unfiltered (``mask-ignored``, ``filter-ignored``);
  - markers are not drawn (``marker-ignored``);
  - text (``<text>``, ``<flowRoot>``) and raster ``<image>`` are skipped (``text-skipped``,
    ``image-skipped``);
  - unsupported CSS (pseudo-classes other than ``:first-child``, pseudo-elements, namespaces
    and at-rules) is ignored (``css-selector-unsupported``, naming the selector); type, class,
    id and attribute selectors, their compounds, the combinators `` ``, ``>``, ``+``, ``~`` and
    comma lists are matched, with specificity summed over the compounds; ``!important``
    follows the CSS cascade; the ``transform`` property
    (attribute, style sheet or ``style=``, CSS units and translateX/… accepted) applies about
    ``transform-origin``;
  - malformed path data is drawn up to the first error and no further (``path-data-error``),
    as SVG specifies: a stray character or misplaced comma ends the data, a path not opening
    with a moveto draws nothing; ``M x y z`` is a zero-length subpath whose round/square caps
    are drawn;
  - paint: ``url(#id) fallback`` uses the fallback when the reference is missing or not a paint
    server; ``context-fill``/``context-stroke`` take the enclosing ``<use>``'s paint, else none;
  - conditional processing follows SVG, the root included (a failing root draws nothing):
    ``requiredExtensions`` never matches, SVG 1.1 ``requiredFeatures`` do, ``systemLanguage``
    matches ``en`` and ``en-*``; ``<switch>`` draws its first matching graphics or container
    child, skipping unknown and foreign elements;
  - as resvg: a ``<symbol>``'s ``transform`` is ignored (it is not a transformable element),
    ``display`` does not disable a ``<clipPath>``, ``rgb()``/``hsl()`` with a percentage alpha
    is an invalid colour (CSS Color 3), a group's object bounding box counts children that
    paint nothing (hidden, unpainted, transparent), and a root ``<svg>`` of zero width or
    height raises `EmptyDrawingError` (a negative one `SvgParseError`).

Nested viewports (``<svg>``, and ``<use>`` of a ``<symbol>``/``<svg>``, sized by the use's
``width``/``height``, else the referenced element's, else 100%) clip their content to the
viewport unless ``overflow`` is ``visible``/``auto``: geometrically, in the viewport's own frame,
exact for fills; a stroke is trimmed at its centre line, so a stroke whose band crosses the edge
is approximate (``viewport-stroke-approximate``, naming the ``<svg>`` or ``<use>``).

Content past the page (the root viewport, when the file gives a size or a viewBox) is invisible
in every viewer, so shapes wholly outside it are dropped (``off-page-dropped``) and shapes
crossing its edge are clipped to it (``off-page-clipped``; a clipped shape with fill and stroke
becomes a fill-only and a stroke-only shape, in that order). The fit then uses what is visible.
When every shape lies off the page (an editor mistake seen in real files) the page is ignored
instead (``page-ignored``).

`Shape.groups` lists the ids of the ancestor ``<g>`` elements (``g#<ordinal>`` when a group has
no id) and, for content instantiated by ``<use>``, the use's id (``use#<ordinal>``).
Shapes are kept only when something of them is visible (a fill or stroke with opacity > 0);
a drawing with none raises `EmptyDrawingError`.

Inside: `_xml` reads the bytes (hardened expat), `_references` indexes ids and sizes ``<use>``
expansion, `_document` walks the tree (with `_cascade` for styles and attribute values,
`_selectors` for style sheets, `_paint` for paint servers, `_clip_paths` for clip-path,
`_viewport` for viewBox/preserveAspectRatio, `_geometry` for path data, `_clip` for nested
viewports), then `_clip` clips to the page and `_fit` fits the drawing into the canvas.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from flexiclip_core.clipart import CANVAS_SIZE, Clipart
from flexiclip_core.errors import EmptyDrawingError
from flexiclip_core.svg._clip import clip_shapes_to_page
from flexiclip_core.svg._document import DocumentWalker
from flexiclip_core.svg._fit import fit_to_canvas
from flexiclip_core.svg._viewport import root_viewport
from flexiclip_core.svg._xml import parse_xml, read_source

__all__ = ["ParseConfig", "SvgLimits", "parse_svg"]


@dataclass(frozen=True)
class SvgLimits:
    """Resource limits for one untrusted SVG; exceeding one raises `SvgLimitExceeded`."""

    max_bytes: int = 20_000_000
    """Largest accepted file size in bytes, checked before parsing."""
    max_elements: int = 100_000
    """Most XML elements in the file, and most elements instantiated once ``<use>`` is expanded."""
    max_depth: int = 256
    """Deepest element nesting, in the file and once ``<use>`` references are expanded."""
    max_path_commands: int = 1_000_000
    """Most path commands (implicit repeats included) plus polygon/polyline points drawn in the
    file, each ``<use>`` instance counted again."""
    max_entities: int = 256
    """Most general entities the DOCTYPE's internal subset may declare."""
    max_entity_depth: int = 3
    """Deepest nesting of entity references inside entity values (billion laughs needs ~10)."""
    max_entity_expansion: int = 1_000_000
    """Most characters all entity references in the file may expand to, counted before any is."""


@dataclass(frozen=True)
class ParseConfig:
    """How an SVG is normalised into the working canvas."""

    canvas_size: int = CANVAS_SIZE
    """Side of the square working canvas in px (docs/method.md §1: 256)."""
    margin_px: float = 24.0
    """Gap kept between the drawing's bounding box (strokes included) and the canvas edge; the
    box is fitted into [margin, size − margin] with its aspect ratio kept, centred."""
    limits: SvgLimits = field(default_factory=SvgLimits)
    """Resource limits against hostile files."""


def parse_svg(
    source: str | os.PathLike | bytes,
    *,
    clip_id: str | None = None,
    config: ParseConfig = ParseConfig(),
) -> Clipart:
    """Read an untrusted SVG (a path or the raw bytes) into a `Clipart` in canvas px.

    Raises `SvgLimitExceeded`, `SvgSecurityError`, `EmptyDrawingError` or `SvgParseError`
    (all `SvgParseError`s) with the clip and, where there is one, the element in the message.
    """
    limits = config.limits
    data, clip = read_source(source, clip_id, limits.max_bytes)
    dtd_warnings: list[tuple[str, str, str]] = []
    root = parse_xml(
        data,
        clip=clip,
        max_elements=limits.max_elements,
        max_depth=limits.max_depth,
        max_entities=limits.max_entities,
        max_entity_depth=limits.max_entity_depth,
        max_entity_expansion=limits.max_entity_expansion,
        warnings=dtd_warnings,
    )
    walker = DocumentWalker(
        root,
        clip=clip,
        max_elements=limits.max_elements,
        max_depth=limits.max_depth,
        max_path_commands=limits.max_path_commands,
    )
    for code, message, where in dtd_warnings:
        walker.log.warn_text(code, message, where)
    viewport = root_viewport(root, clip, walker.log)
    shapes = walker.walk_document(viewport.affine, viewport.lengths)
    if not shapes:
        raise EmptyDrawingError("no visible shape (nothing filled or stroked)", clip=clip)
    visible = clip_shapes_to_page(shapes, viewport.page, walker.log)
    if not visible:
        # Everything lies off the page: an editor mistake, not an empty drawing. Keep it all.
        walker.log.warn_text("page-ignored", "every shape lies outside the page; the page is ignored", "")
        visible = shapes
    fitted, viewport_to_canvas = fit_to_canvas(visible, config.canvas_size, config.margin_px, clip)
    canvas_to_document = np.linalg.inv(viewport_to_canvas @ viewport.document_to_viewport)
    return Clipart(
        shapes=tuple(fitted),
        canvas_to_document=canvas_to_document,
        document_size=(float(viewport.document_size[0]), float(viewport.document_size[1])),
        document_to_viewport=viewport.document_to_viewport,
        viewport_size=viewport.viewport_size,
        canvas_size=config.canvas_size,
        warnings=tuple(walker.warnings),
        source=clip,
    )
