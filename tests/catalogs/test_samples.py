"""The bundled sample clipart: every catalog entry parses, and its rig fits the drawing."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from flexiclip_core.clipart import Clipart
from flexiclip_core.render import render_clipart
from flexiclip_core.svg import parse_svg

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "catalogs" / "samples"
CLIP_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")  # docs/pipeline.md §2
DRAWING_ELEMENTS = {"path", "rect", "circle", "ellipse", "polygon", "polyline", "line"}
SVG_NS = "{http://www.w3.org/2000/svg}"

ENTRIES: list[dict] = json.loads((SAMPLES_DIR / "samples.json").read_text(encoding="utf-8"))
ENTRY_BY_ID = {entry["clip_id"]: entry for entry in ENTRIES}


def load(entry: dict) -> Clipart:
    return parse_svg(SAMPLES_DIR / entry["svg"], clip_id=entry["clip_id"])


def keypoints_on_canvas(entry: dict, clipart: Clipart) -> np.ndarray:
    """The entry's keypoints (SVG user units) mapped to canvas px: [K, 2]."""
    user = np.asarray(entry["keypoints"], dtype=np.float64)
    homogeneous = np.concatenate([user, np.ones((len(user), 1))], axis=1)
    return (homogeneous @ clipart.document_to_canvas().T)[:, :2]


def group_ids(svg: Path) -> set[str]:
    return {el.get("id") for el in ET.parse(svg).iter(f"{SVG_NS}g") if el.get("id")}


def is_connected(node_count: int, edges: list[list[int]]) -> bool:
    neighbours: dict[int, set[int]] = {i: set() for i in range(node_count)}
    for i, j in edges:
        neighbours[i].add(j)
        neighbours[j].add(i)
    seen = {0}
    queue = deque([0])
    while queue:
        for nxt in neighbours[queue.popleft()] - seen:
            seen.add(nxt)
            queue.append(nxt)
    return len(seen) == node_count


def test_catalog_lists_every_sample_svg_once() -> None:
    listed = [entry["svg"] for entry in ENTRIES]
    on_disk = sorted(p.name for p in SAMPLES_DIR.glob("*.svg"))
    assert sorted(listed) == on_disk
    assert len(on_disk) >= 8
    assert len({entry["clip_id"] for entry in ENTRIES}) == len(ENTRIES)
    for entry in ENTRIES:
        assert CLIP_ID_PATTERN.fullmatch(entry["clip_id"]), entry["clip_id"]
        assert len(entry["prompt"].split()) >= 4, entry["prompt"]


@pytest.mark.parametrize("clip_id", sorted(ENTRY_BY_ID))
def test_sample_parses_into_every_drawn_element(clip_id: str) -> None:
    entry = ENTRY_BY_ID[clip_id]
    svg = SAMPLES_DIR / entry["svg"]
    text = svg.read_text(encoding="utf-8")
    assert "<text" not in text and "<image" not in text
    clipart = load(entry)
    direct_elements = sum(1 for el in ET.parse(svg).iter() if el.tag.removeprefix(SVG_NS) in DRAWING_ELEMENTS)
    # <use> instances add shapes, <defs> content is not drawn by itself: at least the
    # elements outside <defs> become shapes.
    defs_elements = sum(
        1
        for defs in ET.parse(svg).iter(f"{SVG_NS}defs")
        for el in defs.iter()
        if el.tag.removeprefix(SVG_NS) in DRAWING_ELEMENTS
    )
    assert len(clipart.shapes) >= direct_elements - defs_elements
    assert clipart.source == clip_id
    assert np.isfinite(clipart.control_points()).all()
    x0, y0, x1, y1 = clipart.bounding_box()
    assert 0 <= x0 < x1 <= clipart.canvas_size and 0 <= y0 < y1 <= clipart.canvas_size
    # only object.svg approximates something (its one gradient)
    expected_codes = {"gradient-mean-colour"} if clip_id == "object" else set()
    assert {w.code for w in clipart.warnings} == expected_codes


@pytest.mark.parametrize("clip_id", sorted(cid for cid, e in ENTRY_BY_ID.items() if "keypoints" in e))
def test_keypoints_lie_on_the_drawing(clip_id: str) -> None:
    entry = ENTRY_BY_ID[clip_id]
    clipart = load(entry)
    points = keypoints_on_canvas(entry, clipart)
    x0, y0, x1, y1 = clipart.bounding_box()
    assert (points[:, 0] >= x0).all() and (points[:, 0] <= x1).all()
    assert (points[:, 1] >= y0).all() and (points[:, 1] <= y1).all()
    # Keypoints become mesh vertices, so each must sit on painted pixels, not beside the figure.
    alpha = render_clipart(clipart, clipart.canvas_size, background="transparent")[..., 3]
    for index, (x, y) in enumerate(points):
        column, row = int(x), int(y)
        assert alpha[row, column] > 128, f"keypoint {index} at ({x:.1f}, {y:.1f}) is off the drawing"


@pytest.mark.parametrize("clip_id", sorted(cid for cid, e in ENTRY_BY_ID.items() if "skeleton" in e))
def test_skeleton_indices_are_valid_and_connected(clip_id: str) -> None:
    entry = ENTRY_BY_ID[clip_id]
    count = len(entry["keypoints"])
    bones = entry["skeleton"]
    assert all(0 <= i < count and 0 <= j < count and i != j for i, j in bones)
    assert len({frozenset(bone) for bone in bones}) == len(bones), "duplicate bone"
    assert is_connected(count, bones)


def test_human_has_the_aniclipart_rig() -> None:
    entry = ENTRY_BY_ID["human"]
    assert len(entry["keypoints"]) == 13
    assert len(entry["skeleton"]) == 14
    assert is_connected(13, entry["skeleton"])
    head, left_shoulder, right_shoulder = (np.asarray(entry["keypoints"][i]) for i in (0, 1, 2))
    left_ankle, right_ankle = (np.asarray(entry["keypoints"][i]) for i in (11, 12))
    # order documented in README.md: head on top, ankles at the bottom, the figure's left on
    # the image's right (it faces the viewer)
    assert head[1] < left_shoulder[1] < left_ankle[1]
    assert left_shoulder[0] > right_shoulder[0] and left_ankle[0] > right_ankle[0]


def test_human_looks_like_real_clipart() -> None:
    clipart = load(ENTRY_BY_ID["human"])
    assert 15 <= len(clipart.shapes) <= 25
    assert 150 <= clipart.segment_count <= 600


def test_layers_reference_existing_groups_and_keypoints() -> None:
    entry = ENTRY_BY_ID["layers"]
    svg = SAMPLES_DIR / entry["svg"]
    ids = group_ids(svg)
    clipart = load(entry)
    keypoint_count = len(entry["keypoints"])
    assert {layer["name"] for layer in entry["layers"]} == {"body", "arm"}
    for layer in entry["layers"]:
        assert layer["groups"] and set(layer["groups"]) <= ids
        assert layer["keypoints"] and all(0 <= k < keypoint_count for k in layer["keypoints"])
        members = [s for s in clipart.shapes if set(s.groups) & set(layer["groups"])]
        assert members, f"layer {layer['name']} has no shapes"
    # the arm layer is painted after (in front of) the whole body
    order = [("arm-layer" in s.groups) for s in clipart.shapes]
    assert order == sorted(order)


def test_layer_spec_of_every_entry_names_real_groups() -> None:
    for entry in ENTRIES:
        for layer in entry.get("layers", []):
            assert set(layer["groups"]) <= group_ids(SAMPLES_DIR / entry["svg"]), entry["clip_id"]


def test_two_characters_are_two_separate_components() -> None:
    clipart = load(ENTRY_BY_ID["two_characters"])
    alpha = render_clipart(clipart, clipart.canvas_size, background="transparent")[..., 3]
    _, component_count = ndimage.label(alpha > 0, structure=np.ones((3, 3)))
    assert component_count == 2


def test_holes_sample_has_evenodd_holes() -> None:
    clipart = load(ENTRY_BY_ID["holes"])
    evenodd = [s for s in clipart.shapes if s.fill is not None and s.fill.rule == "evenodd"]
    assert len(evenodd) >= 3 and all(len(s.subpaths) >= 2 for s in evenodd)
    # a window is a hole: the canvas shows through at its centre
    rgba = render_clipart(clipart, clipart.canvas_size, background="transparent")
    window_centre = np.array([[140.0, 73.0, 1.0]]) @ clipart.document_to_canvas().T
    column, row = (int(v) for v in window_centre[0, :2])
    assert rgba[row, column, 3] == 0


def test_strokes_sample_is_line_art() -> None:
    clipart = load(ENTRY_BY_ID["strokes"])
    assert all(s.fill is None and s.stroke is not None for s in clipart.shapes)
    assert all(s.stroke.linecap == "round" and s.stroke.linejoin == "round" for s in clipart.shapes)
    assert len({round(s.stroke.width, 2) for s in clipart.shapes}) >= 4
