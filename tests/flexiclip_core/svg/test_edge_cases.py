"""Structural edge cases of issue 23 item 3, each drawn by parse_svg + the final renderer and
compared with resvg (the helpers and pass mark of resvg.py), or checked for the
specific error resvg's refusal corresponds to.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flexiclip_core.errors import EmptyDrawingError, SvgParseError
from flexiclip_core.render import render_document_frame
from flexiclip_core.svg import parse_svg
from tests.flexiclip_core.svg.resvg import assert_matches_resvg, document, needs_resvg

NS = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
BODY = '<rect x="10" y="10" width="60" height="40" fill="teal"/><circle cx="70" cy="60" r="25" fill="orange"/>'
OBB_CLIP = '<clipPath id="c" clipPathUnits="objectBoundingBox"><rect width="0.5" height="1"/></clipPath>'

EDGE_CASES = {
    # Root viewport.
    "root-without-size": f'<svg {NS} viewBox="0 0 100 80">{BODY}</svg>',
    "root-aspect-ratio-none": (
        f'<svg {NS} width="200" height="100" viewBox="0 0 100 100" preserveAspectRatio="none">{BODY}</svg>'
    ),
    "root-aspect-ratio-slice": (
        f'<svg {NS} width="200" height="100" viewBox="0 0 100 100" preserveAspectRatio="xMinYMax slice">{BODY}</svg>'
    ),
    # The object bounding box counts geometry that paints nothing (SVG 2 §8.10).
    "bbox-with-a-transparent-child": document(
        f'<defs>{OBB_CLIP}</defs><g clip-path="url(#c)"><rect x="10" y="10" width="40" height="40" fill="green"/>'
        '<rect x="50" y="50" width="40" height="40" opacity="0"/></g>'
    ),
    "bbox-with-a-hidden-child": document(
        f'<defs>{OBB_CLIP}</defs><g clip-path="url(#c)"><rect x="10" y="10" width="40" height="40" fill="green"/>'
        '<rect x="50" y="50" width="40" height="40" visibility="hidden"/></g>'
    ),
    "bbox-with-an-unpainted-child": document(
        f'<defs>{OBB_CLIP}</defs><g clip-path="url(#c)"><rect x="10" y="10" width="40" height="40" fill="green"/>'
        '<rect x="50" y="50" width="40" height="40" fill="none"/></g>'
    ),
    "bbox-without-an-undisplayed-child": document(
        f'<defs>{OBB_CLIP}</defs><g clip-path="url(#c)"><rect x="10" y="10" width="40" height="40" fill="green"/>'
        '<rect x="50" y="50" width="40" height="40" display="none"/></g>'
    ),
    # A <symbol> is not transformable: its transform is ignored.
    "symbol-transform-ignored": document(
        '<defs><symbol id="s" transform="rotate(20)"><rect x="20" y="0" width="40" height="20" fill="navy"/>'
        '</symbol></defs><use href="#s" x="10" y="10"/>'
    ),
    "symbol-transform-ignored-with-viewbox": document(
        '<defs><symbol id="s" viewBox="0 0 10 10" transform="translate(10 5)"><rect width="10" height="5"'
        ' fill="navy"/></symbol></defs><use href="#s" x="10" y="10" width="50" height="50"/>'
    ),
    # A <line> takes its transform like any shape; under a skew or a non-uniform scale its stroke
    # is the transformed band (no one width draws it), caps and dashes included.
    "line-transform": document(
        '<line x1="10" y1="20" x2="90" y2="20" stroke="black" stroke-width="8" transform="rotate(30 50 50)"/>'
    ),
    "line-skew-butt": document(
        '<line x1="40" y1="10" x2="40" y2="60" stroke="black" stroke-width="10" transform="skewX(45)"/>'
    ),
    "line-skew-round-dashed": document(
        '<line x1="20" y1="10" x2="20" y2="90" stroke="navy" stroke-width="6" stroke-linecap="round"'
        ' stroke-dasharray="10 5 3 5" stroke-dashoffset="4" transform="skewX(30)"/>'
    ),
    "line-non-uniform-scale-square": document(
        '<line x1="10" y1="10" x2="40" y2="30" stroke="teal" stroke-width="8" stroke-linecap="square"'
        ' transform="scale(2 1)"/>'
    ),
    # rgb()/hsl() alpha is a number (CSS Color 3): a percentage makes the colour invalid (black).
    "rgba-percentage-alpha-is-invalid": document(
        '<rect width="50" height="50" fill="rgba(100%, 0%, 0%, 50%)"/>'
        '<rect x="50" width="50" height="50" fill="rgb(20%, 40%, 60%)"/>'
        '<rect y="50" width="50" height="50" fill="hsla(120, 100%, 25%, 60%)"/>'
        '<rect x="50" y="50" width="50" height="50" fill="rgba(100%, 50%, 0%, .6)"/>'
    ),
    # display does not apply to <clipPath>.
    "clip-path-display-none-still-clips": document(
        '<defs><clipPath id="c" display="none"><circle cx="50" cy="50" r="30"/></clipPath></defs>'
        '<rect width="100" height="100" fill="red" clip-path="url(#c)"/>'
    ),
    # Paint fallbacks: a missing target takes the fallback; none and currentColor too.
    "paint-fallbacks": document(
        '<g color="purple"><rect width="50" height="50" fill="url(#missing) red"/>'
        '<rect x="50" width="50" height="50" fill="url(#missing) currentColor"/>'
        '<rect y="50" width="50" height="50" fill="url(#missing) none"/>'
        '<rect x="55" y="55" width="40" height="40" fill="none" stroke="url(#nope) orange" stroke-width="8"/></g>'
    ),
    # Malformed url() paints are invalid values (black): unclosed, or a second url() as the fallback.
    "paint-malformed-urls": document(
        '<rect width="50" height="50" fill="url(#missing red"/><rect x="50" width="50" height="50" fill="url( red"/>'
        '<rect y="50" width="50" height="50" fill="url(#a) url(#b) green"/>'
        '<rect x="50" y="50" width="50" height="50" fill="url(#nope)green"/>'
    ),
}


@needs_resvg
@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_cases_match_resvg(case: str, tmp_path: Path) -> None:
    assert_matches_resvg(EDGE_CASES[case], tmp_path, width=200)


@pytest.mark.parametrize(
    ("attributes", "error", "words"),
    [
        ('width="0" height="100"', EmptyDrawingError, 'width="0": a zero-size root renders nothing'),
        ('width="100" height="0mm"', EmptyDrawingError, 'height="0mm": a zero-size root renders nothing'),
        ('width="100" height="-5"', SvgParseError, 'height="-5": a negative size is an error'),
    ],
)
def test_a_root_of_zero_or_negative_size_is_refused_as_resvg_refuses_it(
    attributes: str, error: type[Exception], words: str
) -> None:
    # resvg exits with "SVG has an invalid size" on each of these.
    with pytest.raises(error) as caught:
        parse_svg(f"<svg {NS} {attributes}>{BODY}</svg>".encode(), clip_id="root")
    assert type(caught.value) is error
    assert words in str(caught.value) and "clip 'root'" in str(caught.value) and "<svg #1>" in str(caught.value)


def test_a_root_with_only_a_width_takes_its_height_from_the_viewbox_ratio() -> None:
    # resvg takes the viewBox's height unscaled (a 200 × 50 page, the drawing cut to its middle);
    # CSS sizing of a replaced element with an intrinsic ratio, as browsers draw it, gives 200 × 100
    # (docs/render.md §10): the drawing fills the page at twice its viewBox size.
    svg = f'<svg {NS} width="200" viewBox="0 0 100 50"><rect width="100" height="50" fill="teal"/></svg>'
    clipart = parse_svg(svg.encode(), clip_id="root")
    frame = render_document_frame(clipart, 200)
    assert frame.shape == (100, 200, 4)
    assert tuple(frame[2, 2]) == tuple(frame[97, 197]) == (0, 128, 128, 255)


def test_a_paint_server_in_another_file_takes_the_fallback() -> None:
    # Never fetched, the reference resolves to nothing, so SVG 2 §13.3 gives the fallback colour
    # (resvg paints black here; docs/render.md §10).
    clipart = parse_svg(document('<rect width="10" height="10" fill="url(other.svg#g) red"/>').encode())
    assert clipart.shapes[0].fill is not None and clipart.shapes[0].fill.rgb == (1.0, 0.0, 0.0)
    assert [w.code for w in clipart.warnings] == ["external-href"]
