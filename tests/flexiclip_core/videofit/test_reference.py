"""Reading reference videos: the data contract, formats, and every refusal names clip and reason."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from flexiclip_core.errors import ReferenceVideoError
from flexiclip_core.videofit import ReferenceLimits, ReferenceVideo, load_reference_video
from tests.flexiclip_core.videofit import motions


def _frames(count: int = 6, size: int = 32) -> np.ndarray:
    """[T, S, S, 4] uint8: a grey square that moves right one px per frame on transparency."""
    frames = np.zeros((count, size, size, 4), dtype=np.uint8)
    for index in range(count):
        frames[index, 8:20, 4 + index : 16 + index] = (200, 40, 40, 255)
    return frames


def test_mp4_decodes_to_straight_rgba_with_rate_and_hash(tmp_path):
    path = motions.write_mp4(tmp_path / "ref.mp4", motions.over_background(_frames()), fps=12)
    reference = load_reference_video(path, clip="c")
    assert reference.frames.shape == (6, 32, 32, 4) and reference.frames.dtype == np.float32
    assert reference.fps == 12.0 and reference.duration_s == pytest.approx(0.5)
    assert not reference.has_alpha and reference.source_kind == "supplied"
    assert reference.content_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    # H.264 at CRF 18 keeps the square's colour within a few levels in its interior.
    assert np.abs(reference.frames[2, 14, 10, :3] - np.array([200, 40, 40]) / 255).max() < 0.06
    assert reference.provenance()["reference_frames"] == 6


def test_gif_and_file_uri_decode(tmp_path):
    path = motions.write_gif(tmp_path / "ref.gif", motions.over_background(_frames()))
    reference = load_reference_video(path.as_uri())
    assert reference.frame_count == 6 and reference.frames.shape[1:] == (32, 32, 4)


def test_png_folder_keeps_alpha_as_the_mask(tmp_path):
    folder = motions.write_png_folder(tmp_path / "frames", _frames())
    reference = load_reference_video(folder, limits=ReferenceLimits(folder_fps=8.0))
    assert reference.has_alpha and reference.fps == 8.0
    assert reference.frames[0, 0, 0, 3] == 0.0 and reference.frames[0, 10, 10, 3] == 1.0
    np.testing.assert_allclose(reference.frames[3, 10, 8, :3], np.array([200, 40, 40]) / 255, atol=1e-6)


def test_large_frames_are_scaled_down_on_decode(tmp_path):
    big = np.repeat(np.repeat(_frames(2), 20, axis=1), 20, axis=2)  # 640²
    folder = motions.write_png_folder(tmp_path / "big", big)
    assert load_reference_video(folder).frames.shape == (2, 512, 512, 4)


@pytest.mark.parametrize(
    ("setup", "limits", "reason"),
    [
        (lambda d: d / "missing.mp4", ReferenceLimits(), "does not exist"),
        (lambda d: _write(d / "empty.mp4", b""), ReferenceLimits(), "is empty"),
        (lambda d: _write(d / "junk.mp4", b"not a video at all" * 50), ReferenceLimits(), "cannot be decoded"),
        (
            lambda d: motions.write_mp4(d / "long.mp4", motions.over_background(_frames())),
            ReferenceLimits(max_frames=4),
            "more than 4 frames",
        ),
        (
            lambda d: motions.write_mp4(d / "wide.mp4", motions.over_background(_frames())),
            ReferenceLimits(max_frame_pixels=500),
            "over the 500-pixel limit",
        ),
        (
            lambda d: motions.write_mp4(d / "heavy.mp4", motions.over_background(_frames())),
            ReferenceLimits(max_file_bytes=100),
            "over the 100-byte limit",
        ),
        (
            lambda d: motions.write_mp4(d / "slow.mp4", motions.over_background(_frames()), fps=1),
            ReferenceLimits(max_duration_s=2.0),
            "over the 2 s limit",
        ),
        (lambda d: (d / "none").mkdir() or d / "none", ReferenceLimits(), "holds no PNG frames"),
        (lambda d: _write(d / "bad" / "0.png", b"\x89PNG broken").parent, ReferenceLimits(), "cannot be read"),
        (lambda d: "s3://bucket/ref.mp4", ReferenceLimits(), "only local paths"),
    ],
)
def test_bad_references_are_refused_with_one_line_naming_the_clip(tmp_path, setup, limits, reason):
    with pytest.raises(ReferenceVideoError) as caught:
        load_reference_video(setup(tmp_path), clip="cat-07", limits=limits)
    message = str(caught.value)
    assert message.startswith("clip 'cat-07': ") and reason in message and "\n" not in message


def test_contract_rejects_malformed_frames():
    with pytest.raises(ReferenceVideoError, match="float32"):
        ReferenceVideo(frames=np.zeros((2, 4, 4, 4)), fps=10, source="x", content_sha256="", has_alpha=False)
    with pytest.raises(ReferenceVideoError, match=r"\[T ≥ 1, H, W, 4\]"):
        ReferenceVideo(
            frames=np.zeros((0, 4, 4, 4), np.float32), fps=10, source="x", content_sha256="", has_alpha=False
        )


def _write(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
