"""The scale benchmark's synthetic catalog (bench/scale.py), at 20 clips and 3 runs: what it
builds is what the benchmark claims to time. The 1k and 10k runs are `flexiclip bench --only
scale`; nothing here is timed."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from bench import scale
from catalogs.output import OutputCatalog
from catalogs.rows import Status


def test_synthetic_history_then_plan_and_commit_steps(tmp_path: Path):
    catalog_path = scale.write_input_catalog(tmp_path, 20)
    scale.build_history(tmp_path / "root", catalog_path, runs=3)
    catalog = OutputCatalog(tmp_path / "root")
    assert [entry["run_id"] for entry in catalog.history()] == ["history-00", "history-01", "history-02"]
    rows = catalog.read_rows()
    by_run = Counter((row.run_id, row.status) for row in rows)
    # One clip in 20 fails (index 19), in every run; the others succeed once, then are skipped.
    assert by_run == {
        ("history-00", Status.SUCCEEDED): 19,
        ("history-00", Status.FAILED): 1,
        ("history-01", Status.SKIPPED): 19,
        ("history-01", Status.FAILED): 1,
        ("history-02", Status.SKIPPED): 19,
        ("history-02", Status.FAILED): 1,
    }
    made = {row.clip_id: row for row in rows if row.status is Status.SUCCEEDED}
    assert all(set(row.media) == set(scale.MEDIA) and len(row.metrics) == 12 for row in made.values())
    assert catalog.missing_media({row.idempotency_key or "": row for row in made.values()}) == {}

    planned = scale.run_step("plan", tmp_path)
    assert (planned["skipped"], planned["jobs"]) == (19, 1)
    committed = scale.run_step("commit", tmp_path)
    assert (committed["version"], committed["rows"]) == (3, 20)
    latest = [row for row in catalog.read_rows(run_id=scale.RUN_ID)]
    assert Counter(row.status for row in latest) == {Status.SKIPPED: 19, Status.FAILED: 1}
    assert scale.label(10_000) == "10k" and scale.label(1_000) == "1k"
