"""clip-path fidelity (issue 15 item 2): parse_svg + the final renderer vs resvg, per feature, at
the pass mark of resvg.py (alpha IoU ≥ 0.97, mean |ΔRGBA| ≤ 0.02); the parsed clip
data; and the reference rules resvg follows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flexiclip_core.errors import SvgLimitExceeded
from flexiclip_core.svg import ParseConfig, SvgLimits, parse_svg
from tests.flexiclip_core.svg.resvg import assert_matches_resvg, document, needs_resvg, ours

BACKDROP = '<rect x="0" y="0" width="100" height="6" fill="#3060c0"/>'
"""An unclipped shape, so every case also checks that clips stay on their own element."""

CLIP_CASES = {
    "user_space_on_shape": (
        '<clipPath id="c"><circle cx="50" cy="50" r="30"/></clipPath>'
        '<rect x="10" y="10" width="80" height="80" fill="#c03020" clip-path="url(#c)"/>'
    ),
    "object_bounding_box": (
        '<clipPath id="c" clipPathUnits="objectBoundingBox"><rect x="0.25" y="0" width="0.5" height="0.5"/>'
        '</clipPath><ellipse cx="50" cy="60" rx="40" ry="30" fill="#20a040" clip-path="url(#c)"/>'
    ),
    "object_bounding_box_on_group": (
        '<clipPath id="c" clipPathUnits="objectBoundingBox"><circle cx="0.5" cy="0.5" r="0.5"/></clipPath>'
        '<g clip-path="url(#c)" transform="translate(5 5)"><rect x="10" y="20" width="40" height="60" fill="#c03020"/>'
        '<rect x="50" y="20" width="40" height="60" fill="#2040c0"/></g>'
    ),
    "on_group": (
        '<clipPath id="c"><rect x="20" y="30" width="60" height="40"/></clipPath>'
        '<g clip-path="url(#c)" fill="#8030a0"><circle cx="30" cy="50" r="25"/>'
        '<circle cx="70" cy="50" r="25" stroke="black" stroke-width="6"/></g>'
    ),
    "nested_groups": (
        '<clipPath id="a"><rect x="10" y="10" width="60" height="80"/></clipPath>'
        '<clipPath id="b"><circle cx="60" cy="50" r="35"/></clipPath>'
        '<g clip-path="url(#a)"><g clip-path="url(#b)"><rect width="100" height="100" fill="#e08020"/></g>'
        '<rect x="0" y="80" width="100" height="20" fill="#202020"/></g>'
    ),
    "clip_on_clip_path": (
        '<clipPath id="inner"><rect x="0" y="0" width="55" height="100"/></clipPath>'
        '<clipPath id="c" clip-path="url(#inner)"><circle cx="50" cy="50" r="40"/></clipPath>'
        '<rect width="100" height="100" fill="#20a0a0" clip-path="url(#c)"/>'
    ),
    "clip_on_clip_path_child": (
        '<clipPath id="inner"><rect x="0" y="40" width="100" height="60"/></clipPath>'
        '<clipPath id="c"><circle cx="50" cy="50" r="40" clip-path="url(#inner)"/></clipPath>'
        '<rect width="100" height="100" fill="#a0a020" clip-path="url(#c)"/>'
    ),
    "clip_rule_evenodd": (
        '<clipPath id="c"><path clip-rule="evenodd" d="M10 10 H90 V90 H10 Z M30 30 H70 V70 H30 Z"/></clipPath>'
        '<rect width="100" height="100" fill="#c02060" clip-path="url(#c)"/>'
    ),
    "clip_rule_inherited_from_clip_path": (
        '<clipPath id="c" clip-rule="evenodd"><path d="M10 10 H90 V90 H10 Z M30 30 H70 V70 H30 Z"/></clipPath>'
        '<rect width="100" height="100" fill="#c02060" clip-path="url(#c)"/>'
    ),
    "clip_path_transform": (
        '<clipPath id="c" transform="rotate(30 50 50)"><rect x="25" y="25" width="50" height="50"/></clipPath>'
        '<circle cx="50" cy="50" r="45" fill="#4060e0" clip-path="url(#c)"/>'
    ),
    "child_transform_and_shape_transform": (
        '<clipPath id="c"><rect x="0" y="0" width="30" height="30" transform="translate(10 10) scale(2)"/>'
        '</clipPath><g transform="translate(-10 5)"><rect x="10" y="0" width="90" height="90" fill="#60a060" '
        'transform="rotate(10 50 50)" clip-path="url(#c)"/></g>'
    ),
    "union_of_children_and_use": (
        '<defs><circle id="dot" cx="0" cy="0" r="15"/></defs>'
        '<clipPath id="c"><rect x="10" y="40" width="80" height="20"/><use href="#dot" x="30" y="30"/>'
        '<circle cx="70" cy="70" r="15"/><text x="10" y="90">skipped</text></clipPath>'
        '<rect width="100" height="100" fill="#d04040" clip-path="url(#c)"/>'
    ),
    "object_bounding_box_with_transform": (
        '<clipPath id="c" clipPathUnits="objectBoundingBox" transform="translate(0.5 0.5) rotate(45) '
        'translate(-0.5 -0.5)"><rect x="0.2" y="0.2" width="0.6" height="0.6"/></clipPath>'
        '<rect x="10" y="20" width="80" height="60" fill="#308050" clip-path="url(#c)"/>'
    ),
    "on_use": (
        '<defs><rect id="r" width="80" height="80" fill="#905020"/></defs>'
        '<clipPath id="c"><circle cx="40" cy="40" r="35"/></clipPath>'
        '<use href="#r" x="10" y="10" clip-path="url(#c)"/>'
    ),
    "stroke_is_clipped": (
        '<clipPath id="c"><rect x="0" y="0" width="50" height="100"/></clipPath>'
        '<circle cx="50" cy="50" r="30" fill="none" stroke="#102080" stroke-width="12" clip-path="url(#c)"/>'
    ),
}


@needs_resvg
@pytest.mark.parametrize("case", sorted(CLIP_CASES))
def test_clip_paths_match_resvg(case: str, tmp_path: Path) -> None:
    assert_matches_resvg(document(BACKDROP + CLIP_CASES[case]), tmp_path)


@needs_resvg
@pytest.mark.parametrize(
    ("body", "drawn"),
    [
        # SVG 2 and resvg: a reference to a missing element is ignored, the element drawn unclipped.
        ('<rect width="100" height="100" fill="red" clip-path="url(#missing)"/>', True),
        # A reference to an element that is no <clipPath>, or to an empty one: nothing drawn.
        ('<rect id="r" width="1" height="1" fill="none"/><rect width="100" height="100" clip-path="url(#r)"/>', False),
        ('<clipPath id="c"/><rect width="100" height="100" fill="red" clip-path="url(#c)"/>', False),
    ],
)
def test_reference_errors_follow_resvg(body: str, drawn: bool, tmp_path: Path) -> None:
    svg = document(BACKDROP + body)
    assert_matches_resvg(svg, tmp_path)
    assert bool(ours(svg, 100)[50, 50, 3] > 0.5) == drawn


def test_a_clip_path_cycle_is_cut_and_warned() -> None:
    clipart = parse_svg(
        document(
            '<clipPath id="c" clip-path="url(#c)"><rect width="50" height="50"/></clipPath>'
            '<rect width="100" height="100" clip-path="url(#c)"/>'
        ).encode()
    )
    assert [w.code for w in clipart.warnings] == ["clip-path-cycle"]
    assert len(clipart.shapes[0].clip) == 1


def test_clip_data_is_in_canvas_px_and_intersects_down_the_tree() -> None:
    clipart = parse_svg(document(BACKDROP + CLIP_CASES["nested_groups"]).encode())
    backdrop, inner, outer_only = clipart.shapes
    assert backdrop.clip is None
    assert len(inner.clip) == 2 and len(outer_only.clip) == 1
    # Clip outlines were fitted into the canvas with the shapes: same map, 100 user units → canvas.
    scale = clipart.document_to_canvas()[0, 0]
    rect = inner.clip[1].subpaths[0].points
    assert np.ptp(rect[:, 0]) == pytest.approx(60 * scale) and np.ptp(rect[:, 1]) == pytest.approx(80 * scale)
    assert clipart.clip_points().shape == (clipart.clip_point_count, 2)
    moved = clipart.with_clip_points(clipart.clip_points() + 1.0)
    np.testing.assert_allclose(moved.clip_points(), clipart.clip_points() + 1.0)
    np.testing.assert_array_equal(moved.control_points(), clipart.control_points())


def test_clip_copies_count_against_the_path_command_limit() -> None:
    # One clip outline of 301 segments on a group of 400 shapes is 400 copies: 120k commands.
    outline = "M0 0 " + " ".join(f"L{i % 7} {i % 5}" for i in range(300)) + " Z"
    shapes = "".join(f'<rect x="{i % 20}" y="{i // 20}" width="1" height="1"/>' for i in range(400))
    body = f'<clipPath id="c"><path d="{outline}"/></clipPath><g clip-path="url(#c)">{shapes}</g>'
    config = ParseConfig(limits=SvgLimits(max_path_commands=100_000))
    with pytest.raises(SvgLimitExceeded, match="max_path_commands"):
        parse_svg(document(body).encode(), config=config)
    assert parse_svg(document(body).encode()).clip_point_count == 400 * 904  # 300 lines + the closing one


def test_masks_and_filters_stay_warned() -> None:
    clipart = parse_svg(
        document('<rect width="10" height="10" mask="url(#m)"/><rect width="20" height="5" filter="url(#f)"/>').encode()
    )
    assert {w.code for w in clipart.warnings} == {"mask-ignored", "filter-ignored"}
