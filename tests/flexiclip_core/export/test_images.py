"""`export.images`: GIF, animated WebP and APNG with alpha, the poster and its frame choice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flexiclip_core.clipart import Clipart
from flexiclip_core.errors import ExportError
from flexiclip_core.export import (
    composite_over_white,
    poster_frame_index,
    write_apng,
    write_gif,
    write_mp4,
    write_poster,
    write_webp,
)
from flexiclip_core.render import render_clipart, render_frames
from tests.flexiclip_core.export.scenes import (
    moving_frames,
    outside_and_solid_inside,
)


def test_gif_has_all_frames_and_loops(clipart: Clipart, tmp_path: Path) -> None:
    frames = render_frames(clipart, moving_frames(clipart, 6), 96, background="transparent")
    path = write_gif(frames, tmp_path / "animation.gif", fps=10)
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.info.get("loop") == 0 and gif.n_frames == 6
        assert gif.info.get("duration") == 100
        gif.seek(3)
        frame3 = np.asarray(gif.convert("RGB"))
    expected = composite_over_white(frames[3])
    assert np.abs(frame3.astype(int) - expected.astype(int)).mean() < 4


def test_poster_and_errors(clipart: Clipart, tmp_path: Path) -> None:
    frame = render_clipart(clipart, 200, background="transparent")
    path = write_poster(frame, tmp_path / "poster.png")
    with Image.open(path) as image:
        assert image.size == (200, 200) and image.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(image), frame)
    with pytest.raises(ExportError, match="frames must be uint8"):
        write_gif(np.zeros((2, 8, 8, 3), dtype=np.float32), tmp_path / "bad.gif", fps=10)
    with pytest.raises(ExportError, match="fps"):
        write_mp4(np.zeros((2, 8, 8, 3), dtype=np.uint8), tmp_path / "bad.mp4", fps=0)
    # A failure names the path and leaves no temporary file behind.
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    with pytest.raises(ExportError, match="blocker"):
        write_poster(frame, blocker / "poster.png")
    target = tmp_path / "target.png"
    target.mkdir()  # renaming a file onto a folder fails
    with pytest.raises(ExportError, match="target.png"):
        write_poster(frame, target)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_poster_frame_index() -> None:
    rest = np.zeros((5, 2))
    frame_points = np.stack([rest, rest + 1, rest + 3, rest + 2])
    assert poster_frame_index(frame_points, "max_motion") == 2
    assert poster_frame_index(frame_points, "first") == 0
    assert poster_frame_index(np.stack([rest, rest]), "max_motion") == 0


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
