"""Lottie (bodymovin JSON, ``animation.json``) written by our own code.

One shape layer per `Shape`, layers listed top-most first (Lottie paints the last layer
first), so the SVG paint order is kept. Inside a layer one group holds a path (``sh``) per
subpath, then the stroke, then the fill: Lottie draws items listed earlier on top, so the
stroke lies over the fill as in SVG. Paths that move carry one hold keyframe per frame
(``ks`` with ``a: 1``, ``h: 1``), so every player shows exactly the rendered poses at the
export's frame rate; ``op`` is the frame count, so the loop point is the end of the last
frame. Coordinates stay in the 256² working canvas; the layer transform scales them to the
export size (stroke widths scale with them, as in the SVG's viewBox).

Gradients become gradient fills and strokes (``gf``/``gs``) whose start and end points (and a
radial's highlight) follow the shape's pose (`posed_paint`, docs/render.md §11), hold-keyframed
like the paths. Lottie has no gradient transform and no spread method: a linear gradient is
exact under any frame (its start/end points are chosen so the ramp's isolines are the same);
a radial gradient becomes circular, of radius r·sqrt|det| of its frame (exact under similarity
frames), its focal point a highlight, ``fr`` dropped; reflect/repeat are drawn padded.
A clipped shape's layer carries its clip outlines as masks (``masksProperties``, animated
like the paths): the first region's subpaths add (``a``), every later region intersects
(``i``). That is exact for one-subpath regions after the first and non-zero outlines without
holes; other clips (an even-odd or holed first region, a later region of several subpaths) are
written the same way with a logged warning (docs/render.md §12).

The document validates against the Lottie community's JSON schema (lottie-spec 1.0), vendored
in ``schemas/`` with its MIT licence; see `validate_lottie`.
"""

from __future__ import annotations

import json
import logging
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from flexiclip_core.clipart import Clipart, ClipRegion, Gradient, LinearGradient, Shape, Stroke, SubPath
from flexiclip_core.errors import ExportError
from flexiclip_core.export.files import check_clip_poses, check_fps, check_frame_points, write_text_atomic
from flexiclip_core.paint_motion import posed_paint

logger = logging.getLogger(__name__)

LOTTIE_SPEC_VERSION = 10000
"""``ver`` of the documents we write: lottie-spec 1.0.0 encoded as ``MMmmpp``."""

BODYMOVIN_VERSION = "5.12.0"
"""``v``: the bodymovin format generation players use to pick compatibility shims; 5.12 is
the keyframe layout we write (no ``e`` end values)."""

_LINE_CAP = {"butt": 1, "round": 2, "square": 3}
_LINE_JOIN = {"miter": 1, "round": 2, "bevel": 3}
_FILL_RULE = {"nonzero": 1, "evenodd": 2}
_CLOSING_TOLERANCE_PX = 1e-3


def _static(value: Any) -> dict[str, Any]:
    return {"a": 0, "k": value}


def _round(array: np.ndarray) -> list:
    """Nested lists of 3-decimal numbers (≤ 1/1000 px at 256², like the SVG output)."""
    return (np.round(array, 3) + 0.0).tolist()  # + 0.0 turns -0.0 into 0.0


def _merge_closing_vertex(subpath: SubPath, frame_points: np.ndarray, offset: int) -> bool:
    """True when a closed subpath's last point coincides with its first in every frame, so the
    closing vertex can be folded into the first (Lottie's ``c`` closes with the last segment)."""
    n = len(subpath.points)
    if not subpath.closed or n < 4:
        return False
    gap = frame_points[:, offset + n - 1] - frame_points[:, offset]  # [N, 2]
    return bool(np.all(np.abs(gap) <= _CLOSING_TOLERANCE_PX))


def _bezier(points: np.ndarray, closed: bool, merge_closing: bool) -> dict[str, Any]:
    """Lottie bezier of one subpath ``points`` [3·n + 1, 2]: vertices with in/out tangents
    relative to them. An unmerged closed subpath keeps its last vertex and closes with a straight
    line, as the final renderer's ``close_path`` does."""
    vertices = points[0::3]  # [n + 1, 2]
    segments = len(vertices) - 1
    out_tangents = np.zeros_like(vertices)
    in_tangents = np.zeros_like(vertices)
    out_tangents[:segments] = points[1::3][:segments] - vertices[:segments]
    in_tangents[1:] = points[2::3][:segments] - vertices[1:]
    if merge_closing:
        in_tangents[0] = points[-2] - vertices[0]
        vertices, in_tangents, out_tangents = vertices[:-1], in_tangents[:-1], out_tangents[:-1]
    return {"c": bool(closed), "v": _round(vertices), "i": _round(in_tangents), "o": _round(out_tangents)}


def _path_items(shape: Shape | ClipRegion, frame_points: np.ndarray, offset: int) -> tuple[list[dict[str, Any]], int]:
    """One ``sh`` per subpath: static when it never moves, else a hold keyframe per frame."""
    items = []
    for index, subpath in enumerate(shape.subpaths):
        n = len(subpath.points)
        per_frame = frame_points[:, offset : offset + n]  # [N, n, 2]
        merge = _merge_closing_vertex(subpath, frame_points, offset)
        offset += n
        if n == 0:
            continue
        beziers = [_bezier(points, subpath.closed, merge) for points in per_frame]
        if all(bezier == beziers[0] for bezier in beziers[1:]):
            path = _static(beziers[0])
        else:
            path = {"a": 1, "k": [{"t": frame, "s": [bezier], "h": 1} for frame, bezier in enumerate(beziers)]}
        items.append({"ty": "sh", "nm": f"subpath {index}", "ks": path})
    return items, offset


def _colour(rgb: tuple[float, float, float]) -> list[float]:
    return [round(min(max(float(c), 0.0), 1.0), 4) for c in rgb] + [1.0]


def _dashes(stroke: Stroke) -> list[dict[str, Any]]:
    lengths = list(stroke.dash_array)
    if len(lengths) % 2:  # SVG repeats an odd list to make it even
        lengths *= 2
    items = [
        {"n": "d" if i % 2 == 0 else "g", "nm": f"dash {i}", "v": _static(round(float(v), 3))}
        for i, v in enumerate(lengths)
    ]
    items.append({"n": "o", "nm": "offset", "v": _static(round(float(stroke.dash_offset), 3))})
    return items


def lottie_gradient_points(gradient: Gradient) -> tuple[list[float], list[float], float, float]:
    """Lottie's (start ``s``, end ``e``, highlight length ``h`` %, highlight angle ``a`` °) of a
    gradient placed in canvas px.

    Linear: the ramp parameter is t(p) = g·(p − s) for the canvas-space vector g, so s is the
    image of (x1, y1) and e = s + g/|g|², exact under any frame. Radial: s is the centre, e lies
    one radius (r·sqrt|det| of the frame) to its right, the focal point is the highlight.
    """
    matrix = gradient.matrix()
    linear, offset = matrix[:2, :2], matrix[:2, 2]
    if isinstance(gradient, LinearGradient):
        start = linear @ np.array([gradient.x1, gradient.y1]) + offset
        direction = np.array([gradient.x2 - gradient.x1, gradient.y2 - gradient.y1])
        # t(p) = d·(L⁻¹(p − start))/|d|² = g·(p − start) with g = L⁻ᵀ d / |d|².
        g = np.linalg.solve(linear.T, direction) / float(direction @ direction)
        end = start + g / float(g @ g)
        return _round(start), _round(end), 0.0, 0.0
    centre = linear @ np.array([gradient.cx, gradient.cy]) + offset
    radius = gradient.r * float(np.sqrt(abs(np.linalg.det(linear))))
    focal = linear @ np.array([gradient.fx, gradient.fy]) + offset - centre
    highlight = min(99.0, 100.0 * float(np.hypot(*focal)) / radius) if radius > 0 else 0.0
    angle = float(np.degrees(np.arctan2(focal[1], focal[0]))) if highlight > 0 else 0.0
    return _round(centre), _round(centre + np.array([radius, 0.0])), round(highlight, 3), round(angle, 3)


def _gradient_item(kind: str, gradients: list[Gradient]) -> dict[str, Any]:
    """A ``gf``/``gs`` item's gradient part for one gradient per frame."""
    first = gradients[0]
    colours = [v for stop in first.stops for v in (stop.offset, *_colour(stop.rgb)[:3])]
    alphas = [v for stop in first.stops for v in (stop.offset, round(float(stop.alpha), 4))]
    points = [lottie_gradient_points(g) for g in gradients]

    def keyed(position: int) -> dict[str, Any]:
        values = [p[position] for p in points]
        if all(v == values[0] for v in values[1:]):
            return _static(values[0])
        return {
            "a": 1,
            "k": [{"t": frame, "s": v if isinstance(v, list) else [v], "h": 1} for frame, v in enumerate(values)],
        }

    return {
        "ty": kind,
        "o": _static(round(100 * float(first.opacity), 3)),
        "g": {"p": len(first.stops), "k": _static([round(float(v), 4) for v in colours + alphas])},
        "s": keyed(0),
        "e": keyed(1),
        "t": 1 if isinstance(first, LinearGradient) else 2,
        "h": keyed(2),
        "a": keyed(3),
    }


def _style_items(shape: Shape, shape_frames: np.ndarray) -> list[dict[str, Any]]:
    """Stroke (drawn on top) then fill, as SVG paints fill first; ``shape_frames`` [N, n, 2]
    are the shape's control points per frame (its gradients follow them)."""
    items: list[dict[str, Any]] = []
    posed = [posed_paint(shape, points) for points in shape_frames]
    stroke = shape.stroke
    if stroke is not None and stroke.width > 0:
        stroke_gradients = [p[1].gradient for p in posed if p[1] is not None and p[1].gradient is not None]
        paint: dict[str, Any] = {"ty": "st", "c": _static(_colour(stroke.rgb))}
        if stroke_gradients and len(stroke_gradients) == len(posed):
            paint = _gradient_item("gs", stroke_gradients)
        item: dict[str, Any] = {
            **paint,
            "nm": "stroke",
            "o": paint.get("o", _static(round(100 * float(stroke.opacity), 3))),
            "w": _static(round(float(stroke.width), 3)),
            "lc": _LINE_CAP[stroke.linecap],
            "lj": _LINE_JOIN[stroke.linejoin],
            "ml": float(stroke.miter_limit),
        }
        if stroke.dash_array and any(d > 0 for d in stroke.dash_array):
            item["d"] = _dashes(stroke)
        items.append(item)
    if shape.fill is not None:
        fill_gradients = [p[0].gradient for p in posed if p[0] is not None and p[0].gradient is not None]
        fill: dict[str, Any] = {
            "ty": "fl",
            "c": _static(_colour(shape.fill.rgb)),
            "o": _static(round(100 * float(shape.fill.opacity), 3)),
        }
        if fill_gradients and len(fill_gradients) == len(posed):
            fill = _gradient_item("gf", fill_gradients)
        items.append({**fill, "nm": "fill", "r": _FILL_RULE[shape.fill.rule]})
    return items


def _transform(scale_percent: float, shape_type: str | None = None) -> dict[str, Any]:
    transform: dict[str, Any] = {
        "a": _static([0, 0]),
        "p": _static([0, 0]),
        "s": _static([scale_percent, scale_percent]),
        "r": _static(0),
        "o": _static(100),
        "sk": _static(0),
        "sa": _static(0),
    }
    if shape_type:
        transform = {"ty": shape_type, "nm": "transform", **transform}
    return transform


def lottie_animation(
    clipart: Clipart,
    frame_points: np.ndarray,  # [N, P, 2] canvas px
    fps: float,
    *,
    size: int | None = None,
    frame_clip_points: np.ndarray | None = None,  # [N, C, 2] canvas px: posed clip outlines
) -> dict[str, Any]:
    """The Lottie document (a JSON-ready dict) playing ``frame_points`` at ``fps`` on a
    ``size``² canvas (default: the 256² working canvas), looping over the N frames."""
    clip = clipart.source or None
    frame_points = check_frame_points(clipart, frame_points)
    check_fps(fps, ExportError)
    clip_poses = check_clip_poses(clipart, frame_clip_points, len(frame_points))
    clip_offset = 0
    side = clipart.canvas_size if size is None else int(size)
    frame_count = len(frame_points)
    scale_percent = round(100.0 * side / clipart.canvas_size, 6)
    layers = []
    offset = 0
    for index, shape in enumerate(clipart.shapes):
        start = offset
        paths, offset = _path_items(shape, frame_points, offset)
        masks = []
        for level, region in enumerate(shape.clip or ()):
            if (level == 0 and region.rule == "evenodd" and len(region.subpaths) > 1) or (
                level > 0 and len(region.subpaths) > 1
            ):
                logger.warning("Lottie approximates the clip of %s (%s)", shape.element, clip or "clip")
            outlines, clip_offset = _path_items(region, clip_poses, clip_offset)
            mode = "a" if level == 0 else "i"
            masks += [{"mode": mode, "pt": item["ks"], "o": _static(100), "inv": False} for item in outlines]
        styles = _style_items(shape, frame_points[:, start:offset])
        if not paths or not styles:
            continue  # nothing visible: no layer (a layer without paint draws nothing anyway)
        group = {
            "ty": "gr",
            "nm": shape.element or f"shape {index}",
            "np": len(paths) + len(styles),
            "it": [*paths, *styles, _transform(100.0, "tr")],
        }
        layers.append(
            {
                "ty": 4,
                "nm": shape.element or f"shape {index}",
                "ip": 0,
                "op": frame_count,
                "st": 0,
                "sr": 1,
                "ao": 0,
                "bm": 0,
                "ddd": 0,
                "ks": _transform(scale_percent),
                "shapes": [group],
                **({"hasMask": True, "masksProperties": masks} if masks else {}),
            }
        )
    if not layers:
        raise ExportError("nothing to write as Lottie: no shape has a visible fill or stroke", clip=clip)
    layers.reverse()  # Lottie's first layer is the top-most one
    for ind, layer in enumerate(layers, start=1):
        layer["ind"] = ind
    return {
        "v": BODYMOVIN_VERSION,
        "ver": LOTTIE_SPEC_VERSION,
        "nm": clipart.source or "flexiclip animation",
        "fr": float(fps),
        "ip": 0,
        "op": frame_count,
        "w": side,
        "h": side,
        "ddd": 0,
        "assets": [],
        "layers": layers,
        "meta": {"g": "flexiclip"},
    }


def write_lottie(
    clipart: Clipart,
    frame_points: np.ndarray,  # [N, P, 2] canvas px
    path: str | Path,
    fps: float,
    *,
    size: int | None = None,
    frame_clip_points: np.ndarray | None = None,  # [N, C, 2] canvas px: posed clip outlines
) -> Path:
    """Write `lottie_animation` as compact JSON to ``path`` (atomically)."""
    document = lottie_animation(clipart, frame_points, fps, size=size, frame_clip_points=frame_clip_points)
    text = json.dumps(document, separators=(",", ":"), allow_nan=False)
    return write_text_atomic(Path(path), text, clipart.source or None)


def lottie_schema() -> dict[str, Any]:
    """The vendored Lottie JSON schema (lottie-spec 1.0, draft 2020-12)."""
    text = resources.files("flexiclip_core.export").joinpath("schemas/lottie.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def lottie_schema_errors(document: dict[str, Any], *, limit: int = 5) -> list[str]:
    """Up to ``limit`` schema violations of ``document``, each as ``path: message``; empty when valid."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(lottie_schema())
    errors = []
    for error in validator.iter_errors(document):
        location = "/".join(str(part) for part in error.absolute_path) or "(root)"
        errors.append(f"{location}: {error.message[:300]}")
        if len(errors) >= limit:
            break
    return errors


def validate_lottie(document: dict[str, Any], *, clip: str | None = None) -> None:
    """Raise `ExportError` naming the first schema violations unless ``document`` is valid Lottie."""
    errors = lottie_schema_errors(document)
    if errors:
        raise ExportError("Lottie document does not match the lottie-spec schema: " + "; ".join(errors), clip=clip)
