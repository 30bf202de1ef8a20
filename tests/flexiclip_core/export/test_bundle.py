"""`export.bundle`: the whole export of an animation — every format, background colour, extra
sizes, vector-only exports that render nothing."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from flexiclip_core.clipart import Clipart
from flexiclip_core.errors import ExportError
from flexiclip_core.export import (
    ExportConfig,
    export_animation,
    poster_frame_index,
)
from flexiclip_core.render import render_clipart
from tests.flexiclip_core.export.scenes import (
    decode_webm_rgba,
    moving_frames,
)


def test_export_animation_writes_everything(clipart: Clipart, tmp_path: Path) -> None:
    frame_points = moving_frames(clipart, 6)
    out_dir = tmp_path / "out"
    (out_dir / "frames").mkdir(parents=True)
    (out_dir / "frames" / "frame_042.svg").write_text("stale")  # from an earlier, longer export
    outputs = export_animation(clipart, frame_points, out_dir, size=64, fps=12)
    assert set(outputs) == {"video", "gif", "svg_animation", "frames", "poster", "lottie", "webm", "webp"}
    assert outputs["video"].name == "video.mp4" and outputs["gif"].name == "animation.gif"
    with av.open(str(outputs["video"])) as container:
        assert sum(1 for _ in container.decode(video=0)) == 6
    with Image.open(outputs["gif"]) as gif:
        assert gif.n_frames == 6
    names = sorted(p.name for p in outputs["frames"].iterdir())
    assert names == sorted([f"frame_{i:03d}.svg" for i in range(6)] + [f"frame_{i:03d}.png" for i in range(6)])
    # The default background is transparent: the poster keeps the renderer's alpha.
    expected_poster = render_clipart(
        clipart, 64, points=frame_points[poster_frame_index(frame_points)], background="transparent"
    )
    with Image.open(outputs["poster"]) as poster:
        assert poster.size == (64, 64)
        np.testing.assert_array_equal(np.asarray(poster), expected_poster)
    root = ET.parse(outputs["svg_animation"]).getroot()
    assert root.get("width") == "64"
    assert not [p for p in out_dir.rglob(".*")]  # no temporary files left
    with pytest.raises(ExportError, match="frame_points"):
        export_animation(clipart, frame_points[:, :3], out_dir)


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
