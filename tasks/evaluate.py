"""Evaluate runs of the output catalog on the papers' protocol (docs/metrics.md §7–8).

`evaluate` reads a run's rows and media (``motion.npz``, the source SVG, ``config.json``), scores
every clip with `flexiclip_core.animation_metrics.score_motion`, scores the static baseline (the
input held for the same frames) with the same code, and aggregates per category and overall with
percentile-bootstrap 95% intervals; runs given with ``against`` sit beside it with the paired
difference to the first run (same clip ids) and its interval. `tasks.evaluation_report` writes
the tables; `flexiclip evaluate` and ``flexiclip run --evaluate`` call this module.

Plain Python: no Prefect or Ray import (the flow's step is `evaluate_after_run`).
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from catalogs.errors import CatalogError
from catalogs.output import OutputCatalog
from catalogs.rows import OutputRow, Status
from catalogs.storage import file_uri_to_path, is_s3, s3_filesystem, s3_path, uri_scheme
from flexiclip_core.animation_metrics import ANIMATION_COLUMNS, ClipMotion, ClipScore, score_motion, static_motion
from flexiclip_core.metrics import GEOMETRY_COLUMNS, IMAGE_COLUMNS, LEARNED_COLUMNS

if TYPE_CHECKING:
    from flexiclip_core.learned_metrics import LearnedMetrics

log = logging.getLogger(__name__)

__all__ = [
    "EVALUATED_COLUMNS",
    "BETTER",
    "STATIC_LABEL",
    "UNCATEGORISED",
    "EvaluationConfig",
    "RunRef",
    "Interval",
    "ClipResult",
    "RunResult",
    "Evaluation",
    "parse_run_ref",
    "bootstrap_mean",
    "load_categories",
    "evaluate",
]

EVALUATED_COLUMNS: tuple[str, ...] = (
    *ANIMATION_COLUMNS,
    "clip_identity",
    "text_alignment",
    "identity_lpips",
    "identity_ssim",
    "temporal_consistency",
    *GEOMETRY_COLUMNS,
    "coverage_iou",
)
"""Every column an evaluation reports, in table order: the papers' MV…AE, the identity and text
metrics the papers report (CLIP, X-CLIP, LPIPS, SSIM), then the project's other columns."""
assert set(EVALUATED_COLUMNS) == set(ANIMATION_COLUMNS) | set(GEOMETRY_COLUMNS + IMAGE_COLUMNS + LEARNED_COLUMNS)

BETTER: dict[str, str] = {
    "mv": "higher",
    "tc": "lower",
    "gd": "lower",
    "ds": "lower",
    "ae": "higher",
    "clip_identity": "higher",
    "text_alignment": "higher",
    "identity_lpips": "lower",
    "identity_ssim": "higher",
    "temporal_consistency": "higher",
    "motion_vitality": "higher",
    "temporal_jerk": "lower",
    "rigidity_error": "lower",
    "deformation_roughness": "lower",
    "animation_energy": "higher",
    "bone_length_error": "lower",
    "coverage_iou": "higher",
}
"""Which way each column improves (docs/metrics.md §2–4, §7); vitality and energy: within reason."""

STATIC_LABEL = "static input"
"""Label of the static-baseline column: the input drawing held for N frames, scored by the same code."""
UNCATEGORISED = "uncategorised"
"""Category of a clip that the category map does not name."""
OVERALL = "overall"
"""Group name of the aggregate over every clip."""


@dataclass(frozen=True)
class EvaluationConfig:
    """How an evaluation aggregates."""

    resamples: int = 2000
    """Bootstrap resamples per interval."""
    level: float = 0.95
    """Confidence level of the percentile-bootstrap intervals."""
    seed: int = 0
    """Seed of the bootstrap's generator: the same clips give the same intervals."""

    def __post_init__(self) -> None:
        if self.resamples < 1:
            raise ValueError(f"resamples must be at least 1, got {self.resamples}")
        if not 0.0 < self.level < 1.0:
            raise ValueError(f"level must lie in (0, 1), got {self.level}")


@dataclass(frozen=True)
class RunRef:
    """Which run to evaluate: an output root, and optionally a run id and a catalog version."""

    root: str
    """Output root (folder, file:// or s3:// URI)."""
    run_id: str | None = None
    """Run id (None: the run that committed ``version``, or the latest run)."""
    version: int | None = None
    """Catalog version to read (None: the latest)."""


def parse_run_ref(text: str) -> RunRef:
    """``ROOT[:RUN]`` → RunRef; a colon that belongs to a URI scheme (``s3://``, ``file://``) or a
    Windows drive is not a separator."""
    head, sep, tail = text.rpartition(":")
    if not sep or not head or tail.startswith("/") or (len(head) == 1 and head.isalpha()):
        return RunRef(text)
    if not tail:
        raise CatalogError(f"{text!r}: empty run id after ':' (use ROOT or ROOT:RUN)")
    return RunRef(head, tail)


@dataclass(frozen=True)
class Interval:
    """A mean over clips with its bootstrap interval."""

    mean: float
    low: float
    high: float
    n: int
    """Clips behind the mean."""

    def to_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n}


def bootstrap_mean(values: Sequence[float | None], config: EvaluationConfig = EvaluationConfig()) -> Interval | None:
    """The mean of ``values`` and its percentile-bootstrap interval (resampling the values with
    replacement ``config.resamples`` times), Nones left out; None for no values. One value gives
    a zero-width interval."""
    data = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if data.size == 0:
        return None
    rng = np.random.default_rng(config.seed)
    picks = rng.integers(0, data.size, size=(config.resamples, data.size))
    means = data[picks].mean(axis=1)
    tail = (1.0 - config.level) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return Interval(float(data.mean()), float(low), float(high), int(data.size))


@dataclass(frozen=True)
class ClipResult:
    """One clip's metrics in one run."""

    clip_id: str
    prompt: str | None
    category: str
    values: dict[str, float | None]
    """Column of `EVALUATED_COLUMNS` → value (None: not computed, see ``reasons``)."""
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunResult:
    """Every clip of one evaluated run (or of the static baseline)."""

    label: str
    """Column heading in the tables."""
    clips: tuple[ClipResult, ...]
    root: str | None = None
    run_id: str | None = None
    version: int | None = None
    method: str | None = None
    prior: str | None = None
    prior_is_trained: bool | None = None
    static: bool = False
    """True for the static baseline."""
    not_evaluated: tuple[tuple[str, str], ...] = ()
    """(clip_id, why) of the run's rows that give no scores: failed clips, unreadable media."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "root": self.root,
            "run_id": self.run_id,
            "version": self.version,
            "method": self.method,
            "prior": self.prior,
            "prior_is_trained": self.prior_is_trained,
            "static_baseline": self.static,
            "clips": [
                {
                    "clip_id": clip.clip_id,
                    "prompt": clip.prompt,
                    "category": clip.category,
                    "values": clip.values,
                    "reasons": clip.reasons,
                }
                for clip in self.clips
            ],
            "not_evaluated": [{"clip_id": clip, "reason": why} for clip, why in self.not_evaluated],
        }


@dataclass(frozen=True)
class Evaluation:
    """An evaluation's runs and their aggregates: what every output format is written from."""

    runs: tuple[RunResult, ...]
    """The reference run first, then the static baseline, then each ``against`` run."""
    groups: tuple[str, ...]
    """``overall`` then the categories, sorted."""
    summary: dict[str, dict[str, dict[str, Interval | None]]]
    """run label → group → column → mean and interval (None: no clip has the column)."""
    paired: dict[str, dict[str, dict[str, Interval | None]]]
    """label of each run but the reference → group → column → paired difference (run − reference)
    over the clip ids both have."""
    missing: dict[str, list[str]]
    """Column → why it was not computed, for columns some clip lacks (learned metrics without weights)."""
    config: EvaluationConfig = EvaluationConfig()

    @property
    def reference(self) -> RunResult:
        return self.runs[0]

    def to_dict(self) -> dict[str, Any]:
        def intervals(table: Mapping[str, Mapping[str, Mapping[str, Interval | None]]]) -> dict[str, Any]:
            return {
                label: {
                    group: {column: None if value is None else value.to_dict() for column, value in columns.items()}
                    for group, columns in groups.items()
                }
                for label, groups in table.items()
            }

        return {
            "columns": list(EVALUATED_COLUMNS),
            "better": BETTER,
            "groups": list(self.groups),
            "bootstrap": {"resamples": self.config.resamples, "level": self.config.level, "seed": self.config.seed},
            "runs": [run.to_dict() for run in self.runs],
            "summary": intervals(self.summary),
            "paired_difference_to": self.reference.label,
            "paired": intervals(self.paired),
            "missing": self.missing,
        }


# ---------------------------------------------------------------------------------------------
# Reading runs


def load_categories(catalog_uri: str | None, storage_options: dict | None = None) -> dict[str, str]:
    """clip_id → category from an input catalog's ``category`` column (or a ``category:NAME``
    tag); {} without a catalog. Raises CatalogError for an unreadable file."""
    if not catalog_uri:
        return {}
    import pyarrow.parquet as pq

    try:
        if is_s3(catalog_uri):
            with s3_filesystem(storage_options).open(s3_path(catalog_uri), "rb") as handle:
                table = pq.read_table(io.BytesIO(handle.read()))
        else:
            path = file_uri_to_path(catalog_uri) if uri_scheme(catalog_uri) == "file" else catalog_uri
            table = pq.read_table(path)
    except Exception as error:  # pyarrow raises ArrowInvalid / OSError for a bad file
        raise CatalogError(f"catalog {catalog_uri!r}: cannot read its categories: {error}") from error
    records = table.to_pylist()
    categories: dict[str, str] = {}
    for record in records:
        clip_id = record.get("clip_id")
        category = record.get("category")
        if not category:
            tags = record.get("tags") or []
            category = next((tag.split(":", 1)[1] for tag in tags if str(tag).startswith("category:")), None)
        if clip_id and category:
            categories[str(clip_id)] = str(category)
    return categories


def _read_media(uri: str, storage_options: dict | None) -> bytes:
    if is_s3(uri):
        with s3_filesystem(storage_options).open(s3_path(uri), "rb") as handle:
            return handle.read()
    path = file_uri_to_path(uri) if uri_scheme(uri) == "file" else uri
    return Path(path).read_bytes()


def resolve_run(catalog: OutputCatalog, ref: RunRef) -> tuple[str, int]:
    """(run id, version) a RunRef names: its run (or the run that committed its version, or the
    latest run) and the version to read. CatalogError when there is no such run."""
    history = [entry for entry in catalog.history() if entry.get("run_id")]
    if not history:
        raise CatalogError(f"output catalog {catalog.table_uri!r} has no committed run")
    version = ref.version if ref.version is not None else max(entry["version"] for entry in history)
    visible = [entry for entry in history if entry["version"] <= version]
    if ref.run_id is not None:
        if not any(entry["run_id"] == ref.run_id for entry in visible):
            raise CatalogError(f"output catalog {catalog.root!r}: no run {ref.run_id!r} at version {version}")
        return ref.run_id, version
    if not visible:
        raise CatalogError(f"output catalog {catalog.root!r}: no run committed at or before version {version}")
    return str(max(visible, key=lambda entry: entry["version"])["run_id"]), version


def run_rows(catalog: OutputCatalog, run_id: str, version: int) -> list[OutputRow]:
    """The rows run ``run_id`` committed, as the table was at ``version``, in clip-id order."""
    frame = catalog.read(version=version)
    rows = [OutputRow.from_record(record, strict=False) for record in frame.to_dict("records")]
    return sorted((row for row in rows if row.run_id == run_id), key=lambda row: str(row.clip_id))


def _clip_inputs(row: OutputRow, storage_options: dict | None):  # -> (Clipart, ClipMotion, renderer)
    from flexiclip_core.svg import ParseConfig, parse_svg

    missing = [kind for kind in ("motion", "source_svg") if kind not in row.media]
    if missing:
        raise CatalogError(f"no {' or '.join(missing)} media recorded (written by runs since motion.npz existed)")
    arrays = np.load(io.BytesIO(_read_media(row.media["motion"].uri, storage_options)))
    motion = ClipMotion.from_npz(arrays)
    clipart = parse_svg(
        _read_media(row.media["source_svg"].uri, storage_options), clip_id=row.clip_id, config=ParseConfig()
    )
    renderer = None
    if "config" in row.media:
        settings = json.loads(_read_media(row.media["config"].uri, storage_options))
        renderer = (settings.get("config") or {}).get("final_renderer")
    return clipart, motion, renderer


def _clip_result(row: OutputRow, category: str, score: ClipScore) -> ClipResult:
    return ClipResult(
        clip_id=str(row.clip_id),
        prompt=row.prompt,
        category=category,
        values={column: score.values.get(column) for column in EVALUATED_COLUMNS},
        reasons={column: why for column, why in score.reasons.items() if column in EVALUATED_COLUMNS},
    )


def score_run(
    catalog: OutputCatalog,
    ref: RunRef,
    *,
    categories: Mapping[str, str],
    learned_metrics: LearnedMetrics | None,
    with_static: bool,
) -> tuple[RunResult, RunResult | None]:
    """Score every clip of the run ``ref`` names (and, with ``with_static``, its static baseline)."""
    run_id, version = resolve_run(catalog, ref)
    rows = run_rows(catalog, run_id, version)
    clips: list[ClipResult] = []
    static_clips: list[ClipResult] = []
    not_evaluated: list[tuple[str, str]] = []
    for row in rows:
        clip_id = str(row.clip_id)
        if row.status is Status.FAILED:
            not_evaluated.append((clip_id, f"failed: {row.error_type}: {row.error_message}"))
            continue
        category = categories.get(clip_id, UNCATEGORISED)
        try:
            clipart, motion, renderer = _clip_inputs(row, catalog.storage_options or None)
            score = score_motion(
                clipart, motion, row.prompt or "", final_renderer=renderer, learned_metrics=learned_metrics
            )
            static = (
                score_motion(
                    clipart,
                    static_motion(motion),
                    row.prompt or "",
                    final_renderer=renderer,
                    learned_metrics=learned_metrics,
                )
                if with_static
                else None
            )
        except Exception as error:  # noqa: BLE001 one unreadable clip never stops the evaluation: it is listed
            log.warning("clip %s of run %s not evaluated: %s", clip_id, run_id, error)
            not_evaluated.append((clip_id, f"not evaluated: {type(error).__name__}: {error}"))
            continue
        clips.append(_clip_result(row, category, score))
        if static is not None:
            static_clips.append(_clip_result(row, category, static))
    scored = [row for row in rows if row.status is not Status.FAILED]
    first = scored[0] if scored else (rows[0] if rows else None)
    run = RunResult(
        label=_run_label(first, run_id),
        clips=tuple(clips),
        root=catalog.root,
        run_id=run_id,
        version=version,
        method=None if first is None else first.method,
        prior=None if first is None else first.prior,
        prior_is_trained=None if first is None else first.prior_is_trained,
        not_evaluated=tuple(not_evaluated),
    )
    baseline = (
        RunResult(label=STATIC_LABEL, clips=tuple(static_clips), root=catalog.root, run_id=run_id, static=True)
        if with_static
        else None
    )
    return run, baseline


def _run_label(row: OutputRow | None, run_id: str) -> str:
    parts = [] if row is None else [part for part in (row.method, row.prior) if part]
    return f"{'/'.join(parts) or 'run'} {run_id[:8]}"


# ---------------------------------------------------------------------------------------------
# Aggregation


def _groups(runs: Sequence[RunResult]) -> tuple[str, ...]:
    categories = sorted({clip.category for run in runs for clip in run.clips})
    return (OVERALL, *categories)


def _in_group(clip: ClipResult, group: str) -> bool:
    return group == OVERALL or clip.category == group


def summarise_run(
    run: RunResult, groups: Sequence[str], config: EvaluationConfig
) -> dict[str, dict[str, Interval | None]]:
    """group → column → mean with its bootstrap interval."""
    return {
        group: {
            column: bootstrap_mean(
                [
                    clip.values[column]
                    for clip in run.clips
                    if _in_group(clip, group) and clip.values[column] is not None
                ],
                config,
            )
            for column in EVALUATED_COLUMNS
        }
        for group in groups
    }


def paired_differences(
    reference: RunResult, other: RunResult, groups: Sequence[str], config: EvaluationConfig
) -> dict[str, dict[str, Interval | None]]:
    """group → column → mean of (other − reference) over the clip ids both scored, with its
    bootstrap interval (the pairs are resampled together)."""
    base = {clip.clip_id: clip for clip in reference.clips}
    pairs = [(base[clip.clip_id], clip) for clip in other.clips if clip.clip_id in base]
    result: dict[str, dict[str, Interval | None]] = {}
    for group in groups:
        result[group] = {}
        for column in EVALUATED_COLUMNS:
            diffs = [
                b.values[column] - a.values[column]  # type: ignore[operator]
                for a, b in pairs
                if _in_group(a, group) and a.values[column] is not None and b.values[column] is not None
            ]
            result[group][column] = bootstrap_mean(diffs, config)
    return result


def _missing(runs: Sequence[RunResult]) -> dict[str, list[str]]:
    missing: dict[str, list[str]] = {}
    for run in runs:
        for clip in run.clips:
            for column, value in clip.values.items():
                if value is None:
                    why = clip.reasons.get(column, "not computed")
                    if why not in missing.setdefault(column, []):
                        missing[column].append(why)
    return {column: missing[column] for column in EVALUATED_COLUMNS if column in missing}


def aggregate(runs: Sequence[RunResult], config: EvaluationConfig = EvaluationConfig()) -> Evaluation:
    """The Evaluation of scored runs (the first is the reference of the paired differences)."""
    if not runs:
        raise ValueError("aggregate needs at least one run")
    labels = [run.label for run in runs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"run labels must be unique, got {labels}")
    groups = _groups(runs)
    summary = {run.label: summarise_run(run, groups, config) for run in runs}
    paired = {run.label: paired_differences(runs[0], run, groups, config) for run in runs[1:]}
    return Evaluation(tuple(runs), groups, summary, paired, _missing(runs), config)


def _unique_labels(runs: list[RunResult]) -> list[RunResult]:
    from dataclasses import replace

    seen: dict[str, int] = {}
    unique = []
    for run in runs:
        count = seen.get(run.label, 0)
        seen[run.label] = count + 1
        unique.append(run if count == 0 else replace(run, label=f"{run.label} ({count + 1})"))
    return unique


def evaluate(
    reference: RunRef,
    against: Sequence[RunRef] = (),
    *,
    categories: Mapping[str, str] | None = None,
    learned_metrics: LearnedMetrics | None = None,
    storage_options: dict | None = None,
    config: EvaluationConfig = EvaluationConfig(),
) -> Evaluation:
    """Score the reference run, its static baseline and every ``against`` run; aggregate them.

    ``learned_metrics`` (models loaded once) fills the learned columns; without it they are
    missing with the reason, never zero. CatalogError when a root or run does not exist.
    """
    categories = categories or {}
    catalog = OutputCatalog(reference.root, storage_options=storage_options)
    run, baseline = score_run(
        catalog, reference, categories=categories, learned_metrics=learned_metrics, with_static=True
    )
    assert baseline is not None
    runs = [run, baseline]
    for ref in against:
        other, _ = score_run(
            OutputCatalog(ref.root, storage_options=storage_options),
            ref,
            categories=categories,
            learned_metrics=learned_metrics,
            with_static=False,
        )
        runs.append(other)
    return aggregate(_unique_labels(runs), config)
