"""Console discipline of `flexiclip run` (real Prefect server on 127.0.0.1, a real flow run): an
empty catalog says "0 rows" plainly. The catalog-level errors (a corrupt Parquet file, a missing
column, an output root that is a file) are refused by the preflight before Prefect or Ray start:
their one line, and the traceback only with --verbose, are checked in
tests/flexiclip_cli/test_refusals.py (run-corrupt-catalog, run-catalog-without-prompt-column,
run-output-root-is-a-file, test_verbose_refusal_shows_the_traceback), all in one process there
instead of a `flexiclip run` process each (~7 s of CPU apiece)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.flows.harness import (
    FAST_SETTINGS,
    describe,
    pipeline_env,
    run_cli,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def server_env(tmp_path: Path, prefect_api: str) -> dict[str, str]:
    # The test process's shared server: each run then pays seconds, not an ephemeral API's start-up.
    return pipeline_env(tmp_path / "env", PREFECT_API_URL=prefect_api)


def test_empty_catalog_says_0_rows(server_env: dict, tmp_path: Path):
    catalog = tmp_path / "empty.parquet"
    pq.write_table(pa.table({name: pa.array([], pa.string()) for name in ("clip_id", "svg_uri", "prompt")}), catalog)
    result = run_cli(server_env, "run", str(catalog), "--output", str(tmp_path / "out"), *FAST_SETTINGS)
    assert result.returncode == 0, describe(result)
    assert "0 rows, nothing to do" in result.stdout, describe(result)
    assert "error" not in result.stderr.lower() and "Traceback" not in result.stderr, describe(result)
    shown = run_cli(server_env, "catalog", "show", str(tmp_path / "out"))
    assert shown.returncode == 0 and "0 rows" in shown.stdout, describe(shown)
