"""Video outputs: H.264 MP4 (opaque, every player) and VP9 WebM with alpha (transparent).

Both are encoded with PyAV (FFmpeg's libraries, the same build that decodes them in tests)
and written atomically. Frames are uint8 ``[N, H, W, 3|4]``, straight RGBA, row 0 at top.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from flexiclip_core.errors import ExportError
from flexiclip_core.export.files import atomic_write, check_fps, check_frames


def composite_over(frames: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
    """uint8 [..., 3|4] straight RGB(A) → uint8 [..., 3] RGB over the opaque colour ``rgb``."""
    if frames.shape[-1] == 3:
        return frames
    alpha = frames[..., 3:]
    if np.all(alpha == 255):  # already over an opaque background
        return np.ascontiguousarray(frames[..., :3])
    alpha16 = alpha.astype(np.uint16)
    under = np.asarray(rgb, dtype=np.uint16)
    # rgb·a + c·(255 − a) + 127 ≤ 65152 fits uint16; rounded division by 255.
    blended = frames[..., :3].astype(np.uint16) * alpha16 + under * (255 - alpha16) + 127
    return (blended // 255).astype(np.uint8)


def composite_over_white(frames: np.ndarray) -> np.ndarray:
    """uint8 [..., 3|4] straight RGB(A) → uint8 [..., 3] RGB over a white background."""
    return composite_over(frames, (255, 255, 255))


def bleed_colour_into_transparency(frames: np.ndarray) -> np.ndarray:
    """uint8 [N, H, W, 4] straight RGBA with the colour of fully transparent pixels next to the
    drawing replaced by the mean colour of their visible neighbours (5×5).

    Their colour is invisible, but 4:2:0 chroma averages 2×2 blocks and lossy coding smears
    across edges, so black there would darken the anti-aliased rim of a transparent video.
    """
    from scipy.ndimage import uniform_filter

    alpha = frames[..., 3].astype(np.float32)  # [N, H, W]
    premultiplied = frames[..., :3].astype(np.float32) * alpha[..., None]
    blurred_colour = uniform_filter(premultiplied, size=(1, 5, 5, 1), mode="nearest")
    blurred_alpha = uniform_filter(alpha, size=(1, 5, 5), mode="nearest")
    fill = (alpha == 0) & (blurred_alpha > 0)
    out = frames.copy()
    out[..., :3][fill] = np.clip(blurred_colour[fill] / blurred_alpha[fill][:, None] + 0.5, 0, 255).astype(np.uint8)
    return out


def _pad_to_even(frames: np.ndarray, value: int) -> np.ndarray:
    _, height, width, _ = frames.shape
    pad_bottom, pad_right = height % 2, width % 2  # 4:2:0 subsamples chroma 2×2
    if pad_bottom or pad_right:
        frames = np.pad(frames, ((0, 0), (0, pad_bottom), (0, pad_right), (0, 0)), constant_values=value)
    return frames


def _tag_bt709(stream) -> None:
    # Convert with the BT.709 matrix and tag it (limited range), so players need not guess the
    # colour space of an untagged stream (they guess differently).
    codec = stream.codec_context
    codec.colorspace = codec.color_primaries = codec.color_trc = 1  # AVCOL_*_BT709
    codec.color_range = 1  # AVCOL_RANGE_MPEG


def write_mp4(
    frames: np.ndarray,  # uint8 [N, H, W, 3|4]
    path: str | Path,
    fps: float,
    *,
    crf: int = 18,
    background_rgb: tuple[int, int, int] = (255, 255, 255),
    clip: str | None = None,
) -> Path:
    """H.264 / yuv420p MP4 (PyAV), BT.709 tagged; RGBA is composited over ``background_rgb``
    (white), odd sizes padded to even. ``faststart`` puts the index first so browsers start
    playing at once."""
    import av  # imported here: only video export needs FFmpeg's libraries

    frames = composite_over(check_frames(frames, clip), background_rgb)
    check_fps(fps, ExportError)
    frames = _pad_to_even(frames, 255)

    def write(temporary: Path) -> None:
        with av.open(str(temporary), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height = frames.shape[2], frames.shape[1]
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(int(crf))}
            _tag_bt709(stream)
            for frame in frames:
                rgb_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
                yuv_frame = rgb_frame.reformat(format="yuv420p", dst_colorspace="ITU709")
                for packet in stream.encode(yuv_frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)

    return atomic_write(Path(path), write, clip)


def write_webm(
    frames: np.ndarray,  # uint8 [N, H, W, 3|4]
    path: str | Path,
    fps: float,
    *,
    lossless: bool = True,
    crf: int = 20,
    clip: str | None = None,
) -> Path:
    """VP9 WebM with an alpha plane (``yuva420p``, libvpx-vp9 via PyAV), BT.709 tagged;
    lossless by default, else constant quality ``crf`` (0 … 63).

    Lossless keeps the alpha exact: at crf 20 inter frames carried alpha noise of 1–9 levels
    in empty areas and 252–254 inside solid fills (24 frames of human.svg at 512²), a faint
    haze once composited over a coloured page.

    RGB frames are written fully opaque. Odd sizes are padded with transparent pixels. Chrome,
    Firefox and Edge play the alpha; decoders that ignore it (FFmpeg's native ``vp9``) show the
    colour planes only, so the colour under transparent pixels is bled from the drawing's edge.
    """
    import av

    frames = check_frames(frames, clip)
    check_fps(fps, ExportError)
    if frames.shape[-1] == 3:
        frames = np.concatenate([frames, np.full(frames.shape[:-1] + (1,), 255, np.uint8)], axis=-1)
    frames = bleed_colour_into_transparency(_pad_to_even(frames, 0))

    def write(temporary: Path) -> None:
        with av.open(str(temporary), mode="w", format="webm") as container:
            stream = container.add_stream("libvpx-vp9", rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height = frames.shape[2], frames.shape[1]
            stream.pix_fmt = "yuva420p"
            # cpu-used 5 ("good"): lossless 24×512² human.svg in 381 KiB (cpu-used 8: 545 KiB, 3.5× faster).
            quality = {"lossless": "1"} if lossless else {"crf": str(int(crf)), "b": "0"}
            stream.options = {**quality, "deadline": "good", "cpu-used": "5", "row-mt": "1"}
            _tag_bt709(stream)
            for frame in frames:
                rgba_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgba")
                yuva_frame = rgba_frame.reformat(format="yuva420p", dst_colorspace="ITU709")
                for packet in stream.encode(yuva_frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)

    return atomic_write(Path(path), write, clip)
