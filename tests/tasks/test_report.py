"""The run summary and its Markdown artifact."""

from __future__ import annotations

from catalogs.rows import OutputRow
from flows.nightly import final_state
from tasks.report import UNTRAINED_NOTE, markdown_report, summarise


def rows() -> list[OutputRow]:
    key = "0" * 64
    return [
        OutputRow.from_record(record)
        for record in [
            {
                "clip_id": "a",
                "status": "succeeded",
                "idempotency_key": key,
                "motion_vitality": 2.0,
                "coverage_iou": None,
            },
            {
                "clip_id": "b",
                "status": "succeeded",
                "idempotency_key": key,
                "motion_vitality": 4.0,
                "coverage_iou": 0.5,
            },
            {
                "clip_id": "c",
                "status": "failed",
                "error_type": "SvgSecurityError",
                "error_message": "clip 'c': DTD | no",
            },
            {"clip_id": "d", "status": "skipped"},
        ]
    ]


def test_summary_counts_failures_and_metric_means():
    summary = summarise(
        rows(),
        run_id="r",
        catalog="in.parquet",
        output="/out",
        version=3,
        prior="tiny",
        prior_is_trained=False,
        adopted=1,
        metric_columns=("motion_vitality", "coverage_iou", "temporal_jerk"),
    )
    assert (summary.rows, summary.succeeded, summary.failed, summary.skipped) == (4, 2, 1, 1)
    assert summary.metric_means == {"motion_vitality": 3.0, "coverage_iou": 0.5, "temporal_jerk": None}
    assert summary.failures[0].error_type == "SvgSecurityError"
    assert "1 failed" in summary.message and "version 3" in summary.message
    text = markdown_report(summary)
    assert "| `c` | SvgSecurityError | clip 'c': DTD \\| no |" in text
    assert UNTRAINED_NOTE in text and "| motion_vitality | 3 |" in text


def test_the_artifact_links_to_the_html_report():
    local = summarise(
        rows(),
        run_id="r",
        catalog="in.parquet",
        output="/out",
        version=3,
        prior="tiny",
        prior_is_trained=False,
        adopted=0,
        report_uri="/out/reports/r/index.html",
    )
    assert "[/out/reports/r/index.html](file:///out/reports/r/index.html)" in markdown_report(local)
    remote = summarise(
        rows(),
        run_id="r",
        catalog="in.parquet",
        output="s3://b/out",
        version=3,
        prior="tiny",
        prior_is_trained=False,
        adopted=0,
        report_uri="s3://b/out/reports/r/index.html",
    )
    assert "(s3://b/out/reports/r/index.html)" in markdown_report(remote)


def test_final_state_names_partial_and_total_failure():
    common = dict(run_id="r", catalog="c", output="o", version=0, prior="tiny", prior_is_trained=False, adopted=0)
    partial = final_state(summarise(rows(), **common))
    assert partial.is_completed() and partial.name == "Completed with failures" and "1 failed" in partial.message
    total = final_state(summarise([rows()[2]], **common))
    assert total.is_failed()
    clean = final_state(summarise([rows()[0]], **common))
    assert clean.is_completed() and clean.name == "Completed"


def test_throughput_counts_only_the_clips_this_run_animated_and_hosts_only_its_makers():
    # 3 succeeded (1 adopted from a killed run's staging) in 30 minutes: 2 animated here → 4 clips/hour.
    # The skipped row points at media another host made: that host did no work in this run.
    key = "0" * 64
    made = [
        OutputRow(clip_id=c, status="succeeded", idempotency_key=key, host=h) for c, h in (("a", "n1"), ("b", "n2"))
    ]
    made.append(OutputRow(clip_id="c", status="succeeded", idempotency_key=key, host="n1"))
    made.append(OutputRow(clip_id="d", status="skipped", idempotency_key=key, host="old-host"))
    made.append(OutputRow(clip_id="e", status="failed", idempotency_key=key, host="n3"))
    summary = summarise(
        made,
        run_id="r",
        catalog="in.parquet",
        output="/out",
        version=1,
        prior="tiny",
        prior_is_trained=False,
        adopted=1,
        seconds=1800.0,
    )
    assert summary.clips_per_hour == 4.0
    assert summary.hosts == ["n1", "n2", "n3"]
    assert "4.0 clips/hour" in markdown_report(summary)
    nothing = summarise(
        made[:1],
        run_id="r",
        catalog="c",
        output="o",
        version=1,
        prior="tiny",
        prior_is_trained=False,
        adopted=1,
        seconds=60.0,
    )
    assert nothing.clips_per_hour is None  # everything adopted: no throughput to speak of
