"""`flexiclip run --clips-per-worker 2` end to end (the shared Prefect server, local Ray, Delta): clips
batched on one worker, a clip forced to NaN fails alone, one row per input row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.flows.harness import FAST_SETTINGS, describe, pipeline_env, read_rows, run_cli, sample_rows, write_catalog

pytestmark = pytest.mark.slow

NAN_AT_STEP_1 = {"skeleton_weight": -1e300, "sds.guidance_scale": 1e300}
"""Row overrides whose first loss is +inf + (−inf) = NaN (see tests/tasks/test_batch.py)."""


def test_two_clips_per_worker_run_commits_one_row_per_clip_and_the_nan_clip_fails_alone(
    tmp_path: Path, prefect_api: str
):
    rows = sample_rows(tmp_path / "in", ["human", "plant", "object"])
    rows[1]["config"] = json.dumps(NAN_AT_STEP_1)
    catalog = write_catalog(tmp_path / "in" / "catalog.parquet", rows)
    root = tmp_path / "out"
    result = run_cli(
        pipeline_env(tmp_path, PREFECT_API_URL=prefect_api),
        "run",
        str(catalog),
        "--output",
        str(root),
        "--workers",
        "1",
        "--clips-per-worker",
        "2",
        *FAST_SETTINGS,
    )
    assert result.returncode == 1, describe(result)  # one clip failed
    out = {row["clip_id"]: row for row in read_rows(root)}
    assert sorted(out) == ["human", "object", "plant"]
    assert out["plant"]["status"] == "failed" and out["plant"]["error_type"] == "FloatingPointError"
    assert "nan at step 1" in out["plant"]["error_message"], out["plant"]["error_message"]
    assert "lockstep batch of 2" in out["plant"]["error_message"]
    for clip_id in ("human", "object"):
        assert out[clip_id]["status"] == "succeeded", out[clip_id]
        assert Path(out[clip_id]["video_uri"]).is_file()
