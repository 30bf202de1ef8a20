"""Process environment and Ray connection for the pipeline (the embedded defaults live here).

Every process that runs Prefect or Ray gets the same environment (`PIPELINE_ENV_DEFAULTS`): no
telemetry, no hub look-ups, a patient ephemeral Prefect API. Prefect reads its settings when it
is imported, so `apply_pipeline_env` must run before the first ``import prefect`` (the CLI does
this before it imports `flows`).

Ray: ``RAY_ADDRESS`` set → join that cluster; otherwise a local Ray starts in-process, bound to
127.0.0.1, with no dashboard, usage stats or auth token, its session files under a private
temporary folder, and the network guard (`tasks/loopback_guard`) on the ``PYTHONPATH`` of every
Python process it starts.

On a joined cluster the workers' environment and code come from the job, not from how each
node was started (`worker_runtime_env`): the non-secret settings the driver resolved travel as
Ray ``runtime_env`` variables, the project's packages as ``py_modules``. Credentials stay with
the nodes (instance role or their own environment) unless the run forwards them explicitly:
a runtime_env is stored in the cluster's GCS and shown by ``ray list jobs`` and the dashboard.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

GUARD_DIR = Path(__file__).resolve().parent / "loopback_guard"
"""Folder holding the network guard's ``sitecustomize.py`` (put first on PYTHONPATH)."""

PIPELINE_ENV_DEFAULTS: dict[str, str] = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    # Route the project's own loggers into Prefect's run logs too.
    "PREFECT_LOGGING_EXTRA_LOGGERS": "tasks,flows,catalogs",
    "RAY_USAGE_STATS_ENABLED": "0",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
}
"""Environment every Prefect/Ray process of the pipeline runs with (values already set win)."""

LOCAL_RAY_ENV: dict[str, str] = {
    # A local test/laptop cluster needs no token (else Ray writes one under ~/.ray).
    "RAY_AUTH_MODE": "disabled",
    # Ray turns _node_ip_address="127.0.0.1" into "this node's routable IP", found by a UDP
    # connect toward 8.8.8.8 from C++ (out of reach of Python audit hooks). In local-only mode
    # the node IP is the loopback address and nothing is probed.
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
}
"""Extra environment for a Ray cluster started here (not applied when joining RAY_ADDRESS)."""


FORWARDED_ENV: tuple[str, ...] = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ALLOW_HTTP",
    "AWS_EC2_METADATA_DISABLED",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_HUB_DISABLE_TELEMETRY",
    "DO_NOT_TRACK",
    "HF_HOME",
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "TORCH_HOME",
)
"""Non-secret variables a cluster job's workers get from the driver (plus every ``FLEXICLIP_*``)."""

CREDENTIAL_ENV: tuple[str, ...] = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
"""Forwarded only when the run asks (``--forward-credentials``)."""

DRIVER_ONLY_ENV: tuple[str, ...] = ("FLEXICLIP_RAY_TMP", "FLEXICLIP_WATCHDOG_OF")
"""``FLEXICLIP_*`` variables that describe the driver's machine and mean nothing on a node."""

SHIPPED_PACKAGES: tuple[str, ...] = ("catalogs", "flexiclip_core", "tasks")
"""The project's packages a clip worker imports; shipped to the nodes as ``py_modules``."""

_SECRET_WORDS = ("SECRET", "TOKEN", "PASSWORD", "CREDENTIAL")


def worker_runtime_env(
    environ: dict[str, str] | os._Environ[str] | None = None,
    *,
    forward_credentials: bool = False,
    ship_code: bool | None = None,
) -> dict:
    """The Ray ``runtime_env`` of a cluster job: forwarded settings and the project's code.

    ``ship_code`` None: ship unless ``FLEXICLIP_SHIP_CODE=0`` (the nodes have this very version
    of flexiclip installed). A ``FLEXICLIP_*`` name that looks like a secret is forwarded only
    with ``forward_credentials``, like the AWS keys.
    """
    env = os.environ if environ is None else environ
    forwarded: dict[str, str] = {}
    for name, value in env.items():
        if not value or name in DRIVER_ONLY_ENV:
            continue
        secret = name in CREDENTIAL_ENV or (name.startswith("FLEXICLIP_") and any(w in name for w in _SECRET_WORDS))
        if secret and not forward_credentials:
            continue
        if name in FORWARDED_ENV or name.startswith("FLEXICLIP_") or (secret and forward_credentials):
            forwarded[name] = value
    runtime_env: dict = {"env_vars": forwarded}
    if ship_code is None:
        ship_code = env.get("FLEXICLIP_SHIP_CODE", "1").lower() not in ("0", "false", "no", "off")
    if ship_code:
        repo = Path(__file__).resolve().parents[1]
        runtime_env["py_modules"] = [str(repo / name) for name in SHIPPED_PACKAGES]
        runtime_env["excludes"] = ["__pycache__", "*.pyc"]
    return runtime_env


def apply_pipeline_env(environ: MutableMapping[str, str] | None = None, *, network_guard: bool = True) -> None:
    """Set the pipeline's environment defaults (and the network guard) in ``environ``.

    With ``network_guard`` the guard folder goes first on PYTHONPATH, so child processes
    (Prefect's server, Ray's processes and workers) install it at start-up, and it is installed
    in this process too. ``FLEXICLIP_NET_GUARD=off`` disables it.
    """
    env = os.environ if environ is None else environ
    for name, value in PIPELINE_ENV_DEFAULTS.items():
        env.setdefault(name, value)
    if network_guard and env.get("FLEXICLIP_NET_GUARD", "probes").lower() != "off":
        env.setdefault("FLEXICLIP_NET_GUARD", "probes")
        paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        if str(GUARD_DIR) not in paths:
            env["PYTHONPATH"] = os.pathsep.join([str(GUARD_DIR), *paths])
        if env is os.environ:
            install_network_guard()


def install_network_guard() -> bool:
    """Install the network guard's audit hook in this process (idempotent)."""
    import importlib.util
    import sys

    name = "flexiclip_loopback_guard"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, GUARD_DIR / "sitecustomize.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return bool(module.install())


@dataclass(frozen=True)
class RaySession:
    """How this process is attached to Ray."""

    address: str | None
    """The cluster joined (RAY_ADDRESS), or None for a local cluster started here."""
    started_here: bool
    """Whether this process started the cluster (and so shuts it down)."""
    temp_dir: str | None
    """Session folder of a local cluster started here (removed at shutdown)."""


@contextmanager
def ray_session(
    *, num_cpus: int | None = None, num_gpus: int | None = None, runtime_env: dict | None = None
) -> Iterator[RaySession]:
    """Attach to Ray for the duration of the block: join RAY_ADDRESS or start a local cluster.

    An already-initialised Ray (a caller's) is used as is and left running. A local cluster's
    session folder is created under ``FLEXICLIP_RAY_TMP`` when set (else the system temp).
    ``runtime_env`` (see `worker_runtime_env`) is the job's on a joined cluster; a local cluster's
    workers inherit this process's environment and files, so it is not used there.
    """
    import sys

    if "ray" not in sys.modules and not os.environ.get("RAY_ADDRESS"):
        for name, value in LOCAL_RAY_ENV.items():  # read by ray at import
            os.environ.setdefault(name, value)
    import ray

    if ray.is_initialized():
        yield RaySession(address=None, started_here=False, temp_dir=None)
        return
    address = os.environ.get("RAY_ADDRESS") or None
    if address:
        log.info("joining the Ray cluster at %s", address)
        ray.init(address=address, log_to_driver=True, runtime_env=runtime_env)
        try:
            yield RaySession(address=address, started_here=False, temp_dir=None)
        finally:
            ray.shutdown()
        return

    for name, value in LOCAL_RAY_ENV.items():
        os.environ.setdefault(name, value)
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False  # in case ray was imported before the variable was set
    # Short path: Ray's unix sockets live under it and must stay below 107 characters.
    base = os.environ.get("FLEXICLIP_RAY_TMP") or None
    if base:
        os.makedirs(base, exist_ok=True)
    temp_dir = tempfile.mkdtemp(prefix="fxray-", dir=base)
    cpus = num_cpus or os.cpu_count() or 1
    log.info("starting a local Ray (%d CPUs) in %s", cpus, temp_dir)
    ray.init(
        address="local",
        num_cpus=cpus,
        num_gpus=num_gpus,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        _temp_dir=temp_dir,
        # Rows and small job payloads only: a small object store starts faster and fits any /dev/shm.
        object_store_memory=200 * 1024 * 1024,
        log_to_driver=True,
        configure_logging=False,
    )
    try:
        yield RaySession(address=None, started_here=True, temp_dir=temp_dir)
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)
