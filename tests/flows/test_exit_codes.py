"""`flexiclip run` exit codes end to end (real Prefect, real local Ray): 2 for bad input, 3 when
the machinery fails (no worker can start), each with one error line and no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.flows.harness import FAST_SETTINGS, describe, pipeline_env, run_cli, sample_rows, write_catalog

pytestmark = pytest.mark.slow


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_missing_catalog_exits_2_with_one_line(tmp_path: Path):
    result = run_cli(
        pipeline_env(tmp_path), "run", str(tmp_path / "nope.parquet"), "--output", str(tmp_path / "out"), *FAST_SETTINGS
    )
    assert result.returncode == 2, describe(result)
    assert len(error_lines(result.stderr)) == 1 and "no such file" in result.stderr
    assert "Traceback" not in result.stderr


def test_explicit_prior_without_weights_is_bad_input_not_a_worker_failure(tmp_path: Path):
    catalog = write_catalog(tmp_path / "in" / "catalog.parquet", sample_rows(tmp_path / "in", ["plant"]))
    settings = [*FAST_SETTINGS]
    settings[settings.index("tiny")] = f"modelscope:{tmp_path / 'no-weights'}"
    result = run_cli(pipeline_env(tmp_path), "run", str(catalog), "--output", str(tmp_path / "out"), *settings)
    assert result.returncode == 2, describe(result)
    (line,) = error_lines(result.stderr)
    assert "no-weights" in line and "did not start" not in line


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
