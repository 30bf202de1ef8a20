"""The flow's evaluation step (``flexiclip run --evaluate``, flow parameter ``evaluate``): score the
run just committed with `tasks.evaluate`, write its tables under ``ROOT/evaluations/<run>/`` and
publish the Markdown as a Prefect artifact, so the nightly job's owners see quality next to
throughput. Never fails the run: the committed catalog is the record.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from catalogs.output import OutputCatalog
from tasks.evaluate import RunRef, evaluate, load_categories

log = logging.getLogger(__name__)

EVALUATION_ARTIFACT_KEY = "flexiclip-evaluation"
"""Key of the Markdown artifact the step publishes (the latest one per key shows in the UI)."""


def evaluation_uri(root: str, run_id: str) -> str:
    """Where a run's evaluation folder is: ``ROOT/evaluations/<run>`` (a path or an s3:// URI)."""
    return f"{root.rstrip('/')}/evaluations/{run_id}"


@task(name="evaluate", cache_policy=NO_CACHE)
def evaluate_after_run(output_catalog: OutputCatalog, run_id: str, catalog_uri: str | None) -> str | None:
    """Evaluate run ``run_id`` (categories from the input catalog's ``category`` column); the
    evaluation folder's URI, or None when it could not be written (logged)."""
    from prefect.artifacts import create_markdown_artifact

    from flexiclip_core.learned_metrics import LearnedMetrics, LearnedMetricsConfig
    from tasks.evaluation_report import markdown_tables, write_evaluation

    options = output_catalog.storage_options or None
    try:
        try:
            categories = load_categories(catalog_uri, options)
        except Exception as exc:  # noqa: BLE001 a CSV/JSONL catalog, or no category column: one group
            log.info("run %s: no categories for the evaluation (%s)", run_id, exc)
            categories = {}
        evaluation = evaluate(
            RunRef(output_catalog.root, run_id),
            categories=categories,
            learned_metrics=LearnedMetrics(LearnedMetricsConfig.from_env()),
            storage_options=options,
        )
        uri = evaluation_uri(output_catalog.root, run_id)
        if output_catalog.is_s3:
            with tempfile.TemporaryDirectory() as scratch:
                write_evaluation(evaluation, scratch)
                from catalogs.storage import s3_filesystem, s3_path

                s3_filesystem(options).put(f"{scratch}/", s3_path(uri), recursive=True)
        else:
            write_evaluation(evaluation, Path(uri))
        create_markdown_artifact(
            markdown=markdown_tables(evaluation), key=EVALUATION_ARTIFACT_KEY, description=f"evaluation of run {run_id}"
        )
        log.info("run %s: evaluation written to %s", run_id, uri)
        return uri
    except Exception as exc:  # noqa: BLE001 the evaluation is a view of the committed run, never its outcome
        log.warning("run %s: evaluation not written: %s: %s", run_id, type(exc).__name__, exc)
        return None
