"""`flexiclip catalog history|show` on a real Delta catalog, and `run` option parsing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from catalogs.output import OutputCatalog, idempotency_key
from flexiclip_cli.pipeline import parse_overrides, standalone_app


def row(clip: str, status: str) -> dict:
    return {
        "clip_id": clip,
        "status": status,
        "prompt": "p",
        "prior": "tiny",
        "idempotency_key": idempotency_key("0" * 64, clip, "h", "tiny", 0, "t"),
        "error_type": "RigError" if status == "failed" else None,
        "finished_at": datetime.now(UTC),
    }


@pytest.fixture
def catalog_root(tmp_path: Path) -> Path:
    catalog = OutputCatalog(tmp_path / "out")
    catalog.commit([row("a", "succeeded"), row("b", "failed")], run_id="run-one")
    catalog.commit([row("a", "skipped"), row("c", "succeeded")], run_id="run-two")
    return tmp_path / "out"


def test_history_lists_one_version_per_run(catalog_root: Path):
    result = CliRunner().invoke(standalone_app(), ["catalog", "history", str(catalog_root), "--json"])
    assert result.exit_code == 0, result.output
    entries = json.loads(result.stdout)
    assert [(e["version"], e["run_id"]) for e in entries] == [(0, "run-one"), (1, "run-two")]


def test_show_reads_versions_and_filters_status(catalog_root: Path):
    runner, app = CliRunner(), standalone_app()
    old = runner.invoke(app, ["catalog", "show", str(catalog_root), "--version", "0", "--json"])
    assert old.exit_code == 0, old.output
    assert sorted(json.loads(line)["clip_id"] for line in old.stdout.splitlines()) == ["a", "b"]
    failed = runner.invoke(app, ["catalog", "show", str(catalog_root), "--status", "failed", "--json"])
    (line,) = failed.stdout.splitlines()
    assert json.loads(line)["error_type"] == "RigError"
    table = runner.invoke(app, ["catalog", "show", str(catalog_root)])
    assert table.exit_code == 0 and "4 rows" in table.stdout and "run-two" in table.stdout


def test_show_refuses_a_missing_version_with_one_line(catalog_root: Path):
    result = CliRunner().invoke(standalone_app(), ["catalog", "show", str(catalog_root), "--version", "7"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error:")
    both = CliRunner().invoke(
        standalone_app(), ["catalog", "show", str(catalog_root), "--version", "0", "--as-of", "2026-01-01"]
    )
    assert both.exit_code == 2 and "either" in both.stderr


def test_overrides_parse_json_values_and_refuse_malformed_items():
    assert parse_overrides(["render.size=64", "augment=false", "method=flexiclip"]) == {
        "render.size": 64,
        "augment": False,
        "method": "flexiclip",
    }
    with pytest.raises(typer.Exit):
        parse_overrides(["no-equals-sign"])


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_run_refuses_a_bad_clips_per_worker_with_one_line_before_starting_anything(tmp_path: Path, value: str):
    result = CliRunner().invoke(
        standalone_app(),
        ["run", str(tmp_path / "none.parquet"), "--output", str(tmp_path / "out"), "--clips-per-worker", value],
    )
    assert result.exit_code == 2, result.output
    assert "--clips-per-worker" in result.stderr and repr(value) in result.stderr
    assert not (tmp_path / "out").exists()


def test_show_prints_a_plain_aligned_table_and_limit_counts_what_it_leaves_out(catalog_root: Path):
    runner, app = CliRunner(), standalone_app()
    failed = runner.invoke(app, ["catalog", "show", str(catalog_root), "--status", "failed"])
    assert failed.exit_code == 0, failed.output
    assert failed.stdout.splitlines() == [
        "clip_id  status  error_type  prior  seconds  video_uri  run_id",
        "-------  ------  ----------  -----  -------  ---------  -------",
        "b        failed  RigError    tiny   -        -          run-one",
        "1 row",
    ]
    limited = runner.invoke(app, ["catalog", "show", str(catalog_root), "--limit", "1"]).stdout.splitlines()
    assert (
        len(limited) == 4
        and limited[-1] == "4 rows (3 more not shown: raise --limit, or --json for every row and column)"
    )


def test_text_table_pads_each_column_to_its_widest_cell():
    from flexiclip_cli.pipeline import text_table

    assert text_table(["id", "seconds"], [["a", "long-id"], ["12.50", "-"]]) == [
        "id       seconds",
        "-------  -------",
        "a        12.50",
        "long-id  -",
    ]
