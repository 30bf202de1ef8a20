"""A reference video through the pipeline's pure parts (issue 21): the planner's keys and
refusals, the output row's reference columns, the gallery's reference | result, the dataset's
reference media kind. The run on Ray is tests/flows/test_videofit_run.py."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa

from catalogs.dataset import REFERENCE_KIND, _media_kinds
from catalogs.input import validate_table
from catalogs.rows import OUTPUT_COLUMNS, OutputRow, Status, rows_to_table
from tasks.html_report import _with_reference
from tasks.jobs import skipped_row
from tasks.plan import base_config, build_jobs

SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="4" height="4"/></svg>'


def _plan(tmp_path: Path, references: dict[str, str | None], method: str = "video-fit"):
    table = pa.table(
        {
            "clip_id": list(references),
            "svg_uri": ["a.svg"] * len(references),
            "prompt": ["p"] * len(references),
            "reference_video": list(references.values()),
        }
    )
    rows, errors = validate_table(table, base=str(tmp_path))
    return build_jobs(
        rows,
        errors,
        run_id="run",
        config=base_config(method),
        prior_name="tiny",
        code_version="0",
        read_svg=lambda uri: SVG,
    )


def test_key_follows_the_references_content_not_its_name(tmp_path: Path):
    (tmp_path / "one.mp4").write_bytes(b"first video")
    (tmp_path / "same.mp4").write_bytes(b"first video")
    (tmp_path / "two.mp4").write_bytes(b"second video")
    plan = _plan(tmp_path, {"a": "one.mp4", "b": "same.mp4", "c": "two.mp4"})
    keys = {job.clip_id: job.idempotency_key for job in plan.jobs}
    assert keys["a"] == keys["b"] != keys["c"]
    job = plan.jobs[0]
    assert job.reference is not None and job.reference.sha256 == hashlib.sha256(b"first video").hexdigest()
    # No prior makes a fitted clip: the row names the reference, whatever prior the run loaded.
    assert job.prior == "reference:supplied"
    assert job.row(Status.FAILED).reference_sha256 == job.reference.sha256


def test_video_fit_rows_without_a_usable_reference_fail_alone(tmp_path: Path):
    (tmp_path / "ok.mp4").write_bytes(b"v")
    plan = _plan(tmp_path, {"ok": "ok.mp4", "none": None, "gone": "gone.mp4"})
    assert [job.clip_id for job in plan.jobs] == ["ok"]
    failed = {row.clip_id: row for _, row in plan.failed}
    assert failed["none"].error_message == (
        "clip 'none': method 'video-fit' needs a reference video and column 'reference_video' is empty"
    )
    assert failed["gone"].error_type == "ReferenceVideoError" and "no such file" in failed["gone"].error_message
    assert failed["gone"].reference_input_uri == str(tmp_path / "gone.mp4")


def test_a_reference_on_a_prompt_driven_row_is_ignored_and_said(tmp_path: Path):
    (tmp_path / "ok.mp4").write_bytes(b"v")
    with_reference = _plan(tmp_path, {"a": "ok.mp4"}, method="flexiclip").jobs[0]
    without = _plan(tmp_path, {"a": None}, method="flexiclip").jobs[0]
    assert with_reference.reference is None and with_reference.idempotency_key == without.idempotency_key
    assert with_reference.notes == (
        "column 'reference_video' ignored: method 'flexiclip' is not fitted to a video (use video-fit)",
    )


def _fitted_row(reference_uri: str | None) -> OutputRow:
    return OutputRow(
        clip_id="c",
        status=Status.SUCCEEDED,
        idempotency_key="0" * 64,
        reference_video_uri=reference_uri,
        reference_source="supplied",
        fit_psnr=31.5,
        fit_mask_iou_min=float("nan"),
    )


def test_reference_columns_round_trip_through_the_table():
    row = _fitted_row("/root/media/ab/" + "ab" * 32 + ".mp4")
    assert row.fit_mask_iou_min is None  # NaN: not measured
    (record,) = rows_to_table([row]).to_pylist()
    assert record["reference_video_uri"] == row.reference_video_uri and record["fit_psnr"] == 31.5
    assert OutputRow.from_record(record) == row
    assert OUTPUT_COLUMNS[-12:][0] == "reference_input_uri"  # 10 + 2 generated-reference columns
    assert REFERENCE_KIND in _media_kinds(list(OUTPUT_COLUMNS))


def test_gallery_puts_the_reference_beside_the_result():
    digest = "cd" * 32
    video = _with_reference(_fitted_row(f"s3://b/root/media/cd/{digest}.mp4"), "<i>result</i>")
    assert video.startswith('<div class="side-by-side"><figure title="reference (supplied)"><video class="reference"')
    assert f'src="../../media/cd/{digest}.mp4"' in video and video.endswith("<i>result</i></figure></div>")
    frames = _with_reference(_fitted_row(f"/root/media/cd/{digest}.png"), "<i>result</i>")
    assert '<img class="reference"' in frames
    assert _with_reference(_fitted_row(None), "<i>result</i>") == "<i>result</i>"


def test_the_rows_own_size_limit_is_applied_before_reading(tmp_path: Path):
    (tmp_path / "six.mp4").write_bytes(b"123456")
    table = pa.table({"clip_id": ["a"], "svg_uri": ["a.svg"], "prompt": ["p"], "reference_video": ["six.mp4"]})
    rows, _ = validate_table(table, base=str(tmp_path))
    config = base_config("video-fit", overrides={"video_fit.limits.max_file_bytes": 5})
    plan = build_jobs(rows, [], run_id="r", config=config, prior_name="tiny", code_version="0", read_svg=lambda u: SVG)
    ((_, failed),) = plan.failed
    assert failed.error_message == "clip 'a': reference video 'six.mp4' is 6 bytes, over the 5-byte limit"


def test_a_skipped_row_points_at_the_earlier_reference_and_fit(tmp_path: Path):
    (tmp_path / "v.mp4").write_bytes(b"v")
    (job,) = _plan(tmp_path, {"a": "v.mp4"}).jobs
    earlier = job.row(Status.SUCCEEDED, reference_video_uri="/r/media/ab/x.mp4", fit_psnr=30.0, fit_mask_iou_min=0.9)
    skipped = skipped_row(job, earlier)
    assert skipped.status is Status.SKIPPED and skipped.reference_video_uri == "/r/media/ab/x.mp4"
    assert (skipped.fit_psnr, skipped.fit_mask_iou_min, skipped.reference_sha256) == (30.0, 0.9, job.reference.sha256)
