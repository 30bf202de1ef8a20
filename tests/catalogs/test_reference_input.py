"""The input catalog's ``reference_video`` column (issue 21): how it resolves, how the planner
reads a reference (bounded, hashed as the fit hashes it), and how `catalog init` finds one."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from catalogs.from_folder import catalog_from_folder
from catalogs.input import read_reference_video, validate_table
from flexiclip_core.errors import ReferenceVideoError
from flexiclip_core.videofit import load_reference_video


def _rows(references: list[str | None]):
    table = pa.table(
        {
            "clip_id": [f"c{i}" for i in range(len(references))],
            "svg_uri": ["a.svg"] * len(references),
            "prompt": ["p"] * len(references),
            "reference_video": references,
        }
    )
    return validate_table(table, base="/data/cat")


def test_reference_column_resolves_like_svg_uri():
    rows, errors = _rows(["wave.mp4", "file:///v/w.webm", "s3://b/k/w.gif", "", None, "../up.mp4"])
    assert [row.reference_video for row in rows] == ["/data/cat/wave.mp4", "/v/w.webm", "s3://b/k/w.gif", None, None]
    (error,) = errors
    assert error.clip_id == "c5" and "column 'reference_video'" in error.message and "escapes" in error.message


def test_oversized_reference_is_refused_before_reading(tmp_path: Path):
    video = tmp_path / "big.mp4"
    video.write_bytes(b"x" * 101)
    with pytest.raises(ReferenceVideoError) as caught:
        read_reference_video(str(video), clip="c", max_bytes=100)
    assert str(caught.value) == "clip 'c': reference video 'big.mp4' is 101 bytes, over the 100-byte limit"
    exact = read_reference_video(str(video), clip="c", max_bytes=101)
    assert exact.sha256 == hashlib.sha256(b"x" * 101).hexdigest() and not exact.is_folder


def test_missing_reference_names_clip_and_file(tmp_path: Path):
    with pytest.raises(ReferenceVideoError, match=r"^clip 'c': reference video '.*gone.mp4': no such file$"):
        read_reference_video(str(tmp_path / "gone.mp4"), clip="c")


def test_png_folder_hash_is_the_fits_own(tmp_path: Path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for index in range(3):
        pixels = np.full((8, 8, 4), 40 * index, dtype=np.uint8)
        Image.fromarray(pixels, "RGBA").save(folder / f"{index:02d}.png")
    (folder / "notes.txt").write_text("ignored")
    read = read_reference_video(f"file://{folder}", clip="c")
    assert read.is_folder and [name for name, _ in read.files] == ["00.png", "01.png", "02.png"]
    # The key's hash and the decoded reference's `content_sha256` are the same number.
    assert read.sha256 == load_reference_video(folder).content_sha256
    with pytest.raises(ReferenceVideoError, match="over the 2-frame limit"):
        read_reference_video(str(folder), clip="c", max_files=2)


def test_catalog_init_picks_up_a_reference_beside_the_svg(tmp_path: Path, samples_dir: Path):
    folder = tmp_path / "art"
    folder.mkdir()
    for name in ("human", "plant"):
        (folder / f"{name}.svg").write_bytes((samples_dir / f"{name}.svg").read_bytes())
        (folder / f"{name}.txt").write_text("wave")
    (folder / "human.mp4").write_bytes(b"video")
    (folder / "stray.mp4").write_bytes(b"video")
    result = catalog_from_folder(folder, tmp_path / "catalog.parquet")
    assert {row["clip_id"]: row["reference_video"] for row in result.rows} == {"human": "art/human.mp4", "plant": None}
    # The claimed video is not "skipped"; a video beside no SVG still is.
    assert [skipped.name for skipped in result.skipped] == ["stray.mp4"]
