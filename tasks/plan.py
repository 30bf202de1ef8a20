"""Planning a run: input rows → jobs, and which jobs are already done (skipped) or finished by an
earlier run that never committed (adopted from staging).

Pure functions over the catalog layer's types; the Prefect tasks in `tasks.steps` call them.
Every input row ends in exactly one of: a job to animate, an adopted staged row, a skipped row
or a failed row — `Plan.row_count` equals the input row count.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tasks.jobs import SUCCEEDED, ClipJob, failed_row, invalid_input_row, request_hash, skipped_row

if TYPE_CHECKING:
    from catalogs.input import ClipRow, RowError
    from flexiclip_core.optimize import AnimationConfig

log = logging.getLogger(__name__)

SVG_READ_THREADS = 8
"""SVGs are read concurrently (S3 latency dominates, not CPU)."""


def base_config(method: str, iterations: int | None = None, overrides: dict[str, Any] | None = None) -> AnimationConfig:
    """The run's animation config: the method preset with the run's overrides (raises ConfigError)."""
    from flexiclip_core.optimize import preset

    changes = dict(overrides or {})
    if iterations is not None:
        changes["iterations"] = int(iterations)
    config = preset(method)
    return config.with_overrides(changes) if changes else config


@dataclass
class Plan:
    """Where each input row of a run goes; rows are (input row index, row dict)."""

    jobs: list[ClipJob] = field(default_factory=list)
    """Clips to animate now."""
    adopted: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    """Succeeded rows staged by an earlier run that was stopped before its commit."""
    skipped: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    """Clips whose idempotency key already succeeded (rows point at the existing media)."""
    failed: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    """Invalid input rows and clips whose SVG cannot be read."""

    @property
    def row_count(self) -> int:
        return len(self.jobs) + len(self.adopted) + len(self.skipped) + len(self.failed)


def build_jobs(
    rows: list[ClipRow],
    errors: list[RowError],
    *,
    run_id: str,
    config: AnimationConfig,
    prior_name: str,
    code_version: str,
    read_svg: Callable[[str], bytes],
) -> Plan:
    """Jobs for the valid rows (SVG read and hashed now), failed rows for the rest."""
    from catalogs.output import idempotency_key

    plan = Plan()
    for error in errors:
        plan.failed.append((error.row_index, invalid_input_row(run_id, error.row_index, error.clip_id,
                                                               error.error_type, error.message)))
    with ThreadPoolExecutor(max_workers=SVG_READ_THREADS) as pool:
        svgs = list(pool.map(lambda row: _read(read_svg, row.svg_uri), rows))
    for row, svg in zip(rows, svgs):
        row_config = config.with_overrides(row.config) if row.config else config
        if row.seed is not None:
            row_config = row_config.with_overrides({"seed": int(row.seed)})
        row_export = _export_config(row.export)
        config_hash = request_hash(row_config, keypoints=row.keypoints, skeleton=row.skeleton,
                                   layers=row.layers, negative_prompt=row.negative_prompt, export=row_export)
        if isinstance(svg, BaseException):
            base = {"run_id": run_id, "clip_id": row.clip_id, "prompt": row.prompt, "method": row_config.method,
                    "config_hash": config_hash, "prior": prior_name, "seed": int(row_config.seed),
                    "code_version": code_version, "iterations": int(row_config.iterations)}
            plan.failed.append((row.row_index, failed_row(base, type(svg).__name__, str(svg))))
            continue
        svg_sha256 = hashlib.sha256(svg).hexdigest()
        plan.jobs.append(
            ClipJob(
                run_id=run_id,
                row_index=row.row_index,
                clip_id=row.clip_id,
                svg_uri=row.svg_uri,
                svg_bytes=svg,
                svg_sha256=svg_sha256,
                prompt=row.prompt,
                negative_prompt=row.negative_prompt,
                keypoints=row.keypoints,
                skeleton=row.skeleton,
                layers=row.layers,
                config=row_config,
                config_hash=config_hash,
                prior=prior_name,
                code_version=code_version,
                idempotency_key=idempotency_key(svg_sha256, row.prompt, config_hash, prior_name,
                                                int(row_config.seed), code_version),
                tags=list(row.tags),
                export=row_export,
            )
        )
    return plan


def _export_config(overrides: dict[str, Any]):  # -> ExportConfig | None
    """The row's export config, or None when it keeps the defaults (its hash then stays the same)."""
    if not overrides:
        return None
    from flexiclip_core.export import ExportConfig

    default = ExportConfig()
    export = default.with_overrides(overrides)
    return None if export == default else export


def _read(read_svg: Callable[[str], bytes], uri: str) -> bytes | BaseException:
    from flexiclip_core.errors import FlexiclipError

    try:
        return read_svg(uri)
    except FlexiclipError as exc:  # a missing or oversized SVG fails its row, not the run
        return exc


def select_work(
    plan: Plan,
    *,
    succeeded: dict[str, dict[str, Any]],
    staged: dict[str, dict[str, Any]],
    force: bool,
) -> Plan:
    """Split ``plan.jobs`` into work to do, rows to adopt from staging and rows to skip.

    ``succeeded``: key → a committed succeeded row (its media URIs); ``staged``: key → row
    staged by a run that did not commit. With ``force`` every job runs again.
    """
    result = Plan(failed=list(plan.failed))
    for job in plan.jobs:
        if not force and job.idempotency_key in succeeded:
            result.skipped.append((job.row_index, skipped_row(job, succeeded[job.idempotency_key])))
            continue
        previous = staged.get(job.idempotency_key)
        if not force and previous is not None and previous.get("status") == SUCCEEDED:
            result.adopted.append((job.row_index, {**previous, "run_id": job.run_id}))
            continue
        result.jobs.append(job)
    log.info("plan: %d to animate, %d adopted from staging, %d skipped, %d failed before running",
             len(result.jobs), len(result.adopted), len(result.skipped), len(result.failed))
    return result


def succeeded_rows(frame: Any) -> dict[str, dict[str, Any]]:
    """key → latest succeeded row, from a pandas frame of the output catalog's succeeded rows."""
    found: dict[str, dict[str, Any]] = {}
    if frame is None or len(frame) == 0:
        return found
    records: Iterable[dict[str, Any]] = frame.sort_values("finished_at", na_position="first").to_dict("records")
    for record in records:
        key = record.get("idempotency_key")
        if key:
            found[key] = record
    return found
