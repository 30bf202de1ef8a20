"""`svg._viewport`: nested ``<svg>`` and ``<symbol>`` viewports (issue 15 item 3) drawn by
parse_svg + the final renderer against resvg (`tests/flexiclip_core/svg/resvg.py`) or an analytic
expectation; content clipped or dropped at the viewport, strokes crossing its edge warned."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

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

# --- item 3: viewports ---------------------------------------------------------------------------

VIEWPORT_CASES = {
    "nested-svg-clips": (
        '<svg x="10" y="10" width="50" height="50"><rect width="80" height="20" fill="red"/>'
        '<circle cx="40" cy="40" r="30" fill="blue"/></svg>'
    ),
    "nested-svg-rotated-slice": (
        '<g transform="rotate(30 50 50)"><svg x="20" y="20" width="50" height="40" viewBox="0 0 10 10"'
        ' preserveAspectRatio="xMidYMid slice"><circle cx="5" cy="5" r="7" fill="green"/></svg></g>'
    ),
    "nested-svg-in-nested-svg": (
        '<svg x="10" y="10" width="80" height="80"><svg x="-20" y="30" width="60" height="60">'
        '<circle cx="30" cy="10" r="40" fill="navy"/></svg></svg>'
    ),
    "overflow-visible": (
        '<svg x="10" y="10" width="50" height="50" overflow="visible"><rect width="80" height="20" fill="olive"/></svg>'
    ),
    "overflow-auto-in-style": (
        '<svg x="10" y="10" width="50" height="50" style="overflow: auto"><rect width="80" height="20"/></svg>'
    ),
    "use-symbol-sized-by-use": (
        '<symbol id="s" viewBox="0 0 10 10"><circle cx="5" cy="5" r="8" fill="purple"/></symbol>'
        '<use href="#s" x="10" y="20" width="40" height="40"/>'
    ),
    "use-symbol-default-100-percent": (
        '<symbol id="s" viewBox="0 0 10 10"><circle cx="5" cy="5" r="8" fill="purple"/></symbol>'
        '<use href="#s" x="10" y="20"/>'
    ),
    "use-symbol-aspect-ratio-and-skew": (
        '<symbol id="s" viewBox="0 0 20 10" preserveAspectRatio="xMaxYMin slice">'
        '<circle cx="10" cy="5" r="9" fill="orange"/></symbol>'
        '<use href="#s" x="5" y="5" width="60" height="80" transform="skewX(10)"/>'
    ),
    "use-svg-sized-by-use": (
        '<defs><svg id="v" width="30" height="30" viewBox="0 0 10 10">'
        '<rect x="-5" y="-5" width="20" height="12" fill="teal"/></svg></defs>'
        '<use href="#v" x="20" y="20" width="50" height="60"/>'
    ),
    "use-svg-sized-by-itself": (
        '<defs><svg id="v" width="30" height="30" viewBox="0 0 10 10">'
        '<rect x="-5" y="-5" width="20" height="12" fill="teal"/></svg></defs><use href="#v" x="20" y="20"/>'
    ),
    "symbol-overflow-visible": (
        '<symbol id="s" viewBox="0 0 10 10" overflow="visible"><circle cx="5" cy="5" r="8" fill="maroon"/></symbol>'
        '<use href="#s" x="30" y="30" width="40" height="40"/>'
    ),
    "clipped-shape-with-fill-and-stroke": (
        '<svg x="10" y="10" width="50" height="50"><rect x="20" y="20" width="60" height="20" fill="yellow"'
        ' stroke="black" stroke-width="2"/></svg>'
    ),
}


@needs_resvg
@pytest.mark.parametrize("case", sorted(VIEWPORT_CASES))
def test_viewports_match_resvg(case: str, tmp_path: Path) -> None:
    assert_matches_resvg(document(VIEWPORT_CASES[case]), tmp_path)


def test_nested_svg_clips_its_content_analytically() -> None:
    # A circle of radius 40 centred on the viewport's corner: only the quarter inside is drawn.
    svg = document('<svg x="20" y="20" width="60" height="60"><circle cx="0" cy="0" r="40" fill="#0000ff"/></svg>')
    image = ours(svg, 100)
    yy, xx = np.mgrid[0:100, 0:100] + 0.5
    inside = ((xx - 20) ** 2 + (yy - 20) ** 2 <= 40**2) & (xx >= 20) & (yy >= 20)
    expected = np.zeros((100, 100, 4))
    expected[inside] = (0.0, 0.0, 1.0, 1.0)
    iou, difference = agreement(image, expected)
    assert iou >= MIN_IOU and difference <= MAX_MEAN_ABS, (iou, difference)


def test_content_wholly_outside_a_viewport_is_dropped() -> None:
    clipart = parse_svg(
        document(
            '<svg x="10" y="10" width="20" height="20"><rect x="30" y="0" width="5" height="5"/>'
            '<rect width="5" height="5" fill="red"/></svg><rect x="60" y="60" width="30" height="30"/>'
        ).encode()
    )
    assert [s.fill.rgb for s in clipart.shapes] == [(1.0, 0.0, 0.0), (0.0, 0.0, 0.0)]
    assert not clipart.warnings


def test_a_stroke_crossing_a_viewport_edge_is_warned_as_approximate() -> None:
    crossing = parse_svg(
        document(
            '<svg x="10" y="10" width="50" height="50"><rect width="80" height="20" fill="none" stroke="red"/></svg>'
        ).encode()
    )
    (warning,) = [w for w in crossing.warnings if w.code == "viewport-stroke-approximate"]
    assert warning.element.startswith("<svg #")
    symbol = parse_svg(
        document(
            '<symbol id="s" viewBox="0 0 10 10"><circle cx="5" cy="5" r="8" stroke="red"/></symbol>'
            '<use id="u" href="#s" width="40" height="40"/>'
        ).encode()
    )
    assert [w.element for w in symbol.warnings if w.code == "viewport-stroke-approximate"] == ['<use id="u">']
    fills_only = parse_svg(
        document('<svg x="10" y="10" width="50" height="50"><rect width="80" height="20"/></svg>').encode()
    )
    assert not fills_only.warnings
