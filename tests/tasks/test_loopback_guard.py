"""The network guard (tasks/loopback_guard/sitecustomize.py) in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tasks.runtime import GUARD_DIR, apply_pipeline_env

PROBE_SCRIPT = r"""
import socket, sys
results = {}
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    udp.connect(("8.8.8.8", 80))           # Ray's node-IP guess
    results["8.8.8.8"] = "connected"
except OSError as exc:
    results["8.8.8.8"] = f"refused {exc.errno}"
for host in ("169.254.169.254", "metadata.google.internal"):
    try:
        socket.getaddrinfo(host, 80)
        results[host] = "resolved"
    except OSError:
        results[host] = "refused"
udp.connect(("127.0.0.1", 9))               # loopback stays allowed
results["127.0.0.1"] = "connected"
try:
    socket.getaddrinfo("example.invalid", 80)
    results["example.invalid"] = "resolved"
except socket.gaierror as exc:
    results["example.invalid"] = "refused" if "guard" in str(exc) else "lookup failed"
print(__import__("json").dumps(results))
"""


def run_guarded(tmp_path: Path, mode: str) -> tuple[dict, list[dict]]:
    log = tmp_path / f"{mode}.jsonl"
    env = dict(os.environ, PYTHONPATH=str(GUARD_DIR), FLEXICLIP_NET_GUARD=mode, FLEXICLIP_NET_GUARD_LOG=str(log))
    done = subprocess.run([sys.executable, "-c", PROBE_SCRIPT], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    entries = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return json.loads(done.stdout), entries


def test_probes_mode_refuses_start_up_probes_and_records_other_traffic(tmp_path: Path):
    results, entries = run_guarded(tmp_path, "probes")
    assert results["8.8.8.8"].startswith("refused")
    assert results["169.254.169.254"] == "refused"
    assert results["metadata.google.internal"] == "refused"
    assert results["127.0.0.1"] == "connected"
    assert results["example.invalid"] == "lookup failed"  # allowed through, failed on its own
    assert entries[0]["event"] == "start" and entries[0]["mode"] == "probes"
    verdicts = {(e["host"], e["verdict"]) for e in entries[1:]}
    assert ("8.8.8.8", "refused") in verdicts
    assert ("metadata.google.internal", "refused") in verdicts
    assert ("example.invalid", "allowed") in verdicts
    assert not any(e.get("host") == "127.0.0.1" for e in entries), "loopback traffic is not logged"


def test_loopback_mode_refuses_everything_off_host(tmp_path: Path):
    results, entries = run_guarded(tmp_path, "loopback")
    assert results["example.invalid"] == "refused"
    assert results["127.0.0.1"] == "connected"
    assert {e["verdict"] for e in entries[1:]} == {"refused"}


def test_apply_pipeline_env_puts_guard_first_and_keeps_existing_values():
    env = {"PYTHONPATH": "/somewhere", "RAY_USAGE_STATS_ENABLED": "1"}
    apply_pipeline_env(env)
    assert env["PYTHONPATH"].split(os.pathsep) == [str(GUARD_DIR), "/somewhere"]
    assert env["RAY_USAGE_STATS_ENABLED"] == "1"  # an explicit setting wins
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert env["HF_HUB_OFFLINE"] == "1"
    apply_pipeline_env(env)
    assert env["PYTHONPATH"].count(str(GUARD_DIR)) == 1
    off = {"FLEXICLIP_NET_GUARD": "off"}
    apply_pipeline_env(off)
    assert "PYTHONPATH" not in off
