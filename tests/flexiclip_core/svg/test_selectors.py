"""`svg._selectors`: CSS selectors (issue 15 item 4) drawn by parse_svg + the final renderer
against resvg (`tests/flexiclip_core/svg/resvg.py`) or, where resvg's CSS engine lacks a
selector, against the same drawing spelled out; unsupported selectors warned by name."""

from __future__ import annotations

from pathlib import Path

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
    resvg_render,
)

SELECTOR_CASES = {
    "descendant": (
        "<style>g rect { fill: green } g g rect { fill: blue }</style>"
        '<g><rect width="40" height="40"/><g><rect x="50" width="40" height="40"/></g></g>'
        '<rect y="50" width="40" height="40"/>'
    ),
    "child": (
        '<style>#a > rect { fill: lime }</style><g id="a"><rect width="40" height="40"/>'
        '<g><rect x="50" width="40" height="40"/></g></g>'
    ),
    "next-sibling": (
        "<style>rect + circle { fill: red } circle + circle { fill: blue }</style>"
        '<rect width="20" height="20"/><circle cx="35" cy="35" r="15"/><circle cx="75" cy="75" r="20"/>'
    ),
    "first-child": (
        "<style>g > :first-child { fill: purple } rect:first-child { stroke: black; stroke-width: 4 }</style>"
        '<g><rect x="10" y="10" width="30" height="30"/><rect x="50" y="50" width="30" height="30"/></g>'
    ),
    "specificity-sums-over-compounds": (
        "<style>#z rect { fill: green } g.x rect { fill: red } g rect.y { fill: blue } rect { fill: yellow }</style>"
        '<g id="z" class="x"><rect class="y" width="40" height="40"/></g>'
        '<g class="x"><rect class="y" x="50" width="40" height="40"/></g>'
    ),
    "later-rule-wins-at-equal-specificity": (
        '<style>g rect { fill: red } svg rect { fill: blue }</style><g><rect width="40" height="40"/></g>'
    ),
    "compound-with-attribute": (
        '<style>g[id="left"] > rect.a[width="40"] { fill: teal }</style>'
        '<g id="left"><rect class="a" width="40" height="40"/><rect x="50" class="a" width="30" height="40"/></g>'
    ),
}


# resvg's CSS engine lacks ``~`` and ``^=``; there the expectation is the same drawing with the
# colours the selectors must pick written as attributes, drawn by resvg.
SPELLED_OUT_CASES = {
    "subsequent-sibling": (
        "<style>rect ~ circle { fill: orange }</style>"
        '<circle cx="20" cy="20" r="10"/><rect x="40" width="20" height="20"/>'
        '<ellipse cx="20" cy="70" rx="10" ry="5"/><circle cx="65" cy="65" r="25"/>',
        '<circle cx="20" cy="20" r="10"/><rect x="40" width="20" height="20"/>'
        '<ellipse cx="20" cy="70" rx="10" ry="5"/><circle cx="65" cy="65" r="25" fill="orange"/>',
    ),
    "prefix-attribute-in-a-chain": (
        '<style>svg g[id^=le] rect + rect { fill: teal }</style><g id="left"><rect width="40" height="40"/>'
        '<rect x="50" width="40" height="40"/></g><g id="right"><rect y="50" width="40" height="40"/>'
        '<rect x="50" y="50" width="40" height="40"/></g>',
        '<rect width="40" height="40"/><rect x="50" width="40" height="40" fill="teal"/>'
        '<rect y="50" width="40" height="40"/><rect x="50" y="50" width="40" height="40"/>',
    ),
}


@needs_resvg
@pytest.mark.parametrize("case", sorted(SELECTOR_CASES))
def test_selectors_match_resvg(case: str, tmp_path: Path) -> None:
    assert_matches_resvg(document(SELECTOR_CASES[case]), tmp_path)


@needs_resvg
@pytest.mark.parametrize("case", sorted(SPELLED_OUT_CASES))
def test_selectors_resvg_lacks_match_the_spelled_out_drawing(case: str, tmp_path: Path) -> None:
    styled, spelled_out = SPELLED_OUT_CASES[case]
    iou, difference = agreement(ours(document(styled), 100), resvg_render(document(spelled_out), 100, tmp_path))
    assert iou >= MIN_IOU and difference <= MAX_MEAN_ABS, (iou, difference)


@pytest.mark.parametrize(
    "selector",
    ["circle:hover", "rect::before", "svg|rect", "g > > rect", "rect >", ":not(.a)", "a:nth-child(2)"],
)
def test_unsupported_selectors_are_warned_by_name(selector: str) -> None:
    clipart = parse_svg(
        document(
            f'<style>{selector} {{ fill: red }} rect {{ fill: blue }}</style><rect width="10" height="10"/>'
        ).encode()
    )
    assert clipart.shapes[0].fill.rgb == (0.0, 0.0, 1.0)
    (warning,) = [w for w in clipart.warnings if w.code == "css-selector-unsupported"]
    assert selector in warning.message


def test_rule_order_runs_across_style_sheets() -> None:
    # Equal specificity: the rule of the later sheet wins, wherever it sits in its own sheet.
    clipart = parse_svg(
        document(
            "<style>.b { fill: green } .c { fill: yellow } .a { fill: red }</style>"
            '<style>.a { fill: blue }</style><rect class="a" width="10" height="10"/>'
        ).encode()
    )
    assert clipart.shapes[0].fill.rgb == (0.0, 0.0, 1.0)
