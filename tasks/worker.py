"""The clip worker: loads the prior once, then animates clip after clip and publishes the media.

`ClipWorker` is a plain class; `tasks.pool` runs it as a long-lived Ray actor (one per GPU, or
per CPU slot). Everything that goes wrong with one clip comes back as a ``failed`` row — the
actor survives it; only a dead process (OOM, killed) loses the clip in flight, and the pool
retries that clip elsewhere.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass

from catalogs.rows import MEDIA_KINDS, MediaRef, OutputRow, Status, one_line
from flexiclip_core.errors import FlexiclipError
from tasks.jobs import ClipJob, utc_now
from tasks.report import UNTRAINED_NOTE

log = logging.getLogger(__name__)

AUTO_PRIOR = "auto"
"""Prior spec meaning: ModelScope if its weights are available locally, else the tiny test prior."""


@dataclass(frozen=True)
class WorkerInfo:
    """What a started worker reports about itself."""

    pid: int
    host: str
    device: str
    gpu_name: str
    """Name of the worker's GPU, or ``cpu``."""
    ray_node_id: str | None
    """The Ray node the worker runs on (None outside Ray)."""
    prior_name: str
    prior_is_trained: bool
    prior_description: str
    prior_fallback_reason: str | None
    """Why ``auto`` fell back to the tiny prior (None when it did not)."""
    torch_threads: int


def load_video_prior(spec: str, device: str):  # -> tuple[VideoPrior, str | None]
    """Load the prior named by ``spec``; ``auto`` falls back to ``tiny`` when weights are absent.

    Returns (prior, fallback reason or None). Raises `PriorUnavailable` for an explicit spec
    whose weights are absent.
    """
    from flexiclip_core.errors import ConfigError, PriorUnavailable
    from flexiclip_core.guidance import load_prior

    if spec != AUTO_PRIOR:
        return load_prior(spec, device=device), None
    try:
        return load_prior("modelscope", device=device), None
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
    ) -> None:
        import torch

        from catalogs.output import OutputCatalog
        from catalogs.storage import storage_options_from_env

        if torch_threads:
            # Two actors on two cores: one thread each keeps them from fighting over the cores.
            torch.set_num_threads(int(torch_threads))
        self.device = "cuda" if use_gpu and torch.cuda.is_available() else "cpu"
        self.provenance = worker_provenance(self.device)
        self.refused: FlexiclipError | None = None
        try:
            self.prior, self.fallback_reason = load_video_prior(prior_spec, self.device)
        except FlexiclipError as exc:
            # Bad input (an explicit prior whose weights are absent): `info` raises it, so the
            # driver gets the error itself rather than an opaque "actor died in __init__".
            self.refused = exc
            return
        from flexiclip_core.learned_metrics import LearnedMetrics, LearnedMetricsConfig

        # Learned-metric models load once per actor from the FLEXICLIP_* paths (None + reason otherwise).
        self.learned_metrics = LearnedMetrics(LearnedMetricsConfig.from_env(), device=self.device)
        options = storage_options if storage_options is not None else storage_options_from_env()
        self.catalog = OutputCatalog(output_root, storage_options=options or None)
        self.scratch_root = tempfile.mkdtemp(prefix="flexiclip-worker-")
        log.info("worker %d ready: prior %s on %s", os.getpid(), self.prior.name, self.device)

    def info(self) -> WorkerInfo:
        """What this worker is; raises the bad-input error that kept it from loading its prior."""
        import torch

        if self.refused is not None:
            raise self.refused

        return WorkerInfo(
            pid=os.getpid(),
            host=self.provenance["host"],
            device=self.device,
            gpu_name=self.provenance["gpu_name"],
            ray_node_id=self.provenance["ray_node_id"],
            prior_name=self.prior.name,
            prior_is_trained=bool(self.prior.is_trained),
            prior_description=str(self.prior.description),
            prior_fallback_reason=self.fallback_reason,
            torch_threads=torch.get_num_threads(),
        )

    def animate(self, job: ClipJob) -> OutputRow:
        """Animate ``job`` and publish its media; returns its ``succeeded`` or ``failed`` row."""
        started_at = utc_now()
        out_dir = tempfile.mkdtemp(prefix=f"{job.clip_id}-", dir=self.scratch_root)
        try:
            outputs = self._animate(job, out_dir)
            media = {}
            for kind in MEDIA_KINDS:
                path = outputs.files.get(kind.name)
                if path is None:
                    if kind.required:
                        raise KeyError(f"clip {job.clip_id!r}: the export wrote no {kind.name!r} file")
                    continue
                media[kind.name] = MediaRef(*self.catalog.put_media(path, kind.suffix))
            result = outputs.result
            notes = [f"{name} not computed: {reason}" for name, reason in sorted(outputs.metrics.reasons.items())]
            if not result.prior_is_trained:
                notes.insert(0, f"prior {result.prior_name!r}: {UNTRAINED_NOTE}")
            return job.row(
                Status.SUCCEEDED,
                media=media,
                metrics=dict(outputs.metrics.values),
                seconds=float(result.seconds),
                device=str(result.device),
                prior=result.prior_name,
                prior_is_trained=bool(result.prior_is_trained),
                started_at=started_at,
                finished_at=utc_now(),
                warnings=tuple(one_line(note, 500) for note in notes),
                **self.provenance,
            )
        except Exception as exc:  # one bad clip never takes the worker (or the batch) down
            log.warning("clip %s failed: %s: %s", job.clip_id, type(exc).__name__, exc, exc_info=not _expected(exc))
            finished_at = utc_now()
            return job.failed(type(exc).__name__, str(exc) or type(exc).__name__, started_at=started_at,
                              prior_is_trained=bool(self.prior.is_trained), device=self.device,
                              seconds=(finished_at - started_at).total_seconds(), **self.provenance)
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
            request, self.prior, job.config, out_dir, device=self.device, learned_metrics=self.learned_metrics
        )


def worker_provenance(device: str) -> dict[str, str | None]:
    """``host``, ``gpu_name`` (the CUDA device's name, or ``cpu``) and ``ray_node_id`` (None when
    not running inside Ray) of this process: the provenance columns of every row it makes."""
    import sys

    import torch

    gpu_name = torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else "cpu"
    node_id = None
    ray = sys.modules.get("ray")  # an actor has it imported; a plain worker is not inside Ray
    if ray is not None and ray.is_initialized():
        node_id = ray.get_runtime_context().get_node_id()
    return {"host": socket.gethostname(), "gpu_name": gpu_name, "ray_node_id": node_id}


def _expected(exc: BaseException) -> bool:
    """Errors about the clip itself (logged without a traceback)."""
    from flexiclip_core.errors import FlexiclipError

    return isinstance(exc, FlexiclipError)
