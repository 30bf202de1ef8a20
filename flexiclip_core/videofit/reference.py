"""The reference video a clip is fitted to (docs/method.md §13): its data contract and bounded
loading from a video file (anything ffmpeg decodes, through PyAV) or a folder of PNG frames.

Reference files are untrusted like SVGs: size is checked before decoding, frame size, count,
duration and wall-clock time while decoding, and every failure is one `ReferenceVideoError`
naming the clip and the file.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np

from flexiclip_core.errors import ReferenceVideoError
from flexiclip_core.videofit_config import ReferenceLimits

SUPPLIED = "supplied"
"""`ReferenceVideo.source_kind` of a video the user gave (generated ones: ``generated:<name>``)."""


@dataclass(frozen=True, eq=False)
class ReferenceVideo:
    """A target video for video-fit.

    ``frames`` are straight (not premultiplied) RGBA in [0, 1]; a source without alpha has alpha
    1 everywhere (``has_alpha`` False) and its background is then estimated at registration.
    """

    frames: np.ndarray
    """[T, H, W, 4] float32 straight RGBA in [0, 1]."""
    fps: float
    """Frames per second of ``frames`` (the duration is T / fps)."""
    source: str
    """Where the frames came from (path or URI), for messages and provenance."""
    content_sha256: str
    """sha256 of the source bytes (a folder: of its PNG files in order): the reference's identity
    in the idempotency key."""
    has_alpha: bool
    """The source carries transparency: alpha is the drawing's mask."""
    source_kind: str = SUPPLIED
    """``supplied`` or ``generated:<generator>``."""
    licence: str = "user-supplied"
    """Licence of the reference (a generator's weights licence for generated ones)."""
    seed: int | None = None
    """Seed of a generated reference; None for a supplied one."""

    def __post_init__(self) -> None:
        frames = self.frames
        if frames.ndim != 4 or frames.shape[-1] != 4 or frames.shape[0] < 1:
            raise ReferenceVideoError(f"reference {self.source}: frames must be [T ≥ 1, H, W, 4], got {frames.shape}")
        if frames.dtype != np.float32:
            raise ReferenceVideoError(f"reference {self.source}: frames must be float32, got {frames.dtype}")
        if not (self.fps > 0 and np.isfinite(self.fps)):
            raise ReferenceVideoError(f"reference {self.source}: fps must be positive, got {self.fps}")

    @property
    def frame_count(self) -> int:
        """T: decoded frames."""
        return int(self.frames.shape[0])

    @property
    def duration_s(self) -> float:
        """T / fps."""
        return self.frame_count / self.fps

    def provenance(self) -> dict[str, object]:
        """The columns a catalog row and config.json carry for this reference."""
        return {
            "reference_video_uri": self.source,
            "reference_source": self.source_kind,
            "reference_sha256": self.content_sha256,
            "reference_licence": self.licence,
            "reference_seed": self.seed,
            "reference_frames": self.frame_count,
            "reference_fps": self.fps,
        }


def load_reference_video(
    source: str | os.PathLike,
    *,
    clip: str | None = None,
    limits: ReferenceLimits = ReferenceLimits(),
) -> ReferenceVideo:
    """Read a reference from a video file, a ``file://`` URI or a folder of PNG frames (sorted by
    name), within ``limits``. Raises `ReferenceVideoError` naming ``clip`` and the source."""
    path = _local_path(source, clip)
    if path.is_dir():
        return _load_png_folder(path, clip, limits)
    if not path.is_file():
        raise ReferenceVideoError(f"reference video {str(source)!r} does not exist", clip=clip)
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise ReferenceVideoError(
            f"reference video {path.name!r} is {size} bytes, over the {limits.max_file_bytes}-byte limit", clip=clip
        )
    if size == 0:
        raise ReferenceVideoError(f"reference video {path.name!r} is empty", clip=clip)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    frames, fps = _decode_video(path, clip, limits)
    return ReferenceVideo(
        frames=frames,
        fps=fps,
        source=str(source),
        content_sha256=digest,
        has_alpha=bool((frames[..., 3] < 1.0 - 1e-3).any()),
    )


def _local_path(source: str | os.PathLike, clip: str | None) -> Path:
    text = os.fspath(source)
    if "://" not in text:
        return Path(text)
    parsed = urlparse(text)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    raise ReferenceVideoError(
        f"reference video {text!r}: only local paths and file:// URIs are read here "
        "(the pipeline fetches s3:// references to a local file first)",
        clip=clip,
    )


def _scaled_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) shrunk so the longer side is at most ``max_side`` (never enlarged)."""
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _decode_video(path: Path, clip: str | None, limits: ReferenceLimits) -> tuple[np.ndarray, float]:
    """Decode every frame as RGBA float32, scaled down to ``decode_max_side``; returns
    ([T, H, W, 4], fps)."""
    import av  # PyAV: ffmpeg's demuxers and decoders

    name = path.name
    started = time.monotonic()
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.video:
                raise ReferenceVideoError(f"reference video {name!r} has no video stream", clip=clip)
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            fps = float(rate) if rate else limits.folder_fps
            if not (fps > 0 and np.isfinite(fps)):
                raise ReferenceVideoError(f"reference video {name!r} has no usable frame rate ({rate})", clip=clip)
            width, height = stream.codec_context.width, stream.codec_context.height
            if width * height > limits.max_frame_pixels:
                raise ReferenceVideoError(
                    f"reference video {name!r} has {width}×{height} frames, over the "
                    f"{limits.max_frame_pixels}-pixel limit",
                    clip=clip,
                )
            if container.duration is not None and container.duration / 1e6 > limits.max_duration_s:
                raise ReferenceVideoError(
                    f"reference video {name!r} lasts {container.duration / 1e6:.1f} s, over the "
                    f"{limits.max_duration_s:g} s limit",
                    clip=clip,
                )
            frames: list[np.ndarray] = []
            for frame in container.decode(stream):
                if len(frames) >= limits.max_frames:
                    raise ReferenceVideoError(
                        f"reference video {name!r} has more than {limits.max_frames} frames", clip=clip
                    )
                if frame.width * frame.height > limits.max_frame_pixels:
                    raise ReferenceVideoError(
                        f"reference video {name!r} has a {frame.width}×{frame.height} frame, over the "
                        f"{limits.max_frame_pixels}-pixel limit",
                        clip=clip,
                    )
                if time.monotonic() - started > limits.max_decode_s:
                    raise ReferenceVideoError(
                        f"reference video {name!r} took over {limits.max_decode_s:g} s to decode", clip=clip
                    )
                out_width, out_height = _scaled_size(frame.width, frame.height, limits.decode_max_side)
                rgba = frame.reformat(width=out_width, height=out_height, format="rgba").to_ndarray()
                frames.append(rgba)
    except ReferenceVideoError:
        raise
    except (av.FFmpegError, OSError, ValueError, EOFError, MemoryError) as exc:
        raise ReferenceVideoError(
            f"reference video {name!r} cannot be decoded: {type(exc).__name__}: {exc}", clip=clip
        ) from None
    if not frames:
        raise ReferenceVideoError(f"reference video {name!r} has no frames", clip=clip)
    if len({f.shape for f in frames}) > 1:
        raise ReferenceVideoError(f"reference video {name!r} changes frame size mid-stream", clip=clip)
    if len(frames) / fps > limits.max_duration_s:
        raise ReferenceVideoError(
            f"reference video {name!r} lasts {len(frames) / fps:.1f} s, over the {limits.max_duration_s:g} s limit",
            clip=clip,
        )
    return np.stack(frames).astype(np.float32) / 255.0, fps


def _load_png_folder(folder: Path, clip: str | None, limits: ReferenceLimits) -> ReferenceVideo:
    """A folder of PNG frames in name order at ``limits.folder_fps``."""
    from PIL import Image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")
    if not files:
        raise ReferenceVideoError(f"reference folder {folder.name!r} holds no PNG frames", clip=clip)
    if len(files) > limits.max_frames:
        raise ReferenceVideoError(
            f"reference folder {folder.name!r} holds {len(files)} frames, over the {limits.max_frames}-frame limit",
            clip=clip,
        )
    if len(files) / limits.folder_fps > limits.max_duration_s:
        raise ReferenceVideoError(
            f"reference folder {folder.name!r} lasts {len(files) / limits.folder_fps:.1f} s at "
            f"{limits.folder_fps:g} fps, over the {limits.max_duration_s:g} s limit",
            clip=clip,
        )
    total = sum(p.stat().st_size for p in files)
    if total > limits.max_file_bytes:
        raise ReferenceVideoError(
            f"reference folder {folder.name!r} holds {total} bytes of PNG, over the {limits.max_file_bytes}-byte limit",
            clip=clip,
        )
    digest = hashlib.sha256()
    frames: list[np.ndarray] = []
    has_alpha = False
    for file in files:
        data = file.read_bytes()
        digest.update(hashlib.sha256(data).digest())
        try:
            with Image.open(file) as image:
                if image.width * image.height > limits.max_frame_pixels:
                    raise ReferenceVideoError(
                        f"reference frame {file.name!r} is {image.width}×{image.height}, over the "
                        f"{limits.max_frame_pixels}-pixel limit",
                        clip=clip,
                    )
                has_alpha = has_alpha or "A" in image.getbands() or "transparency" in image.info
                rgba = image.convert("RGBA")
                rgba = rgba.resize(_scaled_size(*rgba.size, limits.decode_max_side), Image.Resampling.BOX)
                frames.append(np.asarray(rgba))
        except ReferenceVideoError:
            raise
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise ReferenceVideoError(
                f"reference frame {file.name!r} cannot be read: {type(exc).__name__}: {exc}", clip=clip
            ) from None
    if len({f.shape for f in frames}) > 1:
        raise ReferenceVideoError(f"reference folder {folder.name!r} mixes frame sizes", clip=clip)
    stacked = np.stack(frames).astype(np.float32) / 255.0
    return ReferenceVideo(
        frames=stacked,
        fps=limits.folder_fps,
        source=str(folder),
        content_sha256=digest.hexdigest(),
        has_alpha=has_alpha and bool((stacked[..., 3] < 1.0 - 1e-3).any()),
    )
