"""The nightly flow with catalog in and catalog + media out on S3 (a moto server process on
127.0.0.1), under the network guard: the whole run (Prefect API, Ray, workers, S3) connects to
nothing but loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from catalogs.output import OutputCatalog
from catalogs.storage import s3_filesystem
from tests.flows.harness import (
    FAST_SETTINGS,
    describe,
    free_port,
    network_log,
    pipeline_env,
    run_cli,
    sample_rows,
    wait_for_port,
    write_catalog,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def moto(tmp_path: Path):
    port = free_port()
    script = Path(sys.executable).with_name("moto_server")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "moto.server"]
    log = open(tmp_path / "moto.log", "wb")
    server = subprocess.Popen(
        [*command, "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=dict(os.environ, AWS_EC2_METADATA_DISABLED="true"),
    )
    try:
        wait_for_port(port, server, 60, "moto_server")
        yield {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
        }
    finally:
        server.terminate()
        server.wait(10)
        log.close()


def test_s3_catalog_in_and_out_with_nothing_but_loopback(tmp_path: Path, moto: dict[str, str], prefect_api: str):
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=moto["AWS_ENDPOINT_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name=moto["AWS_REGION"],
    )
    for bucket in ("inputs", "outputs"):
        client.create_bucket(Bucket=bucket)  # us-east-1: no LocationConstraint (s3fs.mkdir sends one)
    fs = s3_filesystem(moto)
    local = tmp_path / "in"
    rows = sample_rows(local, ["human", "plant"])
    write_catalog(local / "catalog.parquet", rows)
    for path in local.iterdir():
        fs.put_file(str(path), f"inputs/nightly/{path.name}")
    root = "s3://outputs/animations"
    env = pipeline_env(tmp_path, PREFECT_API_URL=prefect_api, **moto)
    first = run_cli(
        env, "run", "s3://inputs/nightly/catalog.parquet", "--output", root, "--workers", "1", *FAST_SETTINGS
    )
    assert first.returncode == 0, describe(first)
    catalog = OutputCatalog(root, storage_options=moto)
    rows_out = catalog.read().to_dict("records")
    assert sorted(r["clip_id"] for r in rows_out) == ["human", "plant"]
    assert {r["status"] for r in rows_out} == {"succeeded"}
    for row in rows_out:
        for column in ("video_uri", "gif_uri", "svg_animation_uri", "poster_uri"):
            assert row[column].startswith(root + "/media/")
            assert fs.exists(row[column][len("s3://") :])
    # A re-run's skip on this root is the plan's (tests/tasks/test_plan.py) over the S3 table and
    # media checks (tests/catalogs/test_s3.py): a second whole run here cost ~35 s of CPU.

    entries = network_log(env)
    started = [" ".join(e["argv"]) for e in entries if e["event"] == "start"]
    assert any("default_worker.py" in argv for argv in started), "the guard did not reach the Ray workers"
    # This run uses the tests' shared Prefect server: the guard reaching a run's own server is
    # checked by test_nightly.py::test_sample_catalog_runs_then_skips_or_reanimates_then_force_redoes.
    allowed = [e for e in entries if e.get("verdict") == "allowed"]
    assert allowed == [], f"non-loopback connections were made: {allowed}"
    refused_hosts = {e["host"] for e in entries if e.get("verdict") == "refused"}
    assert refused_hosts <= {"169.254.169.254", "metadata.google.internal", "8.8.8.8"}
