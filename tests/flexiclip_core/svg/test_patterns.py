"""Patterns (issue 23 item 2, docs/render.md §13): parsed into a `Pattern` and tiled by the final
renderer, compared with resvg (the helpers and pass mark of resvg.py), and carried
by the shape's affine motion like gradients.

Pattern tiles are small repeated features, so the comparisons are drawn at 200 px: at 100 px a
2 px dot is all anti-aliased edge and alpha > 0.5 decides the IoU pixel by pixel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flexiclip_core.paint_motion import posed_clipart, posed_paint
from flexiclip_core.render import render_clipart
from flexiclip_core.svg import parse_svg
from tests.flexiclip_core.svg.resvg import (
    MAX_MEAN_ABS,
    MIN_IOU,
    agreement,
    assert_matches_resvg,
    document,
    needs_resvg,
    ours,
)

CHECKER = (
    '<pattern id="checker" width="10" height="10" patternUnits="userSpaceOnUse">'
    '<rect width="5" height="5" fill="#d02020"/><rect x="5" y="5" width="5" height="5" fill="#2040c0"/></pattern>'
)

PATTERN_CASES = {
    "user-space-tile": f'<defs>{CHECKER}</defs><rect x="10" y="10" width="80" height="80" fill="url(#checker)"/>',
    "bounding-box-tile-offset": (
        '<defs><pattern id="p" x="0.1" y="0.05" width="0.25" height="0.25"><rect width="6" height="6" fill="red"/>'
        '<circle cx="12" cy="10" r="4" fill="blue"/></pattern></defs>'
        '<rect x="13" y="7" width="80" height="60" fill="url(#p)"/>'
    ),
    "bounding-box-content-units": (
        '<defs><pattern id="p" width="0.25" height="0.25" patternContentUnits="objectBoundingBox">'
        '<rect width="0.1" height="0.1" fill="red"/><circle cx="0.2" cy="0.2" r="0.05" fill="blue"/></pattern></defs>'
        '<rect x="13" y="7" width="80" height="60" fill="url(#p)"/>'
    ),
    "viewbox-slice": (
        '<defs><pattern id="p" viewBox="0 0 10 5" preserveAspectRatio="xMaxYMid slice" width="20" height="16"'
        ' patternUnits="userSpaceOnUse"><circle cx="5" cy="2.5" r="3" fill="green"/></pattern></defs>'
        '<rect x="5" y="5" width="90" height="90" fill="url(#p)"/>'
    ),
    "pattern-transform-and-href": (
        '<defs><pattern id="base" width="12" height="8" patternUnits="userSpaceOnUse">'
        '<path d="M0 0 L12 8 M12 0 L0 8" stroke="green" stroke-width="2"/></pattern>'
        '<pattern id="p" href="#base" patternTransform="rotate(30) translate(3 1)" x="2"/></defs>'
        '<circle cx="50" cy="50" r="40" fill="url(#p)"/>'
    ),
    "on-a-stroke": (
        f'<defs>{CHECKER}</defs><circle cx="50" cy="50" r="35" fill="none" stroke="url(#checker)" stroke-width="14"/>'
    ),
    "gradient-inside-and-opacity": (
        '<defs><linearGradient id="g"><stop offset="0" stop-color="yellow"/><stop offset="1" stop-color="purple"/>'
        '</linearGradient><pattern id="p" width="20" height="20" patternUnits="userSpaceOnUse">'
        '<rect width="15" height="15" fill="url(#g)"/></pattern></defs>'
        '<g opacity="0.7"><rect x="5" y="5" width="90" height="90" fill="url(#p)" fill-opacity="0.8"/></g>'
    ),
    "pattern-inside-pattern": (
        f'<defs>{CHECKER}<pattern id="outer" width="40" height="40" patternUnits="userSpaceOnUse">'
        '<circle cx="20" cy="20" r="16" fill="url(#checker)" stroke="black"/></pattern></defs>'
        '<rect width="100" height="100" fill="url(#outer)"/>'
    ),
    "content-overflowing-the-tile": (
        '<defs><pattern id="p" width="20" height="20" patternUnits="userSpaceOnUse">'
        '<circle cx="20" cy="20" r="12" fill="teal"/></pattern></defs>'
        '<rect x="10" y="10" width="80" height="80" fill="url(#p)"/>'
    ),
    "transformed-element": (
        f'<defs>{CHECKER}</defs><rect x="20" y="20" width="50" height="40" fill="url(#checker)"'
        ' transform="rotate(20 50 50) scale(1.2)"/>'
    ),
    "zero-size-tile-paints-nothing": (
        '<defs><pattern id="p" width="0" height="10"><rect width="5" height="5"/></pattern></defs>'
        '<rect x="10" y="10" width="80" height="80" fill="url(#p)"/><rect width="10" height="10"/>'
    ),
    "zero-size-tile-takes-the-fallback": (
        '<defs><pattern id="p" width="0" height="10"><rect width="5" height="5"/></pattern></defs>'
        '<rect x="10" y="10" width="80" height="80" fill="url(#p) red"/>'
    ),
}


@needs_resvg
@pytest.mark.parametrize("case", sorted(PATTERN_CASES))
def test_patterns_match_resvg(case: str, tmp_path: Path) -> None:
    assert_matches_resvg(document(PATTERN_CASES[case]), tmp_path, width=200)


def test_a_pattern_under_a_skewing_transform_skews_with_its_shape() -> None:
    # resvg draws these cells as rectangles while the rect they fill becomes a parallelogram
    # (its tile is drawn at the transform's scale only), so the expectation here is analytic:
    # the checker of the rect's own user space, carried by the same affine map, 4×4 samples a px.
    svg = document(
        f'<defs>{CHECKER}</defs><rect x="20" y="20" width="50" height="40" fill="url(#checker)"'
        ' transform="rotate(20 50 50) scale(1.2 0.9)"/>'
    )
    angle = np.radians(20.0)
    rotate = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    linear = 2.0 * rotate @ np.diag([1.2, 0.9])  # user units → px at 200 px for a 100-unit page
    offset = 2.0 * (np.array([50.0, 50.0]) - rotate @ np.array([50.0, 50.0]))
    samples = (np.arange(200 * 4) + 0.5) / 4.0
    device = np.stack(np.meshgrid(samples, samples, indexing="xy"), axis=-1)  # [800, 800, 2] (x, y)
    user = (device - offset) @ np.linalg.inv(linear).T
    x, y = user[..., 0], user[..., 1]
    inside = (x >= 20) & (x <= 70) & (y >= 20) & (y <= 60)
    red = inside & (x % 10 < 5) & (y % 10 < 5)
    blue = inside & (x % 10 >= 5) & (y % 10 >= 5)
    premultiplied = (
        red[..., None] * np.array([0xD0, 0x20, 0x20]) / 255 + blue[..., None] * np.array([0x20, 0x40, 0xC0]) / 255
    )
    alpha = (red | blue).astype(float)
    blocks = np.concatenate([premultiplied, alpha[..., None]], axis=-1).reshape(200, 4, 200, 4, 4).mean(axis=(1, 3))
    expected = np.concatenate([blocks[..., :3] / np.maximum(blocks[..., 3:], 1e-12), blocks[..., 3:]], axis=-1)
    iou, difference = agreement(ours(svg, 200), expected)
    assert iou >= MIN_IOU and difference <= MAX_MEAN_ABS, (iou, difference)


def test_a_pattern_keeps_its_mean_colour_for_the_training_renderer() -> None:
    clipart = parse_svg(document(PATTERN_CASES["user-space-tile"]).encode())
    (shape,) = clipart.shapes
    assert shape.fill is not None and shape.fill.pattern is not None
    assert shape.fill.rgb == pytest.approx(((0xD0 + 0x20) / 510, (0x20 + 0x40) / 510, (0x20 + 0xC0) / 510))
    assert (shape.fill.pattern.width, shape.fill.pattern.height) == (10.0, 10.0)
    assert len(shape.fill.pattern.shapes) == 2


def test_a_pattern_moves_with_its_shape() -> None:
    # Moving the shape by an affine map moves the tiles with it: the render of the moved
    # drawing is the render of the rest drawing, moved (here by whole pixels).
    clipart = parse_svg(document(PATTERN_CASES["user-space-tile"]).encode())
    rest = render_clipart(clipart, size=256, background="transparent")
    shifted = posed_clipart(clipart, clipart.control_points() + np.array([7.0, -5.0]))
    moved = render_clipart(shifted, size=256, background="transparent")
    assert np.abs(moved[40:200, 40:200].astype(int) - rest[45:205, 33:193].astype(int)).max() <= 2
    fill, _ = posed_paint(clipart.shapes[0], clipart.control_points() * 0.5)
    assert fill is not None and fill.pattern is not None
    np.testing.assert_allclose(fill.pattern.frame, clipart.shapes[0].fill.pattern.frame * 0.5, atol=1e-9)


def test_a_pattern_used_inside_itself_is_cut() -> None:
    clipart = parse_svg(
        document(
            '<defs><pattern id="p" width="10" height="10" patternUnits="userSpaceOnUse">'
            '<rect width="5" height="5" fill="url(#p)"/><rect x="5" width="5" height="5" fill="red"/></pattern></defs>'
            '<rect width="50" height="50" fill="url(#p)"/>'
        ).encode()
    )
    (shape,) = clipart.shapes
    assert shape.fill is not None and shape.fill.pattern is not None
    assert "pattern-cycle" in {w.code for w in clipart.warnings}


def test_a_tile_of_fractional_device_size_does_not_drift() -> None:
    # Stripes 7.3 px apart at 1 px a unit: resvg draws the tile into a whole-pixel image, so its
    # stripes drift by 0.3 px a tile (mean error 0.52 here, growing across the image); the
    # expectation is analytic, 64 samples a px along the row.
    svg = document(
        '<defs><pattern id="p" width="7.3" height="100" patternUnits="userSpaceOnUse"><rect width="3.65"'
        ' height="100"/></pattern></defs><rect width="100" height="100" fill="url(#p)"/>'
    )
    samples = (np.arange(100 * 64) + 0.5) / 64
    coverage = ((samples % 7.3) < 3.65).reshape(100, 64).mean(axis=1)
    alpha = ours(svg, 100)[50, :, 3]
    assert np.abs(alpha - coverage).mean() <= 0.01
    assert np.abs(alpha[75:] - coverage[75:]).mean() <= 0.01  # no drift towards the far side


def _posed_pattern_clipart():
    source = document(
        '<defs><linearGradient id="g"><stop offset="0" stop-color="orange"/><stop offset="1" stop-color="navy"/>'
        f"</linearGradient>{CHECKER}"
        '<pattern id="p" width="16" height="12" patternUnits="userSpaceOnUse" patternTransform="rotate(15)">'
        '<circle cx="8" cy="6" r="5" fill="url(#g)"/><rect width="4" height="4" fill="url(#checker)"/></pattern></defs>'
        '<rect x="10" y="10" width="60" height="45" fill="url(#p)" stroke="url(#checker)" stroke-width="6"/>'
        '<circle cx="70" cy="70" r="20" fill="#308030"/>'
    )
    clipart = parse_svg(source.encode())
    angle = np.radians(-12.0)
    motion = np.array([[1.1 * np.cos(angle), -np.sin(angle), 20.0], [np.sin(angle), 0.9 * np.cos(angle), -8.0]])
    return clipart, motion


def test_a_frame_svg_writes_the_posed_pattern() -> None:
    # The exported frame, read back by parse_svg and drawn in its own 256² frame, is the final
    # render of the same pose (the pattern, its nested gradient and pattern, carried by the motion).
    from flexiclip_core.export.svg_anim import clipart_to_svg
    from flexiclip_core.render import render_document_frame

    clipart, motion = _posed_pattern_clipart()
    pose = clipart.control_points() @ motion[:, :2].T + motion[:, 2]
    text = clipart_to_svg(clipart, pose)
    assert text.count("<pattern ") == 3  # the fill's, the stroke's, and the checker inside the fill's tile
    expected = render_clipart(clipart, 256, points=pose, background="transparent").astype(np.float64) / 255.0
    exported = parse_svg(text.encode())
    image = render_document_frame(exported, 256).astype(np.float64) / 255.0
    iou, difference = agreement(image, expected)
    assert iou >= MIN_IOU and difference <= MAX_MEAN_ABS, (iou, difference)


def test_animated_svg_animates_the_pattern_transform_exactly() -> None:
    import re

    from flexiclip_core.export.svg_anim import animated_svg

    clipart, motion = _posed_pattern_clipart()
    rest = clipart.control_points()
    frames = np.stack([rest, rest @ motion[:, :2].T + motion[:, 2]])
    text = animated_svg(clipart, frames, fps=8)
    block = text[text.index('<pattern id="shape-0-fill"') : text.index('<pattern id="shape-0-stroke"')]
    values = dict(
        re.findall(r'attributeName="patternTransform" type="(\w+)" additive="\w+" [^>]*values="([^"]*)"', block)
    )
    assert list(values) == ["translate", "rotate", "skewX", "scale"]
    tx, ty = (float(v) for v in values["translate"].split(";")[1].split())
    angle, shear = (
        np.radians(float(values["rotate"].split(";")[1])),
        np.tan(np.radians(float(values["skewX"].split(";")[1]))),
    )
    sx, sy = (float(v) for v in values["scale"].split(";")[1].split())
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    composed = np.eye(3)
    composed[:2, :2] = rotation @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([sx, sy])
    composed[:2, 2] = (tx, ty)
    expected = np.vstack([motion, [0.0, 0.0, 1.0]]) @ clipart.shapes[0].fill.pattern.matrix()
    assert composed == pytest.approx(expected, rel=1e-5, abs=1e-4)


def test_lottie_paints_a_pattern_with_its_mean_colour_and_validates() -> None:
    # Lottie has no tiled paint: the pattern's mean colour is written as a solid fill
    # (docs/render.md §13, the pattern-mean-colour warning says so).
    from flexiclip_core.export.lottie import lottie_animation, lottie_schema_errors

    clipart, motion = _posed_pattern_clipart()
    rest = clipart.control_points()
    document_ = lottie_animation(clipart, np.stack([rest, rest @ motion[:, :2].T + motion[:, 2]]), 8)
    assert lottie_schema_errors(document_) == []
    items = [item for layer in document_["layers"] for item in layer["shapes"][0]["it"]]
    solid_colours = [item["c"]["k"][:3] for item in items if item["ty"] == "fl"]
    assert any(list(clipart.shapes[0].fill.rgb) == pytest.approx(colour, abs=1e-3) for colour in solid_colours)
    assert "pattern-mean-colour" in {w.code for w in clipart.warnings}
