"""The nightly flow end to end through `flexiclip run` (local Ray, Delta): the sample catalog,
a re-run that skips the intact clips and re-animates one whose media were deleted, --force,
versions, the catalog commands. Bad rows, two runs at once and the deployment's limit are in
test_nightly_rows.py (a module of its own, so the two xdist workers can share the load)."""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path

import pytest

from catalogs.output import OutputCatalog
from tests.flows.harness import (
    FAST_SETTINGS,
    SAMPLE_CATALOG,
    SAMPLE_PROMPTS,
    describe,
    media_listing,
    network_log,
    pipeline_env,
    read_rows,
    run_cli,
    sample_rows,
    write_catalog,
)

pytestmark = pytest.mark.slow

MEDIA = ("video_uri", "gif_uri", "svg_animation_uri", "poster_uri")


def test_sample_catalog_runs_then_skips_or_reanimates_then_force_redoes(tmp_path: Path, prefect_api: str):
    """Three runs of the sample catalog on one output root. The first runs with the embedded
    defaults (its own ephemeral Prefect API, as `make demo`). Before the second, one clip's
    video is deleted: the second run skips the 7 intact clips, media untouched, and re-animates
    that one instead of skipping it. The third, with --force, redoes three of them. The second and
    third report to the shared server (`prefect_api`), which spares them the API's start-up."""
    root = tmp_path / "out"
    env = pipeline_env(tmp_path)
    first = run_cli(env, "run", str(SAMPLE_CATALOG), "--output", str(root), "--workers", "2", *FAST_SETTINGS)
    assert first.returncode == 0, describe(first)
    assert "untrained" in first.stdout  # the console says plainly what the tiny prior is
    # Not a terminal: no bar, the per-clip lines carry the progress (issue 25 item 5).
    assert f"{len(SAMPLE_PROMPTS)}/{len(SAMPLE_PROMPTS)} done, 0 failed, " in first.stdout + first.stderr
    assert "clips/hour, ETA " in first.stdout + first.stderr and "\x1b[?25l" not in first.stdout
    assert "clips/hour" in first.stdout  # run-level throughput on the console
    rows = read_rows(root)
    clip_ids = sorted(r["clip_id"] for r in rows)
    expected = sorted(e["clip_id"] for e in json.loads((SAMPLE_CATALOG.parent / "samples.json").read_text()))
    assert clip_ids == expected
    for row in rows:
        assert row["status"] == "succeeded", row
        assert all(Path(row[c]).is_file() and str(Path(row[c])).startswith(str(root)) for c in MEDIA)
        assert row["motion_vitality"] is not None and row["prior"] == "tiny" and row["prior_is_trained"] is False
        assert "untrained" in row["warnings"]
        assert row["host"] == socket.gethostname() and row["gpu_name"] == "cpu" and row["ray_node_id"]
        # The export's formats, the dataset files and the input SVG land in Delta with their objects present.
        for kind in ("webm", "webp", "lottie", "motion", "config", "source_svg"):
            assert Path(row[f"{kind}_uri"]).is_file() and row[f"{kind}_sha256"], (row["clip_id"], kind)
        assert hashlib.sha256(Path(row["source_svg_uri"]).read_bytes()).hexdigest() == row["svg_sha256"]
        assert not isinstance(row["apng_uri"], str)  # not a default format: null, and never looked for before a skip
        assert row["prior_licence"] == "n/a"  # the tiny test prior's licence, from the worker
    by_clip = {r["clip_id"]: r for r in rows}
    deleted = by_clip["plant"]
    Path(deleted["video_uri"]).unlink()
    first_media = media_listing(root)

    shared = {**env, "PREFECT_API_URL": prefect_api}
    # One worker from here on: the first run showed two; each actor's start-up costs ~8 s of CPU.
    second = run_cli(shared, "run", str(SAMPLE_CATALOG), "--output", str(root), "--workers", "1", *FAST_SETTINGS)
    assert second.returncode == 0, describe(second)
    latest = read_rows(root)
    second_rows = {r["clip_id"]: r for r in latest if r["run_id"] != rows[0]["run_id"]}
    assert sorted(second_rows) == expected
    redone = second_rows.pop("plant")
    assert redone["status"] == "succeeded", redone  # re-animated, not skipped
    assert "re-animated" in redone["warnings"] and "video" in redone["warnings"]
    assert Path(redone["video_uri"]).is_file()
    assert {r["status"] for r in second_rows.values()} == {"skipped"}
    for clip_id, row in second_rows.items():
        assert [row[c] for c in MEDIA] == [by_clip[clip_id][c] for c in MEDIA]
        # A skipped row carries the identity of the row it stands for.
        assert row["host"] == by_clip[clip_id]["host"] and row["prior_licence"] == "n/a"
        assert row["source_svg_uri"] == by_clip[clip_id]["source_svg_uri"]
    after = media_listing(root)
    kept = {
        str(Path(row[c]).relative_to(root)) for row in second_rows.values() for c in (*MEDIA, "webm_uri", "lottie_uri")
    }
    assert len(kept) == 6 * len(second_rows)
    assert {name: after[name] for name in kept} == {name: first_media[name] for name in kept}  # nothing rewritten

    # --force on three of the same drawings (same keys, already made and skipped above): redone.
    redo = ["human", "object", "plant"]
    subset = write_catalog(tmp_path / "subset" / "catalog.parquet", sample_rows(tmp_path / "subset", redo))
    forced = run_cli(shared, "run", str(subset), "--output", str(root), "--workers", "1", "--force", *FAST_SETTINGS)
    assert forced.returncode == 0, describe(forced)
    catalog = OutputCatalog(root)
    history = catalog.history()
    assert [h["version"] for h in history] == [0, 1, 2]
    run_ids = [h["run_id"] for h in history]
    assert len(set(run_ids)) == 3
    third_rows = catalog.read(version=2)
    third_rows = third_rows[third_rows["run_id"] == run_ids[2]]
    assert sorted(third_rows["clip_id"]) == redo and set(third_rows["status"]) == {"succeeded"}
    old = catalog.read(version=0)
    assert len(old) == len(expected) and set(old["run_id"]) == {run_ids[0]}
    assert set(catalog.read(version=1)["run_id"]) == set(run_ids[:2])

    shown = run_cli(env, "catalog", "history", str(root), "--json")
    assert shown.returncode == 0 and all(run_id in shown.stdout for run_id in run_ids)
    shown = run_cli(env, "catalog", "show", str(root), "--version", "0", "--status", "succeeded", "--json")
    assert shown.returncode == 0 and len(shown.stdout.strip().splitlines()) == len(expected)

    # The first run's own (ephemeral) Prefect API server is one of the processes the loopback
    # guard reaches; the other runs report to the server the tests started.
    entries = network_log(env)
    started = [" ".join(e["argv"]) for e in entries if e["event"] == "start"]
    assert any("prefect.server" in argv for argv in started), "the guard did not reach the Prefect API server"
    assert not [e for e in entries if e.get("verdict") == "allowed"]
