"""The nightly flow: read and validate a catalog, plan, animate on Ray actors, commit, report.

``flexiclip run`` and the ``prefect.yaml`` deployment both run `nightly`. One flow run writes
one row per input row (succeeded | failed | skipped) in ONE output-catalog commit whose metadata
names the run; the final state's message says how many clips failed, and the state is
"Completed", "Completed with failures" (some failed, at most ``max_failed_fraction`` of the
attempted clips) or "Failed" (more failed, or the run itself could not proceed: unreadable
catalog, invalid options, no worker could start).
"""

from __future__ import annotations

import logging
import time
import uuid
from contextlib import nullcontext
from typing import Any

from prefect import flow
from prefect.states import Completed, Failed, State

from catalogs.rows import OutputRow
from tasks.batch import card_too_small
from tasks.liveness import claim_flow_run, crash_stale_flow_runs
from tasks.pool import ActorPool, PoolConfig
from tasks.preflight import (
    PreflightError,
    probe_name,
    remove_probe,
    remove_stale_probes,
    resolve_prior,
    write_probe,
)
from tasks.report import UNTRAINED_NOTE, RunProgress, RunSummary, summarise
from tasks.runtime import apply_pipeline_env, ray_session, worker_runtime_env
from tasks.steps import (
    commit_rows,
    dispatch,
    encode_prompts,
    plan_run,
    publish_report,
    publish_rows_table,
    read_input_catalog,
    start_progress,
    tag_flow_run,
    update_progress,
    with_prompt_embeddings,
    write_html_report,
)
from tasks.watchdog import start_watchdog

log = logging.getLogger(__name__)

FLOW_NAME = "flexiclip-nightly"
DEFAULT_MAX_FAILED_FRACTION: float = PoolConfig.max_failed_fraction
"""`PoolConfig.max_failed_fraction`'s default (documented there)."""


def current_run_id() -> str:
    """The Prefect flow-run id (a fresh UUID outside a flow run)."""
    from prefect.runtime import flow_run

    run_id = flow_run.get_id()
    return str(run_id) if run_id else uuid.uuid4().hex


@flow(name=FLOW_NAME, persist_result=False, log_prints=False, validate_parameters=True)
def nightly(
    catalog: str,
    output: str,
    prior: str = "auto",
    method: str = "flexiclip",
    iterations: int | None = None,
    workers: int | None = None,
    force: bool = False,
    overrides: dict[str, Any] | None = None,
    gpus_per_worker: float | None = None,
    cpus_per_worker: float = 1.0,
    torch_threads: int | None = None,
    clip_timeout_s: float = 3600.0,
    max_retries: int = 2,
    worker_start_timeout_s: float = 900.0,
    forward_credentials: bool = False,
    clips_per_worker: int | str = "auto",
    prior_decided: bool = False,
    prior_fallback_reason: str | None = None,
    evaluate: bool = False,
    max_failed_fraction: float = 0.5,
) -> State:
    """Animate every new clip of CATALOG into the versioned output catalog at OUTPUT.

    Args:
        catalog: input catalog (Parquet): local path, file:// or s3:// URI.
        output: output root (local folder or s3:// URI): Delta table, media, staging.
        prior: "auto" (Wan when configured, else ModelScope (non-commercial, with a warning) when
            its weights are local, else the tiny test prior), "tiny", "wan", "wan:PATH",
            "wan-tiny", "modelscope" or "modelscope:PATH".
        method: animation preset (flexiclip, aniclipart, flexiclip-no-temporal, flexiclip-no-flow).
        iterations: optimisation steps (default: the preset's).
        workers: Ray actors to start (default: one per GPU on GPU clusters, else one per CPU slot).
        force: re-animate clips that already succeeded with the same key.
        overrides: animation-config overrides for every clip (a row's config column wins).
        gpus_per_worker: GPUs per actor (default: 1 on GPU clusters, 0 on CPU). Fractions share a GPU.
        cpus_per_worker: CPUs reserved per actor.
        torch_threads: torch threads per actor (default: one per reserved CPU, rounded up).
        clip_timeout_s: Per-clip time limit, seconds. Past it the clip fails and its worker is
            replaced; a batch of K clips gets K times this.
        max_retries: Retries of a clip whose worker died. Past them the clip is recorded as failed;
            a clip whose batch lost its worker is retried alone.
        worker_start_timeout_s: Limit for a worker to start and load its prior, seconds. When the
            first worker misses it the run exits with status 3.
        forward_credentials: on a joined Ray cluster, send this process's AWS keys to the
            workers (else each node uses its own: instance role or environment).
        clips_per_worker: Clips a worker optimises together in lockstep: N, or auto (1 on CPU; on a
            GPU from its free memory, at most 8). See docs/pipeline.md §6 and
            `tasks.batch.auto_clips_per_worker`; 1 animates clip after clip.
        prior_decided: ``prior`` was already resolved by the caller's preflight (``flexiclip
            run``): it is used as is, so the prior policy runs once per run.
        prior_fallback_reason: with ``prior_decided``, why ``auto`` fell back to the tiny prior.
        evaluate: after the commit, score the run against its static input (`tasks.evaluate_step`):
            tables under OUTPUT/evaluations/<run>/ and a Markdown artifact.
        max_failed_fraction: Largest fraction of the clips a run attempts (its rows less the
            skipped ones) that may fail while the flow run still ends Completed (with the failures
            listed); above it the run ends Failed, which the failed-run alert reports. Default 0.5:
            a bad drawing fails alone, so more than half failing means the prior, a node or the
            storage broke (docs/pipeline.md §10).
    """
    from catalogs.output import OutputCatalog
    from catalogs.storage import storage_options_from_env
    from flexiclip_core.guidance.choice import PriorChoice
    from flexiclip_core.metrics import METRIC_COLUMNS
    from tasks.plan import base_config

    apply_pipeline_env()  # deployment runs start here, not in the CLI: Ray and HF settings, network guard
    start_watchdog()  # a killed run leaves no local Ray behind (no-op when the CLI started one)
    started = time.monotonic()
    run_id = current_run_id()
    claim_flow_run(run_id)
    crash_stale_flow_runs(FLOW_NAME, run_id)
    storage_options = storage_options_from_env() or None
    config = base_config(method, iterations, overrides)
    # Built before anything starts: an invalid pool setting (clips_per_worker) is bad input.
    pool_config = PoolConfig(
        workers=workers,
        gpus_per_worker=gpus_per_worker,
        cpus_per_worker=cpus_per_worker,
        torch_threads=torch_threads,
        clip_timeout_s=clip_timeout_s,
        max_retries=max_retries,
        start_timeout_s=worker_start_timeout_s,
        clips_per_worker=clips_per_worker,
        max_failed_fraction=max_failed_fraction,
    )
    progress_artifact = start_progress(f"run {run_id}: starting")
    output_catalog = OutputCatalog(output, storage_options=storage_options)
    # Decided once per run, before any worker starts: here, or by the CLI's preflight.
    resolved_prior = PriorChoice(prior, prior_fallback_reason) if prior_decided else resolve_prior(prior)
    rows, errors = read_input_catalog(catalog, storage_options, lambda changes: config.with_overrides(changes))
    # The probe stays for the run: a worker that sees it shares the driver's storage (tasks.worker).
    probe = probe_name(run_id.replace("-", ""))
    write_probe(output_catalog, probe)
    remove_stale_probes(output_catalog, keep=probe)  # a killed run could not remove its own

    final_rows: list[tuple[int, OutputRow]] = []
    prior_name: str | None = None
    prior_key: str | None = None
    prior_is_trained: bool | None = None
    prior_licence: str | None = None
    adopted = 0
    stats = None
    text_embeddings = None
    runtime_env = worker_runtime_env(forward_credentials=forward_credentials)
    with ray_session(runtime_env=runtime_env) if rows else nullcontext():
        pool = None
        try:
            if rows:
                # One text encoding per run, before the workers start: they never load the encoder.
                text_embeddings = encode_prompts(resolved_prior.spec, rows)
                pool = ActorPool(resolved_prior.spec, output_catalog.root, pool_config, root_probe=probe)
                info = pool.start_first()
                prior_name, prior_is_trained = info.prior_name, info.prior_is_trained
                prior_key = info.prior_key or info.prior_name
                prior_licence = info.prior_licence
                tag_flow_run([f"prior:{info.prior_name}", f"method:{method}", f"catalog:{catalog}"])
                too_small = card_too_small(
                    info.device,
                    info.gpu_free_bytes,
                    info.gpu_prior_bytes,
                    info.prior_name,
                    {config.with_overrides(row.config).method if row.config else config.method for row in rows},
                    info.prior_vae_dtype,
                    info.gpu_name,
                )
                if too_small:  # before any clip: one line, exit status 2
                    raise PreflightError(too_small)
                if "-NC" in prior_licence.upper():
                    log.warning(
                        "prior %s is licensed %s: the outputs of this run are for non-commercial use only",
                        info.prior_name,
                        prior_licence,
                    )
                fallback = info.prior_fallback_reason or resolved_prior.fallback_reason
                if fallback:
                    log.warning("no prior weights found (%s): using %s; %s", fallback, info.prior_name, UNTRAINED_NOTE)
                log.info(
                    "workers: prior %s on %s, %d torch thread(s) each, up to %d actor(s)",
                    info.prior_name,
                    info.device,
                    info.torch_threads,
                    pool.target_size,
                )
            plan = plan_run(
                rows,
                errors,
                run_id=run_id,
                config=config,
                prior_name=prior_name or "",
                prior_key=prior_key,
                output_catalog=output_catalog,
                storage_options=storage_options,
                force=force,
            )
            adopted = len(plan.adopted)
            final_rows = [*plan.failed, *plan.skipped, *plan.adopted]
            progress = RunProgress(
                total=len(final_rows) + len(plan.jobs), done=len(final_rows), failed=len(plan.failed)
            )
            update_progress(progress_artifact, progress)
            if plan.jobs:
                assert pool is not None
                jobs = with_prompt_embeddings(plan.jobs, text_embeddings)  # each job carries its own text
                finished, stats = dispatch(pool, jobs, output_catalog, progress, progress_artifact)
                final_rows += finished
        finally:
            if pool is not None:
                pool.shutdown()
            remove_probe(output_catalog, probe)

    final_rows.sort(key=lambda item: item[0])
    rows_only = [row for _, row in final_rows]
    version = commit_rows(output_catalog, rows_only, run_id)
    report_uri = write_html_report(output_catalog, run_id) if version is not None else None
    summary = summarise(
        rows_only,
        run_id=run_id,
        catalog=catalog,
        output=output_catalog.root,
        version=version,
        prior=prior_name,
        prior_is_trained=prior_is_trained,
        adopted=adopted,
        retries=stats.retries if stats else 0,
        timeouts=stats.timeouts if stats else 0,
        workers=stats.workers_started if stats else (1 if prior_name else 0),
        seconds=time.monotonic() - started,
        metric_columns=METRIC_COLUMNS,
        report_uri=report_uri,
        prior_licence=prior_licence,
        clips_by_node=dict(stats.clips_by_node) if stats else {},
        cpu_seconds=stats.cpu_seconds if stats else 0.0,
        gpu_seconds=stats.gpu_seconds if stats else 0.0,
    )
    if prior_name is None:  # no worker started: the tags say what the run was asked for
        tag_flow_run([f"prior:{resolved_prior.spec}", f"method:{method}", f"catalog:{catalog}"])
    update_progress(progress_artifact, RunProgress(total=len(rows_only), done=len(rows_only), failed=summary.failed))
    publish_rows_table(rows_only, run_id)
    publish_report(summary)
    if evaluate and version is not None:
        from tasks.evaluate_step import evaluate_after_run

        evaluate_after_run(output_catalog, run_id, catalog)
    return final_state(summary, pool_config.max_failed_fraction)


def final_state(summary: RunSummary, max_failed_fraction: float = DEFAULT_MAX_FAILED_FRACTION) -> State:
    """Completed / "Completed with failures" / Failed, with the counts as message and data:
    Failed when more than ``max_failed_fraction`` of the attempted clips failed."""
    data = summary.to_dict()
    if summary.failed and summary.failed_fraction > max_failed_fraction:
        return Failed(
            message=f"{summary.message}; {summary.failed_fraction:.0%} of the attempted clips failed, "
            f"above max_failed_fraction {max_failed_fraction:g}",
            data=data,
        )
    if summary.failed:
        return Completed(name="Completed with failures", message=summary.message, data=data)
    return Completed(message=summary.message, data=data)


def summary_of(state: State) -> dict[str, Any] | None:
    """The run summary dict a `nightly` state carries (None for a crash)."""
    data = state.data
    if isinstance(data, dict) and "run_id" in data:
        return data
    try:
        result = state.result(raise_on_failure=False)
    except Exception:  # a crashed run has no readable result
        return None
    return result if isinstance(result, dict) and "run_id" in result else None
