"""Helpers for the pipeline's end-to-end tests: isolated environments, small catalogs, CLI runs.

Every run is a real `flexiclip run` in a subprocess with its own PREFECT_HOME (an ephemeral
Prefect API, unless the test passes ``PREFECT_API_URL``: the shared server of the `prefect_api`
fixture in tests/conftest.py), its own local Ray (session files under a private short temp
folder), the tiny prior, 2 iterations and a small render size, and the network guard on its
PYTHONPATH logging to a file the test reads.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLES_DIR = REPO_ROOT / "catalogs" / "samples"
SAMPLE_CATALOG = SAMPLES_DIR / "clipart.parquet"
GUARD_DIR = REPO_ROOT / "tasks" / "loopback_guard"
PREFECT = str(Path(sys.executable).with_name("prefect"))

FAST_SETTINGS: list[str] = [
    "--prior",
    "tiny",
    "--iterations",
    "2",
    "--set",
    "render.size=64",
    "--set",
    "schedule.frame_count=8",
]
"""CLI options that keep a clip to a few seconds on a loaded 2-core CPU."""

SAMPLE_PROMPTS = {entry["clip_id"]: entry for entry in json.loads((SAMPLES_DIR / "samples.json").read_text())}


def pipeline_env(base: Path, **extra: str) -> dict[str, str]:
    """Environment of one isolated run: own Prefect home, own Ray temp folder, guard + its log."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "RAY_", "AWS_")) and k not in ("PYTHONPATH",)
    }
    ray_tmp = Path(tempfile.mkdtemp(prefix="fxt-"))  # short: Ray's socket paths must stay < 107 chars
    (base / "prefect-home").mkdir(parents=True, exist_ok=True)
    env.update(
        PREFECT_HOME=str(base / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
        PREFECT_LOGGING_LEVEL="WARNING",
        RAY_USAGE_STATS_ENABLED="0",
        RAY_AUTH_MODE="disabled",
        FLEXICLIP_RAY_TMP=str(ray_tmp),
        FLEXICLIP_NET_GUARD="probes",
        FLEXICLIP_NET_GUARD_LOG=str(base / "network.jsonl"),
        PYTHONPATH=str(GUARD_DIR),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        # Pinned: the key includes the code version, and this checkout's HEAD may move between
        # two runs of one test (a re-run must see the same keys to skip).
        FLEXICLIP_CODE_VERSION="0+pipeline-test",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    env.update(extra)
    return env


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "flexiclip_cli.pipeline", *args]


def run_cli(env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run ``flexiclip <args>`` (the pipeline commands) to completion; output captured as text.

    The limit only stops a hung run: an 8-clip run on its own embedded Prefect API takes about
    80 s on an idle 2-core box, but in a clean clone's suite run beside `make test-full` it had
    animated one clip when 400 s ran out (4 min of it the start-up of the API, Ray and the actors)."""
    try:
        return subprocess.run(
            cli_command(*args), env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout
        )
    finally:
        reap_ray(env)


def process_status(pid: int) -> tuple[str, int, int] | None:
    """(state letter, parent pid, start time in clock ticks) of ``pid`` from /proc; None once gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2 :].split()  # after "pid (comm) ": state, ppid, ...
    return fields[0].decode(), int(fields[1]), int(fields[19])


def process_table() -> dict[int, tuple[int, int, str]]:
    """pid → (parent pid, start time in clock ticks, command line) of every process in /proc."""
    table: dict[int, tuple[int, int, str]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        status = process_status(int(proc.name))
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if status is not None:
            table[int(proc.name)] = (status[1], status[2], cmdline)
    return table


def kill_processes_naming(markers: list[str]) -> None:
    """SIGKILL every process whose command line contains one of ``markers`` (a run's private
    Ray temp folder, a test cluster's session folders): what a run or a node left behind. Never
    this process."""
    for pid, (_, _, cmdline) in process_table().items():
        if pid != os.getpid() and any(marker in cmdline for marker in markers):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def reap_ray(env: dict[str, str]) -> None:
    """Kill any process left behind that belongs to this run's Ray session, then drop its folder."""
    marker = env.get("FLEXICLIP_RAY_TMP")
    if not marker:
        return
    kill_processes_naming([marker])
    shutil.rmtree(marker, ignore_errors=True)


def write_catalog(path: Path, rows: list[dict[str, Any]], schema: pa.Schema | None = None) -> Path:
    """Write ``rows`` as a Parquet catalog at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(name for row in rows for name in row))  # from_pylist reads row 0's keys only
    rows = [{name: row.get(name) for name in columns} for row in rows]
    table = pa.Table.from_pylist(rows, schema=schema) if schema is not None else pa.Table.from_pylist(rows)
    pq.write_table(table, path)
    return path


def sample_rows(folder: Path, clip_ids: list[str]) -> list[dict[str, Any]]:
    """Catalog rows for the given samples, their SVGs copied into ``folder`` (relative svg_uri)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for clip_id in clip_ids:
        entry = SAMPLE_PROMPTS[clip_id]
        shutil.copy(SAMPLES_DIR / entry["svg"], folder / entry["svg"])
        rows.append({"clip_id": clip_id, "svg_uri": entry["svg"], "prompt": entry["prompt"]})
    return rows


def read_rows(root: str | Path, version: int | None = None, storage_options: dict | None = None) -> list[dict]:
    from catalogs.output import OutputCatalog

    return OutputCatalog(root, storage_options=storage_options).read(version=version).to_dict("records")


def network_log(env: dict[str, str]) -> list[dict]:
    path = Path(env["FLEXICLIP_NET_GUARD_LOG"])
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


IDLE_SERVICES_OFF = {
    f"PREFECT_SERVER_SERVICES_{name}_ENABLED": "false"
    for name in ("SCHEDULER", "LATE_RUNS", "FOREMAN", "CANCELLATION_CLEANUP", "PAUSE_EXPIRATIONS")
}
"""Server services no test needs (scheduling deployments' cron runs, marking runs late, workers
offline, cancellations and pauses): each polls the database while the server lives. The event,
task-run and trigger services stay (task runs, artifacts' events, the failed-run automation)."""


def start_prefect_server(base: Path) -> tuple[str, subprocess.Popen]:
    """Start a real Prefect server on 127.0.0.1 in its own process session (its database and log
    under ``base``); return (``PREFECT_API_URL``, its process) once it listens. The caller stops
    it (`stop_prefect_server`)."""
    port = free_port()
    env = {**pipeline_env(base), **IDLE_SERVICES_OFF}
    with open(base / "server.log", "wb") as log:
        server = subprocess.Popen(
            [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(port, server, 180, "prefect server")
    except BaseException:
        server.kill()
        raise
    return f"http://127.0.0.1:{port}/api", server


def stop_prefect_server(pid: int) -> None:
    """SIGTERM the server's process group (it leads its own session), SIGKILL what is left after 30 s."""
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = process_status(pid)
        if status is None or status[0] == "Z":
            break
        time.sleep(0.2)
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)


@contextmanager
def prefect_server(base: Path) -> Iterator[dict[str, str]]:
    """A real Prefect server on 127.0.0.1 for the block (`start_prefect_server`); yields
    `pipeline_env(base)` pointed at it (its log in ``base/server.log``)."""
    url, server = start_prefect_server(base)
    env = pipeline_env(base)
    env["PREFECT_API_URL"] = url
    try:
        yield env
    finally:
        stop_prefect_server(server.pid)
        server.wait()


ARTIFACTS_SCRIPT = r"""
import asyncio, json, sys
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
async def main():
    async with get_client() as client:
        found = await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[sys.argv[1]])))
    print(json.dumps([{"flow_run": str(a.flow_run_id), "type": a.type, "data": a.data} for a in found]))
asyncio.run(main())
"""


def read_artifacts(env: dict[str, str], key: str) -> list[dict[str, Any]]:
    """Every artifact with ``key`` on the Prefect API of ``env`` (``PREFECT_API_URL``), as
    {"flow_run": id, "type": ..., "data": ...}: read through Prefect's client, in a subprocess."""
    read = subprocess.run(
        [sys.executable, "-c", ARTIFACTS_SCRIPT, key], env=env, capture_output=True, text=True, timeout=120
    )
    assert read.returncode == 0, read.stderr[-4000:]
    return json.loads(read.stdout.strip().splitlines()[-1])


def media_listing(root: Path) -> dict[str, float]:
    """relative path → mtime of every media file under ``root``."""
    media = root / "media"
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(media.rglob("*")) if p.is_file()}


def describe(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\n--- stdout ---\n{result.stdout[-4000:]}\n--- stderr ---\n{result.stderr[-6000:]}"
