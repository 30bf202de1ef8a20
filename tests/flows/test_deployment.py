"""prefect.yaml deploys against a real Prefect server on 127.0.0.1 (the tests' shared one,
`prefect_api`) and reads back as written; a flow run against that server publishes its report
artifact and a final state with counts (found by the artifact that names this test's output root:
the shared server also holds other tests' runs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.flows.harness import (
    FAST_SETTINGS,
    PREFECT,
    REPO_ROOT,
    describe,
    pipeline_env,
    run_cli,
    sample_rows,
    write_catalog,
)

pytestmark = pytest.mark.slow


def test_prefect_yaml_deploys_nightly_and_a_run_reports_to_the_server(tmp_path: Path, prefect_api: str):
    env = pipeline_env(tmp_path, PREFECT_API_URL=prefect_api)
    created = subprocess.run(
        [PREFECT, "work-pool", "create", "flexiclip-process", "--type", "process"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    deployed = subprocess.run(
        [PREFECT, "--no-prompt", "deploy", "--all"], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr

    catalog = write_catalog(tmp_path / "in" / "catalog.parquet", sample_rows(tmp_path / "in", ["plant"]))
    run = run_cli(env, "run", str(catalog), "--output", str(tmp_path / "out"), "--workers", "1", *FAST_SETTINGS)
    assert run.returncode == 0, describe(run)

    code = r"""
import asyncio, json, sys
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
async def main():
    async with get_client() as client:
        d = await client.read_deployment_by_name("flexiclip-nightly/nightly")
        reports = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["flexiclip-run-report"]))
        )
        ours = [a for a in reports if sys.argv[1] in (a.data or "")]  # this test's run, not the others'
        runs = [await client.read_flow_run(a.flow_run_id) for a in ours]
        print(json.dumps({
            "entrypoint": d.entrypoint, "pool": d.work_pool_name, "parameters": d.parameters,
            "schedules": [{"cron": s.schedule.cron, "timezone": s.schedule.timezone, "active": s.active} for s in d.schedules],
            "pull_steps": d.pull_steps,
            "runs": [{"state": r.state.name, "message": r.state.message} for r in runs],
            "artifacts": [{"type": a.type, "data": a.data} for a in ours],
        }))
asyncio.run(main())
"""
    out = str(tmp_path / "out")
    read = subprocess.run([sys.executable, "-c", code, out], env=env, capture_output=True, text=True, timeout=120)
    assert read.returncode == 0, read.stderr
    import json

    info = json.loads(read.stdout.strip().splitlines()[-1])
    assert info["entrypoint"] == "flows/nightly.py:nightly"
    assert info["pool"] == "flexiclip-process"
    assert info["parameters"]["prior"] == "auto" and info["parameters"]["catalog"].startswith("s3://")
    assert info["schedules"] == [{"cron": "0 2 * * *", "timezone": "Europe/London", "active": True}]
    assert str(REPO_ROOT) in json.dumps(info["pull_steps"])
    (report,) = info["artifacts"]
    assert report["type"] == "markdown" and "| succeeded | 1 |" in report["data"]
    assert "- HTML report: [" in report["data"] and "index.html)" in report["data"]
    (flow_run,) = info["runs"]  # the run that published the report, and its final state
    assert flow_run["state"] == "Completed" and "1 succeeded, 0 failed" in (flow_run["message"] or ""), flow_run
