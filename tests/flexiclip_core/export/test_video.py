"""`export.video`: MP4 (composited over white) and VP9 WebM with alpha."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from flexiclip_core.clipart import Clipart
from flexiclip_core.export import (
    write_mp4,
    write_webm,
)
from flexiclip_core.render import render_frames
from tests.flexiclip_core.export.scenes import (
    decode_webm_rgba,
    moving_frames,
    outside_and_solid_inside,
)


def test_mp4_decodes_to_all_frames(clipart: Clipart, tmp_path: Path) -> None:
    frames = render_frames(clipart, moving_frames(clipart, 7), 101)  # odd size → padded to 102
    path = write_mp4(frames, tmp_path / "video.mp4", fps=10)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert float(stream.average_rate) == pytest.approx(10)
        assert stream.codec_context.pix_fmt == "yuv420p"
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(decoded) == 7
    assert decoded[0].shape == (102, 102, 3)
    for index in (0, 3):
        mean_error = np.abs(decoded[index][:101, :101].astype(int) - frames[index][..., :3].astype(int)).mean()
        assert mean_error < 3
    # The red body's centre is red, the padding white.
    body = decoded[3][int(160 * 101 / 256), int(125 * 101 / 256)]
    assert body[0] > 180 and body[1] < 70 and body[2] < 70
    assert decoded[0][101, 50].min() > 230


def test_mp4_composites_rgba_over_white(tmp_path: Path) -> None:
    frames = np.zeros((3, 32, 32, 4), dtype=np.uint8)  # fully transparent black
    path = write_mp4(frames, tmp_path / "clear.mp4", fps=8)
    with av.open(str(path)) as container:
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(decoded) == 3 and decoded[1].min() > 245


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
