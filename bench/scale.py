"""Scale benchmark: do the driver's steps stay flat as the catalog grows from 1k to 10k clips?

For each size N in `SIZES` a synthetic output root is built (untimed) with the real catalog code:
an input catalog of N clips (the sample drawings, one prompt per clip), `HISTORY_RUNS` nightly
runs already committed (the first animated every clip: 95 % succeeded with tiny real media
files and metrics, 5 % failed; each later run skipped the successes and failed the others
again), so the Delta table holds 30·N rows in 30 commits. Then each step runs in a fresh Python
process (imports done before the clock starts) and is timed:

- ``plan``: read the input catalog and `tasks.plan.plan_work` against the 30-run history
  (SVG reads and keys, latest succeeded row per key, media existence checks, staging);
- ``commit``: `OutputCatalog.commit` of that run's N rows (the plan's skipped rows and the
  failed clips failing again);
- ``gallery``: `tasks.html_report.write_report` of that run (N cards);
- ``show``: ``flexiclip catalog show ROOT --status failed`` (the rows an operator looks at), the
  command's wall time less its start-up (the same command on an empty root);
- ``export``: `catalogs.dataset.export_dataset` of the succeeded clips as WebDataset shards;
- ``compact``: `OutputCatalog.compact` (31 commit files into few; nothing old enough to vacuum).

Keys: ``scale_<1k|10k>_<step>_s`` (wall seconds) and ``_cpu_s`` (CPU seconds of the step's
process, all threads: on a shared, loaded machine the steadier figure), ``scale_growth_max``
(the largest t10k / t1k over the steps, wall; a linear step gives about 10; ``_cpu`` the same
over CPU seconds), ``scale_10k_gallery_mb`` (the page's size in MB),
``scale_<1k|10k>_peak_rss_mib`` (the largest peak resident set of the step processes: the
driver's memory, Arrow and Delta buffers included, which tracemalloc cannot see; read from
``ru_maxrss`` of each step's own process) and ``scale_targets_met`` (1.0 when every target holds).
Targets at 10k (`TARGETS`): plan ≤ 10 s, commit ≤ 10 s, gallery ≤ 30 s and ≤ 25 MB, driver peak
≤ 2 GiB, growth ≤ 12× for every step.

``python -m bench.scale [--sizes 1000 10000]`` prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "catalogs" / "samples"
SIZES: tuple[int, ...] = (1_000, 10_000)
HISTORY_RUNS = 30
FAILED_EVERY = 20
"""One clip in 20 fails (5 %): in the first run and again in every later one."""
RUN_ID = "scale-run"
STEPS: tuple[str, ...] = ("plan", "commit", "gallery", "show", "export", "compact")
MEDIA = ("video", "webm", "gif", "svg_animation", "poster", "lottie")
"""The media each synthetic success publishes: tiny real files, `MEDIA_VARIANTS` per kind shared
by the clips (content addressing stores equal bytes once; planning still checks one object per
clip and kind, the export still reads each sample's files, the gallery links each card's)."""
MEDIA_VARIANTS = 16
TARGETS: dict[str, float] = {
    "scale_10k_plan_s": 10.0,
    "scale_10k_commit_s": 10.0,
    "scale_10k_gallery_s": 30.0,
    "scale_10k_gallery_mb": 25.0,
    "scale_10k_peak_rss_mib": 2048.0,
    "scale_growth_max": 12.0,
}
"""Upper bounds of the figures at 10k clips (issue 25 item 4)."""


def label(size: int) -> str:
    """``1k`` for 1000, ``10k`` for 10000, else the number."""
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


# ---------------------------------------------------------------------------------------------
# The synthetic catalog


def write_input_catalog(folder: Path, clips: int) -> Path:
    """``folder/input.parquet``: ``clips`` rows over the sample drawings, each with its own prompt."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    entries = json.loads((SAMPLES / "samples.json").read_text())
    rows = [
        {
            "clip_id": f"clip-{index:05d}",
            "svg_uri": str(SAMPLES / entries[index % len(entries)]["svg"]),
            "prompt": f"{entries[index % len(entries)]['prompt']} #{index}",
        }
        for index in range(clips)
    ]
    path = folder / "input.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def _jobs(catalog_path: Path, run_id: str) -> list:  # -> list[tasks.jobs.ClipJob]
    from catalogs.input import read_catalog, read_svg_bytes
    from tasks.plan import base_config, build_jobs

    config = base_config("flexiclip")
    rows, errors = read_catalog(str(catalog_path), validate_config=_validator(config))
    return build_jobs(
        rows, errors, run_id=run_id, config=config, prior_name="tiny", code_version="bench", read_svg=read_svg_bytes
    ).jobs


def _validator(config: Any) -> Callable[[dict], None]:
    """The row-config check `read_catalog` runs (as the flow's: the overrides must apply)."""

    def check(overrides: dict) -> None:
        config.with_overrides(overrides)

    return check


def _fails(index: int) -> bool:
    return index % FAILED_EVERY == FAILED_EVERY - 1


def build_history(root: Path, catalog_path: Path, runs: int = HISTORY_RUNS) -> None:
    """``runs`` committed runs under ``root`` for the clips of ``catalog_path`` (see the module doc)."""
    from catalogs.output import OutputCatalog
    from catalogs.rows import MEDIA_KINDS, MediaRef, Status
    from flexiclip_core.metrics import METRIC_COLUMNS
    from tasks.jobs import skipped_row

    catalog = OutputCatalog(root)
    jobs = _jobs(catalog_path, "history-00")
    suffixes = {kind.name: kind.suffix for kind in MEDIA_KINDS}
    scratch = Path(tempfile.mkdtemp(prefix="flexiclip-scale-media-"))
    start = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
    note = "prior 'tiny' is the untrained test prior: the motion says nothing about the method"
    first = []
    succeeded = {}
    try:
        published = {}
        for kind in MEDIA:
            for variant in range(MEDIA_VARIANTS):
                placeholder = scratch / f"media{suffixes[kind]}"
                placeholder.write_bytes(f"{kind} {variant}".encode())
                published[kind, variant] = MediaRef(*catalog.put_media(placeholder, suffixes[kind]))
        for index, job in enumerate(jobs):
            began = start + timedelta(seconds=index)
            if _fails(index):
                first.append(job.failed("SvgParseError", f"clip {job.clip_id}: synthetic failure", started_at=began))
                continue
            media = {kind: published[(kind, index % MEDIA_VARIANTS)] for kind in MEDIA}
            draw = random.Random(index)
            row = job.row(
                Status.SUCCEEDED,
                media=media,
                metrics={column: draw.uniform(0.0, 1.0) for column in METRIC_COLUMNS},
                seconds=draw.uniform(30.0, 90.0),
                device="cpu",
                host="bench-host",
                gpu_name="cpu",
                prior_is_trained=False,
                warnings=(note,),
                started_at=began,
                finished_at=began + timedelta(seconds=60),
            )
            first.append(row)
            succeeded[job.idempotency_key] = row
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    catalog.commit(first, run_id="history-00")
    for run in range(1, runs):
        rows = [
            skipped_row(job, succeeded[job.idempotency_key])
            if job.idempotency_key in succeeded
            else job.failed("SvgParseError", f"clip {job.clip_id}: synthetic failure")
            for job in jobs
        ]
        catalog.commit(rows, run_id=f"history-{run:02d}")


# ---------------------------------------------------------------------------------------------
# The steps, each run in its own process by `run`


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(started: tuple[float, float]) -> dict[str, float]:
    """Wall seconds and this process's CPU seconds (every thread) since `_clock` gave ``started``."""
    return {"seconds": time.perf_counter() - started[0], "cpu_s": time.process_time() - started[1]}


def _step_plan(work: Path) -> dict[str, Any]:
    from catalogs.input import read_catalog, read_svg_bytes
    from catalogs.output import OutputCatalog
    from tasks.plan import base_config, plan_work

    config = base_config("flexiclip")
    started = _clock()
    rows, errors = read_catalog(str(work / "input.parquet"), validate_config=_validator(config))
    plan = plan_work(
        rows,
        errors,
        run_id=RUN_ID,
        config=config,
        prior_name="tiny",
        code_version="bench",
        output_catalog=OutputCatalog(work / "root"),
        read_svg=read_svg_bytes,
        force=False,
    )
    timed = _since(started)
    # The run's rows, for the commit step (untimed): the skips, and the failed clips failing again.
    planned = [row for _, row in plan.skipped]
    planned += [job.failed("SvgParseError", f"clip {job.clip_id}: synthetic failure") for job in plan.jobs]
    (work / "planned.jsonl").write_text("".join(row.to_json() + "\n" for row in planned), encoding="utf-8")
    return {**timed, "skipped": len(plan.skipped), "jobs": len(plan.jobs)}


def _step_commit(work: Path) -> dict[str, Any]:
    from catalogs.output import OutputCatalog
    from catalogs.rows import OutputRow

    rows = [OutputRow.from_json(line) for line in (work / "planned.jsonl").read_text(encoding="utf-8").splitlines()]
    started = _clock()
    version = OutputCatalog(work / "root").commit(rows, run_id=RUN_ID)
    return {**_since(started), "version": version, "rows": len(rows)}


def _step_gallery(work: Path) -> dict[str, Any]:
    from tasks.html_report import write_report

    started = _clock()
    page = write_report(work / "root", RUN_ID)
    return {**_since(started), "bytes": Path(page).stat().st_size}


def _step_show(work: Path) -> dict[str, Any]:
    """The CLI itself, as an operator runs it (bench may not import the CLI layer): the wall time of
    ``flexiclip catalog show ROOT --status failed`` less that of the same command on an empty root
    (interpreter start and imports), so only what grows with the catalog is counted."""
    import resource

    def cost(root: Path) -> tuple[float, float]:
        command = [sys.executable, "-m", "flexiclip_cli.pipeline", "catalog", "show", str(root), "--status", "failed"]
        before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        subprocess.run(command, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        return time.perf_counter() - started, cpu

    empty = work / "empty-root"
    empty.mkdir(exist_ok=True)
    baseline = min(cost(empty) for _ in range(2))
    wall, cpu = cost(work / "root")
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    return {
        "seconds": max(wall - baseline[0], 0.0),
        "cpu_s": max(cpu - baseline[1], 0.0),
        "startup_s": baseline[0],
        "children_peak_rss_mib": children,
    }


def _step_export(work: Path) -> dict[str, Any]:
    from catalogs.dataset import export_dataset

    shutil.rmtree(work / "dataset", ignore_errors=True)
    started = _clock()
    result = export_dataset(str(work / "root"), str(work / "dataset"), format="webdataset")
    return {**_since(started), "samples": result.samples}


def _step_compact(work: Path) -> dict[str, Any]:
    from catalogs.output import OutputCatalog

    started = _clock()
    result = OutputCatalog(work / "root").compact(retain_days=7.0)
    return {**_since(started), "files_removed": result["files_removed"]}


STEP_FUNCTIONS = {
    "plan": _step_plan,
    "commit": _step_commit,
    "gallery": _step_gallery,
    "show": _step_show,
    "export": _step_export,
    "compact": _step_compact,
}


def run_step(step: str, work: Path) -> dict[str, Any]:
    """Run ``step`` on the synthetic folder ``work`` in this process; its figures."""
    return STEP_FUNCTIONS[step](work)


def _env() -> dict[str, str]:
    """This environment with the checkout first on the import path."""
    return {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _step_in_subprocess(step: str, work: Path) -> dict[str, Any]:
    env = _env()
    done = subprocess.run(
        [sys.executable, "-m", "bench.scale", "--step", step, "--work", str(work)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"scale step {step} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(sizes: Sequence[int] = SIZES) -> dict[str, float]:
    figures: dict[str, float] = {}
    times: dict[int, dict[str, float]] = {}
    cpu_times: dict[int, dict[str, float]] = {}
    scratch = Path(tempfile.mkdtemp(prefix="flexiclip-bench-scale-"))
    try:
        for size in sizes:
            work = scratch / label(size)
            work.mkdir()
            started = time.perf_counter()
            build_history(work / "root", write_input_catalog(work, size))
            log.info(
                "scale %s: history of %d runs built in %.1f s", label(size), HISTORY_RUNS, time.perf_counter() - started
            )
            times[size] = {}
            peak = 0.0
            for step in STEPS:
                result = _step_in_subprocess(step, work)
                times[size][step] = result["seconds"]
                cpu_times.setdefault(size, {})[step] = result["cpu_s"]
                figures[f"scale_{label(size)}_{step}_s"] = result["seconds"]
                figures[f"scale_{label(size)}_{step}_cpu_s"] = result["cpu_s"]
                peak = max(peak, result["peak_rss_mib"])
                if step == "gallery":
                    figures[f"scale_{label(size)}_gallery_mb"] = result["bytes"] / 1e6
                log.info(
                    "scale %s: %s %.2f s, peak %.0f MiB", label(size), step, result["seconds"], result["peak_rss_mib"]
                )
            figures[f"scale_{label(size)}_peak_rss_mib"] = peak
            shutil.rmtree(work, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if len(sizes) >= 2:
        small, large = min(sizes), max(sizes)
        figures["scale_growth_max"] = max(times[large][step] / max(times[small][step], 1e-6) for step in STEPS)
        figures["scale_growth_max_cpu"] = max(
            cpu_times[large][step] / max(cpu_times[small][step], 1e-6) for step in STEPS
        )
    if set(sizes) == set(SIZES):
        figures["scale_targets_met"] = float(all(figures[key] <= bound for key, bound in TARGETS.items()))
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--step", choices=STEPS, help="(internal) run one step in this process and print JSON")
    parser.add_argument("--work", type=Path, help="(internal) the synthetic folder of --step")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    args = parser.parse_args(argv)
    if args.step:
        import resource

        # What every step imports on first use, imported before any clock starts.
        import deltalake  # noqa: F401
        import pandas  # noqa: F401
        import pyarrow.dataset  # noqa: F401

        import catalogs.input
        import catalogs.output  # noqa: F401
        import tasks.plan  # noqa: F401

        result = run_step(args.step, args.work)
        # ru_maxrss is in KiB on Linux.
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        result["peak_rss_mib"] = max(own, result.get("children_peak_rss_mib", 0.0))
        sys.stdout.write(json.dumps(result) + "\n")
        return
    logging.basicConfig(level=logging.INFO)
    sys.stdout.write(json.dumps(run(args.sizes), indent=2) + "\n")


if __name__ == "__main__":
    main()
