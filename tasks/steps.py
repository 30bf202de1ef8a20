"""The Prefect tasks of a pipeline run: read + validate, plan, dispatch, commit, report.

Each task is a thin, observable step over the plain modules (`tasks.plan`, `tasks.pool`,
`tasks.report`, `catalogs`); they run in the flow's process and pass Python objects, so none
caches or persists its result (``NO_CACHE``: jobs carry SVG bytes and numpy arrays).

Publishing media happens inside the Ray workers (`ClipWorker.animate` puts each file into the
output root's content-addressed media store) when they share the root with the driver (S3, or
the same disk); a worker on a disk the driver cannot see sends its media back with the row and
the driver publishes it (`publish_shipped_media`) before staging. The driver stages each
finished row at once (durable before the commit), only once its media is in the root.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from catalogs.output import OutputCatalog
from catalogs.rows import OutputRow, Status
from tasks.jobs import ClipJob
from tasks.plan import Plan, plan_work
from tasks.pool import ActorPool, DispatchStats
from tasks.report import RunProgress, RunSummary, markdown_report, rows_table

if TYPE_CHECKING:
    from catalogs.input import ClipRow, RowError
    from flexiclip_core.guidance.text import PromptBank
    from flexiclip_core.optimize import AnimationConfig

log = logging.getLogger(__name__)

REPORT_ARTIFACT_KEY = "flexiclip-run-report"
"""Key of the Markdown artifact each run publishes (the latest one per key shows in the UI)."""
PROGRESS_ARTIFACT_KEY = "flexiclip-run-progress"
"""Key of the progress artifact (percent of the run's rows known), updated as clips finish."""
ROWS_ARTIFACT_KEY = "flexiclip-run-rows"
"""Key of the table artifact with one row per clip of the run."""
PROGRESS_RECORD = "flexiclip_progress"
"""Attribute of the per-clip log records that carries the run's `RunProgress` (a copy): the
console's progress bar reads it (`flexiclip_cli.progress`)."""


def start_progress(description: str) -> Any:
    """Create the run's progress artifact at 0 %; its id (None when the API refused it: the run
    goes on, the log still shows its progress)."""
    from prefect.artifacts import create_progress_artifact

    try:
        return create_progress_artifact(progress=0.0, key=PROGRESS_ARTIFACT_KEY, description=description)
    except Exception as exc:  # visibility only: never fails the run
        log.warning("progress artifact not created: %s: %s", type(exc).__name__, exc)
        return None


def update_progress(artifact_id: Any, progress: RunProgress) -> None:
    """Set the progress artifact to ``progress.percent`` (nothing without an artifact)."""
    if artifact_id is None:
        return
    from prefect.artifacts import update_progress_artifact

    try:
        update_progress_artifact(artifact_id=artifact_id, progress=progress.percent, description=progress.line())
    except Exception as exc:  # visibility only
        log.warning("progress artifact not updated: %s: %s", type(exc).__name__, exc)


def tag_flow_run(tags: list[str]) -> None:
    """Add ``tags`` to the current flow run (keeping the deployment's); a refusal is a warning."""
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run

    current_id = flow_run.get_id()
    if not current_id:
        return
    run_id = UUID(str(current_id))
    try:
        with get_client(sync_client=True) as client:
            current = client.read_flow_run(run_id).tags
            client.update_flow_run(run_id, tags=list(dict.fromkeys([*current, *tags])))
    except Exception as exc:  # visibility only
        log.warning("flow-run tags not set: %s: %s", type(exc).__name__, exc)


def retry_unless_bad_input(task: Any, task_run: Any, state: Any) -> bool:
    """Retry transient failures (network, storage), never a refused input (`FlexiclipError`)."""
    from flexiclip_core.errors import FlexiclipError

    try:
        state.result()
    except FlexiclipError:
        return False
    except Exception:  # anything else may be transient
        return True
    return True


@task(
    name="read-catalog",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=retry_unless_bad_input,
)
def read_input_catalog(
    catalog: str, storage_options: dict | None, validate_config: Callable[[dict], Any]
) -> tuple[list[ClipRow], list[RowError]]:
    """Read and validate the input catalog: (valid ClipRows, RowErrors)."""
    from catalogs.input import read_catalog

    rows, errors = read_catalog(catalog, storage_options=storage_options or None, validate_config=validate_config)
    log.info("catalog %s: %d valid row(s), %d invalid", catalog, len(rows), len(errors))
    return rows, errors


@task(name="encode-prompts", cache_policy=NO_CACHE)
def encode_prompts(prior_spec: str, rows: list[ClipRow]) -> PromptBank | None:
    """Every distinct prompt and negative prompt of the run, encoded once, batched, with the text
    encoder of ``prior_spec`` alone (never its video model) on the best device here, before any
    worker starts; cached on disk by content (docs/priors.md, "Text: once per run"). None for a
    prior without a registered text encoder (the analytic test priors)."""
    from flexiclip_core.guidance import PROMPT_ENCODERS, encode_run_prompts

    if not rows or prior_spec.partition(":")[0] not in PROMPT_ENCODERS:
        return None
    prompts = [text for row in rows for text in (row.prompt, row.negative_prompt or "")]
    return encode_run_prompts(prior_spec, prompts)


def with_prompt_embeddings(jobs: list[ClipJob], bank: PromptBank | None) -> list[ClipJob]:
    """Each job carrying its own prompt's and negative prompt's embeddings from ``bank`` (a few
    hundred KB per clip, sent with the job: a worker receives only its clips' text, however
    long the run); the jobs unchanged when there is no bank."""
    if bank is None:
        return jobs
    from flexiclip_core.guidance.text import PromptBank

    return [
        dataclasses.replace(
            job,
            text=PromptBank(
                bank.model_key,
                {
                    prompt: bank.embeddings[prompt]
                    for prompt in (job.prompt, job.negative_prompt or "")
                    if prompt in bank.embeddings
                },
            ),
        )
        for job in jobs
    ]


@task(name="plan", cache_policy=NO_CACHE)
def plan_run(
    rows: list[ClipRow],
    errors: list[RowError],
    *,
    run_id: str,
    config: AnimationConfig,
    prior_name: str,
    output_catalog: OutputCatalog,
    storage_options: dict | None,
    force: bool,
    prior_key: str | None = None,
) -> Plan:
    """Build the jobs, then skip what already succeeded (media present) and adopt what a stopped run staged."""
    from catalogs.input import read_reference_video, read_svg_bytes
    from catalogs.output import code_version

    return plan_work(
        rows,
        errors,
        run_id=run_id,
        config=config,
        prior_name=prior_name,
        prior_key=prior_key,
        code_version=code_version(),
        output_catalog=output_catalog,
        force=force,
        read_svg=lambda uri: read_svg_bytes(uri, storage_options=storage_options or None),
        read_reference=lambda uri, clip, max_bytes, max_files: read_reference_video(
            uri, clip=clip, storage_options=storage_options or None, max_bytes=max_bytes, max_files=max_files
        ),
    )


@task(name="dispatch", cache_policy=NO_CACHE)
def dispatch(
    pool: ActorPool,
    jobs: list[ClipJob],
    output_catalog: OutputCatalog,
    progress: RunProgress | None = None,
    progress_artifact: Any = None,
) -> tuple[list[tuple[int, OutputRow]], DispatchStats]:
    """Animate ``jobs`` on the actor pool, staging each finished row as it arrives; each one
    advances ``progress`` (logged, and on the progress artifact at each whole percent)."""
    from tasks.worker import ShippedMedia, publish_shipped_media

    index_of = {job.idempotency_key: job.row_index for job in jobs}
    clips_by_node: dict[str, int] = {}
    finished: list[tuple[int, OutputRow]] = []
    started = time.monotonic()
    progress = progress or RunProgress(total=len(jobs))
    costs = {"cpu": 0.0, "gpu": 0.0}

    def on_row(result: OutputRow | ShippedMedia) -> None:
        row = (
            publish_shipped_media(output_catalog, result.row, result.media)
            if isinstance(result, ShippedMedia)
            else result
        )
        if row.ray_node_id:
            clips_by_node[row.ray_node_id] = clips_by_node.get(row.ray_node_id, 0) + 1
        try:
            output_catalog.stage(row)
        except Exception as exc:  # the row is still committed from memory; staging only guards a crash
            log.warning("clip %s: could not stage its row (%s); it is kept in memory", row.clip_id, exc)
        finished.append((index_of.get(row.idempotency_key or "", -1), row))
        costs["cpu"] += row.cpu_seconds or 0.0
        costs["gpu"] += row.gpu_seconds or 0.0
        before = int(progress.percent)
        progress.done += 1
        progress.animated += 1
        progress.failed += int(row.status is Status.FAILED)
        progress.seconds = time.monotonic() - started
        detail = (
            f"in {row.seconds:.1f} s"
            if row.status is Status.SUCCEEDED and row.seconds is not None
            else f"{row.error_type}: {row.error_message}"
            if row.status is Status.FAILED
            else ""
        )
        log.info(
            "clip %s %s %s [%s]",
            row.clip_id,
            row.status,
            detail,
            progress.line(),
            extra={PROGRESS_RECORD: dataclasses.replace(progress)},
        )
        if int(progress.percent) != before:  # at most ~100 API calls, however long the run
            update_progress(progress_artifact, progress)

    stats = pool.run(jobs, on_row) if jobs else DispatchStats()
    stats.clips_by_node = clips_by_node
    stats.cpu_seconds, stats.gpu_seconds = costs["cpu"], costs["gpu"]
    return finished, stats


# No retries: a commit that landed but failed afterwards (reading its version back) would be
# appended twice; delta-rs already retries conflicting concurrent appends itself.
@task(name="commit", cache_policy=NO_CACHE)
def commit_rows(output_catalog: OutputCatalog, rows: list[OutputRow], run_id: str) -> int | None:
    """One Delta commit with every row of the run (metadata names the run); its version."""
    if not rows:
        log.info("nothing to commit")
        return None
    return output_catalog.commit(rows, run_id=run_id)


@task(name="html-report", cache_policy=NO_CACHE)
def write_html_report(output_catalog: OutputCatalog, run_id: str) -> str | None:
    """Write the run's HTML gallery under ROOT/reports/ (`tasks.html_report`); its URI, or None.

    A report that cannot be written is logged, never fails the run: the catalog is the record.
    """
    from tasks.html_report import write_report

    try:
        return write_report(output_catalog.root, run_id, storage_options=output_catalog.storage_options or None)
    except Exception as exc:  # the gallery is a convenience on top of the committed catalog
        log.warning("run %s: HTML report not written: %s: %s", run_id, type(exc).__name__, exc)
        return None


@task(name="report", cache_policy=NO_CACHE)
def publish_report(summary: RunSummary) -> str:
    """Publish the run report as a Markdown artifact; returns the Markdown."""
    from prefect.artifacts import create_markdown_artifact

    text = markdown_report(summary)
    create_markdown_artifact(markdown=text, key=REPORT_ARTIFACT_KEY, description=summary.message)
    return text


@task(name="rows-table", cache_policy=NO_CACHE)
def publish_rows_table(rows: list[OutputRow], run_id: str) -> None:
    """Publish the run's rows as a table artifact (`tasks.report.rows_table`)."""
    from prefect.artifacts import create_table_artifact

    create_table_artifact(table=rows_table(rows), key=ROWS_ARTIFACT_KEY, description=f"run {run_id}: one row per clip")
