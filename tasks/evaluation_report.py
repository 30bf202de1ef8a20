"""An `Evaluation` as files: Markdown tables, CSV (per clip and summary), JSON and an HTML page
with distribution plots (matplotlib, PNGs inlined so the page opens offline).

Every table has the static-baseline column (`tasks.evaluate.STATIC_LABEL`) and says which
learned metrics were computed; a missing metric is written as ``missing``, never as 0.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from pathlib import Path

from tasks.evaluate import BETTER, EVALUATED_COLUMNS, OVERALL, Evaluation, Interval

__all__ = ["COLUMN_TITLES", "markdown_tables", "write_evaluation", "EVALUATION_FILES"]

COLUMN_TITLES: dict[str, str] = {
    "mv": "MV (motion vitality, px)",
    "tc": "TC (temporal jerk, px/frame²)",
    "gd": "GD (geometric distortion, ×100)",
    "ds": "DS (deformation smoothness, ×100)",
    "ae": "AE (animation energy, px²/frame²)",
    "clip_identity": "CLIP identity",
    "text_alignment": "text alignment (X-CLIP or CLIP)",
    "identity_lpips": "LPIPS to frame 0",
    "identity_ssim": "SSIM to frame 0",
    "temporal_consistency": "SSIM frame to frame",
    "motion_vitality": "keypoint vitality, px",
    "temporal_jerk": "temporal jerk",
    "rigidity_error": "rigidity error (final Jacobians)",
    "deformation_roughness": "deformation roughness",
    "animation_energy": "animation energy",
    "bone_length_error": "bone length error, %",
    "coverage_iou": "coverage IoU",
}
"""Row titles of the tables (docs/metrics.md §2–4, §7 define the columns)."""

EVALUATION_FILES: tuple[str, ...] = ("evaluation.md", "clips.csv", "summary.csv", "evaluation.json", "index.html")
"""What `write_evaluation` writes into its folder."""


ROUNDING_NOISE = 1e-9
"""Table cells print values below this as 0 (a static drawing's GD is ~1e-14 from E E⁻¹ in
floating point); the CSV and JSON keep the computed values."""


def _cell(value: Interval | None, signed: bool = False) -> str:
    if value is None:
        return "missing"
    sign = "+" if signed else ""
    low, mean, high = (0.0 if abs(x) < ROUNDING_NOISE else x for x in (value.low, value.mean, value.high))
    return f"{mean:{sign}.4g} [{low:{sign}.4g}, {high:{sign}.4g}]"


def _group_table(evaluation: Evaluation, group: str) -> list[str]:
    runs = evaluation.runs
    reference = evaluation.reference.label
    others = [run.label for run in runs[1:]]
    header = ["metric", "better", *(run.label for run in runs), *(f"{label} − {reference}" for label in others)]
    counts = ["clips", "", *(str(sum(1 for c in run.clips if group in (OVERALL, c.category))) for run in runs)]
    counts += [""] * len(others)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 2 + "---:|" * (len(header) - 2)]
    lines.append("| " + " | ".join(counts) + " |")
    for column in EVALUATED_COLUMNS:
        cells = [COLUMN_TITLES[column], BETTER[column]]
        cells += [_cell(evaluation.summary[run.label][group][column]) for run in runs]
        cells += [_cell(evaluation.paired[label][group][column], signed=True) for label in others]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown_tables(evaluation: Evaluation) -> str:
    """The evaluation as Markdown: runs, which learned metrics were computed, one table per group."""
    level = round(evaluation.config.level * 100)
    lines = ["# flexiclip evaluation", ""]
    for run in evaluation.runs:
        if run.static:
            what = f"the input of every clip of `{evaluation.reference.run_id}` held still, scored by the same code"
        else:
            trained = "" if run.prior_is_trained is not False else " — **untrained prior: its motion says nothing**"
            what = f"run `{run.run_id}` at catalog version {run.version} of `{run.root}`{trained}"
        lines.append(f"- **{run.label}**: {what}; {len(run.clips)} clip(s) scored, {len(run.not_evaluated)} not")
    lines += [
        "",
        f"Cells: mean over clips [{level}% percentile-bootstrap interval, {evaluation.config.resamples} resamples]. "
        f"Difference columns: per clip (same clip id) run − `{evaluation.reference.label}`, mean and interval.",
        "",
    ]
    computed = [c for c in ("clip_identity", "text_alignment", "identity_lpips") if c not in evaluation.missing]
    lines.append("Learned metrics computed: " + (", ".join(computed) if computed else "none") + ".")
    for column, reasons in evaluation.missing.items():
        lines.append(f"- `{column}` missing: {'; '.join(reasons)}")
    for group in evaluation.groups:
        lines += ["", f"## {group}", "", *_group_table(evaluation, group)]
    failures = [(run.label, clip, why) for run in evaluation.runs for clip, why in run.not_evaluated]
    if failures:
        lines += ["", "## Clips not scored", "", "| run | clip | why |", "|---|---|---|"]
        lines += [f"| {label} | `{clip}` | {why.replace('|', '/')} |" for label, clip, why in failures]
    return "\n".join(lines) + "\n"


def _write_csvs(evaluation: Evaluation, folder: Path) -> None:
    with (folder / "clips.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["run", "run_id", "static_baseline", "clip_id", "category", "prompt", *EVALUATED_COLUMNS])
        for run in evaluation.runs:
            for clip in run.clips:
                values = ["" if clip.values[c] is None else repr(clip.values[c]) for c in EVALUATED_COLUMNS]
                writer.writerow([run.label, run.run_id, run.static, clip.clip_id, clip.category, clip.prompt, *values])
    with (folder / "summary.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["run", "kind", "group", "metric", "mean", "low", "high", "n"])
        tables = [("mean", evaluation.summary), (f"difference to {evaluation.reference.label}", evaluation.paired)]
        for kind, table in tables:
            for label, groups in table.items():
                for group, columns in groups.items():
                    for column, value in columns.items():
                        if value is None:
                            writer.writerow([label, kind, group, column, "", "", "", 0])
                        else:
                            writer.writerow([label, kind, group, column, value.mean, value.low, value.high, value.n])


def distribution_plots(evaluation: Evaluation) -> dict[str, bytes]:
    """column → PNG of its per-clip values, one box and strip per run (columns nobody computed are left out)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    plots: dict[str, bytes] = {}
    labels = [run.label for run in evaluation.runs]
    for column in EVALUATED_COLUMNS:
        series: list[list[float]] = [
            [value for value in (clip.values[column] for clip in run.clips) if value is not None]
            for run in evaluation.runs
        ]
        if not any(series):
            continue
        figure, axes = plt.subplots(figsize=(1.6 + 1.5 * len(labels), 3.0), dpi=96)
        positions = [i + 1 for i, values in enumerate(series) if values]
        axes.boxplot([values for values in series if values], positions=positions, widths=0.5, showmeans=True)
        rng = np.random.default_rng(0)
        for i, values in enumerate(series):
            if values:
                axes.scatter(i + 1 + rng.uniform(-0.12, 0.12, len(values)), values, s=10, alpha=0.6)
        axes.set_xticks(range(1, len(labels) + 1), labels, rotation=15, fontsize=8)
        axes.set_title(f"{COLUMN_TITLES[column]} ({BETTER[column]} is better)", fontsize=9)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        plt.close(figure)
        plots[column] = buffer.getvalue()
    return plots


def _html_table(markdown_lines: list[str]) -> str:
    rows = [line.strip("|").split(" | ") for line in markdown_lines if not line.startswith("|--")]
    head, body = rows[0], rows[1:]
    out = ["<table>", "<tr>" + "".join(f"<th>{html.escape(c.strip())}</th>" for c in head) + "</tr>"]
    for row in body:
        out.append("<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in row) + "</tr>")
    return "\n".join(out + ["</table>"])


def html_page(evaluation: Evaluation, plots: dict[str, bytes]) -> str:
    """A self-contained page: the runs, the tables per group and the distribution plots inline."""
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8"><title>flexiclip evaluation</title>',
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}th{background:#f4f4f4}"
        "td:nth-child(n+3){text-align:right}img{margin:4px}</style></head><body>",
        "<h1>flexiclip evaluation</h1>",
        "<ul>",
    ]
    for run in evaluation.runs:
        kind = "static baseline" if run.static else f"run {run.run_id} (version {run.version})"
        parts.append(f"<li><b>{html.escape(run.label)}</b>: {html.escape(kind)}, {len(run.clips)} clip(s)</li>")
    parts.append("</ul>")
    computed = [c for c in ("clip_identity", "text_alignment", "identity_lpips") if c not in evaluation.missing]
    parts.append(f"<p>Learned metrics computed: {html.escape(', '.join(computed) or 'none')}.</p>")
    if evaluation.missing:
        parts.append("<ul>")
        for column, reasons in evaluation.missing.items():
            parts.append(f"<li><code>{html.escape(column)}</code> missing: {html.escape('; '.join(reasons))}</li>")
        parts.append("</ul>")
    for group in evaluation.groups:
        parts.append(f'<h2 id="group-{html.escape(group)}">{html.escape(group)}</h2>')
        parts.append(_html_table(_group_table(evaluation, group)))
    parts.append("<h2>Distributions over clips</h2>")
    for column, png in plots.items():
        data = base64.b64encode(png).decode("ascii")
        parts.append(
            f'<img class="plot" data-metric="{column}" alt="{html.escape(column)}" src="data:image/png;base64,{data}">'
        )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_evaluation(evaluation: Evaluation, folder: str | Path) -> dict[str, Path]:
    """Write `EVALUATION_FILES` into ``folder`` (created); name → path."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    markdown = markdown_tables(evaluation)
    (out / "evaluation.md").write_text(markdown, encoding="utf-8")
    _write_csvs(evaluation, out)
    (out / "evaluation.json").write_text(json.dumps(evaluation.to_dict(), indent=2) + "\n", encoding="utf-8")
    (out / "index.html").write_text(html_page(evaluation, distribution_plots(evaluation)), encoding="utf-8")
    return {name: out / name for name in EVALUATION_FILES}
