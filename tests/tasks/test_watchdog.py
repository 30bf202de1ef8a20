"""The run's watchdog: when the watched process is SIGKILLed, its descendants end too — also one
that detached itself (new session, re-parented away) — and a reused pid is never hit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tasks.watchdog import GRACE_S, process_start_time

REPO_ROOT = Path(__file__).resolve().parents[2]

PARENT = textwrap.dedent("""
    import subprocess, sys, time
    from tasks.watchdog import start_watchdog

    watchdog = start_watchdog()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    # A detached grandchild, as a daemonising server would leave: its own session, and its
    # parent exits at once so it is re-parented away from us.
    launcher = subprocess.Popen([sys.executable, "-c",
        "import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'],"
        " start_new_session=True); print(p.pid, flush=True)"], stdout=subprocess.PIPE, text=True)
    detached = int(launcher.stdout.readline())
    launcher.wait()
    print(watchdog, child.pid, detached, flush=True)
    time.sleep(300)
""")


def alive(pid: int, start: int | None) -> bool:
    return start is not None and process_start_time(pid) == start


def test_descendants_of_a_killed_process_end_within_seconds():
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    pids: list[int] = []
    try:
        watchdog, child, detached = (int(x) for x in parent.stdout.readline().split())
        pids = [watchdog, child, detached]
        starts = {pid: process_start_time(pid) for pid in pids}
        assert all(starts.values()), starts
        time.sleep(1.0)  # the watchdog has listed the detached one (it polls every 0.25 s)
        parent.kill()  # SIGKILL: no clean-up code runs in the parent
        parent.wait(10)
        deadline = time.monotonic() + GRACE_S + 10
        while time.monotonic() < deadline and any(alive(pid, starts[pid]) for pid in pids):
            time.sleep(0.2)
        left = [pid for pid in pids if alive(pid, starts[pid])]
        assert not left, f"still alive after the parent was killed: {left}"
    finally:
        parent.kill()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def test_a_second_start_in_the_same_process_is_a_no_op(monkeypatch):
    from tasks.watchdog import WATCHDOG_ENV, start_watchdog

    monkeypatch.setenv(WATCHDOG_ENV, str(os.getpid()))
    assert start_watchdog() is None
