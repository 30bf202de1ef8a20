"""`tasks.evaluate` / `tasks.evaluation_report` / `flexiclip evaluate` (docs/metrics.md §7–8).

The runs here are made by the method's own entry point (`animate_clip`, tiny prior, 2
iterations) and committed to a real output catalog the way the worker publishes them, without
Prefect or Ray; tests/flows/test_evaluate_run.py drives the real `flexiclip run`.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from catalogs.output import OutputCatalog
from catalogs.rows import MEDIA_KINDS, MediaRef, OutputRow, Status
from tasks import evaluate as ev
from tests.conftest import SAMPLES_DIR
from tests.flexiclip_core import test_learned_metrics as tiny_models

CLIPS = (("human", "human.svg", "a person waving both arms"), ("plant", "plant.svg", "a flower swaying in the wind"))
clip_dir = tiny_models.clip_dir  # the tiny CLIP / X-CLIP / LPIPS fixtures, shared
xclip_dir = tiny_models.xclip_dir
lpips_file = tiny_models.lpips_file
FAST = {"iterations": 2, "render": {"size": 64}, "schedule": {"frame_count": 8}}


def test_bootstrap_interval_of_known_values():
    interval = ev.bootstrap_mean([1.0, 2.0, 3.0, 4.0], ev.EvaluationConfig(resamples=4000, seed=1))
    assert interval is not None and interval.mean == pytest.approx(2.5) and interval.n == 4
    # Resampled means of four values lie in [1, 4]; the 95% interval straddles the mean, narrower than the range.
    assert 1.0 <= interval.low < 2.5 < interval.high <= 4.0
    assert interval.high - interval.low < 3.0
    single = ev.bootstrap_mean([7.0])
    assert single is not None and (single.low, single.mean, single.high) == (7.0, 7.0, 7.0)
    assert ev.bootstrap_mean([]) is None


def test_paired_difference_is_per_clip_not_difference_of_means():
    def run(label: str, values: dict[str, float]) -> ev.RunResult:
        clips = tuple(
            ev.ClipResult(clip, "p", "c", {column: values[clip] for column in ev.EVALUATED_COLUMNS}) for clip in values
        )
        return ev.RunResult(label=label, clips=clips)

    # b − a is exactly +1 on each shared clip; clip "z" exists only in b and is left out of the pairs.
    a = run("a", {"x": 1.0, "y": 10.0})
    b = run("b", {"x": 2.0, "y": 11.0, "z": 100.0})
    evaluation = ev.aggregate([a, b], ev.EvaluationConfig(resamples=500))
    diff = evaluation.paired["b"]["overall"]["mv"]
    assert diff is not None and (diff.mean, diff.low, diff.high, diff.n) == (1.0, 1.0, 1.0, 2)
    assert evaluation.summary["b"]["overall"]["mv"].mean == pytest.approx(113.0 / 3.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("out/root", ev.RunRef("out/root")),
        ("out/root:abc-123", ev.RunRef("out/root", "abc-123")),
        ("s3://bucket/prefix", ev.RunRef("s3://bucket/prefix")),
        ("s3://bucket/prefix:run9", ev.RunRef("s3://bucket/prefix", "run9")),
        ("file:///tmp/x", ev.RunRef("file:///tmp/x")),
    ],
)
def test_run_references(text: str, expected: ev.RunRef):
    assert ev.parse_run_ref(text) == expected


def make_run(root: Path, run_id: str, method: str, scratch: Path) -> None:
    """Animate CLIPS with the tiny prior and commit them as one run, media published like the worker's."""
    from flexiclip_core.animate import ClipRequest, animate_clip
    from flexiclip_core.export import ExportConfig
    from flexiclip_core.guidance import load_prior
    from flexiclip_core.optimize import preset

    catalog = OutputCatalog(root)
    prior = load_prior("tiny")
    suffixes = {kind.name: kind.suffix for kind in MEDIA_KINDS}
    rows = []
    for clip_id, svg, prompt in CLIPS:
        out = scratch / run_id / clip_id
        request = ClipRequest(svg=SAMPLES_DIR / svg, prompt=prompt, clip_id=clip_id)
        outputs = animate_clip(
            request, prior, preset(method).with_overrides(FAST), out, export=ExportConfig(size=64, frame_pngs=False)
        )
        files = {kind: path for kind, path in outputs.files.items() if kind in suffixes}
        files["source_svg"] = SAMPLES_DIR / svg
        media = {kind: MediaRef(*catalog.put_media(Path(path), suffixes[kind])) for kind, path in files.items()}
        key = hashlib.sha256(f"{run_id}/{clip_id}".encode()).hexdigest()
        rows.append(
            OutputRow(
                clip_id=clip_id,
                status=Status.SUCCEEDED,
                prompt=prompt,
                method=method,
                prior="tiny",
                prior_is_trained=False,
                idempotency_key=key,
                media=media,
                metrics=outputs.metrics.values,
            )
        )
    rows.append(OutputRow(clip_id="broken", status=Status.FAILED, error_type="SvgParseError", error_message="bad"))
    catalog.commit(rows, run_id=run_id)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("evaluate")
    make_run(base / "a", "run-flexiclip", "flexiclip", base / "scratch")
    make_run(base / "b", "run-aniclipart", "aniclipart", base / "scratch")
    return base / "a", base / "b"


def test_evaluate_against_writes_every_table_with_the_static_baseline(two_runs: tuple[Path, Path], tmp_path: Path):
    from flexiclip_cli.main import app

    root_a, root_b = two_runs
    categories = tmp_path / "categories.parquet"
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"clip_id": ["human", "plant"], "category": ["human", "object"]}), categories)
    out = tmp_path / "evaluation"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            str(root_a),
            "--against",
            f"{root_b}:run-aniclipart",
            "--out",
            str(out),
            "--catalog",
            str(categories),
            "--resamples",
            "300",
        ],
        env={"FLEXICLIP_CLIP_MODEL": "", "FLEXICLIP_XCLIP_MODEL": "", "FLEXICLIP_LPIPS_WEIGHTS": ""},
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["evaluation.md", "clips.csv", "summary.csv", "evaluation.json", "index.html"]
    )
    report = json.loads((out / "evaluation.json").read_text())
    labels = [run["label"] for run in report["runs"]]
    assert labels == ["flexiclip/tiny run-flex", ev.STATIC_LABEL, "aniclipart/tiny run-anic"]
    assert report["groups"] == ["overall", "human", "object"]
    static = report["runs"][1]
    assert static["static_baseline"] and len(static["clips"]) == 2
    for clip in static["clips"]:  # the input held still: no motion, perfectly consistent frames
        values = clip["values"]
        assert values["mv"] == 0.0 and values["ae"] == 0.0 and values["tc"] == 0.0
        assert values["temporal_consistency"] == pytest.approx(1.0) and values["identity_ssim"] == pytest.approx(1.0)
    run_a = report["runs"][0]
    assert run_a["not_evaluated"] == [{"clip_id": "broken", "reason": "failed: SvgParseError: bad"}]
    assert all(clip["values"]["mv"] > 0.0 for clip in run_a["clips"])  # the tiny prior still moves the drawing
    # Learned metrics without weights are missing (null with the reason), never zero.
    assert all(clip["values"]["clip_identity"] is None for run in report["runs"] for clip in run["clips"])
    assert "FLEXICLIP_CLIP_MODEL" in " ".join(report["missing"]["clip_identity"])
    overall = report["summary"]["flexiclip/tiny run-flex"]["overall"]["mv"]
    assert overall["low"] <= overall["mean"] <= overall["high"] and overall["n"] == 2
    assert report["summary"]["flexiclip/tiny run-flex"]["overall"]["clip_identity"] is None
    paired = report["paired"]["aniclipart/tiny run-anic"]["overall"]["mv"]
    mv = {run["label"]: {c["clip_id"]: c["values"]["mv"] for c in run["clips"]} for run in report["runs"]}
    expected = np.mean(
        [mv["aniclipart/tiny run-anic"][c] - mv["flexiclip/tiny run-flex"][c] for c in ("human", "plant")]
    )
    assert paired["mean"] == pytest.approx(expected) and paired["n"] == 2
    markdown = (out / "evaluation.md").read_text()
    for group in report["groups"]:  # the static input is a column of every group's table
        assert ev.STATIC_LABEL in markdown.splitlines()[markdown.splitlines().index(f"## {group}") + 2], group
    assert "| CLIP identity | higher | missing | missing | missing |" in markdown
    assert "Learned metrics computed: none." in markdown
    with (out / "clips.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 and {row["run"] for row in rows} == set(labels)
    assert all(row["clip_identity"] == "" for row in rows)
    with (out / "summary.csv").open() as handle:
        summary_groups = {row["group"] for row in csv.DictReader(handle) if row["run"] == ev.STATIC_LABEL}
    assert summary_groups == set(report["groups"])
    page = (out / "index.html").read_text()
    assert html.escape(ev.STATIC_LABEL) in page
    assert page.count('class="plot"') >= 5 and 'data-metric="mv"' in page and "data:image/png;base64," in page
    assert result.output.startswith("# flexiclip evaluation")


def test_evaluation_scores_match_the_runs_own_metric_columns(two_runs: tuple[Path, Path]):
    """Scored again from the media, the image metrics equal the catalog's: the same frames, the same code."""
    root_a, _ = two_runs
    evaluation = ev.evaluate(ev.RunRef(str(root_a)), config=ev.EvaluationConfig(resamples=10))
    frame = OutputCatalog(root_a).read(status="succeeded")
    stored = {record["clip_id"]: record for record in frame.to_dict("records")}
    for clip in evaluation.reference.clips:
        for column in ("identity_ssim", "coverage_iou", "motion_vitality", "temporal_jerk", "animation_energy"):
            assert clip.values[column] == pytest.approx(stored[clip.clip_id][column], rel=1e-4, abs=1e-5), column
        # TC and AE are the displayed mesh's jerk and energy (docs/metrics.md §7).
        assert clip.values["tc"] == pytest.approx(clip.values["temporal_jerk"])
        assert clip.values["ae"] == pytest.approx(clip.values["animation_energy"])
        assert math.isfinite(clip.values["gd"]) and math.isfinite(clip.values["ds"])


def test_unknown_run_is_one_error_line_and_status_2(two_runs: tuple[Path, Path], tmp_path: Path):
    from flexiclip_cli.main import app

    root_a, _ = two_runs
    result = CliRunner().invoke(app, ["evaluate", str(root_a), "--run", "nope", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "no run 'nope'" in result.output
    result = CliRunner().invoke(app, ["evaluate", str(root_a), "--version", "7", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "version 7" in result.output
    assert not (tmp_path / "x").exists()


def test_learned_metrics_through_the_real_transformers_classes_loaded_by_path(
    two_runs: tuple[Path, Path], clip_dir: Path, xclip_dir: Path, lpips_file: Path
):
    """Tiny random CLIP / X-CLIP (transformers classes, saved to folders) and LPIPS weights, loaded
    the way real weights are: every learned column is computed, and the static input scores the
    known answers (each frame is the rest render: CLIP identity 1, LPIPS to frame 0 is 0)."""
    from flexiclip_core.learned_metrics import LearnedMetrics, LearnedMetricsConfig
    from tasks.evaluation_report import markdown_tables

    learned = LearnedMetrics(
        LearnedMetricsConfig(clip_path=str(clip_dir), xclip_path=str(xclip_dir), lpips_path=str(lpips_file))
    )
    root_a, _ = two_runs
    evaluation = ev.evaluate(ev.RunRef(str(root_a)), learned_metrics=learned, config=ev.EvaluationConfig(resamples=50))
    assert evaluation.missing == {}
    run, static = evaluation.runs[0], evaluation.runs[1]
    for clip in run.clips:
        assert -1.0 <= clip.values["clip_identity"] <= 1.0 and -1.0 <= clip.values["text_alignment"] <= 1.0
        assert clip.values["identity_lpips"] >= 0.0
    for clip in static.clips:
        assert clip.values["clip_identity"] == pytest.approx(1.0, abs=1e-5)
        assert clip.values["identity_lpips"] == pytest.approx(0.0, abs=1e-6)
    assert "Learned metrics computed: clip_identity, text_alignment, identity_lpips." in markdown_tables(evaluation)
