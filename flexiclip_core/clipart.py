"""The normalised drawing every later stage works on.

A `Clipart` is a flat list of `Shape`s in paint order. Each shape is one or more subpaths of
cubic Bézier segments in canvas pixels (256² working canvas, y down), with an optional fill and
an optional stroke. Control points of all shapes concatenate, in order, into one array
`Clipart.control_points()` of shape [P, 2]; deformation maps that array to a new one and
`paint_motion.posed_clipart` rebuilds the drawing, so topology never changes.

Clip paths (docs/render.md §12): a shape may carry a `ClipRegion` tuple, the regions it is
clipped to (their intersection). Clip outlines are "attached points": they concatenate, in
shape order, into `Clipart.clip_points()` [C, 2], kept apart from the control points so
``control_points()`` [P, 2] means the painted outlines only; `Clipart.with_clip_points` moves
them. A clip shared by several shapes (a clipped group) is one copy per shape.

Subpath layout: ``points`` is [3·n + 1, 2] for n cubic segments; segment i is
``points[3i : 3i + 4]``. A closed subpath ends where it starts (its closing segment is explicit,
``points[-1] == points[0]`` in the rest pose). Open subpaths are implicitly closed by a straight
line when filled, as SVG does.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, Self

import numpy as np

CANVAS_SIZE = 256
"""Side of the square working canvas, in pixels (docs/method.md §1: all coordinates are 256²)."""

FillRule = Literal["nonzero", "evenodd"]
SpreadMethod = Literal["pad", "reflect", "repeat"]
LineCap = Literal["butt", "round", "square"]
LineJoin = Literal["miter", "round", "bevel"]


@dataclass(frozen=True)
class GradientStop:
    """One stop of a gradient ramp."""

    offset: float
    """Position in [0, 1], never below the previous stop's (SVG clamps it so)."""
    rgb: tuple[float, float, float]
    """sRGB colour, each channel in [0, 1]."""
    alpha: float
    """Alpha of the stop colour times ``stop-opacity``."""


@dataclass(frozen=True, eq=False)
class _Gradient:
    """What linear and radial gradients share (docs/render.md §11).

    The geometry lives in *gradient space* (the space of x1…y2 / cx…fr, after
    ``gradientUnits``, before ``gradientTransform``); ``frame`` places it in canvas px as three
    anchor points, the images of gradient-space (0, 0), (1, 0) and (0, 1). Moving the anchors by
    an affine map moves the gradient exactly (`moved`).
    """

    stops: tuple[GradientStop, ...]
    """At least two stops, offsets non-decreasing in [0, 1]."""
    frame: np.ndarray
    """float64 [3, 2]: origin, origin + e1, origin + e2 of gradient space in canvas px."""
    opacity: float
    """fill-/stroke-opacity × inherited group opacity; multiplies every stop's alpha."""
    spread: SpreadMethod = "pad"
    """SVG spreadMethod."""

    def matrix(self) -> np.ndarray:
        """float64 [3, 3] affine map from gradient space to canvas px."""
        origin, e1, e2 = self.frame
        return np.array(
            [
                [e1[0] - origin[0], e2[0] - origin[0], origin[0]],
                [e1[1] - origin[1], e2[1] - origin[1], origin[1]],
                [0.0, 0.0, 1.0],
            ]
        )

    def moved(self, affine: np.ndarray) -> Self:
        """This gradient carried by the canvas affine map ``affine`` [3, 3]."""
        frame = self.frame @ affine[:2, :2].T + affine[:2, 2]
        return replace(self, frame=frame)


@dataclass(frozen=True, eq=False)
class LinearGradient(_Gradient):
    """A linear gradient: t = 0 at (x1, y1), t = 1 at (x2, y2) in gradient space, constant along
    lines perpendicular to that vector (perpendicular in gradient space)."""

    x1: float = 0.0
    y1: float = 0.0
    x2: float = 1.0
    y2: float = 0.0


@dataclass(frozen=True, eq=False)
class RadialGradient(_Gradient):
    """A two-point conical gradient as SVG 2 defines it: t = 0 on the focal circle (fx, fy, fr),
    t = 1 on the end circle (cx, cy, r), in gradient space; the focal circle lies inside the end
    circle (clamped at parse time)."""

    cx: float = 0.5
    cy: float = 0.5
    r: float = 0.5
    fx: float = 0.5
    fy: float = 0.5
    fr: float = 0.0


Gradient = LinearGradient | RadialGradient


@dataclass(frozen=True, eq=False)
class Pattern:
    """A tiled pattern paint (docs/render.md §13).

    *Pattern space* has one tile at ``(0, 0, width, height)`` repeating over the plane; the
    tile's content (``shapes``) is drawn in that space, clipped to the tile. ``frame`` places
    pattern space in canvas px as `Gradient.frame` does (CTM · ``patternTransform`` · tile
    origin), so the fit and the motion carry a pattern exactly as they carry a gradient.
    """

    width: float
    height: float
    """Tile size in pattern space, both > 0."""
    shapes: tuple[Shape, ...]
    """One tile's content in pattern space (viewBox / ``patternContentUnits`` applied)."""
    frame: np.ndarray
    """float64 [3, 2]: origin, origin + e1, origin + e2 of pattern space in canvas px."""
    opacity: float
    """fill-/stroke-opacity × inherited group opacity; multiplies the tile's alpha."""

    def matrix(self) -> np.ndarray:
        """float64 [3, 3] affine map from pattern space to canvas px."""
        return _frame_matrix(self.frame)

    def moved(self, affine: np.ndarray) -> Self:
        """This pattern carried by the canvas affine map ``affine`` [3, 3]."""
        return replace(self, frame=self.frame @ affine[:2, :2].T + affine[:2, 2])


def _frame_matrix(frame: np.ndarray) -> np.ndarray:
    """float64 [3, 3] affine map whose images of (0, 0), (1, 0), (0, 1) are ``frame``'s rows."""
    origin, e1, e2 = frame
    return np.array(
        [
            [e1[0] - origin[0], e2[0] - origin[0], origin[0]],
            [e1[1] - origin[1], e2[1] - origin[1], origin[1]],
            [0.0, 0.0, 1.0],
        ]
    )


@dataclass(frozen=True)
class Fill:
    """Solid fill of a shape."""

    rgb: tuple[float, float, float]
    """sRGB colour, each channel in [0, 1]."""
    opacity: float = 1.0
    """Fill opacity times the element's inherited group opacity, in [0, 1]."""
    rule: FillRule = "nonzero"
    """SVG fill rule."""
    gradient: Gradient | None = None
    """The gradient the final renderer and vector exports paint; ``rgb`` and ``opacity`` then
    hold its mean colour and mean opacity, which the training renderer paints unless
    ``render.paint_gradients`` is on (docs/render.md §11)."""
    pattern: Pattern | None = None
    """The pattern the final renderer and the SVG exports tile (docs/render.md §13); ``rgb``
    then holds the mean colour of its shapes, which the training renderer and Lottie paint."""


@dataclass(frozen=True)
class Stroke:
    """Stroke of a shape, in canvas pixels."""

    rgb: tuple[float, float, float]
    """sRGB colour, each channel in [0, 1]."""
    width: float
    """Stroke width in canvas px (document width × the transform's scale)."""
    opacity: float = 1.0
    """Stroke opacity times the inherited group opacity, in [0, 1]."""
    linecap: LineCap = "butt"
    """SVG stroke-linecap."""
    linejoin: LineJoin = "miter"
    """SVG stroke-linejoin."""
    miter_limit: float = 4.0
    """SVG stroke-miterlimit."""
    dash_array: tuple[float, ...] = ()
    """Dash lengths in canvas px (empty: solid). The final renderer draws dashes; the training
    renderer treats the stroke as solid."""
    dash_offset: float = 0.0
    """Dash offset in canvas px."""
    gradient: Gradient | None = None
    """As `Fill.gradient`: ``rgb``/``opacity`` hold the mean for the training renderer."""
    pattern: Pattern | None = None
    """As `Fill.pattern`."""


@dataclass(frozen=True, eq=False)
class SubPath:
    """One connected run of cubic segments."""

    points: np.ndarray
    """float64 [3·n + 1, 2] control points, canvas px."""
    closed: bool
    """True when the SVG closed it (Z) — its last point then equals its first at rest."""

    @property
    def segment_count(self) -> int:
        return (len(self.points) - 1) // 3


@dataclass(frozen=True, eq=False)
class ClipRegion:
    """One clip outline: the union of its closed subpaths under its clip rule, canvas px."""

    subpaths: tuple[SubPath, ...]
    """Outlines (implicitly closed, like fills); their points are part of `Clipart.clip_points`."""
    rule: FillRule = "nonzero"
    """SVG clip-rule of this region."""

    @property
    def point_count(self) -> int:
        return sum(len(sp.points) for sp in self.subpaths)


@dataclass(frozen=True, eq=False)
class Shape:
    """A painted path: subpaths + fill and/or stroke, in paint order within the `Clipart`."""

    subpaths: tuple[SubPath, ...]
    fill: Fill | None
    stroke: Stroke | None
    element: str = ""
    """Where it came from, for messages: e.g. ``<path id="arm">`` or ``<rect> #12``."""
    groups: tuple[str, ...] = ()
    """ids of the ancestor groups, outermost first (used for layers)."""
    clip: tuple[ClipRegion, ...] | None = None
    """Clip regions the shape is painted through (their intersection), or None: unclipped."""

    @property
    def point_count(self) -> int:
        return sum(len(sp.points) for sp in self.subpaths)

    @property
    def clip_point_count(self) -> int:
        return sum(region.point_count for region in self.clip or ())

    @property
    def segment_count(self) -> int:
        return sum(sp.segment_count for sp in self.subpaths)


@dataclass(frozen=True)
class ParseWarning:
    """Something in the file that was approximated or skipped by design."""

    code: str
    """Stable short code, e.g. ``gradient-mean-colour``, ``text-skipped``, ``external-href``."""
    message: str
    element: str = ""


@dataclass(frozen=True, eq=False)
class Clipart:
    """A normalised drawing in the 256² working canvas."""

    shapes: tuple[Shape, ...]
    canvas_to_document: np.ndarray = field(default_factory=lambda: np.eye(3))
    """float64 [3, 3] affine map from canvas px back to the document's user units."""
    document_size: tuple[float, float] = (float(CANVAS_SIZE), float(CANVAS_SIZE))
    """Width and height of the source document in user units (its viewBox, else width/height)."""
    document_to_viewport: np.ndarray = field(default_factory=lambda: np.eye(3))
    """float64 [3, 3] affine map from the document's user units to its root viewport (px): the
    viewBox/preserveAspectRatio mapping; identity without a viewBox."""
    viewport_size: tuple[float, float] | None = None
    """Width and height of the root viewport in px (the page a viewer shows); None: same as
    ``document_size``."""
    canvas_size: int = CANVAS_SIZE
    warnings: tuple[ParseWarning, ...] = ()
    source: str = ""
    """A name for the clip in messages (its id or file name)."""

    @property
    def point_count(self) -> int:
        return sum(s.point_count for s in self.shapes)

    @property
    def segment_count(self) -> int:
        return sum(s.segment_count for s in self.shapes)

    def control_points(self) -> np.ndarray:
        """All control points in paint order: float64 [P, 2]."""
        arrays = [sp.points for s in self.shapes for sp in s.subpaths]
        if not arrays:
            return np.zeros((0, 2))
        return np.concatenate(arrays, axis=0)

    @property
    def clip_point_count(self) -> int:
        return sum(s.clip_point_count for s in self.shapes)

    def clip_points(self) -> np.ndarray:
        """All clip outline points in shape, region, subpath order: float64 [C, 2]."""
        arrays = [sp.points for s in self.shapes for region in s.clip or () for sp in region.subpaths]
        if not arrays:
            return np.zeros((0, 2))
        return np.concatenate(arrays, axis=0)

    def with_clip_points(self, points: np.ndarray) -> Clipart:
        """The same drawing with its clip outline points replaced by ``points`` [C, 2]."""
        points = np.asarray(points, dtype=np.float64)
        if points.shape != (self.clip_point_count, 2):
            raise ValueError(f"expected clip points of shape ({self.clip_point_count}, 2), got {points.shape}")
        if not len(points):
            return self
        shapes = []
        offset = 0
        for shape in self.shapes:
            if shape.clip is None:
                shapes.append(shape)
                continue
            regions = []
            for region in shape.clip:
                subpaths = []
                for sp in region.subpaths:
                    n = len(sp.points)
                    subpaths.append(SubPath(points[offset : offset + n].copy(), sp.closed))
                    offset += n
                regions.append(replace(region, subpaths=tuple(subpaths)))
            shapes.append(replace(shape, clip=tuple(regions)))
        return replace(self, shapes=tuple(shapes))

    def bounding_box(self) -> tuple[float, float, float, float]:
        """(x_min, y_min, x_max, y_max) of the control polygon hull, canvas px."""
        pts = self.control_points()
        if len(pts) == 0:
            return (0.0, 0.0, 0.0, 0.0)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        return (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))

    def document_to_canvas(self) -> np.ndarray:
        """float64 [3, 3] affine map from document user units to canvas px."""
        return np.linalg.inv(self.canvas_to_document)
