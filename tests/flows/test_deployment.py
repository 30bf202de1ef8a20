"""prefect.yaml deploys against a real Prefect server on 127.0.0.1 and reads back as written;
a flow run against that server publishes its report artifact and a final state with counts."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.flows.harness import (
    FAST_SETTINGS,
    PREFECT,
    REPO_ROOT,
    describe,
    prefect_server,
    run_cli,
    sample_rows,
    write_catalog,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def server_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    with prefect_server(tmp_path) as env:
        yield env


def test_prefect_yaml_deploys_nightly_and_a_run_reports_to_the_server(tmp_path: Path, server_env: dict):
    env = server_env
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
import asyncio, json
from prefect.client.orchestration import get_client
async def main():
    async with get_client() as client:
        d = await client.read_deployment_by_name("flexiclip-nightly/nightly")
        runs = await client.read_flow_runs()
        artifacts = await client.read_artifacts()
        print(json.dumps({
            "entrypoint": d.entrypoint, "pool": d.work_pool_name, "parameters": d.parameters,
            "schedules": [{"cron": s.schedule.cron, "timezone": s.schedule.timezone, "active": s.active} for s in d.schedules],
            "pull_steps": d.pull_steps,
            "runs": [{"state": r.state.name, "message": r.state.message} for r in runs],
            "artifacts": [{"key": a.key, "type": a.type, "data": a.data} for a in artifacts],
        }))
asyncio.run(main())
"""
    read = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert read.returncode == 0, read.stderr
    import json

    info = json.loads(read.stdout.strip().splitlines()[-1])
    assert info["entrypoint"] == "flows/nightly.py:nightly"
    assert info["pool"] == "flexiclip-process"
    assert info["parameters"]["prior"] == "auto" and info["parameters"]["catalog"].startswith("s3://")
    assert info["schedules"] == [{"cron": "0 2 * * *", "timezone": "Europe/London", "active": True}]
    assert str(REPO_ROOT) in json.dumps(info["pull_steps"])
    assert any(r["state"] == "Completed" and "1 succeeded, 0 failed" in (r["message"] or "") for r in info["runs"])
    reports = [a for a in info["artifacts"] if a["key"] == "flexiclip-run-report"]
    assert reports and reports[0]["type"] == "markdown" and "| succeeded | 1 |" in reports[0]["data"]
    assert "- HTML report: [" in reports[0]["data"] and "index.html)" in reports[0]["data"]
