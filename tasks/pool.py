"""A pool of long-lived `ClipWorker` Ray actors that clips stream to.

Each actor loads the prior once; the driver hands the next clip to whichever actor is free
(``ray.wait`` on everything in flight), so a slow clip never holds up the others. A clip whose
actor dies (OOM, killed) is put back at the head of the queue and runs on another actor, up to
``max_retries`` times, then becomes a ``failed`` row; a clip past its timeout has its actor
killed (Python cannot interrupt the running optimisation) and becomes a ``failed`` row. Dead or
killed actors are replaced, so the pool keeps its size.

With ``clips_per_worker`` K > 1 a free actor gets up to K queued clips in one call
(`ClipWorker.animate_batch`: optimised in lockstep, one row per clip). The batch's deadline is
the per-clip timeout × its size; the clips of a batch whose actor died are retried one at a
time, so a clip that kills its worker cannot take the same batch-mates down again.

Actors are spread over the cluster's nodes (``SPREAD``): a lost node takes fewer of them. An
actor that starts but cannot work (its prior does not load, the output root refuses it: see
`WorkerInfo.setup_error`) is logged with its node and reason and dropped before it takes a clip.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from catalogs.errors import PipelineError
from catalogs.rows import OutputRow
from flexiclip_core.errors import ConfigError
from tasks.batch import AUTO, auto_clips_per_worker, resolve_clips_per_worker
from tasks.jobs import ClipJob
from tasks.worker import ClipWorker, WorkerInfo

log = logging.getLogger(__name__)


class WorkerStartError(PipelineError):
    """No clip worker could be started (the prior cannot load, no resources in the cluster)."""


class ClipTimeoutError(PipelineError):
    """A clip ran past the per-clip timeout; its worker was killed."""


class WorkerLostError(PipelineError):
    """A clip's worker died on every attempt (out of memory, killed)."""


@dataclass(frozen=True)
class PoolConfig:
    """How many clip workers run, what each one gets, and how long a clip may take."""

    # Each docstring documents the option for `flexiclip run` and the `nightly` flow too: the flow's
    # Args repeat it and the CLI's help is its first sentence (tests/flows/test_run_options.py).
    workers: int | None = None
    """Ray actors to start (default: one per GPU on GPU clusters, else one per CPU slot)."""
    gpus_per_worker: float | None = None
    """GPUs per actor (default: 1 on GPU clusters, 0 on CPU). Fractions share a GPU."""
    cpus_per_worker: float = 1.0
    """CPUs reserved per actor."""
    torch_threads: int | None = None
    """torch threads per actor (default: one per reserved CPU, rounded up)."""
    clip_timeout_s: float = 3600.0
    """Per-clip time limit, seconds. Past it the clip fails and its worker is replaced; a batch of
    K clips gets K times this."""
    max_retries: int = 2
    """Retries of a clip whose worker died. Past them the clip is recorded as failed; a clip whose
    batch lost its worker is retried alone."""
    start_timeout_s: float = 900.0
    """Limit for a worker to start and load its prior, seconds. When the first worker misses it the
    run exits with status 3."""
    clips_per_worker: int | str = AUTO
    """Clips a worker optimises together in lockstep: N, or auto (1 on CPU; on a GPU from its free
    memory, at most 8). See docs/pipeline.md §6 and `tasks.batch.auto_clips_per_worker`; 1
    animates clip after clip."""
    max_failed_fraction: float = 0.5
    """Largest fraction of the clips a run attempts (its rows less the skipped ones) that may fail
    while the flow run still ends Completed (with the failures listed); above it the run ends
    Failed, which the failed-run alert reports. Default 0.5: a bad drawing fails alone, so more
    than half failing means the prior, a node or the storage broke (docs/pipeline.md §10)."""

    def __post_init__(self) -> None:
        # "3" from a deployment's parameters is 3; anything else but "auto" is a ConfigError.
        object.__setattr__(self, "clips_per_worker", resolve_clips_per_worker(self.clips_per_worker))
        if not 0.0 <= float(self.max_failed_fraction) <= 1.0:
            raise ConfigError(f"max_failed_fraction must lie in [0, 1], got {self.max_failed_fraction!r}")


@dataclass
class DispatchStats:
    """What happened while dispatching (for the run report)."""

    workers_started: int = 0
    workers_lost: int = 0
    retries: int = 0
    timeouts: int = 0
    clips_per_worker: int = 1
    """K the run used (``auto`` resolved)."""
    batches: int = 0
    """Calls that handed an actor more than one clip."""
    worker_pids: list[int] = field(default_factory=list)
    clips_by_node: dict[str, int] = field(default_factory=dict)
    """Ray node id → clips it made (succeeded or failed by the clip itself), for provenance."""
    cpu_seconds: float = 0.0
    """Sum of the ``cpu_seconds`` of the rows the workers made in this run."""
    gpu_seconds: float = 0.0
    """Sum of their ``gpu_seconds`` (GPU time held: wall time × GPUs per actor)."""


@dataclass
class _Attempt:
    job: ClipJob
    attempt: int = 0
    """Worker deaths so far for this job."""
    last_error: str = ""
    alone: bool = False
    """Runs in a batch of its own: its batch lost its worker once."""


@dataclass
class _Running:
    actor: Any
    attempts: list[_Attempt]
    """The clips of the call, in the order the worker returns their rows."""
    deadline: float


def cluster_worker_plan(config: PoolConfig, resources: dict[str, float]) -> tuple[int, float]:
    """(actors, GPUs per actor) for a cluster with ``resources`` (ray.cluster_resources())."""
    gpus = float(resources.get("GPU", 0.0))
    cpus = float(resources.get("CPU", 1.0))
    per_gpu = config.gpus_per_worker if config.gpus_per_worker is not None else (1.0 if gpus >= 1 else 0.0)
    if config.workers is not None:
        return max(1, int(config.workers)), per_gpu
    if per_gpu > 0:
        return max(1, int(math.floor(gpus / per_gpu + 1e-9))), per_gpu
    return max(1, int(math.floor(cpus / max(config.cpus_per_worker, 1e-3) + 1e-9))), per_gpu


class ActorPool:
    """Clip workers on Ray; start with `start_first`, then `run` the jobs, then `shutdown`."""

    def __init__(self, prior_spec: str, output_root: str, config: PoolConfig, *, root_probe: str | None = None) -> None:
        """``root_probe``: the driver's probe under the output root (see `tasks.worker`), or None."""
        import ray

        self._ray = ray
        self.prior_spec = prior_spec
        self.output_root = output_root
        self.config = config
        self.target_size, self.gpus_per_worker = cluster_worker_plan(config, ray.cluster_resources())
        threads = config.torch_threads or max(1, math.ceil(config.cpus_per_worker))
        # Any: ray.remote's stubs type a remote class as the callable it wraps (no .remote).
        self._actor_class: Any = ray.remote(
            num_cpus=config.cpus_per_worker,
            num_gpus=self.gpus_per_worker,
            max_restarts=0,  # the pool replaces dead actors itself, and knows which clip died
            max_task_retries=0,
            scheduling_strategy="SPREAD",
        )(ClipWorker)
        self._actor_kwargs = {
            "use_gpu": self.gpus_per_worker > 0,
            "torch_threads": threads,
            "root_probe": root_probe,
            "gpus": self.gpus_per_worker,
        }
        self._starting: dict[Any, Any] = {}  # info ref → actor being started
        self._idle: list[Any] = []
        self._running: dict[Any, _Running] = {}  # clip ref → its actor and job
        self.info: WorkerInfo | None = None
        self.stats = DispatchStats()
        self._per_call = 1

    # -- actors ---------------------------------------------------------------------------

    def _start_actor(self) -> None:
        actor = self._actor_class.remote(self.prior_spec, self.output_root, **self._actor_kwargs)
        self._starting[actor.info.remote()] = actor
        self.stats.workers_started += 1

    def start_first(self) -> WorkerInfo:
        """Start one actor and wait for it: its prior name is needed to plan the run."""
        self._start_actor()
        ((ref, actor),) = self._starting.items()
        try:
            info = self._ray.get(ref, timeout=self.config.start_timeout_s)
            if info.setup_error:
                raise WorkerStartError(info.setup_error)
        except Exception as exc:
            self._starting.clear()
            self._ray.kill(actor)
            raise WorkerStartError(f"the first clip worker did not start: {_root_message(exc)}") from exc
        del self._starting[ref]
        _log_ready(info)
        self._idle.append(actor)
        self.info = info
        self.stats.worker_pids.append(info.pid)
        return info

    def start_all(self) -> list[WorkerInfo]:
        """Start the whole pool and wait until every actor is ready (benchmarks time steady state)."""
        if self.info is None:
            self.start_first()
        self._ensure_size(self.target_size)
        ready = []
        for ref, actor in list(self._starting.items()):
            info = self._ray.get(ref, timeout=self.config.start_timeout_s)
            del self._starting[ref]
            if info.setup_error:
                self._discard(actor)
                raise WorkerStartError(info.setup_error)
            self._idle.append(actor)
            self.stats.worker_pids.append(info.pid)
            ready.append(info)
        return ready

    def _ensure_size(self, wanted: int) -> None:
        alive = len(self._idle) + len(self._starting) + len(self._running)
        for _ in range(max(0, wanted - alive)):
            self._start_actor()

    def _discard(self, actor: Any) -> None:
        try:
            self._ray.kill(actor, no_restart=True)
        except Exception:  # already dead: nothing to do
            pass

    def shutdown(self) -> None:
        """Kill every actor of the pool."""
        for actor in [*self._idle, *self._starting.values(), *(r.actor for r in self._running.values())]:
            self._discard(actor)
        self._idle.clear()
        self._starting.clear()
        self._running.clear()

    # -- dispatch -------------------------------------------------------------------------

    def run(self, jobs: Iterable[ClipJob], on_row: Callable[[OutputRow], None]) -> DispatchStats:
        """Animate ``jobs`` on the pool; ``on_row`` gets each clip's final row as soon as it is known."""
        ray = self._ray
        queue: deque[_Attempt] = deque(_Attempt(job) for job in jobs)
        running = self._running
        self._per_call = self.clips_per_call([a.job for a in queue]) if queue else 1
        self.stats.clips_per_worker = self._per_call
        self._ensure_size(self._actors_for(len(queue)))
        while queue or running:
            while self._idle and queue:
                actor, batch = self._idle.pop(), self._next_batch(queue)
                if len(batch) == 1 and self._per_call == 1:
                    ref = actor.animate.remote(batch[0].job)
                else:
                    # K passed along: a compiled prior pads its calls to K clips (never recompiles).
                    ref = actor.animate_batch.remote([a.job for a in batch], self._per_call)
                    self.stats.batches += int(len(batch) > 1)
                # Per-clip timeout × K: a batch in lockstep takes at most what its clips take one by one.
                deadline = time.monotonic() + self.config.clip_timeout_s * len(batch)
                running[ref] = _Running(actor, batch, deadline)
            if queue and not running and not self._idle and not self._starting:
                reason = "; ".join({a.last_error for a in queue if a.last_error}) or "no clip worker is alive"
                for attempt in queue:
                    on_row(
                        attempt.job.failed(
                            WorkerStartError.__name__,
                            f"clip {attempt.job.clip_id!r}: no clip worker could be started: {reason}",
                        )
                    )
                queue.clear()
                break
            now = time.monotonic()
            wait_s = min([r.deadline - now for r in running.values()] + [5.0])
            refs = [*running, *self._starting]
            ready, _ = ray.wait(refs, num_returns=1, timeout=max(wait_s, 0.0))
            for ref in ready:
                if ref in self._starting:
                    self._on_started(ref, queue)
                else:
                    self._on_finished(ref, running.pop(ref), queue, on_row)
            self._expire(running, on_row, queued=len(queue))
        return self.stats

    def clips_per_call(self, jobs: list[ClipJob]) -> int:
        """K for ``jobs``: ``clips_per_worker``, or for ``auto`` sized from the first worker's
        device, free GPU memory, prior and the jobs' presets (`auto_clips_per_worker`)."""
        setting = self.config.clips_per_worker
        if setting != AUTO:
            return int(setting)
        info = self.info or self.start_first()
        share = self.gpus_per_worker if 0 < self.gpus_per_worker < 1 else 1.0
        k = auto_clips_per_worker(
            info.device,
            info.gpu_free_bytes,
            info.prior_name,
            {job.config.method for job in jobs},
            gpu_share=share,
            vae_dtype=info.prior_vae_dtype,
        )
        free = f"{info.gpu_free_bytes / 2**30:.1f} GiB free" if info.gpu_free_bytes is not None else "no GPU"
        log.info("clips per worker: %d (auto: %s, prior %s on %s)", k, free, info.prior_name, info.device)
        return k

    def _next_batch(self, queue: deque[_Attempt]) -> list[_Attempt]:
        """The clips for the next free actor: up to K from the head of the queue, spread so that
        every actor of the pool gets some while there are fewer than K per actor; a clip marked
        ``alone`` goes by itself."""
        batch = [queue.popleft()]
        if batch[0].alone:
            return batch
        size = min(self._per_call, math.ceil((len(queue) + 1) / max(self.target_size, 1)))
        while queue and len(batch) < size and not queue[0].alone:
            batch.append(queue.popleft())
        return batch

    def _actors_for(self, queued: int) -> int:
        """Actors worth having for ``queued`` clips and the calls now running."""
        return min(self.target_size, math.ceil(queued / self._per_call) + len(self._running))

    def _on_started(self, ref: Any, queue: deque[_Attempt]) -> None:
        actor = self._starting.pop(ref)
        try:
            info: WorkerInfo = self._ray.get(ref)
            if info.setup_error:
                raise WorkerStartError(info.setup_error)
        except Exception as exc:
            message = _root_message(exc)
            log.error("a clip worker failed to start: %s", message)
            for attempt in queue:
                attempt.last_error = message
            self._discard(actor)
            return
        if self.info is not None and info.prior_key != self.info.prior_key:
            # Another node resolved a different prior (or other weights under the same name): its
            # rows would not match the planned keys.
            log.error(
                "worker %d on %s loaded prior %s, the run planned %s: not used",
                info.pid,
                info.host,
                info.prior_key,
                self.info.prior_key,
            )
            self._discard(actor)
            return
        _log_ready(info)
        self.stats.worker_pids.append(info.pid)
        self._idle.append(actor)

    def _on_finished(
        self, ref: Any, done: _Running, queue: deque[_Attempt], on_row: Callable[[OutputRow], None]
    ) -> None:
        from ray.exceptions import OutOfMemoryError, RayActorError, RayTaskError, WorkerCrashedError

        try:
            result = self._ray.get(ref)
        except (RayActorError, WorkerCrashedError, OutOfMemoryError) as exc:
            self.stats.workers_lost += 1
            self._discard(done.actor)
            retry = []
            for attempt in done.attempts:
                job = attempt.job
                attempt.attempt += 1
                attempt.last_error = f"{type(exc).__name__}: {_root_message(exc)}"
                # Its batch-mates may have killed the worker: from now on it runs alone.
                attempt.alone = attempt.alone or len(done.attempts) > 1
                if attempt.attempt <= self.config.max_retries:
                    self.stats.retries += 1
                    log.warning(
                        "clip %s: its worker died (%s); retrying on another worker (%d/%d)%s",
                        job.clip_id,
                        type(exc).__name__,
                        attempt.attempt,
                        self.config.max_retries,
                        f", alone (it was in a batch of {len(done.attempts)})" if len(done.attempts) > 1 else "",
                    )
                    retry.append(attempt)
                else:
                    on_row(
                        job.failed(
                            type(exc).__name__,
                            f"clip {job.clip_id!r}: its worker died on {attempt.attempt} attempts "
                            f"(last: {attempt.last_error})",
                        )
                    )
            queue.extendleft(reversed(retry))  # at the head, in their order
            if queue:
                self._ensure_size(self._actors_for(len(queue)))
            return
        except RayTaskError as exc:  # the worker catches clip errors; this is a bug in the worker
            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            for attempt in done.attempts:
                job = attempt.job
                on_row(job.failed(type(cause).__name__, f"clip {job.clip_id!r}: {_root_message(exc)}"))
            self._idle.append(done.actor)
            return
        self._idle.append(done.actor)
        rows = result if isinstance(result, list) else [result]
        for row in rows[: len(done.attempts)]:
            on_row(row)
        for attempt in done.attempts[len(rows) :]:  # a worker bug: never lose the clip silently
            job = attempt.job
            on_row(
                job.failed(
                    WorkerLostError.__name__,
                    f"clip {job.clip_id!r}: its worker returned {len(rows)} rows for a batch of {len(done.attempts)}",
                )
            )

    def _expire(self, running: dict[Any, _Running], on_row: Callable[[OutputRow], None], *, queued: int) -> None:
        now = time.monotonic()
        timeout = self.config.clip_timeout_s
        for ref, item in list(running.items()):
            if item.deadline > now:
                continue
            del running[ref]
            self._discard(item.actor)
            size = len(item.attempts)
            limit = (
                f"{timeout:g} s (per-clip timeout)"
                if size == 1
                else f"{timeout * size:g} s (per-clip timeout {timeout:g} s × {size} clips in its lockstep batch)"
            )
            for attempt in item.attempts:
                self.stats.timeouts += 1
                job = attempt.job
                log.warning("clip %s: over the %s; its worker was stopped", job.clip_id, limit)
                on_row(
                    job.failed(
                        ClipTimeoutError.__name__,
                        f"clip {job.clip_id!r}: not finished after {limit}; its worker was stopped",
                    )
                )
            if queued:
                self._ensure_size(self._actors_for(queued))


def _log_ready(info: WorkerInfo) -> None:
    log.info(
        "clip worker %d on %s (Ray node %s) ready: prior %s on %s, media %s, code from %s",
        info.pid,
        info.host,
        (info.node_id or "-")[:12],
        info.prior_name,
        info.device,
        "to the output root" if info.publishes == "root" else "sent back to the driver",
        info.code_path,
    )


def _root_message(exc: BaseException) -> str:
    """The first line of the innermost meaningful message of a (Ray-wrapped) exception."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException) and cause is not exc:
        exc = cause
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
