"""Tests of the newer outputs: Lottie (structure + schema), WebM/WebP/APNG with alpha, ExportConfig.

The Lottie played by lottie-web in a browser is checked in tests/e2e/test_lottie_browser.py.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import binary_dilation, binary_erosion

from flexiclip_core.clipart import Clipart, Fill, Shape, SubPath
from flexiclip_core.errors import ConfigError, ExportError
from flexiclip_core.export import (
    MOTION_ARRAYS,
    ExportConfig,
    export_animation,
    export_profile,
    lottie_animation,
    lottie_schema_errors,
    write_apng,
    write_lottie,
    write_motion_arrays,
    write_webm,
    write_webp,
)
from flexiclip_core.render import render_frames
from tests.flexiclip_core.test_export import make_clipart, moving_frames


@pytest.fixture()
def clipart() -> Clipart:
    return make_clipart()


MARGIN = np.ones((7, 7), dtype=bool)  # 3 px either side: away from anti-aliased and chroma-blurred edges


def decode_webm_rgba(path: Path) -> tuple[list[np.ndarray], av.VideoStream]:
    """Frames of a VP9 WebM as RGBA [H, W, 4]: FFmpeg's native vp9 decoder drops the alpha plane
    (stored as Matroska BlockAdditional), libvpx-vp9's keeps it. Alpha is read from the decoded
    plane itself: swscale's yuva420p → rgba loses the last columns of widths not divisible by 8."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoder = av.CodecContext.create("libvpx-vp9", "r")
        frames = []
        for packet in container.demux(stream):
            for frame in decoder.decode(packet):
                assert frame.format.name == "yuva420p"
                plane = frame.planes[3]
                alpha = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
                frames.append(np.dstack([frame.to_ndarray(format="rgb24"), alpha]))
        return frames, stream


def outside_and_solid_inside(alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masks [H, W]: pixels ≥ 3 px away from anything drawn, and pixels ≥ 3 px inside opaque paint."""
    outside = ~binary_dilation(alpha > 0, structure=MARGIN)
    inside = binary_erosion(alpha == 255, structure=MARGIN)
    return outside, inside


# --- Lottie ---------------------------------------------------------------------------------


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


# --- transparent raster formats -------------------------------------------------------------


def test_webm_has_vp9_alpha(clipart: Clipart, tmp_path: Path) -> None:
    frames = render_frames(clipart, moving_frames(clipart, 5), 96, background="transparent")
    path = write_webm(frames, tmp_path / "video.webm", fps=10)  # lossless: the default
    decoded, stream = decode_webm_rgba(path)
    assert stream.codec_context.name == "vp9" and stream.metadata.get("alpha_mode") == "1"
    assert float(stream.average_rate) == pytest.approx(10)
    assert len(decoded) == 5 and decoded[0].shape == (96, 96, 4)
    for original, frame in zip(frames, decoded):
        outside, inside = outside_and_solid_inside(original[..., 3])
        assert outside.sum() > 1000 and inside.sum() > 500
        assert np.all(frame[..., 3][outside] == 0)
        assert np.all(frame[..., 3][inside] == 255)
        # Lossless VP9 of the yuva420p planes; RGBA → YUVA conversion may round alpha by one level.
        assert np.abs(frame[..., 3].astype(int) - original[..., 3].astype(int)).max() <= 1
        colour_error = np.abs(frame[..., :3].astype(int) - original[..., :3].astype(int))[inside]
        assert np.percentile(colour_error, 95) <= 3  # RGB → BT.709 4:2:0 → RGB rounding


def test_lossy_webm_keeps_alpha_close(clipart: Clipart, tmp_path: Path) -> None:
    frames = render_frames(clipart, moving_frames(clipart, 5), 96, background="transparent")
    decoded, _ = decode_webm_rgba(write_webm(frames, tmp_path / "lossy.webm", fps=10, lossless=False, crf=20))
    assert len(decoded) == 5
    for original, frame in zip(frames, decoded):
        outside, inside = outside_and_solid_inside(original[..., 3])
        assert frame[..., 3][outside].max() <= 16 and frame[..., 3][inside].min() >= 239


def test_webm_opaque_rgb_and_odd_size(tmp_path: Path) -> None:
    frames = np.full((2, 33, 33, 3), 40, dtype=np.uint8)
    decoded, _ = decode_webm_rgba(write_webm(frames, tmp_path / "odd.webm", fps=5))
    assert decoded[0].shape == (34, 34, 4)
    assert np.all(decoded[0][:33, :33, 3] == 255) and np.all(decoded[0][33, :, 3] == 0)


@pytest.mark.parametrize("lossless", [True, False])
def test_webp_is_animated_with_alpha(clipart: Clipart, tmp_path: Path, lossless: bool) -> None:
    frames = render_frames(clipart, moving_frames(clipart, 4), 80, background="transparent")
    path = write_webp(frames, tmp_path / "animation.webp", fps=8, lossless=lossless)
    with Image.open(path) as image:
        assert image.format == "WEBP" and image.n_frames == 4 and image.info.get("loop") == 0
        decoded = []
        for index in range(4):
            image.seek(index)
            image.load()  # Pillow reads a WebP frame's duration when it decodes it
            assert image.info.get("duration") == 125
            decoded.append(np.asarray(image.convert("RGBA")))
    for original, frame in zip(frames, decoded):
        outside, inside = outside_and_solid_inside(original[..., 3])
        assert np.all(frame[..., 3][outside] == 0) and np.all(frame[..., 3][inside] == 255)
        if lossless:
            np.testing.assert_array_equal(frame[..., 3], original[..., 3])


def test_apng_is_lossless_with_alpha(clipart: Clipart, tmp_path: Path) -> None:
    frames = render_frames(clipart, moving_frames(clipart, 3), 64, background="transparent")
    path = write_apng(frames, tmp_path / "animation.apng", fps=10)
    with Image.open(path) as image:
        assert image.format == "PNG" and getattr(image, "is_animated", False) and image.n_frames == 3
        assert image.info.get("loop") == 0
        for index in range(3):
            image.seek(index)
            np.testing.assert_array_equal(np.asarray(image.convert("RGBA")), frames[index])


# --- ExportConfig and whole exports ---------------------------------------------------------


def test_export_config_validates_new_fields() -> None:
    assert ExportConfig().background == "transparent" and "lottie" in ExportConfig().formats
    for bad in (
        {"formats": ("video", "flv")},
        {"formats": ()},
        {"background": "blue"},
        {"background": "#12345"},
        {"extra_sizes": (0,)},
        {"extra_sizes": (512,)},
        {"extra_sizes": (64, 64)},
        {"webm_crf": 64},
        {"extra_sizes": [128]},
    ):
        with pytest.raises(ConfigError):
            ExportConfig(**bad)
    assert ExportConfig().with_overrides({"extra_sizes": [1024], "background": "#FFaa00"}).extra_sizes == (1024,)
    with pytest.raises(ConfigError, match="unknown export setting.*colour"):
        ExportConfig().with_overrides({"colour": "red"})
    with pytest.raises(ConfigError, match="unknown export format.*'flv'"):
        ExportConfig().with_overrides({"formats": ["flv"]})
    assert export_profile("app").formats == ("lottie", "webm", "webp", "poster")
    with pytest.raises(ConfigError, match="unknown export profile 'tv'.*known: app"):
        export_profile("tv")


def test_export_background_colour_and_extra_sizes(clipart: Clipart, tmp_path: Path) -> None:
    frame_points = moving_frames(clipart, 3)
    config = ExportConfig(
        size=64, extra_sizes=(48,), background="#00ff00", formats=("video", "webm", "webp", "apng", "poster", "lottie")
    )
    outputs = export_animation(clipart, frame_points, tmp_path, config=config)
    assert set(outputs) == {
        "video",
        "webm",
        "webp",
        "apng",
        "poster",
        "lottie",
        "video@48",
        "webm@48",
        "webp@48",
        "apng@48",
        "poster@48",
    }
    assert outputs["webm@48"] == tmp_path / "size_48" / "video.webm"
    decoded, _ = decode_webm_rgba(outputs["webm"])
    assert np.all(decoded[0][..., 3] == 255)  # a colour background makes the WebM opaque
    assert decoded[0][2, 2, 1] > 230 and decoded[0][2, 2, 0] < 25  # …green where nothing is drawn
    with av.open(str(outputs["video@48"])) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert first.shape == (48, 48, 3) and first[2, 2, 1] > 230 and first[2, 2, 0] < 25
    with Image.open(outputs["poster"]) as poster:
        assert poster.mode == "RGBA" and np.asarray(poster)[..., 3].min() == 255
    assert not (tmp_path / "animation.gif").exists() and not (tmp_path / "frames").exists()


def test_export_only_vector_formats_renders_nothing(clipart: Clipart, tmp_path: Path, monkeypatch) -> None:
    import flexiclip_core.export.bundle as bundle

    def no_render(*args, **kwargs):
        raise AssertionError("vector-only exports must not rasterise")

    monkeypatch.setattr(bundle, "render_frames", no_render)
    outputs = export_animation(
        clipart, moving_frames(clipart, 3), tmp_path, config=ExportConfig(formats=("lottie", "svg_animation"))
    )
    assert set(outputs) == {"lottie", "svg_animation"}


def test_motion_arrays_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays = dict(
        frame_points=rng.random((4, 10, 2)) * 256,
        frame_keypoints=rng.random((4, 3, 2)),
        frame_vertices=rng.random((4, 6, 2)),
        rest_points=rng.random((10, 2)),
        rest_keypoints=rng.random((3, 2)),
        rest_vertices=rng.random((6, 2)),
        bones=[[0, 1], [1, 2]],
        faces=[[0, 1, 2], [2, 3, 4]],
        canvas_to_document=np.eye(3),
    )
    path = write_motion_arrays(tmp_path / "motion.npz", **arrays)
    with np.load(path) as motion:
        assert sorted(motion.files) == sorted(MOTION_ARRAYS)
        np.testing.assert_allclose(motion["frame_points"], arrays["frame_points"], rtol=1e-6)
        assert motion["bones"].dtype == np.int32 and motion["faces"].shape == (2, 3)
    with pytest.raises(ExportError, match="disagree on the frame count"):
        write_motion_arrays(tmp_path / "bad.npz", **{**arrays, "frame_keypoints": rng.random((5, 3, 2))})
    with pytest.raises(ExportError, match="frame_points must be finite"):
        write_motion_arrays(tmp_path / "bad.npz", **{**arrays, "frame_points": np.full((4, 10, 2), np.nan)})
