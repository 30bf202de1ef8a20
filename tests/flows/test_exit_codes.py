"""`flexiclip run` exit codes end to end (real Prefect, real local Ray): 3 when the machinery fails
(no worker can start), with one error line and no traceback. Exit 2 for bad input (a missing
catalog; an explicit prior without weights, which is bad input and not a worker that did not
start) is refused by the preflight before Prefect or Ray: tests/flexiclip_cli/test_refusals.py
checks both (run-missing-catalog, run-prior-without-weights) with the other refusals of `run`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.flows.harness import FAST_SETTINGS, describe, pipeline_env, run_cli, sample_rows, write_catalog

pytestmark = pytest.mark.slow


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_worker_that_cannot_start_exits_3(tmp_path: Path, prefect_api: str):
    # One GPU per worker on a cluster without GPUs: the actor is never scheduled.
    catalog = write_catalog(tmp_path / "in" / "catalog.parquet", sample_rows(tmp_path / "in", ["plant"]))
    result = run_cli(
        pipeline_env(tmp_path, PREFECT_API_URL=prefect_api),
        "run",
        str(catalog),
        "--output",
        str(tmp_path / "out"),
        *FAST_SETTINGS,
        "--gpus-per-worker",
        "1",
        "--worker-start-timeout",
        "5",
    )
    assert result.returncode == 3, describe(result)
    (line,) = error_lines(result.stderr)
    assert "clip worker did not start" in line
    assert "Traceback" not in result.stderr  # Prefect's own error records stay off the console
    assert not (tmp_path / "out" / "catalog").exists()
