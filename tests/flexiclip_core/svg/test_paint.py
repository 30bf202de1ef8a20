"""Gradients (issue 15 item 1): parse_svg + the final renderer against resvg (or an analytic image
where resvg 0.44 is no reference), and gradients moving with the drawing — in the final
renderer and the vector exports — against the affinely transformed source.

Pass mark per image, as in tests/flexiclip_core/svg/resvg.py: alpha IoU ≥ 0.97, mean absolute RGBA ≤ 0.02.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from flexiclip_core.clipart import Clipart, LinearGradient, RadialGradient
from flexiclip_core.export.lottie import lottie_animation, lottie_gradient_points, lottie_schema_errors
from flexiclip_core.export.svg_anim import animated_svg, clipart_to_svg
from flexiclip_core.paint_motion import best_fit_affine, posed_clipart, posed_paint
from flexiclip_core.render import render_clipart
from flexiclip_core.svg import parse_svg
from flexiclip_core.svg._document import DocumentWalker
from flexiclip_core.svg._style import IDENTITY, LengthContext
from flexiclip_core.svg._xml import parse_xml
from tests.flexiclip_core.svg.resvg import (
    MAX_MEAN_ABS,
    MIN_IOU,
    agreement,
    assert_matches_resvg,
    document,
    needs_resvg,
    ours,
    resvg_render,
)

RED_BLUE = '<stop offset="0" stop-color="red"/><stop offset="1" stop-color="blue"/>'
THREE_STOPS = (
    '<stop offset="0" stop-color="#ffe000"/><stop offset="0.5" stop-color="#20a040"/>'
    '<stop offset="1" stop-color="#102060"/>'
)


def gradient_document(server: str, shape: str) -> str:
    return document(f"<defs>{server}</defs>{shape}")


# --- one feature per image, against resvg --------------------------------------------------------

FEATURES = {
    "linear-bounding-box": (
        f'<linearGradient id="g">{RED_BLUE}</linearGradient>',
        '<rect x="10" y="20" width="80" height="60" fill="url(#g)"/>',
    ),
    "linear-diagonal-bounding-box-is-skewed": (
        # In bounding-box units the vector (0,0)→(1,1) is perpendicular to its isolines only in the
        # unit square: on a 80×30 box the isolines are the box's other diagonal direction.
        f'<linearGradient id="g" x2="1" y2="1">{THREE_STOPS}</linearGradient>',
        '<rect x="10" y="35" width="80" height="30" fill="url(#g)"/>',
    ),
    "linear-user-space-percent": (
        f'<linearGradient id="g" gradientUnits="userSpaceOnUse" x1="20%" y1="0" x2="60%" y2="40">{THREE_STOPS}'
        "</linearGradient>",
        '<circle cx="50" cy="50" r="40" fill="url(#g)"/>',
    ),
    "gradient-transform": (
        f'<linearGradient id="g" gradientTransform="rotate(30 0.5 0.5) scale(0.5)">{THREE_STOPS}</linearGradient>',
        '<rect x="10" y="10" width="80" height="80" fill="url(#g)"/>',
    ),
    "element-and-group-transforms": (
        f'<linearGradient id="g" gradientUnits="userSpaceOnUse" x1="0" y1="0" x2="30" y2="10">{THREE_STOPS}'
        "</linearGradient>",
        '<g transform="translate(50 10) rotate(25)"><rect x="0" y="0" width="40" height="60" '
        'transform="skewX(-15)" fill="url(#g)"/></g>',
    ),
    "radial-bounding-box": (
        f'<radialGradient id="g">{THREE_STOPS}</radialGradient>',
        '<ellipse cx="50" cy="50" rx="45" ry="25" fill="url(#g)"/>',
    ),
    "radial-focal": (
        f'<radialGradient id="g" fx="0.3" fy="0.35">{THREE_STOPS}</radialGradient>',
        '<rect x="10" y="10" width="80" height="80" fill="url(#g)"/>',
    ),
    "radial-focal-outside-is-a-cone": (
        # SVG 2 §14.3.3: the focal point is not moved; outside the cone nothing is painted.
        f'<radialGradient id="g" fx="0.95" r="0.3">{THREE_STOPS}</radialGradient>',
        '<rect x="5" y="5" width="90" height="90" fill="url(#g)"/>',
    ),
    "radial-user-space-transformed": (
        f'<radialGradient id="g" gradientUnits="userSpaceOnUse" cx="50" cy="50" r="20" fx="45" '
        f'gradientTransform="translate(50 50) scale(1.5 0.7) rotate(20) translate(-50 -50)">{THREE_STOPS}'
        "</radialGradient>",
        '<rect x="5" y="5" width="90" height="90" fill="url(#g)"/>',
    ),
    "stop-opacity-straight-interpolation": (
        # Red opaque → blue transparent: SVG interpolates straight colours (mid-ramp is purple).
        '<linearGradient id="g"><stop offset="0.1" stop-color="red"/>'
        '<stop offset="0.9" stop-color="blue" stop-opacity="0"/></linearGradient>',
        '<rect x="10" y="10" width="80" height="80" fill="url(#g)"/>',
    ),
    "stop-style-css-and-opacities": (
        "<style>.mid { stop-color: #20a040; stop-opacity: 0.5 }</style>"
        '<linearGradient id="g" x2="0" y2="1"><stop offset="0" style="stop-color:#ffe000"/>'
        '<stop class="mid" offset="0.4"/><stop offset="0.2" stop-color="rgba(16,32,96,0.8)"/></linearGradient>',
        '<g opacity="0.8"><rect x="10" y="10" width="80" height="80" fill="url(#g)" fill-opacity="0.7"/></g>',
    ),
    "stroke-gradient": (
        f'<linearGradient id="g" x2="0" y2="1">{THREE_STOPS}</linearGradient>',
        '<circle cx="50" cy="50" r="35" fill="none" stroke="url(#g)" stroke-width="12" stroke-opacity="0.8"/>',
    ),
    "href-inherits-stops-and-attributes": (
        f'<linearGradient id="stops">{THREE_STOPS}</linearGradient>'
        '<linearGradient id="geometry" xlink:href="#stops" gradientUnits="userSpaceOnUse" x1="30" y1="0" x2="45" '
        'y2="0" spreadMethod="reflect"/>'
        '<linearGradient id="g" xlink:href="#geometry" gradientTransform="rotate(20 50 50)"/>'
        # A radial gradient takes units, transform, spread and stops from a linear one, not x1…y2.
        '<radialGradient id="r" href="#geometry" cx="70" cy="70" r="12"/>',
        '<rect x="10" y="10" width="80" height="45" fill="url(#g)"/><rect x="10" y="55" width="80" height="40" '
        'fill="url(#r)"/>',
    ),
    "zero-length-vector-and-zero-radius-paint-the-last-stop": (
        f'<linearGradient id="g" x1="0.5" x2="0.5">{THREE_STOPS}</linearGradient>'
        f'<radialGradient id="r" r="0">{THREE_STOPS}</radialGradient>'
        '<linearGradient id="one"><stop offset="0.3" stop-color="#c03020"/></linearGradient>',
        '<rect x="10" y="10" width="35" height="35" fill="url(#g)"/><rect x="55" y="10" width="35" height="35" '
        'fill="url(#r)"/><rect x="10" y="55" width="80" height="35" fill="url(#one)"/>',
    ),
    "zero-height-bounding-box-is-not-painted": (
        f'<linearGradient id="g">{RED_BLUE}</linearGradient>'
        f'<linearGradient id="u" gradientUnits="userSpaceOnUse" x1="10" x2="90">{RED_BLUE}</linearGradient>',
        '<line x1="10" y1="30" x2="90" y2="30" stroke="url(#g)" stroke-width="10"/>'
        '<line x1="10" y1="70" x2="90" y2="70" stroke="url(#u)" stroke-width="10"/>',
    ),
}


@needs_resvg
@pytest.mark.parametrize("name", sorted(FEATURES))
def test_gradient_feature_matches_resvg(name: str, tmp_path: Path) -> None:
    server, shape = FEATURES[name]
    assert_matches_resvg(gradient_document(server, shape), tmp_path)


@needs_resvg
@pytest.mark.parametrize("spread", ["pad", "reflect", "repeat"])
@pytest.mark.parametrize("kind", ["linear", "radial"])
def test_spread_method_matches_resvg(kind: str, spread: str, tmp_path: Path) -> None:
    if kind == "linear":
        server = f'<linearGradient id="g" x1="0.3" x2="0.55" y2="0.1" spreadMethod="{spread}">{THREE_STOPS}'
        server += "</linearGradient>"
    else:
        server = f'<radialGradient id="g" r="0.2" fx="0.45" spreadMethod="{spread}">{THREE_STOPS}</radialGradient>'
    square = '<rect x="5" y="5" width="90" height="90" fill="url(#g)"/>'
    assert_matches_resvg(gradient_document(server, square), tmp_path)


def test_focal_radius_matches_the_analytic_ramp() -> None:
    # resvg 0.44 ignores fr, so the reference is drawn analytically: concentric circles, t = 0 on
    # the focal circle (radius fr) and 1 on the end circle, padded.
    svg = gradient_document(
        '<radialGradient id="g" gradientUnits="userSpaceOnUse" cx="50" cy="50" r="40" fr="15">'
        '<stop offset="0" stop-color="#ffe000"/><stop offset="1" stop-color="#102060"/></radialGradient>',
        '<rect width="100" height="100" fill="url(#g)"/>',
    )
    samples = (np.arange(100 * 4) + 0.5) / 4.0
    y, x = np.meshgrid(samples, samples, indexing="ij")
    t = np.clip((np.hypot(x - 50.0, y - 50.0) - 15.0) / (40.0 - 15.0), 0.0, 1.0)[..., None]
    colour = (1.0 - t) * np.array([1.0, 0xE0 / 255, 0.0]) + t * np.array([0x10, 0x20, 0x60]) / 255.0
    expected = np.concatenate([colour.reshape(100, 4, 100, 4, 3).mean(axis=(1, 3)), np.ones((100, 100, 1))], axis=-1)
    iou, difference = agreement(ours(svg, 100), expected)
    assert iou >= MIN_IOU and difference <= MAX_MEAN_ABS, f"IoU {iou:.4f}, mean |ΔRGBA| {difference:.4f}"


def test_parse_keeps_the_mean_for_the_training_renderer_and_the_gradient_beside_it() -> None:
    clipart = parse_svg(
        gradient_document(
            '<linearGradient id="g"><stop offset="0" stop-color="red"/>'
            '<stop offset="1" stop-color="blue" stop-opacity="0.5"/></linearGradient>',
            '<rect x="0" y="0" width="100" height="50" fill="url(#g)" fill-opacity="0.5"/>',
        ).encode()
    )
    fill = clipart.shapes[0].fill
    assert isinstance(fill.gradient, LinearGradient)
    assert fill.opacity == pytest.approx(0.5 * 0.75)  # fill-opacity × mean stop alpha
    assert fill.gradient.opacity == pytest.approx(0.5)
    # Bounding-box units on a 2:1 box fitted into the canvas: e1 spans the box's width.
    origin, e1, e2 = fill.gradient.frame
    x_min, y_min, x_max, y_max = clipart.bounding_box()
    assert origin == pytest.approx([x_min, y_min])
    assert e1 - origin == pytest.approx([x_max - x_min, 0.0])
    assert e2 - origin == pytest.approx([0.0, y_max - y_min])


# --- motion --------------------------------------------------------------------------------------


def _affine(angle_deg: float, scale: tuple[float, float], shear: float, shift: tuple[float, float]) -> np.ndarray:
    angle = math.radians(angle_deg)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    linear = rotation @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag(scale)
    affine = np.eye(3)
    affine[:2, :2] = linear
    affine[:2, 2] = shift
    return affine


def test_best_fit_affine_is_exact_for_affine_motion_and_robust_when_degenerate() -> None:
    rng = np.random.default_rng(0)
    rest = rng.uniform(0, 256, size=(13, 2))
    affine = _affine(27.0, (1.3, 0.6), 0.4, (12.0, -30.0))
    posed = rest @ affine[:2, :2].T + affine[:2, 2]
    assert best_fit_affine(rest, posed) == pytest.approx(affine, abs=1e-9)
    # Collinear rest points (a straight stroke): the best-fit similarity, finite.
    line = np.stack([np.linspace(10, 100, 7), np.linspace(20, 50, 7)], axis=1)
    similarity = _affine(40.0, (1.5, 1.5), 0.0, (5.0, 6.0))
    fit = best_fit_affine(line, line @ similarity[:2, :2].T + similarity[:2, 2])
    assert fit == pytest.approx(similarity, abs=1e-9)
    # One distinct point: the translation.
    dot = np.full((4, 2), 7.0)
    assert best_fit_affine(dot, dot + [3.0, -2.0]) == pytest.approx(np.array([[1, 0, 3], [0, 1, -2], [0, 0, 1.0]]))


MOVING_BODY = (
    f'<linearGradient id="lin" x1="0.1" x2="0.6" y2="0.3" spreadMethod="reflect">{THREE_STOPS}</linearGradient>'
    f'<radialGradient id="rad" fx="0.35" fy="0.4" r="0.6">{THREE_STOPS}</radialGradient>'
    f'<linearGradient id="edge" x2="0" y2="1">{RED_BLUE}</linearGradient>',
    '<rect x="20" y="30" width="110" height="70" fill="url(#lin)"/>'
    '<ellipse cx="150" cy="150" rx="70" ry="45" fill="url(#rad)" stroke="url(#edge)" stroke-width="8"/>',
)
MOTION = _affine(18.0, (0.8, 1.1), 0.25, (30.0, -10.0))


def _moving_source() -> tuple[str, Clipart]:
    svg = document(f"<defs>{MOVING_BODY[0]}</defs>{MOVING_BODY[1]}", 'width="256" height="256"')
    return svg, parse_svg(svg.encode(), clip_id="moving")


def _transformed_source(clipart: Clipart, affine: np.ndarray) -> str:
    """The source drawn in canvas px moved by ``affine``: what a posed render must look like."""
    to_canvas = affine @ clipart.document_to_canvas()
    matrix = " ".join(f"{v:.9g}" for v in to_canvas[:2].T.reshape(-1))
    return document(
        f'<defs>{MOVING_BODY[0]}</defs><g transform="matrix({matrix})">{MOVING_BODY[1]}</g>',
        'width="256" height="256"',
    )


def test_posed_paint_carries_the_gradient_frame_exactly() -> None:
    _, clipart = _moving_source()
    for shape in clipart.shapes:
        rest = np.concatenate([sp.points for sp in shape.subpaths])
        fill, stroke = posed_paint(shape, rest @ MOTION[:2, :2].T + MOTION[:2, 2])
        for before, after in ((shape.fill, fill), (shape.stroke, stroke)):
            if before is not None and before.gradient is not None:
                expected = before.gradient.frame @ MOTION[:2, :2].T + MOTION[:2, 2]
                assert after.gradient.frame == pytest.approx(expected, abs=1e-9)


@needs_resvg
def test_affinely_posed_render_matches_the_transformed_source(tmp_path: Path) -> None:
    _, clipart = _moving_source()
    pose = clipart.control_points() @ MOTION[:2, :2].T + MOTION[:2, 2]
    image = render_clipart(clipart, 256, points=pose, background="transparent").astype(np.float64) / 255.0
    reference = resvg_render(_transformed_source(clipart, MOTION), 256, tmp_path)
    iou, difference = agreement(image, reference)
    assert iou >= MIN_IOU and difference <= MAX_MEAN_ABS, f"IoU {iou:.4f}, mean |ΔRGBA| {difference:.4f}"


@needs_resvg
def test_affinely_posed_frame_svg_matches_the_transformed_source(tmp_path: Path) -> None:
    _, clipart = _moving_source()
    pose = clipart.control_points() @ MOTION[:2, :2].T + MOTION[:2, 2]
    exported = resvg_render(clipart_to_svg(clipart, pose), 256, tmp_path)
    (tmp_path / "second").mkdir()
    reference = resvg_render(_transformed_source(clipart, MOTION), 256, tmp_path / "second")
    iou, difference = agreement(exported, reference)
    assert iou >= MIN_IOU and difference <= MAX_MEAN_ABS, f"IoU {iou:.4f}, mean |ΔRGBA| {difference:.4f}"


def _compose(translate: str, rotate: str, skew: str, scale: str) -> np.ndarray:
    tx, ty = (float(v) for v in translate.split())
    sx, sy = (float(v) for v in scale.split())
    angle, shear = math.radians(float(rotate)), math.tan(math.radians(float(skew)))
    result = np.eye(3)
    result[:2, 2] = (tx, ty)
    result[:2, :2] = (
        np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        @ np.array([[1.0, shear], [0.0, 1.0]])
        @ np.diag([sx, sy])
    )
    return result


def test_animated_svg_animates_each_gradient_frame_exactly() -> None:
    _, clipart = _moving_source()
    rest = clipart.control_points()
    motions = [np.eye(3), MOTION, _affine(-35.0, (1.2, 0.9), -0.1, (5.0, 20.0))]
    frames = np.stack([rest @ m[:2, :2].T + m[:2, 2] for m in motions])
    text = animated_svg(clipart, frames, fps=8)
    gradients = re.findall(r'<(?:linear|radial)Gradient id="(shape-\d+-\w+)".*?</(?:linear|radial)Gradient>', text)
    assert gradients == ["shape-0-fill", "shape-1-fill", "shape-1-stroke"]
    for index, shape in enumerate(clipart.shapes):
        for role in ("fill", "stroke"):
            paint = getattr(shape, role)
            if paint is None or paint.gradient is None:
                continue
            block = re.search(rf'id="shape-{index}-{role}".*?</(?:linear|radial)Gradient>', text).group(0)
            values = {
                kind: values.split(";")
                for kind, values in re.findall(r'type="(\w+)" additive="\w+" [^>]*values="([^"]*)"', block)
            }
            assert list(values) == ["translate", "rotate", "skewX", "scale"]
            for frame, motion in enumerate(motions):
                composed = _compose(*(values[kind][frame] for kind in ("translate", "rotate", "skewX", "scale")))
                expected = motion @ paint.gradient.matrix()
                assert composed == pytest.approx(expected, rel=1e-5, abs=1e-4)


def test_lottie_writes_gradients_that_follow_the_pose_and_validates() -> None:
    _, clipart = _moving_source()
    rest = clipart.control_points()
    frames = np.stack([rest, rest @ MOTION[:2, :2].T + MOTION[:2, 2]])
    document_ = lottie_animation(clipart, frames, 8)
    assert lottie_schema_errors(document_) == []
    items = [item for layer in document_["layers"] for item in layer["shapes"][0]["it"]]
    kinds = sorted(item["ty"] for item in items if item["ty"] in ("gf", "gs"))
    assert kinds == ["gf", "gf", "gs"]
    linear = clipart.shapes[0].fill.gradient
    fill = next(item for item in items if item["ty"] == "gf" and item["t"] == 1)
    assert fill["g"]["p"] == 3
    for frame, motion in enumerate((np.eye(3), MOTION)):
        start, end, _, _ = lottie_gradient_points(linear.moved(motion))
        assert fill["s"]["k"][frame]["s"] == start and fill["e"]["k"][frame]["s"] == end


def test_lottie_linear_points_give_the_same_ramp_under_any_frame() -> None:
    # Lottie's ramp t = (p − s)·(e − s)/|e − s|² equals the gradient's own t everywhere, even in
    # a skewed frame where the mapped vector is not perpendicular to the isolines.
    _, clipart = _moving_source()
    gradient = clipart.shapes[0].fill.gradient.moved(MOTION)
    start, end, _, _ = lottie_gradient_points(gradient)
    start, end = np.array(start), np.array(end)
    points = np.random.default_rng(1).uniform(0, 256, size=(50, 2))
    local = (points - gradient.matrix()[:2, 2]) @ np.linalg.inv(gradient.matrix()[:2, :2]).T
    vector = np.array([gradient.x2 - gradient.x1, gradient.y2 - gradient.y1])
    expected = (local - [gradient.x1, gradient.y1]) @ vector / (vector @ vector)
    assert (points - start) @ (end - start) / ((end - start) @ (end - start)) == pytest.approx(expected, abs=1e-3)


def test_radial_gradient_types_survive_the_fit() -> None:
    _, clipart = _moving_source()
    assert isinstance(clipart.shapes[1].fill.gradient, RadialGradient)
    assert isinstance(clipart.shapes[1].stroke.gradient, LinearGradient)


def test_a_pose_collapsing_the_shape_paints_the_mean_colour_everywhere() -> None:
    # Every point squashed onto one line: no gradient frame is left, so every output falls back
    # to the mean colour instead of failing on a singular matrix.
    _, clipart = _moving_source()
    pose = clipart.control_points().copy()
    pose[:, 1] = 128.0
    fill, stroke = posed_paint(clipart.shapes[1], pose[clipart.shapes[0].point_count :])
    assert fill.gradient is None and stroke.gradient is None
    render_clipart(clipart, 64, points=pose)
    # Per-frame SVG: solid paint, and no reference to a gradient that was not written.
    text = clipart_to_svg(clipart, pose)
    assert "Gradient" not in text and "url(" not in text
    frames = np.stack([clipart.control_points(), pose])
    assert lottie_schema_errors(lottie_animation(clipart, frames, 8)) == []
    # Animated SVG: every url() names a gradient element that exists.
    text = animated_svg(clipart, frames, fps=8)
    assert set(re.findall(r"url\(#([\w-]+)\)", text)) == set(re.findall(r'Gradient id="([\w-]+)"', text))


def test_posed_clipart_carries_the_gradients_too() -> None:
    _, clipart = _moving_source()
    moved = posed_clipart(clipart, clipart.control_points() @ MOTION[:2, :2].T + MOTION[:2, 2])
    for before, after in zip(clipart.shapes, moved.shapes):
        for role in ("fill", "stroke"):
            paint, moved_paint = getattr(before, role), getattr(after, role)
            if paint is not None and paint.gradient is not None:
                expected = paint.gradient.frame @ MOTION[:2, :2].T + MOTION[:2, 2]
                assert moved_paint.gradient.frame == pytest.approx(expected, abs=1e-9)


def test_shape_paint_scales_widths_and_dashes_into_root_units() -> None:
    # `ShapePaint.stroke` in root viewport units, before the canvas fit: under scale(2) a 3-wide
    # stroke is 6 wide; the odd dash list 1, 2, 10% repeats to even length (10% of the 100 × 100
    # viewport's normalised diagonal is 10) and scales with the offset; opacities multiply.
    root = parse_xml(
        document(
            '<g opacity="0.5" transform="scale(2)"><path d="M 0 0 L 10 0" fill="none" stroke="navy" stroke-width="3"'
            ' stroke-opacity="0.8" stroke-dasharray="1, 2 10%" stroke-dashoffset="2" stroke-linecap="round"/></g>'
        ).encode(),
        clip="c",
        max_elements=10,
        max_depth=5,
    )
    walker = DocumentWalker(root, clip="c", max_elements=10, max_depth=5, max_path_commands=100)
    (shape,) = walker.walk_document(IDENTITY, LengthContext(100.0, 100.0))
    assert shape.fill is None and shape.stroke is not None
    stroke = shape.stroke
    assert stroke.width == 6.0 and stroke.opacity == pytest.approx(0.4) and stroke.linecap == "round"
    assert stroke.dash_array == pytest.approx((2.0, 4.0, 20.0, 2.0, 4.0, 20.0)) and stroke.dash_offset == 4.0
