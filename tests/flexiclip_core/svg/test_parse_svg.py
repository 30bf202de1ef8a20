"""Unit tests of `flexiclip_core.svg.parse_svg` on tiny hand-made SVGs with exact expectations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from flexiclip_core.clipart import Clipart
from flexiclip_core.errors import EmptyDrawingError, SvgParseError
from flexiclip_core.svg import ParseConfig, SvgLimits, parse_svg

SVG_OPEN = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 100 100">'


def svg(body: str, open_tag: str = SVG_OPEN) -> bytes:
    return (open_tag + body + "</svg>").encode()


def to_document(clipart: Clipart, points: np.ndarray) -> np.ndarray:
    """Canvas px [N, 2] → document user units [N, 2]."""
    homogeneous = np.c_[points, np.ones(len(points))]
    return (homogeneous @ clipart.canvas_to_document.T)[:, :2]


def doc_points(clipart: Clipart, shape: int = 0, subpath: int = 0) -> np.ndarray:
    return to_document(clipart, clipart.shapes[shape].subpaths[subpath].points)


def anchors(points: np.ndarray) -> np.ndarray:
    """On-curve points of a cubic chain [3n + 1, 2] → [n + 1, 2]."""
    return points[::3]


def bezier(points: np.ndarray, samples: int = 64) -> np.ndarray:
    """Points along every cubic of a chain: [n · samples, 2]."""
    t = np.linspace(0.0, 1.0, samples)[:, None]
    out = []
    for i in range(0, len(points) - 1, 3):
        p0, p1, p2, p3 = points[i : i + 4]
        out.append((1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t**2 * p2 + t**3 * p3)
    return np.concatenate(out)


def warning_codes(clipart: Clipart) -> set[str]:
    return {w.code for w in clipart.warnings}


# --- geometry and the canvas fit ---------------------------------------------------------------


def test_rect_maps_to_known_canvas_coordinates() -> None:
    clipart = parse_svg(svg('<rect x="0" y="0" width="100" height="50" fill="#000"/>'))
    (shape,) = clipart.shapes
    (subpath,) = shape.subpaths
    # 100×50 fitted into [24, 232]: scale 2.08, centred vertically → y from 76 to 180.
    np.testing.assert_allclose(
        anchors(subpath.points), [[24, 76], [232, 76], [232, 180], [24, 180], [24, 76]], atol=1e-9
    )
    assert subpath.closed and subpath.segment_count == 4
    # Straight segments keep their control points on the line, at thirds.
    np.testing.assert_allclose(subpath.points[1], [24 + 208 / 3, 76], atol=1e-9)
    assert clipart.document_size == (100.0, 100.0)
    assert clipart.bounding_box() == pytest.approx((24, 76, 232, 180))


def test_margin_and_canvas_size_are_configurable() -> None:
    config = ParseConfig(canvas_size=100, margin_px=10.0)
    clipart = parse_svg(svg('<rect x="10" y="10" width="20" height="20"/>'), config=config)
    assert clipart.canvas_size == 100
    assert clipart.bounding_box() == pytest.approx((10, 10, 90, 90))


def test_bounding_box_includes_strokes() -> None:
    clipart = parse_svg(svg('<rect x="0" y="0" width="100" height="100" fill="none" stroke="red" stroke-width="20"/>'))
    # Stroked extent is 120 units wide: scale 208/120; the rect outline sits 10 units inside.
    scale = 208 / 120
    assert clipart.bounding_box() == pytest.approx(
        (24 + 10 * scale, 24 + 10 * scale, 232 - 10 * scale, 232 - 10 * scale)
    )
    assert clipart.shapes[0].stroke.width == pytest.approx(20 * scale)


def test_transforms_compose_in_document_order() -> None:
    body = (
        '<g transform="translate(10,0)"><rect transform="scale(2)" x="5" y="5" width="10" height="10"/></g>'
        '<rect transform="rotate(90 50 50)" x="60" y="40" width="10" height="5"/>'
        '<rect transform="matrix(1 0 0 1 30 60) skewX(45)" x="0" y="0" width="10" height="10"/>'
        '<rect transform="translate(0 80), skewY(45)" x="0" y="0" width="10" height="10"/>'
    )
    clipart = parse_svg(svg(body))
    np.testing.assert_allclose(anchors(doc_points(clipart, 0))[:4], [[20, 10], [40, 10], [40, 30], [20, 30]], atol=1e-9)
    # rotate(90) about (50, 50): (x, y) → (100 − y, x).
    np.testing.assert_allclose(anchors(doc_points(clipart, 1))[:4], [[60, 60], [60, 70], [55, 70], [55, 60]], atol=1e-9)
    np.testing.assert_allclose(anchors(doc_points(clipart, 2))[:4], [[30, 60], [40, 60], [50, 70], [40, 70]], atol=1e-9)
    np.testing.assert_allclose(anchors(doc_points(clipart, 3))[:4], [[0, 80], [10, 90], [10, 100], [0, 90]], atol=1e-9)


def test_stroke_width_scales_with_sqrt_of_transform_determinant() -> None:
    body = '<rect width="10" height="10" fill="none" stroke="#000" stroke-width="2" transform="scale(4 1)"/>'
    clipart = parse_svg(svg(body))
    canvas_per_unit = 1.0 / math.sqrt(abs(np.linalg.det(clipart.canvas_to_document[:2, :2])))
    assert clipart.shapes[0].stroke.width == pytest.approx(2 * 2 * canvas_per_unit)


@pytest.mark.parametrize(
    "path",
    [
        '<path d="M50,100 A50,50 0 0,1 150,100 A50,50 0 0,1 50,100 Z"/>',
        '<path d="m50 100a50 50 0 1 0 100 0a50 50 0 1 0-100 0z"/>',
        '<circle cx="100" cy="100" r="50"/>',
        '<ellipse cx="100" cy="100" rx="50" ry="50"/>',
    ],
)
def test_arcs_and_circles_approximate_a_circle_within_a_hundredth_of_a_pixel(path: str) -> None:
    clipart = parse_svg(svg(path, SVG_OPEN.replace("0 0 100 100", "0 0 200 200")))
    points = clipart.shapes[0].subpaths[0].points
    assert clipart.shapes[0].subpaths[0].closed
    # Canvas: circle of radius 104 px centred on the canvas.
    radius = np.linalg.norm(bezier(points) - [128.0, 128.0], axis=1)
    assert np.abs(radius - 104.0).max() < 0.01


def test_arc_radii_are_scaled_up_when_too_small() -> None:
    # Radii 1 cannot span 100 units: corrected to a half circle of radius 50 (SVG F.6.6).
    clipart = parse_svg(svg('<path d="M0 50 A1 1 0 0 1 100 50 Z"/>'))
    document = bezier(doc_points(clipart))
    np.testing.assert_allclose(np.linalg.norm(document - [50, 50], axis=1).max(), 50, atol=0.01)
    assert document[:, 1].min() == pytest.approx(0, abs=0.01)  # sweep=1 goes through the top


def test_arc_flags_may_be_packed() -> None:
    packed = parse_svg(svg('<path d="M0 0a10 10 0 0110 10"/><rect width="100" height="100" fill="none" stroke="red"/>'))
    spaced = parse_svg(
        svg('<path d="M0 0 a 10 10 0 0 1 10 10"/><rect width="100" height="100" fill="none" stroke="red"/>')
    )
    np.testing.assert_allclose(packed.shapes[0].subpaths[0].points, spaced.shapes[0].subpaths[0].points)
    np.testing.assert_allclose(anchors(doc_points(packed))[-1], [10, 10], atol=1e-9)


def test_relative_and_absolute_commands_agree() -> None:
    frame = '<rect width="100" height="100" fill="none" stroke="red"/>'
    relative = parse_svg(svg('<path d="m10 10 h20 v20 l-10 10 c0 5 -5 5 -10 0 z"/>' + frame))
    absolute = parse_svg(svg('<path d="M10 10 H30 V30 L20 40 C20 45 15 45 10 40 Z"/>' + frame))
    np.testing.assert_allclose(relative.shapes[0].subpaths[0].points, absolute.shapes[0].subpaths[0].points, atol=1e-9)


def test_smooth_shorthands_reflect_the_previous_control_point() -> None:
    clipart = parse_svg(
        svg('<path d="M0 0 C10 0 20 10 20 20 S30 40 40 40 Q50 40 50 50 T60 60" fill="none" stroke="#000"/>')
    )
    points = doc_points(clipart)
    # S: first control = reflection of (20, 10) about (20, 20).
    np.testing.assert_allclose(points[4], [20, 30], atol=1e-9)
    np.testing.assert_allclose(points[5:7], [[30, 40], [40, 40]], atol=1e-9)
    # Q(50 40 → 50 50) degree-elevated: controls at 2/3 towards the quadratic control.
    np.testing.assert_allclose(points[7], [40 + 2 / 3 * 10, 40], atol=1e-9)
    # T: quadratic control reflected to (50, 60); elevated first control = 50 + 2/3 · (0, 10).
    np.testing.assert_allclose(points[10], [50, 50 + 2 / 3 * 10], atol=1e-9)
    np.testing.assert_allclose(points[12], [60, 60], atol=1e-9)


def test_number_syntax_and_implicit_repeats() -> None:
    frame = '<rect width="100" height="100" fill="none" stroke="red"/>'
    roomy = SVG_OPEN.replace("0 0 100 100", "-10 -10 120 120")
    clipart = parse_svg(svg('<path d="M1.5.5 10-.5 1e1 2E1-5 1e-3" fill="none" stroke="#000"/>' + frame, roomy))
    np.testing.assert_allclose(anchors(doc_points(clipart)), [[1.5, 0.5], [10, -0.5], [10, 20], [-5, 0.001]], atol=1e-9)
    moved = parse_svg(svg('<path d="m10 10 5 0 0 5z" fill="#000"/>' + frame))
    np.testing.assert_allclose(anchors(doc_points(moved)), [[10, 10], [15, 10], [15, 15], [10, 10]], atol=1e-9)


def test_subpaths_after_close_start_at_the_closed_subpath_start() -> None:
    clipart = parse_svg(svg('<path d="M10 10 L20 10 L20 20 Z l10 0 l0 10 z M50 50 l10 0"  stroke="#000"/>'))
    subpaths = clipart.shapes[0].subpaths
    assert [sp.closed for sp in subpaths] == [True, True, False]
    np.testing.assert_allclose(to_document(clipart, subpaths[1].points)[0], [10, 10], atol=1e-9)
    for subpath in subpaths[:2]:
        np.testing.assert_allclose(subpath.points[-1], subpath.points[0])


def test_malformed_path_data_is_drawn_up_to_the_error_with_a_warning() -> None:
    clipart = parse_svg(svg('<path d="M0 0 L10 0 L10 10 X 5 5"/><rect x="50" width="10" height="10"/>'))
    assert "path-data-error" in warning_codes(clipart)
    np.testing.assert_allclose(anchors(doc_points(clipart)), [[0, 0], [10, 0], [10, 10]], atol=1e-9)


def test_rect_corner_radii() -> None:
    clipart = parse_svg(svg('<rect x="0" y="0" width="100" height="50" rx="10"/>'))
    document = bezier(doc_points(clipart))
    # ry defaults to rx; the top-left corner arc stays 10 units from (10, 10).
    corner = document[(document[:, 0] < 10) & (document[:, 1] < 10)]
    np.testing.assert_allclose(np.linalg.norm(corner - [10, 10], axis=1), 10, atol=0.01)
    assert document[:, 0].min() == pytest.approx(0, abs=1e-9) and document[:, 1].max() == pytest.approx(50, abs=1e-9)


def test_lines_polylines_and_polygons() -> None:
    body = (
        '<line x1="0" y1="0" x2="100" y2="100" stroke="#000"/>'
        '<polyline points="0,100 50,50 100,100" fill="none" stroke="#000"/>'
        '<polygon points="10 10 20 10 20 20"/>'
    )
    clipart = parse_svg(svg(body))
    line, polyline, polygon = clipart.shapes
    assert line.fill is None and not line.subpaths[0].closed
    assert not polyline.subpaths[0].closed and polyline.segment_count == 2
    assert polygon.subpaths[0].closed and polygon.segment_count == 3
    np.testing.assert_allclose(anchors(doc_points(clipart, 2)), [[10, 10], [20, 10], [20, 20], [10, 10]], atol=1e-9)


# --- structure: use, symbol, nested svg, defs, groups ------------------------------------------


def test_use_with_href_and_xlink_href_and_offsets() -> None:
    body = (
        '<defs><rect id="box" width="10" height="10" fill="#00f"/></defs>'
        '<use href="#box" x="20" y="30"/>'
        '<g id="clones" transform="translate(50 0)"><use xlink:href="#box" y="5"/></g>'
    )
    clipart = parse_svg(svg(body))
    assert len(clipart.shapes) == 2  # <defs> content is not drawn by itself
    np.testing.assert_allclose(anchors(doc_points(clipart, 0))[0], [20, 30], atol=1e-9)
    np.testing.assert_allclose(anchors(doc_points(clipart, 1))[0], [50, 5], atol=1e-9)
    assert clipart.shapes[1].groups[0] == "clones" and clipart.shapes[1].groups[1].startswith("use#")
    assert clipart.shapes[1].element == '<rect id="box">'
    assert clipart.shapes[1].fill.rgb == (0.0, 0.0, 1.0)


def test_use_inherits_style_from_the_use_element() -> None:
    body = '<defs><circle id="c" r="5"/></defs><use href="#c" x="10" y="10" fill="red"/>'
    clipart = parse_svg(svg(body))
    assert clipart.shapes[0].fill.rgb == (1.0, 0.0, 0.0)


def test_symbol_uses_its_viewbox_inside_the_use_viewport() -> None:
    body = (
        '<symbol id="s" viewBox="0 0 10 10"><rect width="10" height="10"/></symbol>'
        '<use href="#s" x="10" y="20" width="40" height="40"/>'
        '<rect x="90" y="90" width="10" height="10"/>'
    )
    clipart = parse_svg(svg(body))
    assert len(clipart.shapes) == 2
    np.testing.assert_allclose(anchors(doc_points(clipart, 0))[:3], [[10, 20], [50, 20], [50, 60]], atol=1e-9)


def test_nested_svg_establishes_a_viewport() -> None:
    body = '<svg x="10" y="10" width="20" height="20" viewBox="0 0 1 1"><rect width="1" height="1"/></svg><rect x="90" y="90" width="10" height="10"/>'
    clipart = parse_svg(svg(body))
    np.testing.assert_allclose(anchors(doc_points(clipart, 0))[:3], [[10, 10], [30, 10], [30, 30]], atol=1e-9)


def test_root_viewbox_width_height_and_preserve_aspect_ratio() -> None:
    open_tag = '<svg xmlns="http://www.w3.org/2000/svg" width="200mm" height="100mm" viewBox="0 0 20 10" preserveAspectRatio="none">'
    clipart = parse_svg(svg('<rect x="0" y="0" width="20" height="10"/>', open_tag))
    assert clipart.document_size == (20.0, 10.0)
    # canvas_to_document maps the canvas back to viewBox units.
    np.testing.assert_allclose(anchors(doc_points(clipart))[:3], [[0, 0], [20, 0], [20, 10]], atol=1e-9)
    stretched = '<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100" viewBox="0 0 20 10" preserveAspectRatio="none">'
    square = parse_svg(svg('<rect x="0" y="0" width="20" height="10"/>', stretched))
    # Non-uniform viewBox stretch is kept: the 20×10 rect is drawn square.
    x0, y0, x1, y1 = square.bounding_box()
    assert x1 - x0 == pytest.approx(y1 - y0)


def test_groups_get_ids_or_stable_synthetic_ids_and_elements_are_named() -> None:
    body = '<g id="body"><g><path id="arm" d="M0 0 H10 V10 Z"/><rect width="5" height="5"/></g></g>'
    first = parse_svg(svg(body))
    second = parse_svg(svg(body))
    assert first.shapes[0].groups == second.shapes[0].groups
    assert first.shapes[0].groups[0] == "body" and first.shapes[0].groups[1].startswith("g#")
    assert first.shapes[0].element == '<path id="arm">'
    assert first.shapes[1].element.startswith("<rect #")


def test_switch_draws_its_first_matching_child_only() -> None:
    body = (
        '<switch><foreignObject requiredExtensions="http://ns.adobe.com/AdobeIllustrator/10.0/"/>'
        '<rect id="drawn" width="10" height="10"/><rect id="skipped" width="20" height="20"/></switch>'
    )
    clipart = parse_svg(svg(body))
    assert [s.element for s in clipart.shapes] == ['<rect id="drawn">']


def test_foreign_namespace_elements_and_metadata_are_ignored() -> None:
    open_tag = SVG_OPEN[:-1] + ' xmlns:sodipodi="http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd">'
    clipart = parse_svg(svg('<metadata><x/></metadata><sodipodi:namedview/><rect width="1" height="1"/>', open_tag))
    assert len(clipart.shapes) == 1 and not clipart.warnings


# --- style --------------------------------------------------------------------------------------


def test_stylesheet_classes_ids_types_and_specificity() -> None:
    body = (
        "<style>rect { fill: #00ff00 } .warm, .hot { fill: red; stroke: black } #special { fill: blue }"
        " circle:hover { fill: pink }</style>"
        '<rect width="1" height="1"/>'
        '<rect class="warm" width="1" height="1" fill="yellow"/>'
        '<rect class="hot" id="special" width="1" height="1"/>'
        '<rect class="warm" width="1" height="1" style="fill: rgb(0, 0, 255)"/>'
    )
    clipart = parse_svg(svg(body))
    fills = [s.fill.rgb for s in clipart.shapes]
    assert fills == [(0.0, 1.0, 0.0), (1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, 0.0, 1.0)]
    assert clipart.shapes[1].stroke is not None and clipart.shapes[0].stroke is None
    assert "css-selector-unsupported" in warning_codes(clipart)


def test_inheritance_and_opacity_multiplication() -> None:
    body = (
        '<g fill="red" stroke="blue" stroke-width="3" opacity="0.5" fill-rule="evenodd">'
        '<g opacity="0.5" style="stroke-opacity:0.5"><rect width="10" height="10" fill-opacity="0.5"/></g></g>'
    )
    clipart = parse_svg(svg(body))
    (shape,) = clipart.shapes
    assert shape.fill.rgb == (1.0, 0.0, 0.0)
    assert shape.fill.opacity == pytest.approx(0.125)
    assert shape.fill.rule == "evenodd"
    assert shape.stroke.rgb == (0.0, 0.0, 1.0)
    assert shape.stroke.opacity == pytest.approx(0.125)
    scale = 208 / 13  # stroked extent is 13 units
    assert shape.stroke.width == pytest.approx(3 * scale)


def test_stroke_properties_and_dashes_in_canvas_px() -> None:
    body = (
        '<path d="M0 0 H100" stroke="#000" stroke-width="2" stroke-linecap="round" stroke-linejoin="bevel"'
        ' stroke-miterlimit="8" stroke-dasharray="5 10 5" stroke-dashoffset="2"/>'
    )
    clipart = parse_svg(svg(body))
    stroke = clipart.shapes[0].stroke
    scale = 208 / 102
    assert (stroke.linecap, stroke.linejoin, stroke.miter_limit) == ("round", "bevel", 8.0)
    # An odd dash list repeats once (SVG).
    np.testing.assert_allclose(stroke.dash_array, np.array([5, 10, 5, 5, 10, 5]) * scale)
    assert stroke.dash_offset == pytest.approx(2 * scale)


@pytest.mark.parametrize(
    ("value", "rgb", "alpha"),
    [
        ("#f80", (1.0, 0x88 / 255, 0.0), 1.0),
        ("#FF8800", (1.0, 0x88 / 255, 0.0), 1.0),
        ("rgb(255, 136, 0)", (1.0, 136 / 255, 0.0), 1.0),
        ("rgb(100%, 50%, 0%)", (1.0, 0.5, 0.0), 1.0),
        ("rgba(255, 0, 0, 0.5)", (1.0, 0.0, 0.0), 0.5),
        ("cornflowerblue", (100 / 255, 149 / 255, 237 / 255), 1.0),
        ("rebeccapurple", (102 / 255, 51 / 255, 153 / 255), 1.0),
        ("LightGoldenRodYellow", (250 / 255, 250 / 255, 210 / 255), 1.0),
    ],
)
def test_colour_syntaxes(value: str, rgb: tuple[float, float, float], alpha: float) -> None:
    clipart = parse_svg(svg(f'<rect width="1" height="1" fill="{value}"/>'))
    assert clipart.shapes[0].fill.rgb == pytest.approx(rgb)
    assert clipart.shapes[0].fill.opacity == pytest.approx(alpha)


def test_current_color_inherit_and_none() -> None:
    body = (
        '<g color="#00f" fill="green" stroke="red">'
        '<rect width="1" height="1" fill="currentColor" stroke="inherit"/>'
        '<rect width="1" height="1" fill="none"/>'
        '<rect width="1" height="1" fill="none" stroke="none"/></g>'
    )
    clipart = parse_svg(svg(body))
    assert len(clipart.shapes) == 2  # nothing visible in the third
    assert clipart.shapes[0].fill.rgb == (0.0, 0.0, 1.0) and clipart.shapes[0].stroke.rgb == (1.0, 0.0, 0.0)
    assert clipart.shapes[1].fill is None and clipart.shapes[1].stroke.rgb == (1.0, 0.0, 0.0)


def test_units() -> None:
    body = (
        '<rect x="1in" y="0" width="72pt" height="2.54cm"/>'  # all 96 user units
        '<rect x="0" y="0" width="25.4mm" height="50%"/>'  # 96 and half of the 400-unit viewBox
        '<rect x="0" y="300" width="2em" height="1pc" style="font-size:10px"/>'
    )
    clipart = parse_svg(svg(body, SVG_OPEN.replace("0 0 100 100", "0 0 400 400")))
    np.testing.assert_allclose(anchors(doc_points(clipart, 0))[2], [192, 96], atol=1e-9)
    np.testing.assert_allclose(anchors(doc_points(clipart, 1))[2], [96, 200], atol=1e-9)
    np.testing.assert_allclose(anchors(doc_points(clipart, 2))[2], [20, 316], atol=1e-9)


def test_display_none_and_visibility_hidden() -> None:
    body = (
        '<g style="display:none"><rect id="gone" width="10" height="10"/></g>'
        '<g visibility="hidden"><rect id="hidden" width="10" height="10"/>'
        '<rect id="visible" visibility="visible" width="10" height="10"/></g>'
    )
    clipart = parse_svg(svg(body))
    assert [s.element for s in clipart.shapes] == ['<rect id="visible">']


def test_empty_drawing_raises() -> None:
    with pytest.raises(EmptyDrawingError, match="no visible shape"):
        parse_svg(svg('<defs><rect id="r" width="1" height="1"/></defs><rect width="1" height="1" fill="none"/>'))
    with pytest.raises(EmptyDrawingError):
        parse_svg(svg(""), clip_id="blank")


# --- approximations ------------------------------------------------------------------------------


def test_gradient_becomes_its_mean_stop_colour_with_a_warning() -> None:
    body = (
        '<defs><linearGradient id="base"><stop offset="0" stop-color="red"/><stop offset="1" stop-color="blue"/>'
        '</linearGradient><radialGradient id="ref" xlink:href="#base"/>'
        '<linearGradient id="fade"><stop offset="50%" style="stop-color:#fff;stop-opacity:1"/>'
        '<stop offset="1" stop-color="#fff" stop-opacity="0"/></linearGradient></defs>'
        '<rect width="1" height="1" fill="url(#ref)"/>'
        '<rect width="1" height="1" fill="url(#fade)"/>'
    )
    clipart = parse_svg(svg(body))
    assert clipart.shapes[0].fill.rgb == pytest.approx((0.5, 0.0, 0.5))
    assert clipart.shapes[0].fill.opacity == pytest.approx(1.0)
    # Opaque on [0, 0.5] (padding), fading linearly to 0 on [0.5, 1]: mean opacity 0.75.
    assert clipart.shapes[1].fill.opacity == pytest.approx(0.75)
    assert clipart.shapes[1].fill.rgb == pytest.approx((1.0, 1.0, 1.0))
    assert "gradient-mean-colour" in warning_codes(clipart)


def test_pattern_fill_keeps_the_mean_of_its_shapes_for_the_training_renderer() -> None:
    body = (
        '<defs><pattern id="p" width="2" height="2"><rect width="1" height="1" fill="#f00"/>'
        '<rect x="1" width="1" height="1" fill="#00f"/></pattern><pattern id="empty" width="1" height="1"/>'
        '<pattern id="sizeless"><rect width="1" height="1"/></pattern></defs>'
        '<rect width="10" height="10" fill="url(#p)"/><rect width="10" height="10" fill="url(#empty)"/>'
        '<rect width="10" height="10" fill="url(#sizeless)"/>'
    )
    clipart = parse_svg(svg(body))
    # A pattern tile without area paints nothing (SVG); one without shapes keeps neutral grey.
    assert len(clipart.shapes) == 2
    assert clipart.shapes[0].fill.rgb == pytest.approx((0.5, 0.0, 0.5))
    assert clipart.shapes[0].fill.pattern is not None
    assert clipart.shapes[1].fill.rgb == pytest.approx((0.5, 0.5, 0.5))
    assert clipart.shapes[1].fill.pattern is None
    assert {"pattern-mean-colour", "pattern-neutral-colour"} <= warning_codes(clipart)


def test_text_image_mask_filter_and_markers_are_reported_and_clip_is_kept() -> None:
    body = (
        '<text x="0" y="10">hello</text>'
        '<image href="data:image/png;base64,AAAA" width="5" height="5"/>'
        '<defs><clipPath id="c"><rect width="5" height="5"/></clipPath></defs>'
        '<rect width="10" height="10" clip-path="url(#c)" mask="url(#m)" filter="url(#f)"/>'
        '<path d="M0 0 L5 5" stroke="#000" marker-end="url(#arrow)"/>'
    )
    clipart = parse_svg(svg(body))
    assert len(clipart.shapes) == 2
    assert {
        "text-skipped",
        "image-skipped",
        "mask-ignored",
        "filter-ignored",
        "marker-ignored",
    } <= warning_codes(clipart)
    text_warning = next(w for w in clipart.warnings if w.code == "text-skipped")
    assert text_warning.element.startswith("<text")
    assert "clip-path-ignored" not in warning_codes(clipart) and clipart.shapes[0].clip is not None


def test_source_is_the_clip_id_or_the_file_name(tmp_path) -> None:
    path = tmp_path / "cat.svg"
    path.write_bytes(svg('<rect width="1" height="1"/>'))
    assert parse_svg(path).source == "cat.svg"
    assert parse_svg(str(path), clip_id="cat-07").source == "cat-07"
    assert parse_svg(path.read_bytes()).source == "<bytes>"


def test_errors_name_the_clip_and_element() -> None:
    with pytest.raises(SvgParseError) as caught:
        parse_svg(svg('<path id="tail" d="M0 0 L NaN 5"/>'), clip_id="cat-07")
    assert str(caught.value).startswith("clip 'cat-07': element <path id=\"tail\">")


def test_tighter_limits_are_respected() -> None:
    config = ParseConfig(limits=SvgLimits(max_path_commands=3))
    parse_svg(svg('<path d="M0 0 L1 1 2 0"/>'), config=config)
    with pytest.raises(SvgParseError, match="max_path_commands=3"):
        parse_svg(svg('<path d="M0 0 L1 1 2 0 3 3"/>'), config=config)


# --- the page (root viewport) --------------------------------------------------------------------


def test_shapes_wholly_off_the_page_are_dropped() -> None:
    clipart = parse_svg(svg('<rect width="10" height="10"/><rect id="away" x="150" width="10" height="10"/>'))
    assert [s.element for s in clipart.shapes] == ["<rect #2>"]
    assert "off-page-dropped" in warning_codes(clipart)


def test_fills_crossing_the_page_edge_are_clipped_exactly() -> None:
    # A circle centred on the right edge: only its left half is on the page.
    clipart = parse_svg(
        svg('<circle cx="100" cy="50" r="20" stroke="#000" stroke-width="2"/><rect width="10" height="10"/>')
    )
    assert "off-page-clipped" in warning_codes(clipart)
    fill_shape, stroke_shape = clipart.shapes[0], clipart.shapes[1]
    assert fill_shape.fill is not None and fill_shape.stroke is None
    assert stroke_shape.fill is None and stroke_shape.stroke is not None
    fill_points = bezier(doc_points(clipart, 0))
    assert fill_points[:, 0].max() == pytest.approx(100, abs=1e-9)
    # The kept boundary is the left half circle plus the edge segment x = 100 from y 30 to 70.
    on_arc = fill_points[fill_points[:, 0] < 100 - 1e-6]
    np.testing.assert_allclose(np.linalg.norm(on_arc - [100, 50], axis=1), 20, atol=0.01)
    assert fill_points[:, 1].min() == pytest.approx(30, abs=1e-6) and fill_points[:, 1].max() == pytest.approx(
        70, abs=1e-6
    )
    # The stroke keeps only the on-page half, as an open subpath.
    (stroke_subpath,) = stroke_shape.subpaths
    assert not stroke_subpath.closed
    assert bezier(to_document(clipart, stroke_subpath.points))[:, 0].max() == pytest.approx(100, abs=1e-6)


def test_a_drawing_wholly_off_the_page_is_kept_with_a_warning() -> None:
    clipart = parse_svg(svg('<rect x="-50" y="0" width="10" height="10"/><rect x="-30" y="0" width="10" height="10"/>'))
    assert len(clipart.shapes) == 2
    assert "page-ignored" in warning_codes(clipart)
    np.testing.assert_allclose(anchors(doc_points(clipart, 0))[0], [-50, 0], atol=1e-9)


def test_block_less_at_statements_do_not_swallow_the_next_rule() -> None:
    body = '<style>@charset "utf-8"; @media print { rect { fill: blue } } .a { fill: #f00 }</style><rect class="a" width="1" height="1"/>'
    clipart = parse_svg(svg(body))
    assert clipart.shapes[0].fill.rgb == (1.0, 0.0, 0.0)
    assert "css-selector-unsupported" in warning_codes(clipart)


def test_long_path_data_spanning_many_tokenising_windows() -> None:
    # ~300 KB of packed relative commands (no spaces), and arcs with packed flags.
    steps = 40_000
    open_tag = SVG_OPEN.replace("0 0 100 100", f"0 0 {steps // 2 + 10} {steps // 4 + 10}")
    d = "M0 0" + "l.5.25" * steps + "a1 1 0 0 1 2 0" * 5 + "z"
    clipart = parse_svg(svg(f'<path d="{d}" fill="none" stroke="#000"/>', open_tag))
    points = doc_points(clipart)
    # Each half-circle arc becomes three 60° cubics; Z adds the closing line.
    assert clipart.shapes[0].segment_count == steps + 5 * 3 + 1
    np.testing.assert_allclose(anchors(points)[steps], [steps * 0.5, steps * 0.25], atol=1e-6)
