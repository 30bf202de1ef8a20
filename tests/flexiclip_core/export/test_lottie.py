"""`export.lottie`: layers, paths and paint, the vendored schema, refusals.

The Lottie played by lottie-web in a browser is checked in tests/e2e/test_lottie_browser.py.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from flexiclip_core.clipart import Clipart, Fill, Shape, SubPath
from flexiclip_core.errors import ExportError
from flexiclip_core.export import (
    lottie_animation,
    lottie_schema_errors,
    write_lottie,
)
from tests.flexiclip_core.export.scenes import (
    moving_frames,
)


def test_lottie_layers_paths_and_paint(clipart: Clipart) -> None:
    frame_points = moving_frames(clipart, 6)
    document = lottie_animation(clipart, frame_points, 12, size=512)
    assert (document["w"], document["h"], document["fr"], document["ip"], document["op"]) == (512, 512, 12.0, 0, 6)
    layers = document["layers"]
    # Paint order: the last shape (the sun) is the top-most, first, layer.
    assert [layer["nm"] for layer in layers] == ["<circle id='sun'>", "shape 2", "<path id='head'>", "<path id='body'>"]
    assert all(layer["ty"] == 4 and layer["ks"]["s"]["k"] == [200.0, 200.0] for layer in layers)
    assert all((layer["ip"], layer["op"]) == (0, 6) for layer in layers)
    sun, line, head, body = (layer["shapes"][0]["it"] for layer in layers)

    # Moving paths: one hold keyframe per frame whose vertices and tangents are the frame's points.
    body_path = body[0]["ks"]
    assert body_path["a"] == 1 and [k["t"] for k in body_path["k"]] == list(range(6))
    assert all(k["h"] == 1 for k in body_path["k"])
    rectangle = clipart.shapes[0].subpaths[0]
    for frame, keyframe in enumerate(body_path["k"]):
        bezier = keyframe["s"][0]
        points = frame_points[frame, : len(rectangle.points)]
        assert bezier["c"] is True and len(bezier["v"]) == 4  # the closing vertex is folded into the first
        np.testing.assert_allclose(bezier["v"], points[0:12:3], atol=1e-3)
        np.testing.assert_allclose(np.add(bezier["v"], bezier["o"]), points[1:12:3], atol=2e-3)
        np.testing.assert_allclose(np.add(bezier["v"], bezier["i"]), np.roll(points[2:13:3], 1, axis=0), atol=2e-3)
    assert sun[0]["ks"]["a"] == 0  # the sun does not move
    assert line[0]["ks"]["k"][0]["s"][0]["c"] is False

    # Styles: stroke listed before fill (drawn over it), colours, opacity, rule, caps, joins, dashes.
    assert [item["ty"] for item in body] == ["sh", "st", "fl", "tr"]
    assert body[1]["lj"] == 2 and body[1]["w"]["k"] == 3.0 and body[2]["c"]["k"] == [0.9, 0.1, 0.1, 1.0]
    assert [item["ty"] for item in head] == ["sh", "sh", "fl", "tr"]
    assert head[2]["r"] == 2 and head[2]["o"]["k"] == 70.0
    stroke = line[1]
    assert stroke["ty"] == "st" and stroke["lc"] == 2 and stroke["w"]["k"] == 5.0
    assert [(d["n"], d["v"]["k"]) for d in stroke["d"]] == [("d", 12.0), ("g", 6.0), ("o", 3.0)]


def test_lottie_keeps_a_closing_vertex_that_moves_away() -> None:
    square = np.array(
        [
            (10, 10),
            (20, 10),
            (30, 10),
            (40, 10),
            (40, 20),
            (40, 30),
            (40, 40),
            (30, 40),
            (20, 40),
            (10, 40),
            (10, 30),
            (10, 20),
            (10, 10),
        ],
        dtype=np.float64,
    )
    clip = Clipart((Shape((SubPath(square, True),), Fill((0.0, 0.0, 0.0)), None),))
    frames = np.stack([square, square])
    frames[1, -1] += 5  # the deformation opened the closing point in frame 1
    bezier = lottie_animation(clip, frames, 10)["layers"][0]["shapes"][0]["it"][0]["ks"]["k"][1]["s"][0]
    assert len(bezier["v"]) == 5 and bezier["c"] is True and bezier["v"][-1] == [15.0, 15.0]


def test_lottie_validates_against_the_vendored_schema(clipart: Clipart, tmp_path: Path) -> None:
    path = write_lottie(clipart, moving_frames(clipart, 4), tmp_path / "animation.json", 10, size=128)
    document = json.loads(path.read_text())
    assert lottie_schema_errors(document) == []
    # The validator does reject broken documents (so the check above can fail).
    for breaking in (
        lambda d: d.pop("op"),
        lambda d: d["layers"][0]["shapes"][0]["it"][-2].__setitem__("r", 3),  # no fill rule 3
        lambda d: d["layers"][1]["shapes"][0]["it"][0]["ks"].__setitem__("a", 0),  # keyframes as a static value
        lambda d: d["layers"][0].__setitem__("ks", {"s": {"a": 0, "k": "big"}}),
    ):
        broken = copy.deepcopy(document)
        breaking(broken)
        assert lottie_schema_errors(broken), breaking


def test_lottie_gradient_fill_and_stroke_validate_and_broken_ones_do_not() -> None:
    from flexiclip_core.svg import parse_svg

    clip = parse_svg(
        b'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><defs>'
        b'<linearGradient id="l" x2="0.7" y2="0.3"><stop offset="0" stop-color="red"/>'
        b'<stop offset="1" stop-color="blue" stop-opacity="0.5"/></linearGradient>'
        b'<radialGradient id="r" fx="0.3"><stop offset="0.2" stop-color="#fe0"/><stop offset="1" stop-color="#040"/>'
        b'</radialGradient></defs><rect x="10" y="10" width="50" height="40" fill="url(#l)" stroke="url(#r)"/>'
        b'<circle cx="60" cy="60" r="30" fill="url(#r)"/></svg>'
    )
    document = lottie_animation(clip, moving_frames(clip, 4), 10)
    assert lottie_schema_errors(document) == []
    items = {item["ty"]: item for layer in document["layers"] for item in layer["shapes"][0]["it"]}
    assert {"gf", "gs"} <= set(items) and "fl" not in items and "st" not in items
    stroke = items["gs"]
    assert stroke["t"] == 2 and stroke["w"]["k"] > 0 and stroke["s"]["a"] == 1  # radial, moving with the pose
    # [offset, r, g, b] per stop, then [offset, alpha] per stop
    assert items["gf"]["g"]["p"] == 2 and items["gf"]["g"]["k"]["k"][8:] == [0.0, 1.0, 1.0, 0.5]
    for breaking in (
        lambda d: d["layers"][0]["shapes"][0]["it"][-2].__setitem__("t", 3),  # no gradient type 3
        lambda d: d["layers"][0]["shapes"][0]["it"][-2].pop("e"),
        lambda d: d["layers"][0]["shapes"][0]["it"][-2]["g"]["k"].__setitem__("k", [0, 2.0, 0, 0]),
    ):
        broken = copy.deepcopy(document)
        breaking(broken)
        assert lottie_schema_errors(broken), breaking


def test_lottie_refuses_bad_input(clipart: Clipart) -> None:
    with pytest.raises(ExportError, match="frame_points"):
        lottie_animation(clipart, moving_frames(clipart, 3)[:, :5], 10)
    with pytest.raises(ExportError, match="fps"):
        lottie_animation(clipart, moving_frames(clipart, 3), 0)
    invisible = Clipart((Shape((SubPath(np.zeros((4, 2)), False),), None, None),), source="ghost")
    with pytest.raises(ExportError, match="ghost.*no shape has a visible"):
        lottie_animation(invisible, np.zeros((2, 4, 2)), 10)


@pytest.mark.slow
def test_sample_lotties_validate(samples_dir: Path) -> None:
    from flexiclip_core.svg import parse_svg

    for svg_path in sorted(samples_dir.glob("*.svg")):
        clip = parse_svg(svg_path)
        rest = clip.control_points()
        frames = np.stack([rest + [4 * np.sin(i / 3), 0] * (rest[:, 1:2] / 256) for i in range(24)])
        assert lottie_schema_errors(lottie_animation(clip, frames, 10, size=512)) == [], svg_path.name
