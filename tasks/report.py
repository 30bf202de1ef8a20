"""The run report: counts, failures with reasons and metric means, as data and as Markdown."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from catalogs.rows import OutputRow, Status

UNTRAINED_NOTE = (
    "the tiny test prior has random weights: its motion is untrained and says nothing about the "
    "method's quality (configure ModelScope weights for real results)"
)
"""What the console, the report and the catalog rows say when the tiny prior made the motion."""


@dataclass(frozen=True)
class Failure:
    clip_id: str
    error_type: str
    message: str


@dataclass(frozen=True)
class RunSummary:
    """What one flow run did."""

    run_id: str
    catalog: str
    output: str
    version: int | None
    """Output-catalog version the run committed (None: nothing to commit)."""
    prior: str | None
    prior_is_trained: bool | None
    rows: int
    succeeded: int
    failed: int
    skipped: int
    adopted: int
    """Succeeded rows taken over from a stopped earlier run (counted in ``succeeded`` too)."""
    retries: int = 0
    timeouts: int = 0
    workers: int = 0
    seconds: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    metric_means: dict[str, float | None] = field(default_factory=dict)
    report_uri: str | None = None
    """The run's HTML gallery (ROOT/reports/<run>/index.html), if written."""
    clips_per_hour: float | None = None
    """Throughput: clips this run animated and published (succeeded, not adopted or skipped) per
    hour of its wall time, start-up included; None when it animated none."""
    hosts: list[str] = field(default_factory=list)
    """Hosts whose workers made this run's clips."""
    prior_licence: str | None = None
    """Licence of the prior's weights ("CC-BY-NC-4.0": outputs for non-commercial use only)."""
    clips_by_node: dict[str, int] = field(default_factory=dict)
    """Ray node id → clips animated there in this run."""
    cpu_minutes: float = 0.0
    """CPU time the workers spent on this run's clips, minutes (the rows' ``cpu_seconds``)."""
    gpu_minutes: float = 0.0
    """GPU time held for this run's clips, minutes (the rows' ``gpu_seconds``: wall time × GPUs)."""
    clips_per_gpu_hour: float | None = None
    """Clips animated per hour of GPU time held; None when the run held no GPU time."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def attempted(self) -> int:
        """Rows the run tried to make: every row but the skipped ones."""
        return self.rows - self.skipped

    @property
    def failed_fraction(self) -> float:
        """Failed rows / attempted rows (0 when the run attempted none)."""
        return self.failed / self.attempted if self.attempted else 0.0

    @property
    def message(self) -> str:
        """One line for the flow's final state and the console."""
        text = f"{self.rows} clip(s): {self.succeeded} succeeded, {self.failed} failed, {self.skipped} skipped" + (
            f" ({self.adopted} adopted from an interrupted run)" if self.adopted else ""
        )
        if self.version is not None:
            text += f"; output catalog version {self.version}"
        return text


def summarise(
    rows: list[OutputRow],
    *,
    run_id: str,
    catalog: str,
    output: str,
    version: int | None,
    prior: str | None,
    prior_is_trained: bool | None,
    adopted: int,
    retries: int = 0,
    timeouts: int = 0,
    workers: int = 0,
    seconds: float = 0.0,
    metric_columns: tuple[str, ...] = (),
    report_uri: str | None = None,
    prior_licence: str | None = None,
    clips_by_node: dict[str, int] | None = None,
    cpu_seconds: float = 0.0,
    gpu_seconds: float = 0.0,
) -> RunSummary:
    """Count ``rows`` (the run's final rows) and average the metrics of the succeeded ones;
    ``cpu_seconds`` and ``gpu_seconds``: what the workers spent on this run's clips (the sums of
    the rows they made, `tasks.pool.DispatchStats`)."""
    by_status = {status: [r for r in rows if r.status is status] for status in Status}
    means: dict[str, float | None] = {}
    for column in metric_columns:
        succeeded = by_status[Status.SUCCEEDED]
        values = [float(v) for r in succeeded if _finite(v := r.metrics.get(column)) and v is not None]
        means[column] = sum(values) / len(values) if values else None
    failures = [Failure(str(r.clip_id), str(r.error_type), str(r.error_message)) for r in by_status[Status.FAILED]]
    animated = len(by_status[Status.SUCCEEDED]) - adopted
    clips_per_hour = animated * 3600.0 / seconds if animated > 0 and seconds > 0 else None
    made_here = [r for r in by_status[Status.SUCCEEDED] + by_status[Status.FAILED] if r.host]
    return RunSummary(
        run_id=run_id,
        catalog=catalog,
        output=output,
        version=version,
        prior=prior,
        prior_is_trained=prior_is_trained,
        rows=len(rows),
        succeeded=len(by_status[Status.SUCCEEDED]),
        failed=len(by_status[Status.FAILED]),
        skipped=len(by_status[Status.SKIPPED]),
        adopted=adopted,
        retries=retries,
        timeouts=timeouts,
        workers=workers,
        seconds=seconds,
        failures=failures,
        metric_means=means,
        report_uri=report_uri,
        clips_per_hour=clips_per_hour,
        hosts=sorted({str(r.host) for r in made_here}),
        prior_licence=prior_licence,
        clips_by_node=dict(clips_by_node or {}),
        cpu_minutes=cpu_seconds / 60.0,
        gpu_minutes=gpu_seconds / 60.0,
        clips_per_gpu_hour=animated * 3600.0 / gpu_seconds if animated > 0 and gpu_seconds > 0 else None,
    )


def _finite(value: Any) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def format_throughput(clips_per_hour: float | None) -> str:
    """``12.3 clips/hour`` (or ``n/a`` when the run animated nothing)."""
    return "n/a" if clips_per_hour is None else f"{clips_per_hour:.1f} clips/hour"


def report_href(uri: str) -> str:
    """A link target for the report: URIs as they are, local paths as file:// URIs."""
    from pathlib import Path
    from urllib.parse import urlparse

    return uri if urlparse(uri).scheme in ("file", "s3", "http", "https") else Path(uri).resolve().as_uri()


def markdown_report(summary: RunSummary) -> str:
    """The Prefect artifact's Markdown: counts, prior, failures with reasons, metric means."""
    lines = [
        f"# flexiclip run `{summary.run_id}`",
        "",
        f"**{summary.message}**",
        "",
        f"- input catalog: `{summary.catalog}`",
        f"- output root: `{summary.output}`",
        f"- prior: `{summary.prior}`" + ("" if summary.prior_is_trained in (True, None) else " — **untrained**"),
        f"- workers: {summary.workers}, retries after a lost worker: {summary.retries}, "
        f"timeouts: {summary.timeouts}, wall time: {summary.seconds:.1f} s",
        f"- throughput: {format_throughput(summary.clips_per_hour)}"
        + (f" (hosts: {', '.join(summary.hosts)})" if summary.hosts else ""),
        f"- spent: {summary.gpu_minutes:.2f} GPU-minutes, {summary.cpu_minutes:.2f} CPU-minutes; "
        f"clips per GPU-hour: {'n/a' if summary.clips_per_gpu_hour is None else f'{summary.clips_per_gpu_hour:.1f}'}",
        f"- prior licence: {summary.prior_licence or 'n/a'}",
    ]
    if summary.clips_by_node:
        lines.append(
            "- clips per Ray node: "
            + ", ".join(f"`{node[:12]}` {count}" for node, count in sorted(summary.clips_by_node.items()))
        )
    if summary.report_uri:
        lines.append(f"- HTML report: [{summary.report_uri}]({report_href(summary.report_uri)})")
    else:
        lines.append("- HTML report: not written")
    if summary.prior_is_trained is False:
        lines += ["", f"> Note: {UNTRAINED_NOTE}."]
    lines += [
        "",
        "| status | clips |",
        "|---|---:|",
        f"| succeeded | {summary.succeeded} |",
        f"| failed | {summary.failed} |",
        f"| skipped (already done) | {summary.skipped} |",
    ]
    if summary.failures:
        lines += ["", "## Failures", "", "| clip | error | reason |", "|---|---|---|"]
        for failure in summary.failures:
            reason = failure.message.replace("|", "\\|")
            lines.append(f"| `{failure.clip_id}` | {failure.error_type} | {reason} |")
    if summary.metric_means:
        lines += ["", "## Metric means (succeeded clips)", "", "| metric | mean |", "|---|---:|"]
        for name, value in summary.metric_means.items():
            lines.append(f"| {name} | {'n/a' if value is None else f'{value:.4g}'} |")
    return "\n".join(lines) + "\n"


TABLE_METRICS: tuple[str, ...] = ("motion_vitality", "temporal_consistency", "identity_ssim", "text_alignment")
"""Metric columns the run's table artifact shows (the catalog and the gallery have them all)."""


def rows_table(rows: list[OutputRow]) -> list[dict[str, Any]]:
    """The run's table artifact: one dict per row (clip, status, reason, duration, node, GPU,
    `TABLE_METRICS`, link to its video), in the rows' order."""
    table = []
    for row in rows:
        media = row.media.get("video")
        entry: dict[str, Any] = {
            "clip": row.clip_id,
            "status": row.status.value,
            "reason": f"{row.error_type}: {row.error_message}" if row.status is Status.FAILED else "",
            "seconds": None if row.seconds is None else round(float(row.seconds), 2),
            "node": (row.ray_node_id or "")[:12] or (row.host or ""),
            "gpu": row.gpu_name or "",
        }
        for name in TABLE_METRICS:
            value = row.metrics.get(name)
            entry[name] = round(float(value), 4) if _finite(value) and value is not None else None
        entry["media"] = report_href(media.uri) if media is not None else ""
        table.append(entry)
    return table


@dataclass
class RunProgress:
    """How far a run is: rows known (planned failures and skips, then each finished clip) out of
    its rows, with the rate and ETA of the clips it animates (`flexiclip run`'s bar, the log
    lines and the progress artifact read it)."""

    total: int
    """Rows of the run."""
    done: int = 0
    """Rows known so far."""
    failed: int = 0
    """Failed rows so far."""
    animated: int = 0
    """Clips the workers finished so far (succeeded or failed), for the rate."""
    seconds: float = 0.0
    """Seconds since the workers got their first clip."""

    @property
    def percent(self) -> float:
        """100 × done / total (100 for a run of no rows)."""
        return 100.0 * self.done / self.total if self.total else 100.0

    @property
    def clips_per_hour(self) -> float | None:
        """Clips the workers finished per hour so far; None before the first."""
        return self.animated * 3600.0 / self.seconds if self.animated and self.seconds > 0 else None

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the rate so far; None before the first clip."""
        rate = self.clips_per_hour
        return (self.total - self.done) * 3600.0 / rate if rate else None

    def line(self) -> str:
        """``3/10 done, 1 failed, 42.0 clips/hour, ETA 10 min`` (one plain progress line)."""
        eta = self.eta_s
        return (
            f"{self.done}/{self.total} done, {self.failed} failed, {format_throughput(self.clips_per_hour)}, "
            f"ETA {'n/a' if eta is None else format_duration(eta)}"
        )


def format_duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3.5 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
