"""Pipeline benchmark: what the flow adds per clip, and what a second worker buys.

- ``pipeline_overhead_s_per_clip``: (one nightly flow run over N tiny clips with one worker −
  the same N clips animated directly with `animate_clip` in one process) / N. The flow's time
  includes reading and validating the catalog, planning (SVG reads, keys), starting the actor
  and loading its prior, dispatch, publishing media, staging, the commit and the report
  artifact; the Prefect API and Ray are started before the clock starts (a nightly run pays
  those once per night, not per clip). The direct time includes loading the prior once.
- ``throughput_2_workers_vs_1``: the same N clips through the actor pool with 2 workers vs 1
  (both pools started and warm before timing; each actor runs torch with 1 thread, so on a
  2-core machine each actor has one core to itself). Ideal is 2.0.

Clips: the sample drawings, each four times (four seeds; 24 clips), with the tiny prior, 2 iterations, 64 px
training renders and 8 frames — small, CPU-bound, single-threaded work.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

SAMPLES = Path(__file__).resolve().parents[1] / "catalogs" / "samples"
CLIPS: tuple[str, ...] = ("human", "animal", "plant", "object", "two_characters", "holes")
SEEDS: tuple[int, ...] = (1, 2, 3, 4)
OVERRIDES = {"iterations": 2, "render.size": 64, "schedule.frame_count": 8}


def _write_catalog(folder: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    entries = {e["clip_id"]: e for e in json.loads((SAMPLES / "samples.json").read_text())}
    rows = []
    for clip in CLIPS:
        for seed in SEEDS:
            entry = entries[clip]
            rows.append(
                {
                    "clip_id": f"{clip}-{seed}",
                    "svg_uri": str(SAMPLES / entry["svg"]),
                    "prompt": entry["prompt"],
                    "seed": seed,
                }
            )
    path = folder / "bench.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def _direct_seconds(catalog: Path, out: Path) -> float:
    """Animate every clip of ``catalog`` in this process, one after another (1 torch thread)."""
    import torch

    from catalogs.input import read_catalog
    from flexiclip_core.animate import ClipRequest, animate_clip
    from flexiclip_core.guidance import load_prior
    from tasks.plan import base_config

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = base_config("flexiclip", overrides=OVERRIDES)
        rows, _ = read_catalog(str(catalog))
        prior = load_prior("tiny")
        # One untimed clip first, so the direct time is the steady-state cost of a clip; the
        # flow's fresh actor paying imports and first calls is part of the pipeline's overhead.
        warm = rows[0]
        animate_clip(
            ClipRequest(svg=Path(warm.svg_uri), prompt=warm.prompt, clip_id="warm-up"), prior, config, out / "warm-up"
        )
        started = time.perf_counter()
        prior = load_prior("tiny")
        for row in rows:
            request = ClipRequest(
                svg=Path(row.svg_uri),
                prompt=row.prompt,
                clip_id=row.clip_id,
                keypoints=row.keypoints,
                bones=row.skeleton,
                layers=row.layers,
            )
            animate_clip(request, prior, config.with_overrides({"seed": row.seed}), out / row.clip_id)
        return time.perf_counter() - started
    finally:
        torch.set_num_threads(threads)


def _pool_seconds(catalog: Path, out: Path, workers: int) -> float:
    """Time for a warm pool of ``workers`` actors to animate every clip of ``catalog``."""
    from catalogs.input import read_catalog, read_svg_bytes
    from catalogs.rows import OutputRow, Status
    from tasks.plan import base_config, build_jobs
    from tasks.pool import ActorPool, PoolConfig

    config = base_config("flexiclip", overrides=OVERRIDES)
    rows, errors = read_catalog(str(catalog))
    jobs = build_jobs(
        rows,
        errors,
        run_id=f"bench-{workers}",
        config=config,
        prior_name="tiny",
        code_version="bench",
        read_svg=read_svg_bytes,
    ).jobs
    pool = ActorPool("tiny", str(out), PoolConfig(workers=workers))
    try:
        pool.start_all()
        finished: list[OutputRow] = []
        started = time.perf_counter()
        pool.run(jobs, finished.append)
        elapsed = time.perf_counter() - started
    finally:
        pool.shutdown()
    failed = [r for r in finished if r.status is not Status.SUCCEEDED]
    if failed:
        log.warning("pipeline bench: %d clip(s) failed in the pool: %s", len(failed), failed[0].error_message)
    return elapsed


def run() -> dict[str, float]:
    from tasks.runtime import apply_pipeline_env

    apply_pipeline_env()
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from flows.nightly import nightly
    from tasks.runtime import ray_session

    scratch = Path(tempfile.mkdtemp(prefix="flexiclip-bench-pipeline-"))
    try:
        catalog = _write_catalog(scratch)
        clips = len(CLIPS) * len(SEEDS)
        direct = _direct_seconds(catalog, scratch / "direct")
        with ray_session(num_cpus=2):
            # Start the Prefect API with an empty run first: a nightly pays it once, not per clip.
            empty = scratch / "empty.parquet"
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(
                pa.table(
                    {
                        "clip_id": pa.array([], pa.string()),
                        "svg_uri": pa.array([], pa.string()),
                        "prompt": pa.array([], pa.string()),
                    }
                ),
                empty,
            )
            nightly(catalog=str(empty), output=str(scratch / "warm"), prior="tiny", return_state=True)
            started = time.perf_counter()
            state = nightly(
                catalog=str(catalog),
                output=str(scratch / "flow"),
                prior="tiny",
                workers=1,
                overrides=OVERRIDES,
                return_state=True,
            )
            flow = time.perf_counter() - started
            if not state.is_completed():
                log.warning("pipeline bench: flow ended %s: %s", state.name, state.message)
            one = _pool_seconds(catalog, scratch / "pool1", 1)
            two = _pool_seconds(catalog, scratch / "pool2", 2)
        return {
            "pipeline_overhead_s_per_clip": (flow - direct) / clips,
            "pipeline_direct_s_per_clip": direct / clips,
            "pipeline_flow_s_per_clip": flow / clips,
            "throughput_2_workers_vs_1": one / two,
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    print(json.dumps(run(), indent=2))
