"""The Ray actor pool with real clip workers (tiny prior) on a local Ray: streaming, a worker
killed mid-clip, the per-clip timeout."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from catalogs.input import read_catalog, read_svg_bytes
from catalogs.rows import OutputRow, Status
from tasks.plan import base_config, build_jobs
from tasks.pool import ActorPool, ClipTimeoutError, PoolConfig
from tasks.runtime import ray_session
from tests.flows.harness import pipeline_env, reap_ray, sample_rows, write_catalog

FAST = {"render.size": 64, "schedule.frame_count": 8}


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory: pytest.TempPathFactory):
    """One local Ray for the module's pools (each test starts and shuts down its own actors):
    a Ray start per test cost seconds each on a loaded 2-core machine."""
    env = pipeline_env(tmp_path_factory.mktemp("ray"))
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in (
            "RAY_USAGE_STATS_ENABLED",
            "RAY_AUTH_MODE",
            "FLEXICLIP_RAY_TMP",
            "FLEXICLIP_NET_GUARD",
            "FLEXICLIP_NET_GUARD_LOG",
            "PYTHONPATH",
            "HF_HUB_OFFLINE",
        ):
            monkeypatch.setenv(name, env[name])
        monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
        try:
            with ray_session(num_cpus=2) as session:
                yield session
        finally:
            reap_ray(env)


def jobs_for(tmp_path: Path, clip_ids: list[str], iterations: dict[str, int] | None = None):
    rows = sample_rows(tmp_path / "in", clip_ids)
    for row in rows:
        row["config"] = f'{{"iterations": {(iterations or {}).get(row["clip_id"], 2)}}}'
    catalog = write_catalog(tmp_path / "in" / "catalog.parquet", rows)
    config = base_config("flexiclip", overrides=FAST)
    valid, errors = read_catalog(str(catalog), validate_config=config.with_overrides)
    assert not errors
    plan = build_jobs(
        valid,
        errors,
        run_id="pool-test",
        config=config,
        prior_name="tiny",
        code_version="0+test",
        read_svg=read_svg_bytes,
    )
    return plan.jobs


def animating_worker_pids() -> list[int]:
    """PIDs of Ray actor processes currently inside ClipWorker.animate (Ray sets the proc title)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"ClipWorker.animate" in cmdline:
                found.append(int(proc.name))
    return found


@pytest.mark.slow
@pytest.mark.robustness
def test_worker_killed_mid_clip_loses_only_that_clip_which_is_retried(tmp_path: Path, local_ray):
    jobs = jobs_for(tmp_path, ["human", "plant", "object"])
    pool = ActorPool("tiny", str(tmp_path / "out"), PoolConfig(workers=2, max_retries=2, clip_timeout_s=600))
    info = pool.start_first()
    assert info.prior_name == "tiny" and info.torch_threads == 1
    killed: list[int] = []
    stop = threading.Event()

    def kill_first_animating_worker() -> None:
        while not stop.is_set() and not killed:
            # Only this pool's actors: other runs on the machine have ClipWorkers too.
            pids = [pid for pid in animating_worker_pids() if pid in pool.stats.worker_pids]
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.05)

    watcher = threading.Thread(target=kill_first_animating_worker, daemon=True)
    watcher.start()
    rows: list[OutputRow] = []
    try:
        stats = pool.run(jobs, rows.append)
    finally:
        stop.set()
        watcher.join(5)
        pool.shutdown()
    assert killed, "no worker was seen animating"
    assert sorted(row.clip_id for row in rows) == ["human", "object", "plant"]  # each exactly once
    assert [row.status for row in rows] == [Status.SUCCEEDED] * 3, rows
    assert (stats.workers_lost, stats.retries) == (1, 1), stats
    assert stats.workers_started == 3, stats  # two, then one replacement
    assert all(Path(row.media["video"].uri).is_file() for row in rows)


@pytest.mark.slow
@pytest.mark.robustness
def test_clip_over_the_timeout_fails_alone_and_its_worker_is_replaced(tmp_path: Path, local_ray):
    jobs = jobs_for(tmp_path, ["human", "plant"], iterations={"human": 1_000_000})
    # 40 s: at 25 s the plant's ordinary clip (its worker's start included) timed out too on this
    # 2-core box at load 8 (2026-12-07); the human's million iterations never fit in either.
    pool = ActorPool("tiny", str(tmp_path / "out"), PoolConfig(workers=2, clip_timeout_s=40))
    pool.start_first()
    rows: list[OutputRow] = []
    try:
        stats = pool.run(jobs, rows.append)
    finally:
        pool.shutdown()
    by_clip = {row.clip_id: row for row in rows}
    assert by_clip["plant"].status is Status.SUCCEEDED
    assert by_clip["human"].status is Status.FAILED
    assert by_clip["human"].error_type == ClipTimeoutError.__name__
    assert "per-clip timeout" in by_clip["human"].error_message
    assert stats.timeouts == 1


NAN_AT_STEP_1 = '{"iterations": 2, "skeleton_weight": -1e300, "sds.guidance_scale": 1e300}'
"""A row config whose first loss is +inf + (−inf) = NaN (see tests/tasks/test_batch.py)."""


def batch_jobs(tmp_path: Path, clip_ids: list[str], nan: str | None = None):
    rows = sample_rows(tmp_path / "in", clip_ids)
    for row in rows:
        row["config"] = NAN_AT_STEP_1 if row["clip_id"] == nan else '{"iterations": 2}'
    catalog = write_catalog(tmp_path / "in" / "catalog.parquet", rows)
    config = base_config("flexiclip", overrides=FAST)
    valid, errors = read_catalog(str(catalog), validate_config=config.with_overrides)
    assert not errors
    plan = build_jobs(
        valid,
        errors,
        run_id="pool-test",
        config=config,
        prior_name="tiny",
        code_version="0+test",
        read_svg=read_svg_bytes,
    )
    return plan.jobs


def test_auto_clips_per_worker_is_one_on_cpu(tmp_path: Path, local_ray):
    pool = ActorPool("tiny", str(tmp_path / "out"), PoolConfig(workers=1))
    try:
        info = pool.start_first()
        assert info.device == "cpu" and info.gpu_free_bytes is None
        assert pool.config.clips_per_worker == "auto"
        assert pool.clips_per_call(batch_jobs(tmp_path, ["human"])) == 1
    finally:
        pool.shutdown()


@pytest.mark.slow
def test_two_clips_per_call_over_five_jobs_give_five_rows_and_a_nan_clip_fails_alone(tmp_path: Path, local_ray):
    jobs = batch_jobs(tmp_path, ["human", "plant", "object", "animal", "layers"], nan="object")
    pool = ActorPool("tiny", str(tmp_path / "out"), PoolConfig(workers=1, clips_per_worker=2))
    pool.start_first()
    rows: list[OutputRow] = []
    try:
        stats = pool.run(jobs, rows.append)
    finally:
        pool.shutdown()
    assert sorted(row.clip_id for row in rows) == ["animal", "human", "layers", "object", "plant"]  # each once
    assert (stats.clips_per_worker, stats.batches) == (2, 2), stats  # [human, plant] [object, animal] [layers]
    by_clip = {row.clip_id: row for row in rows}
    nan = by_clip.pop("object")
    assert nan.status is Status.FAILED and nan.error_type == "FloatingPointError"
    assert "nan at step 1" in nan.error_message and "lockstep batch of 2" in nan.error_message, nan.error_message
    assert [row.status for row in by_clip.values()] == [Status.SUCCEEDED] * 4, by_clip
    assert all(Path(row.media["video"].uri).is_file() for row in by_clip.values())


def batch_worker_pids() -> list[int]:
    """PIDs of Ray actor processes currently inside ClipWorker.animate_batch."""
    return [pid for pid in animating_worker_pids() if b"animate_batch" in Path(f"/proc/{pid}/cmdline").read_bytes()]


@pytest.mark.slow
@pytest.mark.robustness
def test_a_batch_whose_worker_dies_is_retried_one_clip_at_a_time(tmp_path: Path, local_ray):
    jobs = batch_jobs(tmp_path, ["human", "plant", "object"])
    pool = ActorPool("tiny", str(tmp_path / "out"), PoolConfig(workers=1, clips_per_worker=3, max_retries=1))
    pool.start_first()
    killed: list[int] = []
    stop = threading.Event()

    def kill_the_batch() -> None:
        while not stop.is_set() and not killed:
            pids = [pid for pid in batch_worker_pids() if pid in pool.stats.worker_pids]
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.05)

    watcher = threading.Thread(target=kill_the_batch, daemon=True)
    watcher.start()
    rows: list[OutputRow] = []
    try:
        stats = pool.run(jobs, rows.append)
    finally:
        stop.set()
        watcher.join(5)
        pool.shutdown()
    assert killed, "no worker was seen animating a batch"
    assert sorted(row.clip_id for row in rows) == ["human", "object", "plant"]  # each exactly once
    assert [row.status for row in rows] == [Status.SUCCEEDED] * 3, rows
    # One batch of three, then each clip alone (max_retries=1: a second batch death would fail them).
    assert (stats.workers_lost, stats.retries, stats.batches) == (1, 3, 1), stats
