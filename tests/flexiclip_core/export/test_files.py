"""`export.files`: atomic writes (a failed write leaves no file and no temporary) and the fps check."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flexiclip_core.errors import ExportError
from flexiclip_core.export.files import atomic_write, check_fps, write_text_atomic


def test_a_write_lands_whole_or_not_at_all(tmp_path: Path) -> None:
    target = write_text_atomic(tmp_path / "deep" / "out.txt", "héllo")
    assert target.read_bytes() == "héllo".encode() and oct(os.stat(target).st_mode & 0o777) == "0o644"

    def half_then_fail(temporary: Path) -> None:
        temporary.write_text("half")
        raise ValueError("disk full")

    with pytest.raises(ExportError, match=r"cannot write .*out\.txt: ValueError: disk full"):
        atomic_write(target, half_then_fail)
    assert target.read_text() == "héllo" and sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


@pytest.mark.parametrize("fps", [0, -1, 241, float("nan"), True, "10"])
def test_fps_outside_0_240_is_refused(fps: object) -> None:
    with pytest.raises(ValueError, match="fps must be a number in \\(0, 240\\]"):
        check_fps(fps, ValueError)  # type: ignore[arg-type]


def test_fps_at_the_bounds_passes() -> None:
    check_fps(240, ValueError)
    check_fps(0.5, ValueError)
