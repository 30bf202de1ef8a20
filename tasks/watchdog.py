"""A watchdog that ends every process a pipeline run started once that run's process dies.

A SIGKILLed ``flexiclip run`` (OOM killer, a hard-stopped container) runs no clean-up code, and
what it started — Prefect's temporary API server, a local Ray (GCS, raylet, agents, workers) —
does not die with it: Ray re-parents some of them and none has a parent-death signal. So the
run starts this watchdog first (`start_watchdog`): a separate small process, in its own session
(a kill of the run's process group spares it), that

- keeps a list of the run's descendants (pid + start time, so a reused pid is never hit),
  refreshed every ``POLL_S`` from /proc. The run makes itself a child subreaper
  (``PR_SET_CHILD_SUBREAPER``), so a process that detaches itself (double fork, new session) is
  re-parented to the run, not to init, and stays in its tree until the watchdog has seen it;
- learns of the run's death from its pipe closing (the kernel closes it whatever the signal)
  or, as a fallback, from the run's pid going away;
- then sends SIGTERM to every listed process still alive, and SIGKILL after ``GRACE_S``.

It also exits when the run ends normally, after the same sweep (a clean run leaves nothing).
Stdlib only and started with ``python -I``: it must start fast and import nothing of the run's.
Linux only (/proc); elsewhere `start_watchdog` does nothing.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

POLL_S = 0.25
"""How often the list of the run's processes is refreshed."""
GRACE_S = 5.0
"""Time between SIGTERM and SIGKILL."""
WATCHDOG_ENV = "FLEXICLIP_WATCHDOG_OF"
"""Set in the watched process's environment to its pid, so a second start is a no-op."""


def process_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat); None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after its last ')'.
    fields = data[data.rindex(b")") + 2 :].split()
    if fields[0] == b"Z":  # a zombie has finished; only its parent's wait is missing
        return None
    return int(fields[19])


def _process_table() -> dict[int, tuple[int, int]]:
    """pid → (parent pid, start time) of every live process."""
    table: dict[int, tuple[int, int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        fields = data[data.rindex(b")") + 2 :].split()
        if fields[0] == b"Z":
            continue
        table[int(name)] = (int(fields[1]), int(fields[19]))
    return table


def descendants(roots: dict[int, int], exclude: set[int]) -> dict[int, int]:
    """pid → start time of the live ``roots`` (pid → start time) and all their descendants."""
    table = _process_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: dict[int, int] = {}
    stack = [pid for pid, start in roots.items() if pid in table and table[pid][1] == start]
    while stack:
        pid = stack.pop()
        if pid in found or pid in exclude:
            continue
        found[pid] = table[pid][1]
        stack.extend(children.get(pid, ()))
    return found


def _signal_all(processes: dict[int, int], signum: int) -> int:
    """Send ``signum`` to each listed process that is still the same process; how many got it."""
    sent = 0
    for pid, start in processes.items():
        if process_start_time(pid) != start:
            continue
        try:
            os.kill(pid, signum)
            sent += 1
        except OSError:
            pass
    return sent


def sweep(tracked: dict[int, int], exclude: set[int]) -> None:
    """SIGTERM every tracked process (and any child they started meanwhile), SIGKILL after GRACE_S."""
    tracked.update(descendants(tracked, exclude))
    _signal_all(tracked, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline:
        tracked.update(descendants(tracked, exclude))
        if not any(process_start_time(pid) == start for pid, start in tracked.items()):
            return
        time.sleep(POLL_S)
    for _ in range(3):  # a dying raylet may still start a worker: repeat until nothing is left
        tracked.update(descendants(tracked, exclude))
        if not _signal_all(tracked, signal.SIGKILL):
            return
        time.sleep(POLL_S)


def watch(parent: int, pipe_fd: int) -> None:
    """Track ``parent``'s descendants until it dies (``pipe_fd`` closes or its pid goes), then sweep."""
    parent_start = process_start_time(parent)
    me = {os.getpid()}
    tracked: dict[int, int] = {}
    if parent_start is None:
        return
    while True:
        tracked.update(descendants({parent: parent_start, **tracked}, me))
        ready, _, _ = select.select([pipe_fd], [], [], POLL_S)
        if ready and not os.read(pipe_fd, 4096):
            break  # every write end closed: the parent is gone
        if process_start_time(parent) != parent_start:
            break
    tracked.pop(parent, None)
    sweep(tracked, me)


def start_watchdog() -> int | None:
    """Start the watchdog for this process (once per process); its pid, or None where unsupported.

    The write end of its pipe stays open in this process only (not inheritable, PEP 446), so
    it closes exactly when this process ends.
    """
    if not os.path.isdir("/proc/self") or os.environ.get(WATCHDOG_ENV) == str(os.getpid()):
        return None
    _become_subreaper()
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", os.path.abspath(__file__), str(os.getpid()), str(read_fd)],
            pass_fds=(read_fd,),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
    finally:
        os.close(read_fd)
    os.environ[WATCHDOG_ENV] = str(os.getpid())
    # ``write_fd`` is deliberately never closed: the kernel closes it when this process ends.
    return proc.pid


def _become_subreaper() -> bool:
    """Make orphaned descendants re-parent to this process instead of init (Linux prctl)."""
    import ctypes

    pr_set_child_subreaper = 36
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C to the terminal is the run's to handle
    watch(int(sys.argv[1]), int(sys.argv[2]))
