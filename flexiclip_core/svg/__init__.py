"""Untrusted SVG → `Clipart`: a hardened, streaming SVG reader.

`parse_svg` reads a file path or raw bytes and returns the drawing as cubic Bézier shapes in the
256² working canvas, paint order kept, its bounding box (strokes included) fitted into
``[margin, size − margin]`` with the aspect ratio kept and centred.

Security (pipeline.md "Untrusted SVG"):
  - the file size is checked before anything is read (`SvgLimits.max_bytes`);
  - the XML is parsed by expat as a stream; element count and nesting depth are enforced while
    streaming, so huge or deep files stop at the first element over the limit
    (`SvgLimitExceeded`, naming the limit and the clip);
  - any DOCTYPE with an internal subset, any entity/notation declaration and any external entity
    is refused (`SvgSecurityError`) — no DTD is loaded, no entity is expanded (a bare DOCTYPE
    naming a W3C DTD, as editors write, is tolerated and never loaded);
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
  - linear/radial gradients → one solid colour: the mean over the gradient parameter of the
    piecewise-linear stop ramp (pads included), premultiplied by stop opacity, and the mean
    opacity (``gradient-mean-colour``);
  - pattern fills → the mean fill colour of the pattern's own shapes
    (``pattern-mean-colour``), or neutral grey when it has none (``pattern-neutral-colour``);
  - a stroke under a non-uniform or skewing transform gets one width, scaled by
    sqrt|det| of the transform (SVG would draw it with a varying width);
  - ``stroke-dasharray``/``stroke-dashoffset`` are kept in `Stroke` (canvas px) for the exact
    final renderer; the training renderer draws strokes solid;
  - ``clip-path``, ``mask`` and ``filter`` are ignored: the element is drawn unclipped and
    unfiltered (``clip-path-ignored``, ``mask-ignored``, ``filter-ignored``);
  - markers are not drawn (``marker-ignored``);
  - text (``<text>``, ``<flowRoot>``) and raster ``<image>`` are skipped (``text-skipped``,
    ``image-skipped``);
  - unsupported CSS (selectors other than type/class/id compounds and comma lists, at-rules)
    is ignored (``css-selector-unsupported``); malformed path data is drawn up to the error
    (``path-data-error``), as SVG specifies.
  - conditional processing follows SVG: ``requiredExtensions`` never matches, SVG 1.1
    ``requiredFeatures`` do, ``systemLanguage`` matches English; ``<switch>`` draws its first
    matching child.

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
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from flexiclip_core.clipart import CANVAS_SIZE, Clipart, Shape, Stroke, SubPath
from flexiclip_core.errors import EmptyDrawingError, SvgLimitExceeded, SvgParseError
from flexiclip_core.svg._clip import clip_to_page
from flexiclip_core.svg._document import INITIAL_STYLE, Context, DocumentWalker, viewbox_to_viewport
from flexiclip_core.svg._geometry import segment_bounds
from flexiclip_core.svg._style import IDENTITY, InvalidValue, LengthContext, parse_length, parse_numbers
from flexiclip_core.svg._xml import parse_xml

__all__ = ["ParseConfig", "SvgLimits", "parse_svg"]

_DEFAULT_VIEWPORT = 100.0
"""Viewport side assumed when the root has neither usable width/height nor a viewBox."""


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


@dataclass(frozen=True)
class ParseConfig:
    """How an SVG is normalised into the working canvas."""

    canvas_size: int = CANVAS_SIZE
    """Side of the square working canvas in px (method.md: 256)."""
    margin_px: float = 24.0
    """Gap kept between the drawing's bounding box (strokes included) and the canvas edge; the
    box is fitted into [margin, size − margin] with its aspect ratio kept, centred."""
    limits: SvgLimits = field(default_factory=SvgLimits)
    """Resource limits against hostile files."""


def _read_source(source: str | os.PathLike | bytes, clip: str | None, limits: SvgLimits) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        name = clip or "<bytes>"
    else:
        path = Path(source)
        name = clip or path.name
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise SvgParseError(f"cannot read file: {exc.strerror}", clip=name) from None
        if size > limits.max_bytes:
            raise SvgLimitExceeded(
                f"file is {size} bytes, over max_bytes={limits.max_bytes}", limit="max_bytes", clip=name
            )
        try:
            with open(path, "rb") as handle:
                data = handle.read(limits.max_bytes + 1)
        except OSError as exc:
            raise SvgParseError(f"cannot read file: {exc.strerror}", clip=name) from None
    if len(data) > limits.max_bytes:
        raise SvgLimitExceeded(
            f"SVG is {len(data)} bytes, over max_bytes={limits.max_bytes}", limit="max_bytes", clip=name
        )
    return data, name


@dataclass(frozen=True)
class _RootViewport:
    document_to_viewport: np.ndarray
    """float64 [3, 3]: root user units (viewBox) → viewport units."""
    affine: tuple[float, float, float, float, float, float]
    """The same map as an SVG matrix."""
    document_size: tuple[float, float]
    lengths: LengthContext
    page: tuple[float, float, float, float] | None
    """(x_min, y_min, x_max, y_max) of the visible page in viewport units; None when the file
    gives neither a size nor a viewBox."""


def _root_viewport(walker: DocumentWalker) -> _RootViewport:
    root = walker.root
    view_box: list[float] | None = None
    if root.attrs.get("viewBox"):
        numbers = parse_numbers(root.attrs["viewBox"], "viewBox", clip=walker.clip, element=root.describe())
        if len(numbers) == 4 and numbers[2] > 0 and numbers[3] > 0:
            view_box = numbers
        else:
            walker.warn("invalid-attribute", f"viewBox {root.attrs['viewBox'][:60]!r} ignored", root)
    absolute = LengthContext(_DEFAULT_VIEWPORT, _DEFAULT_VIEWPORT)

    def dimension(name: str, axis: str) -> float | None:
        value = root.attrs.get(name, "").strip()
        if not value or value.endswith("%"):
            return None
        try:
            number = parse_length(value, absolute, axis, clip=walker.clip, element=root.describe())
        except InvalidValue:
            walker.warn("invalid-attribute", f"{name} {value[:40]!r} ignored", root)
            return None
        return number if number > 0 else None

    width, height = dimension("width", "x"), dimension("height", "y")
    page: tuple[float, float, float, float] | None = None
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
        width = width or _DEFAULT_VIEWPORT
        height = height or _DEFAULT_VIEWPORT
        affine = IDENTITY
        document_size = (width, height)
        lengths = LengthContext(width, height)
    a, b, c, d, e, f = affine
    matrix = np.array([[a, c, e], [b, d, f], [0.0, 0.0, 1.0]])
    return _RootViewport(matrix, affine, document_size, lengths, page)


def _shapes_bounds(shapes: list[Shape]) -> np.ndarray:
    """float64 [S, 4]: tight (x_min, y_min, x_max, y_max) per shape, widened by half its stroke."""
    segments = []
    owners = []
    for index, shape in enumerate(shapes):
        for subpath in shape.subpaths:
            points = subpath.points
            count = (len(points) - 1) // 3
            segments.append(np.stack([points[:-1:3], points[1::3], points[2::3], points[3::3]], axis=1))
            owners.append(np.full(count, index))
    lo, hi = segment_bounds(np.concatenate(segments))  # [M, 2] each
    owner = np.concatenate(owners)  # [M]
    bounds = np.empty((len(shapes), 4))
    bounds[:, :2] = np.inf
    bounds[:, 2:] = -np.inf
    np.minimum.at(bounds[:, 0], owner, lo[:, 0])
    np.minimum.at(bounds[:, 1], owner, lo[:, 1])
    np.maximum.at(bounds[:, 2], owner, hi[:, 0])
    np.maximum.at(bounds[:, 3], owner, hi[:, 1])
    half_widths = np.array([s.stroke.width / 2.0 if s.stroke is not None else 0.0 for s in shapes])
    bounds[:, :2] -= half_widths[:, None]
    bounds[:, 2:] += half_widths[:, None]
    return bounds


def _clip_to_page(shapes: list[Shape], page: tuple[float, float, float, float] | None, walker: DocumentWalker) -> list[Shape]:
    """Content past the root viewport is invisible in any viewer: drop shapes wholly outside it
    and clip those that cross its edge (see `_clip`)."""
    if page is None or not shapes:
        return shapes
    kept: list[Shape] = []
    for shape, (x_min, y_min, x_max, y_max) in zip(shapes, _shapes_bounds(shapes)):
        if x_max <= page[0] or y_max <= page[1] or x_min >= page[2] or y_min >= page[3]:
            walker.warn_text("off-page-dropped", "shape lies wholly outside the page; dropped", shape.element)
            continue
        if x_min >= page[0] and y_min >= page[1] and x_max <= page[2] and y_max <= page[3]:
            kept.append(shape)
            continue
        replacement = clip_to_page(shape, page)
        if replacement is None:
            kept.append(shape)
            continue
        walker.warn_text("off-page-clipped", "shape crosses the page edge; clipped to the page", shape.element)
        kept.extend(replacement)
    return kept


def _drawing_bounds(shapes: list[Shape]) -> tuple[float, float, float, float]:
    bounds = _shapes_bounds(shapes)  # [S, 4]
    return (
        float(bounds[:, 0].min()),
        float(bounds[:, 1].min()),
        float(bounds[:, 2].max()),
        float(bounds[:, 3].max()),
    )


def _fit_to_canvas(shapes: list[Shape], config: ParseConfig, clip: str) -> tuple[list[Shape], np.ndarray]:
    """Shapes scaled/translated into the canvas and the viewport → canvas matrix [3, 3]."""
    x_min, y_min, x_max, y_max = _drawing_bounds(shapes)
    width, height = x_max - x_min, y_max - y_min
    if not (width > 0 or height > 0) or not math.isfinite(width + height):
        raise EmptyDrawingError("drawing has no extent", clip=clip)
    available = config.canvas_size - 2.0 * config.margin_px
    if available <= 0:
        raise SvgParseError(f"margin_px={config.margin_px} leaves no room in a {config.canvas_size}px canvas", clip=clip)
    scale = available / max(width, height)
    offset_x = config.canvas_size / 2.0 - scale * (x_min + x_max) / 2.0
    offset_y = config.canvas_size / 2.0 - scale * (y_min + y_max) / 2.0
    offset = np.array([offset_x, offset_y])
    fitted = []
    for shape in shapes:
        subpaths = tuple(SubPath(sp.points * scale + offset, sp.closed) for sp in shape.subpaths)
        stroke = shape.stroke
        if stroke is not None:
            stroke = Stroke(
                rgb=stroke.rgb,
                width=stroke.width * scale,
                opacity=stroke.opacity,
                linecap=stroke.linecap,
                linejoin=stroke.linejoin,
                miter_limit=stroke.miter_limit,
                dash_array=tuple(v * scale for v in stroke.dash_array),
                dash_offset=stroke.dash_offset * scale,
            )
        fitted.append(Shape(subpaths, shape.fill, stroke, shape.element, shape.groups))
    matrix = np.array([[scale, 0.0, offset_x], [0.0, scale, offset_y], [0.0, 0.0, 1.0]])
    return fitted, matrix


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
    data, clip = _read_source(source, clip_id, limits)
    root = parse_xml(data, clip=clip, max_elements=limits.max_elements, max_depth=limits.max_depth)
    walker = DocumentWalker(
        root,
        clip=clip,
        max_elements=limits.max_elements,
        max_depth=limits.max_depth,
        max_path_commands=limits.max_path_commands,
    )
    viewport = _root_viewport(walker)
    root_context = Context(viewport.affine, dict(INITIAL_STYLE), 1.0, (), viewport.lengths, 0)
    resolved = walker.child_context(root, root_context)
    if resolved is not None:
        context, _ = resolved
        for child in root.children:
            walker.walk(child, context)
    if not walker.shapes:
        raise EmptyDrawingError("no visible shape (nothing filled or stroked)", clip=clip)
    visible = _clip_to_page(walker.shapes, viewport.page, walker)
    if not visible:
        # Everything lies off the page: an editor mistake, not an empty drawing. Keep it all.
        walker.warn_text("page-ignored", "every shape lies outside the page; the page is ignored", "")
        visible = walker.shapes
    shapes, viewport_to_canvas = _fit_to_canvas(visible, config, clip)
    canvas_to_document = np.linalg.inv(viewport_to_canvas @ viewport.document_to_viewport)
    return Clipart(
        shapes=tuple(shapes),
        canvas_to_document=canvas_to_document,
        document_size=(float(viewport.document_size[0]), float(viewport.document_size[1])),
        canvas_size=config.canvas_size,
        warnings=tuple(walker.warnings),
        source=clip,
    )
