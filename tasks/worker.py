"""The clip worker: loads the prior once, then animates clip after clip and publishes the media.

`ClipWorker` is a plain class; `tasks.pool` runs it as a long-lived Ray actor (one per GPU, or
per CPU slot). Everything that goes wrong with one clip comes back as a ``failed`` row — the
actor survives it; only a dead process (OOM, killed) loses the clip in flight, and the pool
retries that clip elsewhere.

Where media goes (docs/pipeline.md §6, README "Running on a Ray cluster"): at start the worker
looks for the probe object the driver wrote under the output root. An ``s3://`` root must show
it (same endpoint and bucket as the driver) and take the worker's own write, else the worker
reports why and takes no clip. A local root that shows it is the driver's disk (or a disk
mounted on every node): the worker writes media there itself. A local root that does not show
it is a disk the driver cannot see: the worker writes nothing there and sends each clip's media
back with its row through Ray's object store (``WORKER_MEDIA_KEY``) for the driver to publish
(`publish_shipped_media`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.jobs import MEDIA_OUTPUTS, SUCCEEDED, ClipJob, failed_row, one_line, utc_now
from tasks.report import UNTRAINED_NOTE

log = logging.getLogger(__name__)

WORKER_MEDIA_KEY = "_media"
"""Row key of media sent back to the driver: {kind: (file bytes, suffix)}; removed before staging."""
WORKER_NODE_KEY = "_ray_node_id"
"""Row key of the Ray node that made the clip; removed before staging."""
WORKER_ROW_KEYS: tuple[str, ...] = (WORKER_MEDIA_KEY, WORKER_NODE_KEY)
"""Keys a worker adds to its rows that are not catalog columns (`take_worker_keys` removes them)."""

PUBLISH_TO_ROOT, PUBLISH_VIA_DRIVER = "root", "driver"

AUTO_PRIOR = "auto"
"""Prior spec meaning: Wan (Apache-2.0) when configured; else ModelScope (CC-BY-NC-4.0, said so
loudly) if its weights are available locally; else the tiny test prior."""


@dataclass(frozen=True)
class WorkerInfo:
    """What a started worker reports about itself."""

    pid: int
    host: str
    device: str
    prior_name: str
    prior_is_trained: bool
    prior_description: str
    prior_fallback_reason: str | None
    """Why ``auto`` fell back to the tiny prior (None when it did not)."""
    torch_threads: int
    node_id: str | None = None
    """Ray node the worker runs on (None outside Ray)."""
    publishes: str = PUBLISH_TO_ROOT
    """"root": writes media to the output root itself; "driver": sends it back to the driver."""
    code_path: str = ""
    """Where this worker imported the project's code from (the job's py_modules on a cluster)."""
    setup_error: str | None = None
    """Why the worker cannot take clips (prior, output root, credentials); None when ready."""
    prior_licence: str = "n/a"
    """Licence of the prior's weights: outputs inherit its obligations."""


def load_video_prior(spec: str, device: str):  # -> tuple[VideoPrior, str | None]
    """Load the prior named by ``spec``; ``auto`` falls back to ``tiny`` when weights are absent.

    ``auto`` never silently picks a non-commercial model: when Wan (Apache-2.0) is configured
    ($FLEXICLIP_WAN_MODEL or a cached snapshot) it is used, and an incomplete Wan folder raises
    instead of falling back to ModelScope; ModelScope (CC-BY-NC-4.0) is picked only when no Wan
    is configured, with a warning naming its licence.

    Returns (prior, fallback reason or None). Raises `PriorUnavailable` for an explicit spec
    whose weights are absent.
    """
    from flexiclip_core.errors import ConfigError, PriorUnavailable
    from flexiclip_core.guidance import load_prior, wan_configured

    if spec != AUTO_PRIOR:
        return load_prior(spec, device=device), None
    if wan_configured():
        return load_prior("wan", device=device), None
    try:
        prior = load_prior("modelscope", device=device)
        log.warning(
            "prior auto: no commercially usable prior is configured (set FLEXICLIP_WAN_MODEL for Wan2.1, "
            "Apache-2.0); using ModelScope, licensed %s: its outputs are for non-commercial use only",
            prior.licence,
        )
        return prior, None
    except (PriorUnavailable, ConfigError) as exc:  # no weights here (or no ModelScope support built in)
        log.warning("no ModelScope weights found (%s): using the tiny prior, whose motion is untrained", exc)
        return load_prior("tiny", device=device), str(exc)


class ClipWorker:
    """Animates clips with one prior loaded once; publishes media to the output root."""

    def __init__(
        self,
        prior_spec: str,
        output_root: str,
        *,
        use_gpu: bool = False,
        torch_threads: int | None = None,
        storage_options: dict | None = None,
        root_probe: str | None = None,
    ) -> None:
        """Load the prior and prove the output root; a failure is kept in ``setup_error`` (see `info`).

        ``root_probe``: the probe the driver wrote under the output root for this run (see the
        module docstring); None writes media to the root unchecked (single-machine callers).
        """
        from tasks.runtime import install_network_guard

        if os.environ.get("FLEXICLIP_NET_GUARD", "probes").lower() != "off":
            install_network_guard()  # a cluster node's Python may not have the guard on its PYTHONPATH
        self.node_id = _ray_node_id()
        self.device = "cpu"
        self.prior = None
        self.fallback_reason: str | None = None
        self.publishes = PUBLISH_TO_ROOT
        self.setup_error: str | None = None
        self.scratch_root = tempfile.mkdtemp(prefix="flexiclip-worker-")
        try:
            self._setup(prior_spec, output_root, use_gpu, torch_threads, storage_options, root_probe)
        except Exception as exc:  # reported by info(): the pool drops this worker before it takes a clip
            where = f"clip worker {os.getpid()} on {socket.gethostname()}" + (
                f" (Ray node {self.node_id[:12]})" if self.node_id else "")
            self.setup_error = one_line(f"{where}: {_reason(exc)}", 600)
            log.error("%s", self.setup_error)
            return
        log.info("worker %d ready: prior %s on %s, media %s", os.getpid(), self.prior.name, self.device,
                 "to the output root" if self.publishes == PUBLISH_TO_ROOT else "sent back to the driver")

    def _setup(self, prior_spec: str, output_root: str, use_gpu: bool, torch_threads: int | None,
               storage_options: dict | None, root_probe: str | None) -> None:
        import torch

        from catalogs.output import OutputCatalog
        from catalogs.storage import storage_options_from_env

        if torch_threads:
            # Two actors on two cores: one thread each keeps them from fighting over the cores.
            torch.set_num_threads(int(torch_threads))
        self.device = "cuda" if use_gpu and torch.cuda.is_available() else "cpu"
        options = storage_options if storage_options is not None else storage_options_from_env()
        self.catalog = OutputCatalog(output_root, storage_options=options or None)
        # The root first: it is cheap, and a node without credentials should not load a model first.
        if root_probe is not None:
            self.publishes = self._check_output_root(root_probe)
        self.prior, self.fallback_reason = load_video_prior(prior_spec, self.device)
        from flexiclip_core.learned_metrics import LearnedMetrics, LearnedMetricsConfig

        # Learned-metric models load once per actor from the FLEXICLIP_* paths (None + reason otherwise).
        self.learned_metrics = LearnedMetrics(LearnedMetricsConfig.from_env(), device=self.device)

    def _check_output_root(self, root_probe: str) -> str:
        """PUBLISH_TO_ROOT or PUBLISH_VIA_DRIVER for this node; raises when an S3 root is unusable."""
        from tasks.preflight import PreflightError, check_output_root, probe_exists

        catalog = self.catalog
        if catalog.is_s3:
            try:
                check_output_root(catalog)  # our own write: credentials, bucket, endpoint
                visible = probe_exists(catalog, root_probe)
            except PreflightError as exc:
                raise PreflightError(f"{exc}; give every node credentials for it (instance role, or AWS_* "
                                     "in the environment `ray start` runs with) or run with --forward-credentials"
                                     ) from exc
            if not visible:
                raise PreflightError(f"output root {catalog.root!r} here is not the driver's: its probe "
                                     f"{root_probe} is missing (check AWS_ENDPOINT_URL on the driver and the nodes)")
            return PUBLISH_TO_ROOT
        if not probe_exists(catalog, root_probe):
            return PUBLISH_VIA_DRIVER
        check_output_root(catalog)
        return PUBLISH_TO_ROOT

    def info(self) -> WorkerInfo:
        import torch

        import tasks

        prior = self.prior
        return WorkerInfo(
            pid=os.getpid(),
            host=socket.gethostname(),
            device=self.device,
            prior_name=prior.name if prior is not None else "",
            prior_is_trained=bool(prior.is_trained) if prior is not None else False,
            prior_description=str(prior.description) if prior is not None else "",
            prior_fallback_reason=self.fallback_reason,
            prior_licence=str(prior.licence) if prior is not None else "n/a",
            torch_threads=torch.get_num_threads(),
            node_id=self.node_id,
            publishes=self.publishes,
            code_path=os.path.dirname(os.path.abspath(tasks.__file__)) if tasks.__file__ else "",
            setup_error=self.setup_error,
        )

    def animate(self, job: ClipJob) -> dict[str, Any]:
        """Animate ``job`` and publish its media; returns its ``succeeded`` or ``failed`` row."""
        started_at = utc_now()
        base = job.base_row()
        out_dir = tempfile.mkdtemp(prefix=f"{job.clip_id}-", dir=self.scratch_root)
        try:
            outputs = self._animate(job, out_dir)
            row = {**base, "status": SUCCEEDED, "error_type": None, "error_message": None,
                   WORKER_NODE_KEY: self.node_id}
            # A format the row's export config left out is not published (its columns stay null).
            published = {kind: suffix for kind, suffix in MEDIA_OUTPUTS.items() if kind in outputs.files}
            if self.publishes == PUBLISH_TO_ROOT:
                for kind, suffix in published.items():
                    uri, digest = self.catalog.put_media(outputs.files[kind], suffix)
                    row[f"{kind}_uri"], row[f"{kind}_sha256"] = uri, digest
            else:  # the driver cannot see this node's disk: the bytes go back with the row
                row[WORKER_MEDIA_KEY] = {kind: (Path(outputs.files[kind]).read_bytes(), suffix)
                                         for kind, suffix in published.items()}
            row.update({name: _float_or_none(value) for name, value in outputs.metrics.values.items()})
            result = outputs.result
            row.update(
                seconds=float(result.seconds),
                device=str(result.device),
                prior=result.prior_name,
                prior_is_trained=bool(result.prior_is_trained),
                started_at=started_at,
                finished_at=utc_now(),
            )
            notes = [f"{name} not computed: {reason}" for name, reason in sorted(outputs.metrics.reasons.items())]
            if not result.prior_is_trained:
                notes.insert(0, f"prior {result.prior_name!r}: {UNTRAINED_NOTE}")
            row["warnings"] = json.dumps([one_line(note, 500) for note in notes]) if notes else None
            return row
        except Exception as exc:  # one bad clip never takes the worker (or the batch) down
            log.warning("clip %s failed: %s: %s", job.clip_id, type(exc).__name__, exc, exc_info=not _expected(exc))
            row = failed_row(base, type(exc).__name__, str(exc) or type(exc).__name__, started_at=started_at)
            row[WORKER_NODE_KEY] = self.node_id
            row["prior_is_trained"] = bool(self.prior.is_trained)
            row["device"] = self.device
            row["seconds"] = (row["finished_at"] - started_at).total_seconds()
            return row
        finally:
            shutil.rmtree(out_dir, ignore_errors=True)

    def _animate(self, job: ClipJob, out_dir: str):  # -> ClipOutputs
        from flexiclip_core.animate import ClipRequest, animate_clip

        request = ClipRequest(
            svg=job.svg_bytes,
            prompt=job.prompt,
            clip_id=job.clip_id,
            negative_prompt=job.negative_prompt,
            keypoints=job.keypoints,
            bones=job.skeleton,
            layers=job.layers,
        )
        return animate_clip(
            request, self.prior, job.config, out_dir, device=self.device, export=job.export,
            learned_metrics=self.learned_metrics,
        )


def take_worker_keys(row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(row without the worker's non-column keys, those keys' values) — see ``WORKER_ROW_KEYS``."""
    clean = {key: value for key, value in row.items() if key not in WORKER_ROW_KEYS}
    return clean, {key: row[key] for key in WORKER_ROW_KEYS if key in row}


def publish_shipped_media(output_catalog, row: dict[str, Any], media: dict[str, tuple[bytes, str]],
                          scratch: str | None = None) -> dict[str, Any]:
    """Put media a worker sent back into the output root (driver side); the row with its URIs.

    ``media``: kind → (bytes, suffix), as under ``WORKER_MEDIA_KEY``. Any failure becomes a
    ``failed`` row naming the clip: nothing is staged that points at a file that is not there.
    """
    folder = tempfile.mkdtemp(prefix="flexiclip-publish-", dir=scratch)
    try:
        out = dict(row)
        for kind, (payload, suffix) in media.items():
            path = Path(folder, kind + suffix)
            path.write_bytes(payload)
            out[f"{kind}_uri"], out[f"{kind}_sha256"] = output_catalog.put_media(path, suffix)
        return out
    except Exception as exc:  # storage errors of every kind: the clip is not done
        base = {key: row.get(key) for key in ("run_id", "clip_id", "svg_sha256", "prompt", "method", "config_hash",
                                              "prior", "seed", "code_version", "idempotency_key", "iterations")}
        return failed_row(base, type(exc).__name__,
                          f"clip {row.get('clip_id')!r}: its media could not be published to "
                          f"{output_catalog.root}: {_reason(exc)}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _ray_node_id() -> str | None:
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
    except Exception:  # outside Ray (tests, `flexiclip animate`)
        return None


def _reason(exc: BaseException) -> str:
    from flexiclip_core.errors import FlexiclipError

    text = str(exc).strip().splitlines()
    if not text:
        return type(exc).__name__
    return text[0] if isinstance(exc, FlexiclipError) else f"{type(exc).__name__}: {text[0]}"


def _expected(exc: BaseException) -> bool:
    """Errors about the clip itself (logged without a traceback)."""
    from flexiclip_core.errors import FlexiclipError

    return isinstance(exc, FlexiclipError)


def _float_or_none(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if value == value else None  # NaN → None (a missing metric, not a number)
