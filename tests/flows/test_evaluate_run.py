"""End to end: `flexiclip run --evaluate` on 6 benchmark drawings, every category (tiny prior, 2
iterations), a second run with another preset, then `flexiclip evaluate --against`
(docs/metrics.md §8). Both runs report to the tests' shared Prefect server (`prefect_api`), where
the first run's evaluation artifact is read back by its flow run. The tables' arithmetic
(bootstrap, paired differences, static baseline) is pinned on known values in
tests/tasks/test_evaluate.py; here the real pipeline's output goes through the same commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.flows.harness import (
    FAST_SETTINGS,
    REPO_ROOT,
    describe,
    pipeline_env,
    read_artifacts,
    read_rows,
    run_cli,
    write_catalog,
)

pytestmark = pytest.mark.slow

BENCHMARK = Path(__file__).resolve().parents[2] / "catalogs" / "benchmark"
PICKS = ("human-00-", "animal-00-", "object-00-", "scene-00-", "human-01-", "animal-01-")
"""Six drawings (issue 24's fast subset): the first of each category's order, so every group of
the tables has a clip, and the second human and animal, so two groups have a spread."""


def benchmark_subset(folder: Path) -> tuple[Path, list[str]]:
    """The first prompt of each drawing in PICKS, as a catalog with absolute SVG paths."""
    table = pq.read_table(BENCHMARK / "benchmark.parquet").to_pylist()
    rows = [row for row in table if row["clip_id"].startswith(PICKS) and row["clip_id"].endswith("-p1")]
    assert len(rows) == len(PICKS)
    for row in rows:
        row["svg_uri"] = str(BENCHMARK / row["svg_uri"])
    folder.mkdir(parents=True, exist_ok=True)
    return write_catalog(folder / "subset.parquet", rows), [row["clip_id"] for row in rows]


def test_run_evaluate_then_evaluate_against_a_second_preset(tmp_path: Path, prefect_api: str):
    catalog, clip_ids = benchmark_subset(tmp_path / "in")
    env = pipeline_env(
        tmp_path,
        PREFECT_API_URL=prefect_api,
        FLEXICLIP_CLIP_MODEL="",
        FLEXICLIP_XCLIP_MODEL="",
        FLEXICLIP_LPIPS_WEIGHTS="",
    )
    root_a, root_b = tmp_path / "flexiclip", tmp_path / "aniclipart"
    first = run_cli(env, "run", str(catalog), "--output", str(root_a), "--workers", "1", "--evaluate", *FAST_SETTINGS)
    assert first.returncode == 0, describe(first)
    run_a = {row["run_id"] for row in read_rows(root_a)}.pop()
    written = root_a / "evaluations" / run_a
    assert f"evaluation: {written}/evaluation.md" in first.stdout, describe(first)
    markdown = (written / "evaluation.md").read_text()
    assert "static input" in markdown and "## human" in markdown and "## scene" in markdown
    # The run's flow-run id is its run_id: the one artifact it published holds the same markdown.
    published = [a for a in read_artifacts(env, "flexiclip-evaluation") if a["flow_run"] == run_a]
    assert [(a["type"], a["data"]) for a in published] == [("markdown", markdown)]

    second = run_cli(
        env, "run", str(catalog), "--output", str(root_b), "--workers", "1", "--method", "aniclipart", *FAST_SETTINGS
    )
    assert second.returncode == 0, describe(second)
    out = tmp_path / "table"
    result = subprocess.run(
        [sys.executable, "-m", "flexiclip_cli", "evaluate", str(root_a), "--against", str(root_b), "--out", str(out),
         "--catalog", str(catalog)],
        env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, describe(result)
    report = json.loads((out / "evaluation.json").read_text())
    labels = [run["label"] for run in report["runs"]]
    assert (
        labels[1] == "static input"
        and labels[0].startswith("flexiclip/tiny")
        and labels[2].startswith("aniclipart/tiny")
    )
    assert report["groups"] == ["overall", "animal", "human", "object", "scene"]
    for run in report["runs"]:
        assert sorted(clip["clip_id"] for clip in run["clips"]) == sorted(clip_ids)
        assert run["not_evaluated"] == []
    for label in labels:
        overall = report["summary"][label]["overall"]
        for column in ("mv", "tc", "gd", "ds", "ae", "temporal_consistency", "identity_ssim"):
            cell = overall[column]
            assert cell["n"] == len(PICKS) and cell["low"] <= cell["mean"] <= cell["high"], (label, column, cell)
        assert overall["clip_identity"] is None  # no weights here: missing, not zero
    moving = report["summary"][labels[0]]["overall"]["mv"]
    assert moving["mean"] > 0.0 and report["summary"]["static input"]["overall"]["mv"]["mean"] == 0.0
    paired = report["paired"][labels[2]]["overall"]["gd"]
    assert paired["n"] == len(PICKS) and paired["low"] <= paired["mean"] <= paired["high"]
    page = (out / "index.html").read_text()
    assert page.count('class="plot"') >= 12
    table_lines = (out / "evaluation.md").read_text().splitlines()
    header = table_lines[table_lines.index("## overall") + 2]
    assert header.count("static input") == 2  # its own column, and its difference to the first run
