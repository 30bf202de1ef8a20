"""The clip worker: loads the prior once, then animates clip after clip and publishes the media.

`ClipWorker` is a plain class; `tasks.pool` runs it as a long-lived Ray actor (one per GPU, or
per CPU slot). Everything that goes wrong with one clip comes back as a ``failed`` row — the
actor survives it; only a dead process (OOM, killed) loses the clip in flight, and the pool
retries that clip elsewhere.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from typing import Any

from tasks.jobs import MEDIA_OUTPUTS, SUCCEEDED, ClipJob, failed_row, one_line, utc_now
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
        self.prior, self.fallback_reason = load_video_prior(prior_spec, self.device)
        from flexiclip_core.learned_metrics import LearnedMetrics, LearnedMetricsConfig

        # Learned-metric models load once per actor from the FLEXICLIP_* paths (None + reason otherwise).
        self.learned_metrics = LearnedMetrics(LearnedMetricsConfig.from_env(), device=self.device)
        options = storage_options if storage_options is not None else storage_options_from_env()
        self.catalog = OutputCatalog(output_root, storage_options=options or None)
        self.scratch_root = tempfile.mkdtemp(prefix="flexiclip-worker-")
        log.info("worker %d ready: prior %s on %s", os.getpid(), self.prior.name, self.device)

    def info(self) -> WorkerInfo:
        import torch

        return WorkerInfo(
            pid=os.getpid(),
            host=socket.gethostname(),
            device=self.device,
            prior_name=self.prior.name,
            prior_is_trained=bool(self.prior.is_trained),
            prior_description=str(self.prior.description),
            prior_fallback_reason=self.fallback_reason,
            torch_threads=torch.get_num_threads(),
        )

    def animate(self, job: ClipJob) -> dict[str, Any]:
        """Animate ``job`` and publish its media; returns its ``succeeded`` or ``failed`` row."""
        started_at = utc_now()
        base = job.base_row()
        out_dir = tempfile.mkdtemp(prefix=f"{job.clip_id}-", dir=self.scratch_root)
        try:
            outputs = self._animate(job, out_dir)
            row = {**base, "status": SUCCEEDED, "error_type": None, "error_message": None}
            for kind, suffix in MEDIA_OUTPUTS.items():
                if kind not in outputs.files:  # the row's export config left this format out
                    continue
                uri, digest = self.catalog.put_media(outputs.files[kind], suffix)
                row[f"{kind}_uri"], row[f"{kind}_sha256"] = uri, digest
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


def _expected(exc: BaseException) -> bool:
    """Errors about the clip itself (logged without a traceback)."""
    from flexiclip_core.errors import FlexiclipError

    return isinstance(exc, FlexiclipError)


def _float_or_none(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if value == value else None  # NaN → None (a missing metric, not a number)
