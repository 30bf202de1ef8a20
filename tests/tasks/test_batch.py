"""Clips in lockstep on one worker (`ClipWorker.animate_batch`, `tasks.batch`) with the tiny prior on
CPU, no Ray: a clip forced to NaN or with a bad SVG fails alone inside its batch; the batch path
writes what `animate_clip` writes; ``clips_per_worker="auto"`` sizing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from catalogs.input import read_catalog, read_svg_bytes
from catalogs.rows import Status
from flexiclip_core.animate import finish_clip, prepare_clip
from flexiclip_core.errors import ConfigError
from tasks.batch import (
    GIB,
    MAX_CLIPS_PER_WORKER,
    PEAK_TABLE,
    auto_clips_per_worker,
    card_too_small,
    per_clip_gib,
    resolve_clips_per_worker,
)
from tasks.plan import base_config, build_jobs
from tasks.worker import ClipWorker
from tests.flows.harness import sample_rows, write_catalog

FAST = {"render.size": 64, "schedule.frame_count": 8, "iterations": 2}
NAN_AT_STEP_1 = {"skeleton_weight": -1e300, "sds.guidance_scale": 1e300}
"""Row overrides whose first loss is +inf + (−inf) = NaN (both weights overflow float32)."""


def jobs_for(
    tmp_path: Path,
    clip_ids: list[str],
    row_config: dict[str, dict] | None = None,
    bad_svg: str | None = None,
    row_export: dict[str, dict] | None = None,
):
    rows = sample_rows(tmp_path / "in", clip_ids)
    for row in rows:
        row["config"] = json.dumps((row_config or {}).get(row["clip_id"], {}))
        if row_export:
            row["export"] = json.dumps(row_export.get(row["clip_id"], {}))
    catalog = write_catalog(tmp_path / "in" / "catalog.parquet", rows)
    config = base_config("flexiclip", overrides=FAST)
    valid, errors = read_catalog(str(catalog), validate_config=config.with_overrides)
    assert not errors

    def read_svg(uri: str) -> bytes:
        return (
            b"<svg xmlns='http://www.w3.org/2000/svg'><path d='M 0 0 L"
            if bad_svg and bad_svg in uri
            else read_svg_bytes(uri)
        )

    plan = build_jobs(
        valid, errors, run_id="batch-test", config=config, prior_name="tiny", code_version="0+test", read_svg=read_svg
    )
    return plan.jobs


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> ClipWorker:
    worker = ClipWorker("tiny", str(tmp_path_factory.mktemp("out")), torch_threads=1)
    assert worker.setup_error is None, worker.setup_error
    return worker


def test_a_clip_gone_nan_fails_alone_and_its_batch_mates_succeed(tmp_path: Path, worker: ClipWorker) -> None:
    jobs = jobs_for(tmp_path, ["human", "plant", "object"], row_config={"plant": NAN_AT_STEP_1})
    rows = worker.animate_batch(jobs)
    assert [row.clip_id for row in rows] == ["human", "plant", "object"]  # one row per job, in order
    by_clip = {row.clip_id: row for row in rows}
    plant = by_clip["plant"]
    assert plant.status is Status.FAILED
    assert plant.error_type == "FloatingPointError"
    assert "nan" in plant.error_message and "at step 1" in plant.error_message, plant.error_message
    assert "lockstep batch of 3" in plant.error_message
    assert not plant.media
    for clip_id in ("human", "object"):
        row = by_clip[clip_id]
        assert row.status is Status.SUCCEEDED, row
        assert Path(row.media["video"].uri).is_file() and Path(row.media["source_svg"].uri).is_file()
        assert row.metrics and row.seconds is not None and row.seconds > 0


def test_a_bad_svg_inside_a_batch_fails_alone(tmp_path: Path, worker: ClipWorker) -> None:
    jobs = jobs_for(tmp_path, ["human", "plant"], bad_svg="plant")
    rows = worker.animate_batch(jobs)
    by_clip = {row.clip_id: row for row in rows}
    assert len(rows) == 2
    assert by_clip["plant"].status is Status.FAILED
    assert "plant" in by_clip["plant"].error_message, by_clip["plant"].error_message
    assert by_clip["human"].status is Status.SUCCEEDED
    assert Path(by_clip["human"].media["video"].uri).is_file()


def test_the_batch_path_writes_what_animate_clip_writes(tmp_path: Path, worker: ClipWorker) -> None:
    from flexiclip_core.lockstep import optimise_lockstep

    (job,) = jobs_for(tmp_path, ["human"])
    alone = worker._animate(job, str(tmp_path / "alone"))
    clip = prepare_clip(worker._request(job), worker.prior, job.config, device="cpu")
    (result,) = optimise_lockstep([clip.animator])
    assert not isinstance(result, Exception)
    batched = finish_clip(clip, result, tmp_path / "batched", export=job.export, learned_metrics=worker.learned_metrics)
    assert set(batched.files) == set(alone.files)
    for name in ("frame_points", "frame_vertices", "frame_keypoints", "faces", "bones"):
        a, b = np.load(alone.files["motion"]), np.load(batched.files["motion"])
        np.testing.assert_array_equal(a[name], b[name])
    assert batched.metrics.values == alone.metrics.values
    for kind in ("metrics", "config"):
        a_record, b_record = (json.loads(Path(o.files[kind]).read_text()) for o in (alone, batched))
        a_record.pop("seconds"), b_record.pop("seconds")
        assert a_record == b_record, kind


def test_a_real_batchs_parquet_export_reads_back_whole(tmp_path: Path, worker: ClipWorker) -> None:
    # Issue 20: the Parquet read-back test of tests/catalogs builds its rows by hand; these come
    # from the clip worker. One clip writes an APNG and the other does not, one shard each: the
    # folder still reads back as one dataset with one schema, every blob matching its digest.
    import hashlib

    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    from catalogs.dataset import export_dataset
    from catalogs.output import OutputCatalog

    jobs = jobs_for(
        tmp_path,
        ["human", "plant"],
        row_export={"human": {"formats": ["poster", "apng"], "size": 64}, "plant": {"formats": ["poster"], "size": 64}},
    )
    rows = worker.animate_batch(jobs)
    assert [row.status for row in rows] == [Status.SUCCEEDED, Status.SUCCEEDED]
    catalog = OutputCatalog(tmp_path / "out")
    catalog.commit(rows, run_id="batch-test")
    out = tmp_path / "pq"
    result = export_dataset(str(tmp_path / "out"), str(out), format="parquet", shard_size=1)
    assert result.samples == 2 and len(result.shards) == 2
    schemas = [pq.read_schema(out / name) for name in result.shards]
    assert schemas[1].equals(schemas[0])
    whole = ds.dataset(str(out), format="parquet").to_table()
    assert whole.num_rows == 2 and whole.schema.equals(schemas[0])
    by_clip = {record["clip_id"]: record for record in whole.to_pylist()}
    assert by_clip["plant"]["apng"] is None and by_clip["human"]["apng"] is not None
    assert whole.schema.field("apng").type == "binary"
    for record in by_clip.values():
        assert hashlib.sha256(record["poster"]).hexdigest() == record["poster_sha256"]
        assert record["motion_vitality"] == next(
            r.metrics["motion_vitality"] for r in rows if r.clip_id == record["clip_id"]
        )
    assert hashlib.sha256(by_clip["human"]["apng"]).hexdigest() == by_clip["human"]["apng_sha256"]


def test_auto_is_one_on_cpu_whatever_the_memory() -> None:
    assert auto_clips_per_worker("cpu", None, "modelscope") == 1
    assert auto_clips_per_worker("cpu", 500 * GIB, "tiny") == 1


def test_auto_on_cuda_fits_the_free_memory_with_headroom_and_a_cap() -> None:
    # ModelScope flexiclip: 9.4 GiB per clip × 1.25 headroom = 11.75 GiB.
    assert auto_clips_per_worker("cuda", int(20 * GIB), "modelscope") == 1  # a 24 GiB card
    assert auto_clips_per_worker("cuda", int(36 * GIB), "modelscope") == 3  # 36 / 11.75 = 3.06
    assert auto_clips_per_worker("cuda", int(36 * GIB), "modelscope", ["aniclipart"]) == 4  # 36 / 8.25
    assert auto_clips_per_worker("cuda", int(36 * GIB), "modelscope", ["aniclipart", "flexiclip"]) == 3
    assert auto_clips_per_worker("cuda:0", int(135 * GIB), "modelscope") == MAX_CLIPS_PER_WORKER  # an H200
    assert auto_clips_per_worker("cuda", int(36 * GIB), "modelscope", gpu_share=0.5) == 1  # two actors share it
    assert auto_clips_per_worker("cuda", int(2 * GIB), "modelscope") == 1  # never 0
    assert auto_clips_per_worker("cuda", None, "modelscope") == 1
    assert per_clip_gib("someone-elses-prior", ["flexiclip"]) >= per_clip_gib("modelscope", ["flexiclip"])


def test_clips_per_worker_setting_is_validated() -> None:
    assert resolve_clips_per_worker("auto") == "auto"
    assert resolve_clips_per_worker("AUTO") == "auto"
    assert resolve_clips_per_worker("3") == 3
    assert resolve_clips_per_worker(2) == 2
    for bad in (0, -1, "two", "", True, 1.5):
        with pytest.raises(ConfigError, match="clips_per_worker"):
            resolve_clips_per_worker(bad)  # type: ignore[arg-type]


def test_a_compiled_prior_is_padded_to_k_also_for_a_short_batch(worker: ClipWorker) -> None:
    from dataclasses import replace

    eager = worker.execution
    assert not eager.compile_prior  # CPU worker: eager prior, no padding
    assert worker.lockstep_pad(2, 4) is None
    try:
        worker.execution = replace(eager, compile_prior=True)
        assert worker.lockstep_pad(1, 4) == 4  # the last, short batch of a run keeps K's shape
        assert worker.lockstep_pad(4, 4) == 4
        assert worker.lockstep_pad(1, 1) is None  # K = 1: one shape anyway
    finally:
        worker.execution = eager


def test_peak_table_rows_say_where_they_come_from() -> None:
    for key, figure in PEAK_TABLE.items():
        assert figure.gib > 0 and figure.source in ("measured", "derived"), key
        assert figure.device if figure.source == "measured" else figure.note, key
    # Wan has a row per VAE dtype; the fp32 VAE keeps more for its backward.
    assert per_clip_gib("wan", ["flexiclip"], "float32") == 35.5
    assert per_clip_gib("wan", ["flexiclip"], "bfloat16") == 23.5
    assert per_clip_gib("wan", ["aniclipart"], "bfloat16") == 14.0
    assert per_clip_gib("wan", ["flexiclip"]) == 35.5  # dtype unknown: the larger row
    assert per_clip_gib("modelscope", ["flexiclip"], "bfloat16") == 9.4  # its 'any' row


def test_auto_reads_the_wan_row_of_the_vae_dtype() -> None:
    # An H100 (about 76 GiB free once Wan is loaded): bf16 23.5 × 1.25 = 29.4 → 2; fp32 35.5 × 1.25 = 44.4 → 1.
    assert auto_clips_per_worker("cuda", int(76 * GIB), "wan", vae_dtype="bfloat16") == 2
    assert auto_clips_per_worker("cuda", int(76 * GIB), "wan", vae_dtype="float32") == 1
    assert auto_clips_per_worker("cuda", int(76 * GIB), "wan", ["aniclipart"], vae_dtype="bfloat16") == 4  # 76 / 17.5


def test_a_card_too_small_for_one_clip_is_refused_with_one_line() -> None:
    # A 24 GiB card with Wan loaded (2.9 GiB held, 18 GiB free): flexiclip needs 23.5 GiB in bf16.
    reason = card_too_small(
        "cuda:0", int(18 * GIB), int(2.9 * GIB), "wan", ["aniclipart", "flexiclip"], "bfloat16", "NVIDIA L4"
    )
    assert reason is not None and "\n" not in reason
    for part in ("prior wan", "flexiclip", "23.5 GiB", "20.9 GiB", "NVIDIA L4"):
        assert part in reason, part
    # aniclipart alone (14.0 GiB) fits the same card; so does everything on a CPU or with unknown memory.
    assert card_too_small("cuda:0", int(18 * GIB), int(2.9 * GIB), "wan", ["aniclipart"], "bfloat16") is None
    assert card_too_small("cpu", None, 0, "wan", ["flexiclip"]) is None
    assert card_too_small("cuda", None, 0, "wan", ["flexiclip"]) is None
    # Just enough is enough: the packing headroom is not asked of a single clip.
    assert card_too_small("cuda", int(20.8 * GIB), int(2.8 * GIB), "wan", ["flexiclip"], "bfloat16") is None
