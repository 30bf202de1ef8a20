"""The `ray job submit` recipe (deploy/ray/, docs/clusters.md) end to end on a real head.

One `ray start --head` on 127.0.0.1 with its job server, started in an empty folder and without
any of the run's settings, stands in for an existing cluster. deploy/ray/submit.py submits a
one-clip `flexiclip run` to it with the recipe's runtime_env; the test checks that the job
succeeded, that the driver (on the head) and the clip worker both ran the code the job carried
(Ray's working_dir copy, not this checkout), that the pins were checked, and that the clip is in
the output catalog with its media.

The one departure from a real cluster: ``--no-pip``. Ray's pip plugin would clone this test's
virtualenv (2.7 GB) for the job, and nothing may be downloaded here; the head's own Python holds
the pins, which the job's entrypoint checks (tests/deploy/test_manifests.py runs the pin check
and builds the pip list the real submission sends).

A single node needs none of ray_loopback.py's patches: ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``
keeps every process's node address on loopback without a probe. The job server and its agent
get free ports (their defaults would collide with another test process's head).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.flows.harness import (
    FAST_SETTINGS,
    GUARD_DIR,
    REPO_ROOT,
    free_port,
    network_log,
    read_rows,
    sample_rows,
    write_catalog,
)

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

MEDIA = ("video_uri", "gif_uri", "svg_animation_uri", "poster_uri")


def head_env(marker: Path) -> dict[str, str]:
    """A node started with none of the run's settings; its Python is the image's (first on PATH)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "FLEXICLIP_", "PREFECT_", "RAY_", "HF_", "TRANSFORMERS_")) and k != "PYTHONPATH"
    }
    env.update(
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        RAY_AUTH_MODE="disabled",
        RAY_USAGE_STATS_ENABLED="0",
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        PYTHONPATH=str(GUARD_DIR),
        FLEXICLIP_TEST_MARKER=str(marker),  # finds every process of this cluster at the end
    )
    return env


def reap(marker: str) -> None:
    """Kill every process whose command line or environment names ``marker`` (by pid)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            text = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in text:
            with contextlib.suppress(OSError):
                os.kill(int(proc.name), signal.SIGKILL)


def test_ray_job_submit_runs_flexiclip_run_with_the_jobs_code(tmp_path: Path, prefect_api: str):
    short = Path(tempfile.mkdtemp(prefix="fxj-"))  # Ray's socket paths must stay < 107 characters
    empty = tmp_path / "node-cwd"
    empty.mkdir()
    ports = {name: free_port() for name in ("gcs", "dashboard", "agent", "agent-grpc", "metrics", "runtime-env")}
    log = tmp_path / "head.log"
    head = None
    try:
        with open(log, "wb") as out:
            head = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "ray.scripts.scripts",
                    "start",
                    "--head",
                    "--node-ip-address=127.0.0.1",
                    f"--port={ports['gcs']}",
                    "--include-dashboard=true",
                    "--dashboard-host=127.0.0.1",
                    f"--dashboard-port={ports['dashboard']}",
                    f"--dashboard-agent-listen-port={ports['agent']}",
                    f"--dashboard-agent-grpc-port={ports['agent-grpc']}",
                    f"--metrics-export-port={ports['metrics']}",
                    f"--runtime-env-agent-port={ports['runtime-env']}",
                    f"--temp-dir={short}",
                    "--num-cpus=1",
                    "--num-gpus=0",
                    "--object-store-memory=100000000",
                    "--disable-usage-stats",
                    "--block",
                ],
                env=head_env(short),
                cwd=empty,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 180
        while "Ray runtime started" not in log.read_text(errors="replace"):
            assert head.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.5)

        catalog = write_catalog(tmp_path / "in" / "catalog.parquet", sample_rows(tmp_path / "in", ["plant"]))
        root = tmp_path / "out"
        guard_log = short / "network.jsonl"
        submitter_env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "PREFECT_", "FLEXICLIP_"))}
        started = time.monotonic()
        submitted = subprocess.run(
            [
                sys.executable,
                str(REPO_ROOT / "deploy" / "ray" / "submit.py"),
                "--address",
                f"http://127.0.0.1:{ports['dashboard']}",
                "--no-pip",
                "--submission-id",
                "flexiclip-recipe-test",
                "--env",
                f"PREFECT_API_URL={prefect_api}",
                "--env",
                "FLEXICLIP_CODE_VERSION=0+pipeline-test",
                "--env",
                f"FLEXICLIP_NET_GUARD_LOG={guard_log}",
                "--",
                str(catalog),
                "--output",
                str(root),
                "--workers",
                "1",
                *FAST_SETTINGS,
            ],
            env=submitter_env,
            cwd=tmp_path,  # the script finds the checkout itself
            capture_output=True,
            text=True,
            timeout=600,
        )
        wall_s = time.monotonic() - started
        output = submitted.stdout + submitted.stderr
        assert submitted.returncode == 0 and "Job 'flexiclip-recipe-test' succeeded" in output, output[-6000:]
        print(f"ray job submit, one clip: {wall_s:.1f} s wall (submit to the job's end)")

        # The driver ran the job's copy of the checkout, after the pin check ...
        (line,) = [line for line in output.splitlines() if line.startswith("flexiclip job: pins ok")]
        # (the line also names the interpreter, which may live in the checkout's .venv: only the
        # code's folder is checked)
        code = line.split(", code ", 1)[1].split(",", 1)[0]
        assert "/runtime_resources/working_dir_files/" in code and not code.startswith(str(REPO_ROOT)), line
        # ... and so did the clip worker (FLEXICLIP_SHIP_CODE=0: nothing uploaded as py_modules).
        (ready,) = [line for line in output.splitlines() if "clip worker" in line and "ready" in line]
        assert "code from " + str(short) in ready and "/working_dir_files/" in ready, ready
        assert "1 clip(s): 1 succeeded, 0 failed" in output

        (row,) = read_rows(root)
        assert (row["clip_id"], row["status"], row["code_version"]) == ("plant", "succeeded", "0+pipeline-test")
        for column in MEDIA:
            assert Path(row[column]).is_file() and row[column].startswith(str(root / "media")), row[column]
        network = network_log({"FLEXICLIP_NET_GUARD_LOG": str(guard_log)})
        assert not [e for e in network if e.get("verdict") == "allowed"]
    finally:
        if head is not None:
            with contextlib.suppress(OSError):
                os.killpg(head.pid, signal.SIGKILL)
            head.wait(30)
        reap(str(short))
        shutil.rmtree(short, ignore_errors=True)
