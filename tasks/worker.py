"""The clip worker: loads the prior once, then animates clip after clip and publishes the media.

`ClipWorker` is a plain class; `tasks.pool` runs it as a long-lived Ray actor (one per GPU, or
per CPU slot). Everything that goes wrong with one clip comes back as a ``failed`` row — the
actor survives it; only a dead process (OOM, killed) loses the clip in flight, and the pool
retries that clip elsewhere. `ClipWorker.animate_batch` takes several clips per call and
optimises the compatible ones in lockstep (`tasks.batch`, docs/pipeline.md §6), one row each.

Where media goes (docs/pipeline.md §6, README "Running on a Ray cluster"): at start the worker
looks for the probe object the driver wrote under the output root. An ``s3://`` root must show
it (same endpoint and bucket as the driver) and take the worker's own write, else the worker
reports why and takes no clip. A local root that shows it is the driver's disk (or a disk
mounted on every node): the worker writes media there itself. A local root that does not show
it is a disk the driver cannot see: the worker writes nothing there and sends each clip's media
back with its row through Ray's object store (a `ShippedMedia`) for the driver to publish
(`publish_shipped_media`). Every row says where it was made (``host``, ``gpu_name``,
``ray_node_id``: `worker_provenance`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from catalogs.output import OutputCatalog
from catalogs.rows import FIT_METRIC_COLUMNS, MEDIA_KINDS, MediaRef, OutputRow, Status, one_line
from flexiclip_core.output_kinds import OUTPUT_KINDS
from tasks.jobs import ClipJob, GeneratedReference, failed_row, utc_now
from tasks.report import UNTRAINED_NOTE

if TYPE_CHECKING:
    from catalogs.input import ReferenceInput
    from flexiclip_core.animate import ClipOutputs, ClipRequest, PreparedClip
    from flexiclip_core.guidance.base import VideoPrior
    from flexiclip_core.optimize import AnimationResult
    from flexiclip_core.videofit.generate import ReferenceGenerator

log = logging.getLogger(__name__)

PUBLISH_TO_ROOT, PUBLISH_VIA_DRIVER = "root", "driver"
VIDEO_FIT = "video-fit"
REFERENCE_MEDIA = "reference"
"""Key of a video-fit clip's reference in `ShippedMedia.media` and its file name in the clip's
scratch folder (published content-addressed; the row's ``reference_video_uri``)."""
CANDIDATE_MEDIA = "reference-candidate:"
"""Key prefix (``reference-candidate:<seed>``) of a generated clip's other candidates in
`ShippedMedia.media`: a node that cannot write to the driver's root ships them with the row, the
driver publishes them content-addressed and rewrites the row's ``reference_candidates``."""
REFERENCE_SCRATCH = "reference-input"
"""Where a job's reference bytes are written for decoding, inside the clip's scratch folder."""
_MEDIA_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}")
SOURCE_SVG_NAME = OUTPUT_KINDS.get("source_svg").file_name
"""The input SVG's name in a clip's scratch folder (published as the ``source_svg`` media kind)."""


@dataclass(frozen=True)
class ShippedMedia:
    """A finished clip whose worker could not write to the output root (the driver cannot see its
    disk): the row, and the media bytes the driver publishes before staging it."""

    row: OutputRow
    """The clip's row, without media references yet."""
    media: dict[str, tuple[bytes, str]]
    """`MediaKind.name` → (file bytes, content-address suffix)."""


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
    gpu_name: str = "cpu"
    """Name of the worker's GPU, or ``cpu``."""
    prior_licence: str = "n/a"
    prior_key: str = ""
    """The prior's `result_key` (name, plus its weights' fingerprint): what idempotency keys hold."""
    """Licence of the prior's weights: outputs inherit its obligations."""
    gpu_free_bytes: int | None = None
    """Free memory of the worker's GPU with its prior loaded (None on CPU): sizes ``auto`` batches."""
    gpu_prior_bytes: int = 0
    """GPU memory the worker holds with its prior loaded (0 on CPU): with the free memory, what
    the card offers one clip (`tasks.batch.card_too_small`)."""
    prior_vae_dtype: str = "any"
    """The dtype the prior's VAE runs in (``bfloat16``, ``float32``; ``any`` when it has none):
    picks the peak-table row."""


def load_video_prior(spec: str, device: str) -> tuple[VideoPrior, str | None]:
    """Load the prior named by ``spec``: (prior, why ``auto`` fell back to tiny, or None).

    The driver hands workers a spec it already decided (`tasks.preflight.resolve_prior`); a
    worker handed ``auto`` asks the same policy (`choose_prior`). Raises `PriorUnavailable` for a
    prior whose weights are absent.
    """
    from flexiclip_core.guidance import load_prior
    from flexiclip_core.guidance.choice import AUTO_PRIOR, choose_prior

    choice = choose_prior(spec) if spec == AUTO_PRIOR else None
    prior = load_prior(choice.spec if choice else spec, device=device)
    return prior, choice.fallback_reason if choice else None


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
        gpus: float = 0.0,
    ) -> None:
        """Load the prior and prove the output root; a failure is kept in ``setup_error`` (see `info`).

        ``root_probe``: the probe the driver wrote under the output root for this run (see the
        module docstring); None writes media to the root unchecked (single-machine callers).
        ``gpus``: the GPUs Ray reserved for this actor (its ``num_gpus``), for ``gpu_seconds``.
        """
        from tasks.runtime import install_network_guard

        if os.environ.get("FLEXICLIP_NET_GUARD", "probes").lower() != "off":
            install_network_guard()  # a cluster node's Python may not have the guard on its PYTHONPATH
        self.node_id = _ray_node_id()
        self.device = "cpu"
        self.gpus = float(gpus)
        self.prior: VideoPrior | None = None
        self.fallback_reason: str | None = None
        self.publishes = PUBLISH_TO_ROOT
        self.setup_error: str | None = None
        self.provenance: dict[str, str | None] = {
            "host": socket.gethostname(),
            "gpu_name": "cpu",
            "ray_node_id": self.node_id,
        }
        self.scratch_root = tempfile.mkdtemp(prefix="flexiclip-worker-")
        self.generators: dict[str, ReferenceGenerator] = {}
        """Reference generators loaded so far (video-fit with ``video_fit.generator``), by name."""
        self.generate_calls = 0
        """`ReferenceGenerator.generate` calls this worker made (a re-fit that reuses makes none)."""
        self.storage_options: dict = {}
        try:
            self._setup(prior_spec, output_root, use_gpu, torch_threads, storage_options, root_probe)
        except Exception as exc:  # reported by info(): the pool drops this worker before it takes a clip
            where = f"clip worker {os.getpid()} on {socket.gethostname()}" + (
                f" (Ray node {self.node_id[:12]})" if self.node_id else ""
            )
            self.setup_error = one_line(f"{where}: {_reason(exc)}", 600)
            log.error("%s", self.setup_error)
            return
        log.info(
            "worker %d ready: prior %s on %s, media %s",
            os.getpid(),
            self.ready_prior().name,
            self.device,
            "to the output root" if self.publishes == PUBLISH_TO_ROOT else "sent back to the driver",
        )

    def _setup(
        self,
        prior_spec: str,
        output_root: str,
        use_gpu: bool,
        torch_threads: int | None,
        storage_options: dict | None,
        root_probe: str | None,
    ) -> None:
        import torch

        from catalogs.output import OutputCatalog
        from catalogs.storage import storage_options_from_env

        if torch_threads:
            # Two actors on two cores: one thread each keeps them from fighting over the cores.
            torch.set_num_threads(int(torch_threads))
        self.device = "cuda" if use_gpu and torch.cuda.is_available() else "cpu"
        from flexiclip_core.config import worker_execution

        # A long-lived worker: on CUDA a compiled prior and sparse host syncs (never changes the result).
        self.execution = worker_execution(self.device)
        self.provenance = worker_provenance(self.device)
        options = storage_options if storage_options is not None else storage_options_from_env()
        self.storage_options = options or {}
        self.catalog = OutputCatalog(output_root, storage_options=options or None)
        # The root first: it is cheap, and a node without credentials should not load a model first.
        if root_probe is not None:
            self.publishes = self._check_output_root(root_probe)
        self.prior, self.fallback_reason = load_video_prior(prior_spec, self.device)
        from flexiclip_core.learned_metrics import LearnedMetrics, LearnedMetricsConfig

        # Learned-metric models load once per actor from the FLEXICLIP_* paths (None + reason otherwise).
        self.learned_metrics = LearnedMetrics(LearnedMetricsConfig.from_env(), device=self.device)

    def ready_prior(self) -> VideoPrior:
        """The loaded prior; RuntimeError when set-up failed (``setup_error`` says why)."""
        if self.prior is None:
            raise RuntimeError(f"worker has no prior: {self.setup_error or 'set-up did not run'}")
        return self.prior

    def _check_output_root(self, root_probe: str) -> str:
        """PUBLISH_TO_ROOT or PUBLISH_VIA_DRIVER for this node; raises when an S3 root is unusable."""
        from tasks.preflight import PreflightError, check_output_root, probe_exists

        catalog = self.catalog
        if catalog.is_s3:
            try:
                check_output_root(catalog)  # our own write: credentials, bucket, endpoint
                visible = probe_exists(catalog, root_probe)
            except PreflightError as exc:
                raise PreflightError(
                    f"{exc}; give every node credentials for it (instance role, or AWS_* "
                    "in the environment `ray start` runs with) or run with --forward-credentials"
                ) from exc
            if not visible:
                raise PreflightError(
                    f"output root {catalog.root!r} here is not the driver's: its probe "
                    f"{root_probe} is missing (check AWS_ENDPOINT_URL on the driver and the nodes)"
                )
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
            prior_key=prior.result_key if prior is not None else "",
            prior_is_trained=bool(prior.is_trained) if prior is not None else False,
            prior_description=str(prior.description) if prior is not None else "",
            prior_fallback_reason=self.fallback_reason,
            prior_licence=self._prior_licence() or "n/a",
            torch_threads=torch.get_num_threads(),
            node_id=self.node_id,
            publishes=self.publishes,
            code_path=os.path.dirname(os.path.abspath(tasks.__file__)) if tasks.__file__ else "",
            setup_error=self.setup_error,
            gpu_name=str(self.provenance["gpu_name"]),
            gpu_free_bytes=int(torch.cuda.mem_get_info(self.device)[0]) if self.device.startswith("cuda") else None,
            gpu_prior_bytes=int(torch.cuda.memory_allocated(self.device)) if self.device.startswith("cuda") else 0,
            prior_vae_dtype=str(getattr(prior, "vae_dtype", "any")).removeprefix("torch."),
        )

    def animate(self, job: ClipJob) -> OutputRow | ShippedMedia:
        """Animate ``job`` and publish its media; its ``succeeded`` or ``failed`` row (a succeeded
        row with the media bytes when this node cannot write to the driver's root), with the
        clip's ``cpu_seconds`` and ``gpu_seconds`` (`with_costs`)."""
        if job.generator is not None and job.generated is None:
            return self.animate_batch([job])[0]  # its reference generated (or found) first
        wall, cpu = time.monotonic(), time.process_time()
        result = self._animate_one(job)
        return self.with_costs([result], time.monotonic() - wall, time.process_time() - cpu)[0]

    def with_costs(
        self, results: list[OutputRow | ShippedMedia], wall_s: float, cpu_s: float
    ) -> list[OutputRow | ShippedMedia]:
        """``results`` of one call that took ``wall_s`` seconds and ``cpu_s`` seconds of this
        process's CPU time, each row stamped with an even share: ``cpu_seconds`` = cpu_s / n,
        ``gpu_seconds`` = wall_s × GPUs held / n (0 on CPU; docs/pipeline.md §10)."""
        n = max(len(results), 1)
        gpus = self.gpus if self.device.startswith("cuda") else 0.0
        costs = {"cpu_seconds": cpu_s / n, "gpu_seconds": wall_s * gpus / n}
        return [
            ShippedMedia(r.row.replace(**costs), r.media) if isinstance(r, ShippedMedia) else r.replace(**costs)
            for r in results
        ]

    def _animate_one(self, job: ClipJob) -> OutputRow | ShippedMedia:
        """`animate` without the costs."""
        started_at = utc_now()
        out_dir = tempfile.mkdtemp(prefix=f"{job.clip_id}-", dir=self.scratch_root)
        try:
            return self._publish(job, self._animate(job, out_dir), out_dir, started_at)
        except Exception as exc:  # one bad clip never takes the worker (or the batch) down
            return self._failed(job, exc, started_at)
        finally:
            shutil.rmtree(out_dir, ignore_errors=True)

    def lockstep_pad(self, jobs: int, clips_per_worker: int) -> int | None:
        """``pad_to`` for a call of ``jobs`` clips: K (at least ``jobs``) when the prior is compiled
        and K > 1, else None (an eager prior does not care about the batch size)."""
        if not self.execution.compile_prior or max(clips_per_worker, jobs) <= 1:
            return None
        return max(clips_per_worker, jobs)

    def animate_batch(self, jobs: list[ClipJob], clips_per_worker: int = 1) -> list[OutputRow | ShippedMedia]:
        """Animate ``jobs`` together: one row per job, in order (docs/pipeline.md §6).

        Each clip is prepared alone (its parse, rig or mesh error is its ``failed`` row, as in
        `animate`); clips with equal `lockstep_key` are optimised in lockstep; a clip dropped
        from its batch (non-finite loss) gets a ``failed`` row naming the step while its
        batch-mates finish; each result is exported and published alone. One job is `animate`.
        A batch that fails as a whole (not one clip's error: e.g. out of GPU memory for K
        clips) is re-run one clip at a time.

        ``clips_per_worker`` (K, the pool's clips per call): with a compiled prior every lockstep
        prior call is padded to K clips (also for a batch of fewer clips, or after one drops), so
        the compiled denoiser keeps one shape and never recompiles mid-run (docs/method.md §10).
        """
        fitted = [job for job in jobs if job.reference is not None or job.config.objective == VIDEO_FIT]
        if any(job.generator is not None and job.generated is None for job in fitted):
            # Generated references first: one generate() call for the clips of this call.
            payloads: dict[str, bytes] = {}
            ready = self.with_generated_references(fitted, payloads)
            made: dict[int, OutputRow | ShippedMedia] = {}
            todo: list[tuple[int, ClipJob]] = []
            for index, job in enumerate(jobs):
                got = ready.get(id(job), job)
                if isinstance(got, OutputRow):
                    made[index] = got
                else:
                    todo.append((index, got))
            if todo:
                for (index, job), row in zip(todo, self.animate_batch([job for _, job in todo], clips_per_worker)):
                    made[index] = self.with_candidates(row, job, payloads)
            return [made[index] for index in range(len(jobs))]
        if fitted:  # a fit has no prior call to share: each runs alone, the rest as usual
            rest = [job for job in jobs if job not in fitted]
            done = {id(job): row for job, row in zip(rest, self.animate_batch(rest, clips_per_worker) if rest else [])}
            done.update({id(job): self.animate(job) for job in fitted})
            return [done[id(job)] for job in jobs]
        pad_to = self.lockstep_pad(len(jobs), clips_per_worker)
        if len(jobs) == 1 and pad_to is None:
            return [self.animate(jobs[0])]
        wall, cpu = time.monotonic(), time.process_time()
        rows = self._animate_lockstep(jobs, pad_to)
        return self.with_costs(rows, time.monotonic() - wall, time.process_time() - cpu)

    def _animate_lockstep(self, jobs: list[ClipJob], pad_to: int | None) -> list[OutputRow | ShippedMedia]:
        """`animate_batch` without the costs."""
        from flexiclip_core.animate import prepare_clip
        from flexiclip_core.lockstep import lockstep_key, optimise_lockstep

        rows: list[OutputRow | ShippedMedia | None] = [None] * len(jobs)
        prepared: dict[tuple, list[_Pending]] = {}
        folders: list[str] = []
        try:
            for index, job in enumerate(jobs):
                started_at = utc_now()
                try:
                    clip = prepare_clip(self._request(job), self.ready_prior(), job.config, device=self.device)
                except Exception as exc:  # its own SVG, rig or mesh: this clip only
                    rows[index] = self._failed(job, exc, started_at)
                    continue
                folders.append(tempfile.mkdtemp(prefix=f"{job.clip_id}-", dir=self.scratch_root))
                pending = _Pending(index, job, clip, started_at, folders[-1])
                prepared.setdefault(lockstep_key(clip.animator), []).append(pending)
            for group in prepared.values():
                try:
                    outcomes = optimise_lockstep(
                        [p.clip.animator for p in group], execution=self.execution, pad_to=pad_to
                    )
                except Exception as exc:  # the batch as a whole: each clip gets its own try below
                    log.warning(
                        "lockstep batch of %d clips (%s) failed as a whole (%s: %s): running them one at a time",
                        len(group),
                        ", ".join(p.job.clip_id for p in group),
                        type(exc).__name__,
                        _reason(exc),
                    )
                    for p in group:
                        p.clip = None  # type: ignore[assignment]  # frees its animator before the re-run
                        rows[p.index] = self._animate_one(p.job)
                    continue
                for p, outcome in zip(group, outcomes):
                    rows[p.index] = self._finish(p, outcome, len(group))
        finally:
            for folder in folders:
                shutil.rmtree(folder, ignore_errors=True)
        assert all(row is not None for row in rows), "every job of a batch ends in one row"
        return [row for row in rows if row is not None]

    def _finish(
        self, pending: _Pending, outcome: AnimationResult | Exception, batch_size: int
    ) -> OutputRow | ShippedMedia:
        """The row of one clip of a lockstep batch: its outputs published, or why it was dropped."""
        from flexiclip_core.animate import finish_clip

        job = pending.job
        if isinstance(outcome, Exception):
            # A clip optimised alone fails with its own message, as in `animate`.
            message = (
                f"clip {job.clip_id!r}: dropped from its lockstep batch of {batch_size} clips: "
                f"{_reason(outcome) if not isinstance(outcome, FloatingPointError) else outcome}"
                if batch_size > 1
                else None
            )
            return self._failed(job, outcome, pending.started_at, message=message)
        try:
            outputs = finish_clip(
                pending.clip, outcome, pending.out_dir, export=job.export, learned_metrics=self.learned_metrics
            )
            return self._publish(job, outputs, pending.out_dir, pending.started_at)
        except Exception as exc:  # its export or publishing: this clip only
            return self._failed(job, exc, pending.started_at)

    def _publish(
        self, job: ClipJob, outputs: ClipOutputs, out_dir: str, started_at: datetime
    ) -> OutputRow | ShippedMedia:
        """``job``'s succeeded row for ``outputs`` (a `ClipOutputs`), its media in the output root
        (or shipped back with the row when this node cannot write there)."""
        # The input SVG is published beside the outputs: a dataset sample pairs it with its motion.
        source_svg = Path(out_dir) / SOURCE_SVG_NAME
        source_svg.write_bytes(job.svg_bytes)
        written = {**outputs.files, "source_svg": source_svg}
        # A format the row's export config left out is not published (its columns stay null).
        files = {kind: written[kind.name] for kind in MEDIA_KINDS if kind.name in written}
        media = {}
        if self.publishes == PUBLISH_TO_ROOT:
            media = {kind.name: MediaRef(*self.catalog.put_media(path, kind.suffix)) for kind, path in files.items()}
        fitted: dict[str, object] = {}
        reference_file = None
        if job.reference is not None:
            fitted = fit_columns(outputs.files["metrics"])
            reference_file = reference_media_file(
                job.reference, Path(out_dir) / REFERENCE_MEDIA, job.config.video_fit.limits.folder_fps
            )
            if self.publishes == PUBLISH_TO_ROOT:
                fitted["reference_video_uri"] = self.catalog.put_media(*reference_file)[0]
        result = outputs.result
        notes = [f"{name} not computed: {reason}" for name, reason in sorted(outputs.metrics.reasons.items())]
        if not result.prior_is_trained:
            notes.insert(0, f"prior {result.prior_name!r}: {UNTRAINED_NOTE}")
        row = job.row(
            Status.SUCCEEDED,
            media=media,
            metrics=dict(outputs.metrics.values),
            seconds=float(result.seconds),
            device=str(result.device),
            prior=job.prior if job.generated is not None else result.prior_name,  # the key's own part
            prior_is_trained=bool(result.prior_is_trained),
            prior_licence=None if job.reference is not None else self._prior_licence(),
            started_at=started_at,
            finished_at=utc_now(),
            warnings=tuple(one_line(note, 500) for note in notes),
            **fitted,
            **self.provenance,
        )
        if self.publishes == PUBLISH_TO_ROOT:
            return row
        # The driver cannot see this node's disk: the bytes go back with the row.
        shipped = {kind.name: (Path(path).read_bytes(), kind.suffix) for kind, path in files.items()}
        if reference_file is not None:
            shipped[REFERENCE_MEDIA] = (reference_file[0].read_bytes(), reference_file[1])
        return ShippedMedia(row, shipped)

    def _failed(
        self, job: ClipJob, exc: BaseException, started_at: datetime, *, message: str | None = None
    ) -> OutputRow:
        """``job``'s failed row for ``exc`` (``message``: its one line, else the exception's)."""
        log.warning("clip %s failed: %s: %s", job.clip_id, type(exc).__name__, exc, exc_info=not _expected(exc))
        finished_at = utc_now()
        fitted = job.config.objective == VIDEO_FIT  # no prior takes part in a fit
        return job.failed(
            type(exc).__name__,
            message or str(exc) or type(exc).__name__,
            started_at=started_at,
            prior_is_trained=bool(self.prior.is_trained) if self.prior is not None and not fitted else None,
            prior_licence=None if fitted else self._prior_licence(),
            device=self.device,
            seconds=(finished_at - started_at).total_seconds(),
            **self.provenance,
        )

    def generator(self, name: str) -> ReferenceGenerator:
        """The reference generator ``name``, loaded once per worker."""
        if name not in self.generators:
            from flexiclip_core.videofit.generate import load_generator

            self.generators[name] = load_generator(name, device=self.device)
        return self.generators[name]

    def with_generated_references(
        self, jobs: list[ClipJob], payloads: dict[str, bytes] | None = None
    ) -> dict[int, ClipJob | OutputRow]:
        """Each generated video-fit job of ``jobs`` with its reference (id(job) → the job with
        ``reference`` and ``generated`` set, or its ``failed`` row); other jobs are left out.

        A job whose idempotency key was not planned with this worker's generator (another
        result_key: the driver and this node see different weights) fails in one line: its row
        would be keyed by weights that did not make it. Every candidate
        (`ClipJob.candidate_seeds`) is looked up in the output root's generated index
        (`generated_index_uri`: the generator's result_key, the SVG, prompt, seed, frames, size and
        fps) and reused when found; the missing ones of all jobs of one generator and frame count
        are sampled in ONE `generate` call, stored content-addressed as animated PNGs under
        ROOT/media with a JSON record (generator, result_key, seed, licence) in the index.
        ``payloads`` (when given) gets every candidate's bytes by its uri, for `with_candidates`."""
        import dataclasses

        from catalogs.input import ReferenceInput
        from flexiclip_core.errors import ConfigError
        from flexiclip_core.svg import ParseConfig, parse_svg
        from flexiclip_core.videofit.generate import GENERATED_FPS, GENERATED_SIZE, rest_render
        from tasks.plan import generated_job_key

        out: dict[int, ClipJob | OutputRow] = {}
        groups: dict[tuple[str, int], list[ClipJob]] = {}
        for job in jobs:
            if job.generator is not None:
                groups.setdefault((job.generator, int(job.config.schedule.frame_count)), []).append(job)
        for (name, frames), group in groups.items():
            started_at = utc_now()
            try:
                generator = self.generator(name)
                spec = generator.spec
                planned = [job for job in group if job.idempotency_key == generated_job_key(job, spec.result_key)]
                for job in group:
                    if job not in planned:
                        out[id(job)] = self._failed(
                            job,
                            ConfigError(
                                f"clip {job.clip_id!r}: generator {name!r} here is {spec.result_key}, not the "
                                "weights its key was planned with: give the driver and every node the same weights"
                            ),
                            started_at,
                        )
                group = planned
                found: dict[tuple[int, int], tuple[str, bytes]] = {}
                wanted: list[tuple[ClipJob, int, str]] = []
                for job in group:
                    for seed in job.candidate_seeds():
                        index = generated_index_uri(
                            self.catalog.media_root,
                            generation_request_key(
                                spec.result_key, job.svg_sha256, job.prompt, seed, frames, GENERATED_SIZE, GENERATED_FPS
                            ),
                        )
                        stored = self._stored_generated(index)
                        if stored is not None:
                            found[(id(job), seed)] = stored
                        else:
                            wanted.append((job, seed, index))
                if wanted:
                    rests = {
                        id(job): rest_render(parse_svg(job.svg_bytes, clip_id=job.clip_id, config=ParseConfig()))
                        for job, _, _ in wanted
                    }
                    import torch

                    self.generate_calls += 1
                    log.info("generating %d reference(s) with %s for %d clip(s)", len(wanted), name, len(group))
                    videos = generator.generate(
                        torch.stack([rests[id(job)] for job, _, _ in wanted]),
                        [job.prompt for job, _, _ in wanted],
                        frames=frames,
                        fps=GENERATED_FPS,
                        seeds=[seed for _, seed, _ in wanted],
                    )
                    for (job, seed, index), video in zip(wanted, videos):
                        found[(id(job), seed)] = self._store_generated(index, video, spec, seed, job)
                else:
                    log.info("reusing %d stored reference(s) of %s: no generation", len(found), name)
            except Exception as exc:  # the generator or the store: these clips fail, the rest go on
                for job in group:
                    out[id(job)] = self._failed(job, exc, started_at)
                continue
            if payloads is not None:
                payloads.update(found.values())
            for job in group:
                seeds = job.candidate_seeds()
                uri, data = found[(id(job), job.fitted_seed())]
                reference = ReferenceInput(
                    uri=uri,
                    sha256=hashlib.sha256(data).hexdigest(),
                    files=(("reference.png", data),),
                    licence=spec.licence,
                )
                generated = GeneratedReference(
                    generator=name,
                    result_key=spec.result_key,
                    licence=spec.licence,
                    seed=job.fitted_seed(),
                    candidates=tuple((seed, found[(id(job), seed)][0]) for seed in seeds),
                )
                out[id(job)] = dataclasses.replace(job, reference=reference, generated=generated)
        return out

    def with_candidates(
        self, result: OutputRow | ShippedMedia, job: ClipJob, payloads: dict[str, bytes]
    ) -> OutputRow | ShippedMedia:
        """``result`` of generated ``job`` with its candidates' bytes (``payloads``: uri → bytes) to
        ship when this node cannot write to the driver's root (`CANDIDATE_MEDIA`, for
        `publish_shipped_media`), succeeded or failed: the gallery shows them either way. The
        fitted one of a succeeded row travels once, as the reference. Unchanged otherwise."""
        generated = job.generated
        if self.publishes == PUBLISH_TO_ROOT or generated is None:
            return result
        row, media = (result.row, dict(result.media)) if isinstance(result, ShippedMedia) else (result, {})
        for seed, uri in generated.candidates:
            if seed == generated.seed and REFERENCE_MEDIA in media:
                continue  # the same bytes, so the same content address
            if uri in payloads:
                media[f"{CANDIDATE_MEDIA}{seed}"] = (payloads[uri], ".png")
        return ShippedMedia(row, media)

    def _stored_generated(self, index: str) -> tuple[str, bytes] | None:
        """(media uri, bytes) of the stored video recorded at ``index``, or None (not stored, or its
        media is gone)."""
        import fsspec

        if self.publishes != PUBLISH_TO_ROOT:  # the driver's root is not this node's: nothing stored
            return None
        fs, path = fsspec.core.url_to_fs(index, **(self.storage_options if index.startswith("s3://") else {}))
        if not fs.exists(path):
            return None
        record = json.loads(fs.cat_file(path))
        uri = str(record["uri"])
        if not self.catalog.media_exists(uri):
            return None
        media_fs, media_path = fsspec.core.url_to_fs(uri, **(self.storage_options if uri.startswith("s3://") else {}))
        return uri, media_fs.cat_file(media_path)

    def _store_generated(self, index: str, video, spec, seed: int, job: ClipJob) -> tuple[str, bytes]:
        """Store ``video`` (a ReferenceVideo) content-addressed and record it at ``index``."""
        import fsspec

        data = reference_png(video)
        if self.publishes != PUBLISH_TO_ROOT:  # not stored: the fitted one is shipped with its row
            return str(video.source), data
        folder = Path(tempfile.mkdtemp(prefix="generated-", dir=self.scratch_root))
        try:
            path = folder / "reference.png"
            path.write_bytes(data)
            uri = self.catalog.put_media(path, ".png")[0]
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        record = {
            "uri": uri,
            "generator": spec.name,
            "result_key": spec.result_key,
            "licence": spec.licence,
            "seed": int(seed),
            "svg_sha256": job.svg_sha256,
            "prompt": job.prompt,
            "frames": int(video.frames.shape[0]),
            "fps": float(video.fps),
        }
        fs, path_in_fs = fsspec.core.url_to_fs(index, **(self.storage_options if index.startswith("s3://") else {}))
        fs.makedirs(fs._parent(path_in_fs), exist_ok=True)
        fs.pipe_file(path_in_fs, json.dumps(record, sort_keys=True).encode())
        return uri, data

    def _prior_licence(self) -> str | None:
        return str(self.prior.licence) if self.prior is not None else None

    def _request(self, job: ClipJob, reference_video: Path | None = None) -> ClipRequest:
        """The clip's request; the run's embeddings of its prompts go to the prior first, so it
        never loads its text encoder for them (docs/priors.md, "Text: once per run").
        ``reference_video``: the job's reference written to scratch (video-fit)."""
        from flexiclip_core.animate import ClipRequest

        if job.text is not None and self.prior is not None and reference_video is None:
            self.prior.provide_text_embeddings(job.text)

        return ClipRequest(
            svg=job.svg_bytes,
            prompt=job.prompt,
            clip_id=job.clip_id,
            negative_prompt=job.negative_prompt,
            keypoints=job.keypoints,
            bones=job.skeleton,
            layers=job.layers,
            reference_video=reference_video,
        )

    def _animate(self, job: ClipJob, out_dir: str):  # -> ClipOutputs
        from flexiclip_core.animate import animate_clip

        reference = None
        if job.reference is not None:  # decoded from the planner's bytes, under the config's limits
            reference = write_reference(job.reference, Path(out_dir) / REFERENCE_SCRATCH)
        return animate_clip(
            self._request(job, reference),
            self.prior if reference is not None else self.ready_prior(),
            job.config,
            out_dir,
            device=self.device,
            export=job.export,
            learned_metrics=self.learned_metrics,
            execution=self.execution,
        )


@dataclass(eq=False)
class _Pending:
    """A clip of a lockstep batch between its preparation and its row."""

    index: int
    job: ClipJob
    clip: PreparedClip
    started_at: datetime
    out_dir: str


def publish_shipped_media(
    output_catalog: OutputCatalog, row: OutputRow, media: dict[str, tuple[bytes, str]], scratch: str | None = None
) -> OutputRow:
    """Put media a worker sent back into the output root (driver side); the row with its media.

    ``media``: kind → (bytes, suffix), as in `ShippedMedia`. Any failure becomes a ``failed``
    row naming the clip: nothing is staged that points at a file that is not there.
    """
    folder = tempfile.mkdtemp(prefix="flexiclip-publish-", dir=scratch)
    try:
        refs = dict(row.media)
        reference_uri = row.reference_video_uri
        candidates: dict[int, str] = {}
        for index, (kind, (payload, suffix)) in enumerate(media.items()):
            path = Path(folder, f"{index}{suffix}")
            path.write_bytes(payload)
            ref = MediaRef(*output_catalog.put_media(path, suffix))
            if kind == REFERENCE_MEDIA:
                reference_uri = ref.uri
                if row.reference_seed is not None:  # a generated reference is its fitted candidate
                    candidates.setdefault(int(row.reference_seed), ref.uri)
            elif kind.startswith(CANDIDATE_MEDIA):
                candidates[int(kind.removeprefix(CANDIDATE_MEDIA))] = ref.uri
            else:
                refs[kind] = ref
        return row.replace(
            media=refs,
            reference_video_uri=reference_uri,
            reference_candidates=_published_candidates(row.reference_candidates, candidates),
        )
    except Exception as exc:  # storage errors of every kind: the clip is not done
        return failed_row(
            row.replace(media={}, metrics={}),
            type(exc).__name__,
            f"clip {row.clip_id!r}: its media could not be published to {output_catalog.root}: {_reason(exc)}",
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _published_candidates(listed: str | None, published: dict[int, str]) -> str | None:
    """``reference_candidates`` (JSON list of ``{"seed", "uri"}``) with the uri of every seed in
    ``published`` (seed → its uri under the driver's root) in place of the worker's."""
    if listed is None or not published:
        return listed
    candidates = json.loads(listed)
    for candidate in candidates:
        candidate["uri"] = published.get(int(candidate["seed"]), candidate["uri"])
    return json.dumps(candidates)


GENERATED_INDEX = "generated"
"""Folder under ROOT/media of the generated references' records (one JSON per request)."""


def generation_request_key(
    result_key: str, svg_sha256: str, prompt: str, seed: int, frames: int, size: int, fps: float
) -> str:
    """sha256 (hex) of what decides a generated video: the generator's result_key, the drawing,
    the prompt, the seed, and the frames, side and frame rate sampled."""
    canonical = json.dumps(
        {
            "result_key": result_key,
            "svg_sha256": svg_sha256,
            "prompt": prompt,
            "seed": int(seed),
            "frames": int(frames),
            "size": int(size),
            "fps": float(fps),
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def generated_index_uri(media_root: str, request_key: str) -> str:
    """Where the record of request ``request_key`` lives: ROOT/media/generated/<k[:2]>/<k>.json."""
    return f"{str(media_root).rstrip('/')}/{GENERATED_INDEX}/{request_key[:2]}/{request_key}.json"


def reference_png(video) -> bytes:  # video: ReferenceVideo, frames [T, H, W, 4] in [0, 1]
    """A generated reference as one lossless animated PNG (RGB, its frame rate rounded to whole
    milliseconds per frame): decoded back by the fit to the same 8-bit frames."""
    import io

    import numpy as np
    from PIL import Image

    levels = (np.asarray(video.frames)[..., :3] * 255.0).round().astype(np.uint8)  # [T, H, W, 3]
    frames = [Image.fromarray(frame) for frame in levels]
    buffer = io.BytesIO()
    duration = round(1000 / video.fps)
    frames[0].save(buffer, format="PNG", save_all=True, append_images=frames[1:], duration=duration, loop=0)
    return buffer.getvalue()


def write_reference(reference: ReferenceInput, folder: Path) -> Path:
    """Write ``reference``'s bytes under ``folder`` for decoding: the video file, or the folder of
    PNG frames (names kept: they give the order); returns the path to hand to the fit."""
    folder.mkdir(parents=True, exist_ok=True)
    if not reference.is_folder:
        name, data = reference.files[0]
        # Its own name, so the decoder's messages name the file the catalog names.
        path = folder / (name if name not in ("", ".", "..") and "/" not in name else "video")
        path.write_bytes(data)
        return path
    name = reference.uri.rstrip("/").rsplit("/", 1)[-1]
    frames = folder / (name if name not in ("", ".", "..") else "frames")
    frames.mkdir()
    for index, (_, data) in enumerate(reference.files):
        (frames / f"{index:06d}.png").write_bytes(data)
    return frames


def reference_media_file(reference: ReferenceInput, path: Path, folder_fps: float) -> tuple[Path, str]:
    """(file, content-address suffix) of the reference as published: the file itself (its own
    suffix, lower case; ``.bin`` when it has none usable), or a PNG folder as one animated PNG at
    ``folder_fps`` (the decode's frame rate of a folder), so the gallery and a dataset sample show it as one file."""
    if not reference.is_folder:
        name, data = reference.files[0]
        suffix = Path(name).suffix.lower()
        suffix = suffix if _MEDIA_SUFFIX.fullmatch(suffix) else ".bin"
        target = path.with_suffix(suffix)
        target.write_bytes(data)
        return target, suffix
    import io

    from PIL import Image

    frames = [Image.open(io.BytesIO(data)).convert("RGBA") for _, data in reference.files]
    target = path.with_suffix(".png")
    frames[0].save(
        target,
        save_all=True,
        append_images=frames[1:],
        duration=round(1000 / folder_fps),
        loop=0,
    )
    return target, ".png"


def fit_columns(metrics_json: Path) -> dict[str, object]:
    """The fit's metric columns of a video-fit clip, from its metrics.json (``video_fit``)."""
    import json

    measured = json.loads(Path(metrics_json).read_text()).get("video_fit") or {}
    return {column: measured.get(column) for column in FIT_METRIC_COLUMNS}


def worker_provenance(device: str) -> dict[str, str | None]:
    """``host``, ``gpu_name`` (the CUDA device's name, or ``cpu``) and ``ray_node_id`` (None when
    not running inside Ray) of this process: the provenance columns of every row it makes."""
    import torch

    gpu_name = torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else "cpu"
    return {"host": socket.gethostname(), "gpu_name": gpu_name, "ray_node_id": _ray_node_id()}


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
