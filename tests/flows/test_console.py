"""Console discipline of `flexiclip run` (real Prefect server on 127.0.0.1, real flow runs):
catalog-level errors print one line and no Prefect traceback unless --verbose; an empty
catalog says "0 rows" plainly."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.flows.harness import (
    FAST_SETTINGS,
    describe,
    pipeline_env,
    run_cli,
    sample_rows,
    write_catalog,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def server_env(tmp_path: Path, prefect_api: str) -> dict[str, str]:
    # The test process's shared server: each run then pays seconds, not an ephemeral API's start-up.
    return pipeline_env(tmp_path / "env", PREFECT_API_URL=prefect_api)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), describe(result)
    assert "Traceback" not in result.stderr, describe(result)
    return lines[0]


def test_corrupt_parquet_is_one_line_and_verbose_shows_the_traceback(server_env: dict, tmp_path: Path):
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet at all PAR1")
    args = ("run", str(corrupt), "--output", str(tmp_path / "out"), *FAST_SETTINGS)
    quiet = run_cli(server_env, *args)
    assert quiet.returncode == 2, describe(quiet)
    assert "cannot read as Parquet" in one_error_line(quiet)
    loud = run_cli(server_env, *args, "--verbose")
    assert loud.returncode == 2 and "Traceback" in loud.stderr, describe(loud)


def test_missing_column_is_one_line(server_env: dict, tmp_path: Path):
    catalog = tmp_path / "no-prompt.parquet"
    pq.write_table(pa.table({"clip_id": ["a"], "svg_uri": ["a.svg"]}), catalog)
    result = run_cli(server_env, "run", str(catalog), "--output", str(tmp_path / "out"), *FAST_SETTINGS)
    assert result.returncode == 2, describe(result)
    assert "missing required column(s) prompt" in one_error_line(result)


def test_empty_catalog_says_0_rows(server_env: dict, tmp_path: Path):
    catalog = tmp_path / "empty.parquet"
    pq.write_table(pa.table({name: pa.array([], pa.string()) for name in ("clip_id", "svg_uri", "prompt")}), catalog)
    result = run_cli(server_env, "run", str(catalog), "--output", str(tmp_path / "out"), *FAST_SETTINGS)
    assert result.returncode == 0, describe(result)
    assert "0 rows, nothing to do" in result.stdout, describe(result)
    assert "error" not in result.stderr.lower() and "Traceback" not in result.stderr, describe(result)
    shown = run_cli(server_env, "catalog", "show", str(tmp_path / "out"))
    assert shown.returncode == 0 and "0 rows" in shown.stdout, describe(shown)


def test_output_root_that_is_a_file_is_one_line(server_env: dict, tmp_path: Path):
    catalog = write_catalog(tmp_path / "in" / "catalog.parquet", sample_rows(tmp_path / "in", ["plant"]))
    root = tmp_path / "root-is-a-file"
    root.write_text("not a folder")
    result = run_cli(server_env, "run", str(catalog), "--output", str(root), *FAST_SETTINGS)
    assert result.returncode == 2, describe(result)
    line = one_error_line(result)  # refused by the preflight, before any clip
    assert str(root) in line and "is a file" in line
