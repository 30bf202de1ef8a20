"""Network guard for flexiclip processes: refuses outbound probes, records non-loopback traffic.

This directory is put first on ``PYTHONPATH`` of the pipeline's processes (the CLI, Prefect's
API server, Ray's Python processes and workers), so Python imports this file at start-up and
installs a `sys.addaudithook` hook before any library runs. It sees every ``socket.connect``,
``socket.sendto`` and host-name lookup made from Python (C++ code inside Ray core or delta-rs is
out of its reach; those only talk to the addresses they are given).

Environment:
  FLEXICLIP_NET_GUARD      off | probes (default) | loopback
                           probes: refuse the known start-up probes (public DNS resolvers, the
                           cloud metadata service); allow other traffic but record it if it
                           leaves the host. loopback: refuse everything that leaves the host.
  FLEXICLIP_NET_GUARD_LOG  file to append JSON lines to: one "start" line per guarded process
                           and one line per non-loopback attempt with its verdict.

Stdlib only, self-contained: it runs in every process, before site-packages are imported.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import socket
import sys
import time

MODES = ("off", "probes", "loopback")

PROBE_HOSTS = frozenset(
    {
        "8.8.8.8",  # Ray's node-IP guess (a UDP "connect" to a public resolver)
        "1.1.1.1",
        "8.8.4.4",
        "2001:4860:4860::8888",
        "169.254.169.254",  # cloud metadata service (Ray usage stats, cloud SDKs)
        "fd00:ec2::254",
        "metadata.google.internal",
        "metadata",
    }
)
"""Hosts that libraries probe at start-up without being asked; always refused."""

LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


class _Guard:
    """The audit hook's state (one per process; audit hooks cannot be removed)."""

    def __init__(self, mode: str, log_path: str | None) -> None:
        self.mode = mode
        self.log_path = log_path
        self.active = True  # the hook's own writes (log file) must not recurse into it

    def record(self, payload: dict) -> None:
        if not self.log_path:
            return
        payload = {"pid": os.getpid(), "time": time.time(), **payload}
        line = json.dumps(payload, default=str) + "\n"
        self.active = False
        try:
            # O_APPEND writes of one short line are atomic across processes.
            fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        except OSError:
            pass
        finally:
            self.active = True

    def __call__(self, event: str, args: tuple) -> None:
        if not self.active or not event.startswith("socket."):
            return
        if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
            address = args[1] if event == "socket.connect" else args[-1]
            host = _address_host(address)
        elif event == "socket.getaddrinfo" or event in (
            "socket.gethostbyname",
            "socket.gethostbyname_ex",
            "socket.gethostbyaddr",
        ):
            host = args[0]
        else:
            return
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        if host is None or is_local_host(host):
            return
        refused = host.lower().rstrip(".") in PROBE_HOSTS or self.mode == "loopback"
        self.record(
            {
                "event": event,
                "host": host,
                "verdict": "refused" if refused else "allowed",
                "argv0": (sys.argv or [""])[0],
            }
        )
        if refused:
            if event == "socket.getaddrinfo" or event.startswith("socket.gethostby"):
                raise socket.gaierror(socket.EAI_NONAME, f"flexiclip network guard refused lookup of {host}")
            raise OSError(errno.ENETUNREACH, f"flexiclip network guard refused connection to {host}")


def _address_host(address: object) -> str | None:
    """The host of a socket address; None for AF_UNIX paths and other local-only families."""
    if isinstance(address, tuple) and address and isinstance(address[0], (str, bytes)):
        return address[0] if isinstance(address[0], str) else address[0].decode("ascii", "replace")
    return None


def is_local_host(host: str) -> bool:
    """True for loopback/unspecified addresses and names that resolve only to this host."""
    name = host.strip("[]").lower().rstrip(".")
    if not name or name in LOCAL_NAMES or name.endswith(".localhost"):
        return True
    if name == socket.gethostname().lower():  # this machine's own name (Ray looks it up)
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def install(mode: str | None = None, log_path: str | None = None) -> bool:
    """Install the hook in this process (once); returns whether a hook is active."""
    mode = (mode or os.environ.get("FLEXICLIP_NET_GUARD") or "probes").lower()
    if mode not in MODES:
        mode = "probes"
    if mode == "off":
        return False
    if getattr(sys, "_flexiclip_net_guard", None) is not None:
        return True
    guard = _Guard(mode, log_path if log_path is not None else os.environ.get("FLEXICLIP_NET_GUARD_LOG"))
    sys._flexiclip_net_guard = guard  # type: ignore[attr-defined]  # audit hooks are process-wide
    sys.addaudithook(guard)
    guard.record({"event": "start", "mode": mode, "argv": list(sys.argv)[:6], "executable": sys.executable})
    return True


if __name__ == "sitecustomize":  # imported by site at start-up
    install()
