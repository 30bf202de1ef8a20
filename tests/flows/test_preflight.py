"""`flexiclip run` refuses an unusable output root before it starts Prefect, Ray or any clip:
exit 2, one line on stderr, within 30 s (the subprocess timeout)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.flows.harness import (
    FAST_SETTINGS,
    REPO_ROOT,
    cli_command,
    describe,
    pipeline_env,
    sample_rows,
    write_catalog,
)

PREFLIGHT_LIMIT_S = 30
"""The issue's bound for a refused run (the subprocess is killed past it)."""


def refused(env: dict[str, str], command: list[str]) -> subprocess.CompletedProcess:
    result = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=PREFLIGHT_LIMIT_S)
    assert result.returncode == 2, describe(result)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: output root"), describe(result)
    return result


def nothing_started(tmp_path: Path, env: dict[str, str]) -> None:
    """No Prefect API, no Ray session, no worker: nothing was animated."""
    assert not list((tmp_path / "prefect-home").iterdir()), "Prefect was started"
    assert not list(Path(env["FLEXICLIP_RAY_TMP"]).iterdir()), "Ray was started"
    shutil.rmtree(env["FLEXICLIP_RAY_TMP"], ignore_errors=True)


def test_output_root_that_is_a_file_is_refused_before_anything_runs(tmp_path: Path):
    catalog = write_catalog(tmp_path / "in" / "catalog.parquet", sample_rows(tmp_path / "in", ["plant"]))
    root = tmp_path / "out.txt"
    root.write_text("not a folder")
    env = pipeline_env(tmp_path)
    result = refused(env, cli_command("run", str(catalog), "--output", str(root), *FAST_SETTINGS))
    assert "is a file" in result.stderr
    assert root.read_text() == "not a folder"
    nothing_started(tmp_path, env)


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1) for a read-only bind mount")
def test_read_only_output_root_is_refused_before_anything_runs(tmp_path: Path):
    catalog = write_catalog(tmp_path / "in" / "catalog.parquet", sample_rows(tmp_path / "in", ["plant"]))
    root = tmp_path / "ro"
    root.mkdir()
    env = pipeline_env(tmp_path)
    command = cli_command("run", str(catalog), "--output", str(root), *FAST_SETTINGS)
    if os.geteuid() == 0:
        # root writes through permission bits: make the folder a read-only mount in a private namespace.
        probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
        if probe.returncode != 0:
            pytest.skip(f"unshare -m is not permitted here: {probe.stderr.decode().strip()}")
        script = f'mount --bind "{root}" "{root}" && mount -o remount,bind,ro "{root}" && exec "$@"'
        command = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *command]
    else:
        root.chmod(0o555)
    result = refused(env, command)
    assert "not writable" in result.stderr
    assert "Read-only file system" in result.stderr or "Permission denied" in result.stderr
    assert list(root.iterdir()) == []
    nothing_started(tmp_path, env)


def test_the_next_run_removes_the_probes_of_killed_runs_and_only_those(tmp_path: Path):
    # Issue 20: a SIGKILLed run never removes its ROOT/.flexiclip/probe-*; the next run does, when
    # the probe's owner (host, pid, start time) is a process on this host that is gone.
    import socket

    from catalogs.output import OutputCatalog
    from tasks.liveness import owner_token
    from tasks.preflight import PROBE_FOLDER, probe_name, remove_stale_probes, write_probe

    catalog = OutputCatalog(tmp_path / "out")
    killed = subprocess.Popen(["sleep", "30"])
    killed_token = f"{socket.gethostname()}:{killed.pid}:{_start_time(killed.pid)}"
    killed.kill()
    killed.wait()
    folder = tmp_path / "out" / PROBE_FOLDER
    folder.mkdir(parents=True)
    probes = {
        "probe-killed": f"{socket.gethostname()} {killed.pid} {killed_token}\n",
        "probe-running": f"{socket.gethostname()} {os.getpid()} {owner_token()}\n",
        "probe-elsewhere": "other-host 4242 other-host:4242:12345\n",
        "probe-legacy": f"{socket.gethostname()} {killed.pid}\n",  # written before the owner token: kept
    }
    for name, payload in probes.items():
        (folder / name).write_text(payload)
    own = probe_name("current")
    write_probe(catalog, own)
    assert (tmp_path / "out" / own).read_text().split()[2] == owner_token()
    assert remove_stale_probes(catalog, keep=own) == [f"{PROBE_FOLDER}/probe-killed"]
    assert sorted(path.name for path in folder.iterdir()) == [
        "probe-current",
        "probe-elsewhere",
        "probe-legacy",
        "probe-running",
    ]
    assert remove_stale_probes(catalog, keep=own) == []


def _start_time(pid: int) -> int | None:
    from tasks.watchdog import process_start_time

    return process_start_time(pid)
