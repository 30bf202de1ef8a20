"""Planning benchmark: does planning a run slow down as the output catalog's history grows?

- ``plan_ms_1000_rows_20_runs_vs_1_run``: time to plan 1000 input rows (`tasks.plan.plan_work`:
  SVG reads and keys, the latest succeeded row per key, staging, the media existence check, the
  split into work / skipped) against an output catalog holding 20 runs of history (one run that
  animated the 1000 clips, then 19 nightly runs that skipped them: 20,000 rows in 20 commits)
  divided by the same against a catalog holding only the first run. Both catalogs are built and
  timed in the same process, alternately, median of `REPEATS`. Target: ≤ 2.0 (planning reads the
  latest state per key, not every row ever written).
- ``plan_ms_1000_rows_1_run`` / ``plan_ms_1000_rows_20_runs``: the two medians, in ms.

Local output roots (a temporary folder); media are small placeholder files, one per kind and clip.
"""

from __future__ import annotations

import json
import logging
import shutil
import statistics
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

SAMPLES = Path(__file__).resolve().parents[1] / "catalogs" / "samples"
ROWS = 1000
HISTORY_RUNS = 20
REPEATS = 5


def _input_catalog(folder: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    entries = json.loads((SAMPLES / "samples.json").read_text())
    rows = []
    for index in range(ROWS):
        entry = entries[index % len(entries)]
        rows.append(
            {
                "clip_id": f"clip-{index:04d}",
                "svg_uri": str(SAMPLES / entry["svg"]),
                "prompt": f"{entry['prompt']} #{index}",
            }
        )
    path = folder / "input.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def _history(root: Path, jobs: list, runs: int, scratch: Path) -> None:
    """``runs`` commits under ``root``: the first animates every job, the others skip them all."""
    from catalogs.output import OutputCatalog
    from catalogs.rows import MEDIA_KINDS, MediaRef, Status
    from tasks.jobs import skipped_row

    catalog = OutputCatalog(root)
    succeeded = []
    for job in jobs:
        media = {}
        for kind in MEDIA_KINDS:
            placeholder = scratch / f"{job.clip_id}{kind.suffix}"
            placeholder.write_bytes(f"{job.clip_id} {kind.name}".encode())
            media[kind.name] = MediaRef(*catalog.put_media(placeholder, kind.suffix))
            placeholder.unlink()
        succeeded.append(job.row(Status.SUCCEEDED, media=media, seconds=1.0, device="cpu", prior_is_trained=False))
    catalog.commit(succeeded, run_id="history-0")
    by_key = {row.idempotency_key: row for row in succeeded}
    for run in range(1, runs):
        catalog.commit([skipped_row(job, by_key[job.idempotency_key]) for job in jobs], run_id=f"history-{run}")


def _plan_ms(catalog_path: Path, root: Path) -> float:
    from catalogs.input import read_catalog, read_svg_bytes
    from catalogs.output import OutputCatalog
    from tasks.plan import base_config, plan_work

    config = base_config("flexiclip")
    started = time.perf_counter()
    rows, errors = read_catalog(str(catalog_path), validate_config=config.with_overrides)
    plan = plan_work(
        rows,
        errors,
        run_id="bench",
        config=config,
        prior_name="tiny",
        code_version="bench",
        output_catalog=OutputCatalog(root),
        read_svg=read_svg_bytes,
        force=False,
    )
    elapsed = (time.perf_counter() - started) * 1000.0
    if len(plan.skipped) != ROWS:
        raise RuntimeError(
            f"plan bench: expected {ROWS} skipped rows, got {len(plan.skipped)} ({len(plan.jobs)} to animate)"
        )
    return elapsed


def run() -> dict[str, float]:
    from catalogs.input import read_catalog, read_svg_bytes
    from tasks.plan import base_config, build_jobs

    scratch = Path(tempfile.mkdtemp(prefix="flexiclip-bench-plan-"))
    try:
        catalog_path = _input_catalog(scratch)
        config = base_config("flexiclip")
        rows, errors = read_catalog(str(catalog_path), validate_config=config.with_overrides)
        jobs = build_jobs(
            rows,
            errors,
            run_id="history",
            config=config,
            prior_name="tiny",
            code_version="bench",
            read_svg=read_svg_bytes,
        ).jobs
        roots = {1: scratch / "one-run", HISTORY_RUNS: scratch / "twenty-runs"}
        for runs, root in roots.items():
            _history(root, jobs, runs, scratch)
        times: dict[int, list[float]] = {runs: [] for runs in roots}
        _plan_ms(catalog_path, roots[1])  # warm imports and caches once, untimed
        for _ in range(REPEATS):
            for runs, root in roots.items():  # alternate, so drifting machine load hits both alike
                times[runs].append(_plan_ms(catalog_path, root))
        one, many = statistics.median(times[1]), statistics.median(times[HISTORY_RUNS])
        return {
            "plan_ms_1000_rows_1_run": one,
            "plan_ms_1000_rows_20_runs": many,
            "plan_ms_1000_rows_20_runs_vs_1_run": many / one,
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    print(json.dumps(run(), indent=2))
