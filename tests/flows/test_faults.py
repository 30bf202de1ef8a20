"""Killing the flow process mid-run (SIGKILL of `flexiclip run` alone): everything it started ends
within 30 s; a re-run marks the dead flow run Crashed, adopts what finished, recomputes the rest,
and the catalog ends with every clip exactly once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
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
    process_status,
    process_table,
    reap_ray,
    run_cli,
    sample_rows,
    write_catalog,
)

pytestmark = [pytest.mark.slow, pytest.mark.robustness]

ORPHAN_LIMIT_S = 30
"""Everything a killed run started must be gone within this (the issue's bound)."""


def process_tree(root: int) -> dict[int, tuple[int, str]]:
    """pid → (start time, command line) of ``root``'s descendants (not ``root`` itself)."""
    table = process_table()
    found: dict[int, tuple[int, str]] = {}
    stack = [root]
    while stack:
        parent = stack.pop()
        for pid, (ppid, start, cmdline) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = (start, cmdline)
                stack.append(pid)
    return found


def still_alive(processes: dict[int, tuple[int, str]]) -> dict[int, str]:
    """Those of ``processes`` still running (not zombies, and not a new process with a reused pid)."""
    alive = {}
    for pid, (start, cmdline) in processes.items():
        status = process_status(pid)
        if status is not None and status[0] != "Z" and status[2] == start:
            alive[pid] = cmdline
    return alive


def flow_run_states(prefect_home: Path) -> list[tuple[str, str]]:
    """(state type, state name) of every flow run in the ephemeral API's database."""
    with sqlite3.connect(prefect_home / "prefect.db") as db:
        return sorted(db.execute("SELECT state_type, state_name FROM flow_run").fetchall())


def test_flow_killed_mid_run_is_finished_by_the_next_run_without_duplicates(tmp_path: Path):
    clips = ["human", "animal", "plant"]  # one staged before the kill, two computed by the re-run
    catalog = write_catalog(tmp_path / "in" / "catalog.parquet", sample_rows(tmp_path / "in", clips))
    root = tmp_path / "out"
    env = pipeline_env(tmp_path)
    proc = subprocess.Popen(
        cli_command("run", str(catalog), "--output", str(root), "--workers", "1", *FAST_SETTINGS),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    staging = root / "staging"
    try:
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline and proc.poll() is None:
            if staging.is_dir() and len(list(staging.glob("*.json"))) >= 1:
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the run ended before a clip was staged"
        started = process_tree(proc.pid)
        commands = "\n".join(cmdline for _, cmdline in started.values())
        # What the run started: its watchdog, Prefect's temporary API, the local Ray (GCS, raylet,
        # agents) and the clip worker.
        for expected in ("tasks/watchdog.py", "prefect.server", "gcs_server", "raylet", "ClipWorker"):
            assert expected in commands, f"{expected} not among the run's processes:\n{commands}"
        os.kill(proc.pid, signal.SIGKILL)  # the run's process only, as the OOM killer would
        proc.wait(30)
        killed_at = time.monotonic()
        alive = still_alive(started)
        while alive and time.monotonic() - killed_at < ORPHAN_LIMIT_S:
            time.sleep(0.5)
            alive = still_alive(started)
        assert not alive, f"still alive {ORPHAN_LIMIT_S} s after the run was killed: {alive}"
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
    # The killed run's flow run no longer claims to be running.
    assert flow_run_states(Path(env["PREFECT_HOME"])) == [("COMPLETED", "Completed"), ("CRASHED", "Crashed")]
