"""`flexiclip run` on a real two-node Ray cluster whose nodes share no disk.

Two `ray start` processes on 127.0.0.1 (through `ray_loopback.py`); the second runs in its own
mount namespace with private tmpfs mounts over pytest's folders (the output root) and the Ray
session folders, so what it writes locally the driver never sees. Both nodes start WITHOUT the
run's AWS_*/FLEXICLIP_* variables: whatever the workers need comes from the job.

- s3:// root on a moto server: without credentials on the nodes the run is refused before any
  clip, one line naming the fix; with --forward-credentials it completes, every media object
  the catalog references exists, and both nodes made clips.
- local root: the second node cannot see it, so its worker sends media back to the driver,
  which publishes it: every referenced file is on the driver's disk, and both nodes made clips.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalogs.output import OutputCatalog
from catalogs.storage import s3_filesystem
from tests.flows.harness import (
    FAST_SETTINGS,
    GUARD_DIR,
    REPO_ROOT,
    SAMPLES_DIR,
    describe,
    free_port,
    kill_processes_naming,
    network_log,
    pipeline_env,
    run_cli,
    sample_rows,
    write_catalog,
)
from tests.flows.test_nightly_s3 import moto  # noqa: F401  (fixture)

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

LOOPBACK_RAY = Path(__file__).with_name("ray_loopback.py")
CLIPS = [entry["clip_id"] for entry in json.loads((SAMPLES_DIR / "samples.json").read_text())]
FIRST_CLIP_ITERATIONS = 12
"""The first clip runs longer, so the second worker is up before the first one has taken every clip."""
MEDIA = ("video_uri", "gif_uri", "svg_animation_uri", "poster_uri")
NODE_LINE = re.compile(r"clips per Ray node: (.+)")


def _unshare_refusal() -> str | None:
    if shutil.which("unshare") is None:
        return "unshare(1) is not installed"
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", "mount -t tmpfs tmpfs /mnt"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return f"a private mount namespace is not permitted here: {probe.stderr.strip()}"
    return None


def node_env() -> dict[str, str]:
    """How a node is started: none of the run's AWS_*/FLEXICLIP_*/PREFECT_* settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "FLEXICLIP_", "PREFECT_", "RAY_", "HF_", "TRANSFORMERS_")) and k != "PYTHONPATH"
    }
    # A local test cluster: no auth token, no usage stats; the network guard (default mode)
    # keeps Ray's own start-up probes off the network.
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0", PYTHONPATH=str(GUARD_DIR))
    return env


def wait_for_line(log: Path, text: str, process: subprocess.Popen, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.5)
    raise RuntimeError(f"{what} not ready after {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


def kill_session(processes: list[subprocess.Popen], markers: list[str]) -> None:
    """Kill the nodes' process groups, then anything else naming their session folders."""
    for process in processes:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            pass
        process.wait(30)
    kill_processes_naming(markers)


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory, prefect_api: str) -> Iterator[dict]:
    reason = _unshare_refusal()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("cluster")
    short = Path(tempfile.mkdtemp(prefix="fxc-"))  # Ray's socket paths must stay < 107 characters
    head_tmp, worker_tmp = short / "h", short / "w"
    head_tmp.mkdir()
    port = free_port()
    common = [
        "--node-ip-address=127.0.0.1",
        "--num-cpus=1",
        "--num-gpus=0",
        "--object-store-memory=100000000",
        "--disable-usage-stats",
        "--block",
    ]
    head_log, worker_log = base / "head.log", base / "worker.log"
    processes: list[subprocess.Popen] = []
    try:
        with open(head_log, "wb") as out:
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        str(LOOPBACK_RAY),
                        "start",
                        "--head",
                        f"--port={port}",
                        "--include-dashboard=false",
                        f"--temp-dir={head_tmp}",
                        *common,
                    ],
                    env=node_env(),
                    cwd=REPO_ROOT,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        wait_for_line(head_log, "Ray runtime started", processes[0], 120, "the head node")
        # The worker node: private tmpfs mounts over pytest's folders (the local output root lives
        # there) and over the Ray session folders hide the driver's files from it. Only those: the
        # checkout and its venv may themselves live under /tmp (a CI clone does), and the node must
        # still run them.
        hidden = (tmp_path_factory.getbasetemp(), short)
        mounts = " && ".join(f'mount -t tmpfs tmpfs "{folder}"' for folder in hidden)
        script = f'{mounts} && mkdir -p "{worker_tmp}" && exec "$@"'
        with open(worker_log, "wb") as out:
            processes.append(
                subprocess.Popen(
                    [
                        "unshare",
                        "-m",
                        "--propagation",
                        "private",
                        "sh",
                        "-c",
                        script,
                        "sh",
                        sys.executable,
                        str(LOOPBACK_RAY),
                        "start",
                        f"--address=127.0.0.1:{port}",
                        f"--temp-dir={worker_tmp}",
                        *common,
                    ],
                    env=node_env(),
                    cwd=REPO_ROOT,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        wait_for_line(worker_log, "Ray runtime started", processes[1], 120, "the worker node")
        yield {"address": f"127.0.0.1:{port}", "base": base, "prefect_api": prefect_api}
    finally:
        kill_session(processes, [str(head_tmp), str(worker_tmp)])
        shutil.rmtree(short, ignore_errors=True)


def sample_catalog(folder: Path) -> Path:
    rows = sample_rows(folder, CLIPS)
    rows[0]["config"] = json.dumps({"iterations": FIRST_CLIP_ITERATIONS})
    return write_catalog(folder / "catalog.parquet", rows)


def driver_env(base: Path, cluster: dict, **extra: str) -> dict[str, str]:
    # RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0: the driver's own node-IP lookup stays on loopback.
    return pipeline_env(
        base,
        RAY_ADDRESS=cluster["address"],
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        PREFECT_API_URL=cluster["prefect_api"],
        **extra,
    )


def clips_per_node(stdout: str) -> dict[str, int]:
    """Ray node id → clips, from the run summary's "clips per Ray node: ID N, ID N" line."""
    match = NODE_LINE.search(stdout)
    assert match, f"no per-node line in:\n{stdout}"
    return {node: int(count) for node, count in re.findall(r"([0-9a-f]{56}) (\d+)", match.group(1))}


def test_s3_root_on_two_nodes_without_their_own_settings(tmp_path: Path, two_nodes: dict, moto: dict[str, str]):  # noqa: F811
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=moto["AWS_ENDPOINT_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name=moto["AWS_REGION"],
    )
    for bucket in ("inputs", "outputs"):
        client.create_bucket(Bucket=bucket)
    fs = s3_filesystem(moto)
    local = tmp_path / "in"
    sample_catalog(local)
    for path in local.iterdir():
        fs.put_file(str(path), f"inputs/cluster/{path.name}")
    catalog, root = "s3://inputs/cluster/catalog.parquet", "s3://outputs/animations"
    env = driver_env(tmp_path, two_nodes, **moto)

    # The nodes have no credentials: each worker proves the root at start and refuses, so the
    # run stops before any clip, with one line saying what to do.
    started = time.monotonic()
    refused = run_cli(env, "run", catalog, "--output", root, "--workers", "2", *FAST_SETTINGS, timeout=300)
    print(f"two-node S3 run without credentials on the nodes: refused after {time.monotonic() - started:.1f} s")
    assert refused.returncode == 3, describe(refused)  # the cluster's set-up, not the input: infrastructure
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--forward-credentials" in errors[0] and "Ray node" in errors[0], describe(refused)
    assert not fs.exists("outputs/animations/media") and not OutputCatalog(root, storage_options=moto).exists()

    started = time.monotonic()
    result = run_cli(
        env, "run", catalog, "--output", root, "--workers", "2", "--forward-credentials", *FAST_SETTINGS, timeout=600
    )
    wall_s = time.monotonic() - started
    assert result.returncode == 0, describe(result)
    rows = OutputCatalog(root, storage_options=moto).read().to_dict("records")
    assert sorted(r["clip_id"] for r in rows) == sorted(CLIPS)
    assert {r["status"] for r in rows} == {"succeeded"}
    for row in rows:
        for column in MEDIA:
            assert row[column].startswith(root + "/media/") and fs.exists(row[column][len("s3://") :]), row[column]
    nodes = clips_per_node(result.stdout)
    assert len(nodes) == 2 and sum(nodes.values()) == len(CLIPS), (nodes, describe(result))
    assert not fs.find("outputs/animations/.flexiclip")  # the run's probe is gone
    assert not [e for e in network_log(env) if e.get("verdict") == "allowed"]
    print(f"two-node S3 run: {len(CLIPS)} clips in {wall_s:.1f} s wall (CLI start to exit)")


def test_local_root_on_two_nodes_lands_on_the_drivers_disk(tmp_path: Path, two_nodes: dict):
    catalog = sample_catalog(tmp_path / "in")
    root = tmp_path / "out"
    env = driver_env(tmp_path, two_nodes)
    started = time.monotonic()
    result = run_cli(env, "run", str(catalog), "--output", str(root), "--workers", "2", *FAST_SETTINGS, timeout=600)
    wall_s = time.monotonic() - started
    assert result.returncode == 0, describe(result)
    rows = OutputCatalog(root).read().to_dict("records")
    assert sorted(r["clip_id"] for r in rows) == sorted(CLIPS)
    assert {r["status"] for r in rows} == {"succeeded"}
    for row in rows:
        for column in MEDIA:
            assert Path(row[column]).is_file() and row[column].startswith(str(root / "media")), row[column]
    nodes = clips_per_node(result.stdout)
    assert len(nodes) == 2 and sum(nodes.values()) == len(CLIPS), (nodes, describe(result))
    print(f"two-node local-root run: {len(CLIPS)} clips in {wall_s:.1f} s wall (CLI start to exit)")
