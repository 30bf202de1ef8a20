"""Killing the flow process mid-run: a re-run adopts what finished, recomputes the rest, and the
catalog ends with every clip exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from catalogs.output import OutputCatalog
from tests.flows.harness import (
    FAST_SETTINGS,
    cli_command,
    describe,
    pipeline_env,
    reap_ray,
    run_cli,
    sample_rows,
    write_catalog,
)

pytestmark = pytest.mark.slow


def test_flow_killed_mid_run_is_finished_by_the_next_run_without_duplicates(tmp_path: Path):
    clips = ["human", "animal", "plant", "object"]
    catalog = write_catalog(tmp_path / "in" / "catalog.parquet", sample_rows(tmp_path / "in", clips))
    root = tmp_path / "out"
    env = pipeline_env(tmp_path)
    proc = subprocess.Popen(cli_command("run", str(catalog), "--output", str(root), "--workers", "1", *FAST_SETTINGS),
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    staging = root / "staging"
    try:
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline and proc.poll() is None:
            if staging.is_dir() and len(list(staging.glob("*.json"))) >= 1:
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the run ended before a clip was staged"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        reap_ray(env)
    staged = {json.loads(p.read_text())["clip_id"]: json.loads(p.read_text()) for p in staging.glob("*.json")}
    assert 1 <= len(staged) < len(clips)
    assert not OutputCatalog(root).exists()  # the killed run never committed

    rerun = run_cli(env, "run", str(catalog), "--output", str(root), "--workers", "1", *FAST_SETTINGS)
    assert rerun.returncode == 0, describe(rerun)
    catalog_out = OutputCatalog(root)
    assert len(catalog_out.history()) == 1
    rows = catalog_out.read().to_dict("records")
    assert sorted(r["clip_id"] for r in rows) == sorted(clips)  # every clip exactly once
    assert {r["status"] for r in rows} == {"succeeded"}
    for row in rows:
        if row["clip_id"] in staged:  # adopted, not recomputed: same media, same finish time
            assert row["video_uri"] == staged[row["clip_id"]]["video_uri"]
            assert row["finished_at"].isoformat().startswith(staged[row["clip_id"]]["finished_at"][:19])
    assert "adopted" in rerun.stdout
    assert not list(staging.glob("*.json"))  # the commit cleared staging
