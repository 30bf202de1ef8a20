"""prefect.yaml deploys against a real Prefect server on 127.0.0.1 (the tests' shared one,
`prefect_api`) and reads back as written; one run of that deployment goes the way the nightly
one does: created on the server, picked up by a real ``prefect worker`` of the process pool
(``--run-once``), run by it as a child process in the checkout, and it publishes its report
artifact and a final state with counts. The run goes to a work queue of its own, so the worker
takes this run and no other (the shared server also holds other tests' runs, and the
deployment's cron schedule)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.flows.harness import PREFECT, REPO_ROOT, pipeline_env, reap_ray, sample_rows, write_catalog

pytestmark = pytest.mark.slow

QUEUE = "deployment-test"
"""The work queue (of pool flexiclip-process) the test's run goes to and its worker polls."""
FAST_PARAMETERS = {"prior": "tiny", "iterations": 2, "workers": 1,
                   "overrides": {"render.size": 64, "schedule.frame_count": 8}}  # fmt: skip
"""The flow parameters of `tests.flows.harness.FAST_SETTINGS`: a clip in a few seconds."""

CREATE_RUN = r"""
import asyncio, json, sys
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectAlreadyExists
async def main():
    async with get_client() as client:
        try:
            await client.create_work_queue(name=sys.argv[1], work_pool_name="flexiclip-process")
        except ObjectAlreadyExists:
            pass
        d = await client.read_deployment_by_name("flexiclip-nightly/nightly")
        run = await client.create_flow_run_from_deployment(
            d.id, parameters=json.loads(sys.argv[2]), work_queue_name=sys.argv[1]
        )
        print(run.id)
asyncio.run(main())
"""

READ_BACK = r"""
import asyncio, json, sys
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
async def main():
    async with get_client() as client:
        d = await client.read_deployment_by_name("flexiclip-nightly/nightly")
        run = await client.read_flow_run(sys.argv[1])
        ours = await client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id])))
        print(json.dumps({
            "entrypoint": d.entrypoint, "pool": d.work_pool_name, "parameters": d.parameters,
            "schedules": [{"cron": s.schedule.cron, "timezone": s.schedule.timezone, "active": s.active} for s in d.schedules],
            "pull_steps": d.pull_steps,
            "run": {"state": run.state.name, "message": run.state.message, "pool": run.work_pool_name,
                    "queue": run.work_queue_name, "pid": run.infrastructure_pid, "deployment": str(run.deployment_id) == str(d.id)},
            "artifacts": [{"key": a.key, "type": a.type, "data": a.data if a.type == "markdown" else None} for a in ours],
        }))
asyncio.run(main())
"""


def test_prefect_yaml_deploys_nightly_and_a_worker_runs_it(tmp_path: Path, prefect_api: str):
    env = pipeline_env(tmp_path, PREFECT_API_URL=prefect_api)

    def prefect(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        done = subprocess.run([PREFECT, *args], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-6000:]
        return done

    def python(code: str, *args: str) -> str:
        done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-6000:]
        return done.stdout.strip().splitlines()[-1]

    prefect("work-pool", "create", "flexiclip-process", "--type", "process", timeout=180)
    prefect("--no-prompt", "deploy", "--all")

    catalog = write_catalog(tmp_path / "in" / "catalog.parquet", sample_rows(tmp_path / "in", ["plant"]))
    out = tmp_path / "out"
    parameters = {"catalog": str(catalog), "output": str(out), **FAST_PARAMETERS}
    run_id = python(CREATE_RUN, QUEUE, json.dumps(parameters))
    started = time.monotonic()
    try:  # the worker takes the run, runs it in a child process and returns once it has ended
        worker = prefect("worker", "start", "--pool", "flexiclip-process", "--work-queue", QUEUE, "--type", "process",
                         "--run-once", timeout=900)  # fmt: skip
    finally:
        reap_ray(env)
    said = {"worker_s": round(time.monotonic() - started, 1), "worker": (worker.stdout + worker.stderr)[-4000:]}

    info = json.loads(python(READ_BACK, run_id))
    assert info["entrypoint"] == "flows/nightly.py:nightly"
    assert info["pool"] == "flexiclip-process"
    assert info["parameters"]["prior"] == "auto" and info["parameters"]["catalog"].startswith("s3://")
    assert info["schedules"] == [{"cron": "0 2 * * *", "timezone": "Europe/London", "active": True}]
    assert str(REPO_ROOT) in json.dumps(info["pull_steps"])
    run = info["run"]  # a deployment run the worker started as a process of its own
    assert run["deployment"] and (run["pool"], run["queue"]) == ("flexiclip-process", QUEUE) and run["pid"], (run, said)
    assert run["state"] == "Completed" and "1 succeeded, 0 failed" in (run["message"] or ""), (run, said)
    (report,) = [a for a in info["artifacts"] if a["key"] == "flexiclip-run-report"]
    assert report["type"] == "markdown" and "| succeeded | 1 |" in report["data"]
    assert str(out) in report["data"] and "- HTML report: [" in report["data"] and "index.html)" in report["data"]
    assert (out / "catalog" / "_delta_log").is_dir()
