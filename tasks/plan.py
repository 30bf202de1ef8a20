"""Planning a run: input rows → jobs, and which jobs are already done (skipped) or finished by an
earlier run that never committed (adopted from staging). A job whose key succeeded before is
skipped only when that success's media still exist; otherwise it is animated again and its row
says why (docs/pipeline.md §4).

Pure functions over the catalog layer's types; the Prefect tasks in `tasks.steps` call them.
Every input row ends in exactly one of: a job to animate, an adopted staged row, a skipped row
or a failed row — `Plan.row_count` equals the input row count.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from catalogs.input import ReferenceInput
from catalogs.rows import OutputRow, Status
from catalogs.storage import map_in_threads
from tasks.jobs import (
    GENERATED_REFERENCE,
    SUPPLIED_REFERENCE,
    ClipJob,
    failed_row,
    invalid_input_row,
    request_hash,
    skipped_row,
)

if TYPE_CHECKING:
    from catalogs.input import ClipRow, RowError
    from catalogs.output import OutputCatalog
    from flexiclip_core.optimize import AnimationConfig

log = logging.getLogger(__name__)

SVG_READ_THREADS = 8
"""SVGs and reference videos are read concurrently (S3 latency dominates, not CPU)."""
VIDEO_FIT = "video-fit"
"""The objective whose jobs fit a reference video (`AnimationConfig.objective`)."""
ReadReference = Callable[[str, str, int, int], ReferenceInput]
"""(uri, clip id, max bytes, max PNG frames) → the reference, or `ReferenceVideoError`."""


def base_config(method: str, iterations: int | None = None, overrides: dict[str, Any] | None = None) -> AnimationConfig:
    """The run's animation config: the method preset with the run's overrides (raises ConfigError).

    The one check of a run's settings before anything starts (`flexiclip run`'s preflight, the
    flow's first step, `flexiclip animate`): a ``video_fit.generator`` must name a registered
    generator (`ConfigError`, one line listing the known ones); its weights are looked at later
    (`generator_identity`)."""
    from flexiclip_core.optimize import preset

    changes = dict(overrides or {})
    if iterations is not None:
        changes["iterations"] = int(iterations)
    config = preset(method)
    config = config.with_overrides(changes) if changes else config
    if config.video_fit.generator is not None:
        from flexiclip_core.videofit.generate import REFERENCE_GENERATORS

        REFERENCE_GENERATORS.get(config.video_fit.generator)  # unknown: ConfigError naming the known ones
    return config


@dataclass
class Plan:
    """Where each input row of a run goes; rows are (input row index, row)."""

    jobs: list[ClipJob] = field(default_factory=list)
    """Clips to animate now."""
    adopted: list[tuple[int, OutputRow]] = field(default_factory=list)
    """Succeeded rows staged by an earlier run that was stopped before its commit."""
    skipped: list[tuple[int, OutputRow]] = field(default_factory=list)
    """Clips whose idempotency key already succeeded (rows point at the existing media)."""
    failed: list[tuple[int, OutputRow]] = field(default_factory=list)
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
    prior_key: str | None = None,
    read_reference: ReadReference | None = None,
) -> Plan:
    """Jobs for the valid rows (SVG read and hashed now), failed rows for the rest.

    ``prior_key`` (the workers' `VideoPrior.result_key`, default ``prior_name``) goes into each
    idempotency key; rows show ``prior_name``. A ``video-fit`` row's reference video is read now
    too (``read_reference``, bounded by its config's ``video_fit.limits.max_file_bytes``) and its
    content hash goes into the key in place of the prior, which plays no part in a fit; such a row
    without a reference, or whose reference cannot be read, is a failed row naming the clip. A
    reference on a row of another method is ignored, and its row says so. A row whose reference
    a generator samples on the worker is keyed by that generator's result_key (its weights'
    identity, `generator_identity`, computed once per generator here); an unknown generator or
    absent weights fail the row in one line."""
    from catalogs.output import idempotency_key

    plan = Plan()
    for error in errors:
        plan.failed.append(
            (
                error.row_index,
                invalid_input_row(run_id, error.row_index, error.clip_id, error.error_type, error.message),
            )
        )
    # Rows that set nothing but a seed and a negative prompt share their config and its hash:
    # made once per seed and hashed once per (seed, negative prompt), not once per row (hashing a
    # config is ~1 ms, 40 % of planning 10,000 rows before).
    seed_configs: dict[Any, AnimationConfig] = {}
    row_configs = []
    for row in rows:
        if row.config:
            row_config = config.with_overrides(row.config)
            if row.seed is not None:
                row_config = row_config.with_overrides({"seed": int(row.seed)})
        else:
            if row.seed not in seed_configs:
                seed_configs[row.seed] = config if row.seed is None else config.with_overrides({"seed": int(row.seed)})
            row_config = seed_configs[row.seed]
        row_configs.append(row_config)

    def read_inputs(item: tuple[ClipRow, AnimationConfig]) -> tuple[bytes | BaseException, Any]:
        row, row_config = item
        return _read(read_svg, row.svg_uri), _reference(row, row_config, read_reference)

    inputs = map_in_threads(read_inputs, list(zip(rows, row_configs)), SVG_READ_THREADS)
    shared: dict[tuple[Any, str | None], str] = {}
    identities: dict[str, str | BaseException] = {}
    for row, row_config, (svg, reference) in zip(rows, row_configs, inputs):
        row_export = _export_config(row.export)
        notes: tuple[str, ...] = ()
        if isinstance(reference, str):  # a reference the row's method does not use
            notes, reference = (reference,), None
        reference_sha256 = reference.sha256 if isinstance(reference, ReferenceInput) else None
        reference_seed = row.reference_seed if generated_key(row_config, reference) is not None else None
        plain = (
            not row.config
            and row.keypoints is None
            and row.skeleton is None
            and row.layers is None
            and row_export is None
            and reference_sha256 is None
            and reference_seed is None
        )
        shared_key = (row.seed, row.negative_prompt)
        if plain and shared_key in shared:
            config_hash = shared[shared_key]
        else:
            config_hash = request_hash(
                row_config,
                keypoints=row.keypoints,
                skeleton=row.skeleton,
                layers=row.layers,
                negative_prompt=row.negative_prompt,
                export=row_export,
                reference_sha256=reference_sha256,
                reference_seed=reference_seed,
            )
            if plain:
                shared[shared_key] = config_hash
        job_prior = prior_name
        job_prior_key = prior_key or prior_name
        identity: str | BaseException | None = None
        if row_config.objective == VIDEO_FIT:
            # No prior makes a fitted clip: the key and the row name the reference instead.
            job_prior = job_prior_key = generated_key(row_config, reference) or f"reference:{SUPPLIED_REFERENCE}"
            generator = row_config.video_fit.generator
            if generated_key(row_config, reference) is not None and generator is not None:
                if generator not in identities:
                    identities[generator] = generator_identity(generator)
                identity = identities[generator]
                if isinstance(identity, str):
                    job_prior_key = generated_prior_key(identity)  # the row still shows the name
        problem = next((item for item in (svg, reference, identity) if isinstance(item, BaseException)), None)
        if problem is not None:
            base = OutputRow(
                run_id=run_id,
                clip_id=row.clip_id,
                status=Status.FAILED,
                prompt=row.prompt,
                method=row_config.method,
                config_hash=config_hash,
                prior=job_prior,
                seed=int(row_config.seed),
                code_version=code_version,
                iterations=int(row_config.iterations),
                artwork_licence=row.licence,
                artwork_attribution=row.attribution,
                reference_input_uri=row.reference_video if row_config.objective == VIDEO_FIT else None,
            )
            message = str(problem) if problem is not identity else f"clip {row.clip_id!r}: {problem}"
            plan.failed.append((row.row_index, failed_row(base, type(problem).__name__, message)))
            continue
        assert isinstance(svg, bytes)
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
                prior=job_prior,
                code_version=code_version,
                idempotency_key=idempotency_key(
                    svg_sha256, row.prompt, config_hash, job_prior_key, int(row_config.seed), code_version
                ),
                tags=list(row.tags),
                notes=notes,
                artwork_licence=row.licence,
                artwork_attribution=row.attribution,
                export=row_export,
                reference=reference,
                reference_seed=row.reference_seed if generated_key(row_config, reference) is not None else None,
            )
        )
    return plan


def generated_key(config: AnimationConfig, reference: object) -> str | None:
    """The ``prior`` column of a video-fit row whose reference the worker generates:
    ``reference:generated:<generator>`` (None for every other row). Its key holds the
    generator's result_key instead (`generated_prior_key`)."""
    generator = config.video_fit.generator
    if config.objective != VIDEO_FIT or reference is not None or generator is None:
        return None
    return f"reference:{GENERATED_REFERENCE}:{generator}"


def generated_prior_key(result_key: str) -> str:
    """The idempotency key's prior part of a generated video-fit row:
    ``reference:generated:<result_key>``, the generator's `GeneratorSpec.result_key` (name, weights
    identity, sampling hash). New weights, or new sampling settings, are a new key, so old rows are
    redone; the same weights in another folder or on another node keep it. ``reference_candidates``
    (in the config hash), the row's seed and its ``reference_seed`` (in `request_hash`) are in the
    key too (docs/pipeline.md §4)."""
    return f"reference:{GENERATED_REFERENCE}:{result_key}"


def generated_job_key(job: ClipJob, result_key: str) -> str:
    """The idempotency key ``job`` (a generated video-fit job) has when it was planned with
    generator result_key ``result_key``: a worker checks its own generator against it."""
    from catalogs.output import idempotency_key

    return idempotency_key(
        job.svg_sha256, job.prompt, job.config_hash, generated_prior_key(result_key), job.seed, job.code_version
    )


def generator_identity(name: str) -> str | BaseException:
    """Generator ``name``'s result_key as the workers will load it (its weights from the same
    resolution: ``$FLEXICLIP_WAN_VACE_MODEL`` or the Hugging Face cache), computed without loading
    it; the one-line error (unknown name, absent weights) instead of raising."""
    from flexiclip_core.errors import FlexiclipError
    from flexiclip_core.videofit.generate import generator_result_key

    try:
        return generator_result_key(name)
    except FlexiclipError as exc:
        return exc


def _reference(
    row: ClipRow, config: AnimationConfig, read_reference: ReadReference | None
) -> ReferenceInput | BaseException | str | None:
    """The row's reference for ``config``: read (video-fit), the error that stops it, a note why
    it is ignored (other methods), or None."""
    from catalogs.input import read_reference_video
    from flexiclip_core.errors import FlexiclipError, ReferenceVideoError

    if config.objective != VIDEO_FIT:
        if row.reference_video is None:
            return None
        return f"column 'reference_video' ignored: method {config.method!r} is not fitted to a video (use video-fit)"
    if row.reference_video is None:
        if config.video_fit.generator is not None:
            return None  # generated on the worker (`ClipWorker`), keyed by generator + seed
        return ReferenceVideoError(
            f"method {config.method!r} needs a reference video and column 'reference_video' is empty",
            clip=row.clip_id,
        )
    limits = config.video_fit.limits
    try:
        if read_reference is None:
            reference = read_reference_video(
                row.reference_video, clip=row.clip_id, max_bytes=limits.max_file_bytes, max_files=limits.max_frames
            )
        else:
            reference = read_reference(row.reference_video, row.clip_id, limits.max_file_bytes, limits.max_frames)
    except FlexiclipError as exc:  # missing, oversized, unreadable: this row fails, the run goes on
        return exc
    return dataclasses.replace(reference, licence=row.reference_licence)


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
    succeeded: dict[str, OutputRow],
    staged: dict[str, OutputRow],
    force: bool,
    missing_media: Mapping[str, list[str]] | None = None,
) -> Plan:
    """Split ``plan.jobs`` into work to do, rows to adopt from staging and rows to skip.

    ``succeeded``: key → a committed succeeded row (its media URIs); ``staged``: key → row
    staged by a run that did not commit; ``missing_media``: key → what is gone of that
    succeeded row's media (such a job runs again, with a note saying why). With ``force``
    every job runs again.
    """
    missing_media = missing_media or {}
    result = Plan(failed=list(plan.failed))
    for job in plan.jobs:
        previous_success = None if force else succeeded.get(job.idempotency_key)
        if previous_success is not None:
            gone = missing_media.get(job.idempotency_key)
            if not gone:
                result.skipped.append((job.row_index, skipped_row(job, previous_success)))
                continue
            note = (
                f"re-animated: the media of its earlier success (run {previous_success.run_id}) "
                f"are missing: {', '.join(gone)}"
            )
            log.warning("clip %s: %s", job.clip_id, note)
            job = dataclasses.replace(job, notes=(*job.notes, note))
        previous = staged.get(job.idempotency_key)
        if not force and previous is not None and previous.status is Status.SUCCEEDED:
            result.adopted.append((job.row_index, previous.replace(run_id=job.run_id)))
            continue
        result.jobs.append(job)
    log.info(
        "plan: %d to animate, %d adopted from staging, %d skipped, %d failed before running",
        len(result.jobs),
        len(result.adopted),
        len(result.skipped),
        len(result.failed),
    )
    return result


def plan_work(
    rows: list[ClipRow],
    errors: list[RowError],
    *,
    run_id: str,
    config: AnimationConfig,
    prior_name: str,
    code_version: str,
    output_catalog: OutputCatalog,
    read_svg: Callable[[str], bytes],
    force: bool,
    prior_key: str | None = None,
    read_reference: ReadReference | None = None,
) -> Plan:
    """The whole plan of a run: jobs (`build_jobs`), then against the output catalog's latest
    succeeded row per planned key, its media's existence and staging, the split (`select_work`)."""
    plan = build_jobs(
        rows,
        errors,
        run_id=run_id,
        config=config,
        prior_name=prior_name,
        prior_key=prior_key,
        code_version=code_version,
        read_svg=read_svg,
        read_reference=read_reference,
    )
    if force:
        return select_work(plan, succeeded={}, staged={}, force=True)
    succeeded = output_catalog.latest_succeeded(job.idempotency_key for job in plan.jobs)
    missing = output_catalog.missing_media(succeeded)
    return select_work(plan, succeeded=succeeded, staged=output_catalog.staged(), force=False, missing_media=missing)
