"""`export.arrays`: the motion arrays written and read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flexiclip_core.errors import ExportError
from flexiclip_core.export import (
    MOTION_ARRAYS,
    write_motion_arrays,
)


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
