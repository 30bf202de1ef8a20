"""Known answers for the exporters (docs/method.md §11): Lottie keyframes and bézier tangents of a
known motion, a linear gradient's Lottie end point under a non-uniform frame, GIF/APNG frame
delays and disposal read back from the files, SMIL keyTimes/values/dur, and the colour maths of
the alpha videos (straight alpha over a colour, colour bled under transparent pixels).
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
import pytest

from flexiclip_core.clipart import Clipart, Fill, GradientStop, LinearGradient, Shape, SubPath
from flexiclip_core.export.files import write_text_atomic
from flexiclip_core.export.images import frame_delays_ms, write_apng, write_gif, write_webp
from flexiclip_core.export.lottie import lottie_animation, lottie_gradient_points
from flexiclip_core.export.svg_anim import animated_svg
from flexiclip_core.export.video import bleed_colour_into_transparency, composite_over

# Triangle (0, 0) → (30, 0) → (0, 60) → back, as degree-elevated cubics: [10, 2].
TRIANGLE = np.array(
    [[0, 0], [10, 0], [20, 0], [30, 0], [20, 20], [10, 40], [0, 60], [0, 40], [0, 20], [0, 0]], dtype=np.float64
) + [100.0, 50.0]


def _clip(closed: bool = True) -> Clipart:
    return Clipart((Shape((SubPath(TRIANGLE, closed),), Fill((1.0, 0.0, 0.0)), None, element="path#t"),), source="t")


def _moving(frames: int) -> np.ndarray:
    """[N, 10, 2]: frame k translated by (2k, −k)."""
    return np.stack([TRIANGLE + [2.0 * k, -1.0 * k] for k in range(frames)])


def _frames(count: int, side: int = 4) -> np.ndarray:
    """uint8 [N, side, side, 4]: frame k a flat opaque grey of level 40 k (all distinct)."""
    frames = np.zeros((count, side, side, 4), dtype=np.uint8)
    for k in range(count):
        frames[k, ..., :3] = 40 * k
        frames[k, ..., 3] = 255
    return frames


def test_lottie_hold_keyframes_and_tangents_of_a_known_motion() -> None:
    document = lottie_animation(_clip(), _moving(3), 12.0)
    assert (document["fr"], document["ip"], document["op"]) == (12.0, 0, 3)
    path = document["layers"][0]["shapes"][0]["it"][0]["ks"]
    assert path["a"] == 1
    keyframes = path["k"]
    assert [(key["t"], key["h"]) for key in keyframes] == [(0, 1), (1, 1), (2, 1)]
    bezier = keyframes[2]["s"][0]
    # Frame 2 is moved by (4, −2); the closing vertex folds into the first.
    assert bezier["c"] is True
    assert bezier["v"] == [[104.0, 48.0], [134.0, 48.0], [104.0, 108.0]]
    # Out tangent at v_k: p_{3k+1} − v_k; in tangent at v_k: p_{3k−1} − v_k (the closing edge's for v_0).
    assert bezier["o"] == [[10.0, 0.0], [-10.0, 20.0], [0.0, -20.0]]
    assert bezier["i"] == [[0.0, 20.0], [-10.0, 0.0], [10.0, -20.0]]


def test_lottie_linear_gradient_end_point_under_a_non_uniform_frame() -> None:
    # Gradient space scaled by (100, 50) from (10, 20), vector (0, 0) → (1, 1): the ramp is
    # t(p) = ((x − 10)/100 + (y − 20)/50)/2, steepest along g = (1/200, 1/100), so Lottie's end
    # point is (10, 20) + g/|g|² = (50, 100) — not the image (110, 70) of (1, 1).
    gradient = LinearGradient(
        stops=(GradientStop(0.0, (0.0, 0.0, 0.0), 1.0), GradientStop(1.0, (1.0, 1.0, 1.0), 1.0)),
        frame=np.array([[10.0, 20.0], [110.0, 20.0], [10.0, 70.0]]),
        opacity=1.0,
        x2=1.0,
        y2=1.0,
    )
    start, end, highlight, angle = lottie_gradient_points(gradient)
    assert start == [10.0, 20.0]
    assert end == [50.0, 100.0]
    assert (highlight, angle) == (0.0, 0.0)


def test_smil_key_times_values_and_duration() -> None:
    points = _moving(4)
    discrete = animated_svg(_clip(), points, 10.0)
    assert 'dur="0.4s"' in discrete
    assert 'keyTimes="0;0.25;0.5;0.75"' in discrete
    values = re.search(r'<animate attributeName="d"[^>]* values="([^"]*)"', discrete)
    assert values is not None
    frames = values.group(1).split(";")
    assert len(frames) == 4
    assert frames[3].startswith("M106,47C116,47 ")  # frame 3 moved by (6, −3)
    linear = animated_svg(_clip(), points, 8.0, calc_mode="linear")
    assert 'dur="0.5s"' in linear
    assert 'keyTimes="0;0.25;0.5;0.75;1"' in linear
    linear_values = re.search(r'values="([^"]*)"', linear)
    assert linear_values is not None
    closing = linear_values.group(1).split(";")
    assert len(closing) == 5 and closing[4] == closing[0]  # the loop closes on frame 0


def test_gif_frame_delays_keep_the_loop_length_and_disposal(tmp_path: Path) -> None:
    from PIL import Image

    # 15 fps: 1000/15 = 66.7 ms, but GIF stores centiseconds. Delays rounded on the running
    # clock, round(100 (k + 1)/15) − round(100 k/15) cs, give 7, 6, 7 cs: the 3 frames last 0.2 s
    # exactly (truncating each 6.67 cs to 6 would play 10% fast).
    path = write_gif(_frames(3), tmp_path / "a.gif", 15.0)
    with Image.open(path) as image:
        delays, disposals = [], []
        for index in range(image.n_frames):
            image.seek(index)
            delays.append(image.info["duration"])
            disposals.append(image.disposal_method)
        assert image.info.get("loop") == 0
    assert delays == [70, 60, 70]
    assert disposals == [1, 1, 1]
    # 10 fps (the default): 10 cs every frame.
    with Image.open(write_gif(_frames(3), tmp_path / "b.gif", 10.0)) as image:
        assert [image.seek(k) or image.info["duration"] for k in range(3)] == [100, 100, 100]


def test_webp_delays_round_on_the_running_clock(tmp_path: Path) -> None:
    from PIL import Image

    # 15 fps in whole ms: round(66.67) = 67, round(133.33) − 67 = 66, 200 − 133 = 67.
    assert frame_delays_ms(3, 15.0, 1) == [67, 66, 67]
    assert frame_delays_ms(4, 30.0, 10) == [30, 40, 30, 30]  # 3.33 cs: clock 0, 3, 7, 10, 13
    delays = []
    with Image.open(write_webp(_frames(3), tmp_path / "a.webp", 15.0)) as image:
        for index in range(3):
            image.seek(index)
            image.load()  # the reader sets a frame's duration when it decodes it
            delays.append(image.info["duration"])
    assert delays == [67, 66, 67]


def _apng_frame_controls(path: Path) -> list[tuple[int, int, int, int]]:
    """(delay numerator, denominator, dispose_op, blend_op) of every fcTL chunk."""
    data = path.read_bytes()
    position, controls = 8, []
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        if kind == b"fcTL":
            controls.append(struct.unpack(">HHBB", body[20:26]))
        position += 12 + length
    return controls


def test_apng_delays_are_exact_fractions_with_no_dispose_and_source_blend(tmp_path: Path) -> None:
    controls = _apng_frame_controls(write_apng(_frames(3), tmp_path / "a.png", 24.0))
    assert len(controls) == 3
    for numerator, denominator, dispose, blend in controls:
        assert numerator / denominator == pytest.approx(1.0 / 24.0, abs=1e-12)
        assert (dispose, blend) == (0, 0)  # APNG_DISPOSE_OP_NONE, APNG_BLEND_OP_SOURCE


def test_straight_alpha_over_a_colour_rounds_by_hand() -> None:
    pixel = np.array([[[200, 100, 0, 128]]], dtype=np.uint8)
    # (c a + u (255 − a) + 127) // 255: over white (200·128 + 255·127 + 127)//255 = 227,
    # (100·128 + 32385 + 127)//255 = 177, (0 + 32385 + 127)//255 = 127; over (0, 0, 255): 100, 50, 127.
    assert composite_over(pixel, (255, 255, 255))[0, 0].tolist() == [227, 177, 127]
    assert composite_over(pixel, (0, 0, 255))[0, 0].tolist() == [100, 50, 127]
    # Rounded, not truncated: (1, 3, 0) at α 128 over white is 127.50, 128.51, 127.0 → 128, 129, 127.
    dim = np.array([[[1, 3, 0, 128]]], dtype=np.uint8)
    assert composite_over(dim, (255, 255, 255))[0, 0].tolist() == [128, 129, 127]


def test_colour_bled_under_transparency_is_the_alpha_weighted_mean() -> None:
    frames = np.zeros((1, 9, 9, 4), dtype=np.uint8)
    frames[0, 4, 4] = [200, 100, 40, 255]
    frames[0, 4, 5] = [0, 40, 240, 85]
    out = bleed_colour_into_transparency(frames)
    # (4, 3) sees both in its 5×5 window: (255 (200, 100, 40) + 85 (0, 40, 240)) / 340 = (150, 85, 90).
    assert out[0, 4, 3].tolist() == [150, 85, 90, 0]
    # (4, 1) sees only the first (columns −1 … 3 … its window reaches column 3, not 4): unchanged.
    assert out[0, 4, 1].tolist() == [0, 0, 0, 0]
    # (4, 2) sees only (4, 4): its colour exactly.
    assert out[0, 4, 2].tolist() == [200, 100, 40, 0]
    # Visible pixels keep their colour.
    assert out[0, 4, 5].tolist() == [0, 40, 240, 85]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_exported_files_follow_the_process_umask(tmp_path: Path, umask: int, mode: int) -> None:
    # Every per-clip file of `flexiclip animate` is written by `atomic_write`: 0o666 less the
    # umask, like the pipeline's media (catalogs.output), not a fixed 0o644.
    import os
    import stat

    previous = os.umask(umask)
    try:
        paths = [write_text_atomic(tmp_path / "metrics.json", "{}"), write_gif(_frames(2), tmp_path / "a.gif", 10.0)]
    finally:
        os.umask(previous)
    assert [stat.S_IMODE(path.stat().st_mode) for path in paths] == [mode, mode]
