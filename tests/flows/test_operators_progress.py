"""Issue 25's operator views, known answers without a run: the progress counts, rate and ETA;
the clip costs a worker stamps; the summary's GPU- and CPU-minutes; the row table; the final
state's failed-fraction threshold; `flexiclip run`'s bar on a terminal (a pty) and its absence
elsewhere."""

from __future__ import annotations

import fcntl
import io
import logging
import os
import pty
import select
import struct
import termios

from catalogs.rows import MediaRef, OutputRow
from flexiclip_cli.pipeline import progress_bar
from flows.nightly import final_state
from tasks.report import RunProgress, markdown_report, rows_table, summarise
from tasks.steps import PROGRESS_RECORD
from tasks.worker import ClipWorker, ShippedMedia

KEY = "0" * 64


def test_progress_counts_rate_and_eta():
    # 4 of 10 rows known, 2 clips animated in 60 s: 2 × 3600 / 60 = 120 clips/hour; the 6 rows
    # left take 6 × 3600 / 120 = 180 s = 3 min.
    progress = RunProgress(total=10, done=4, failed=1, animated=2, seconds=60.0)
    assert progress.percent == 40.0
    assert progress.clips_per_hour == 120.0
    assert progress.eta_s == 180.0
    assert progress.line() == "4/10 done, 1 failed, 120.0 clips/hour, ETA 3 min"
    assert RunProgress(total=3, done=3).line() == "3/3 done, 0 failed, n/a, ETA n/a"
    assert RunProgress(total=0).percent == 100.0


def test_a_worker_stamps_each_clip_with_its_share_of_cpu_and_gpu_time():
    worker = object.__new__(ClipWorker)  # no prior: with_costs reads only the device and GPUs held
    worker.device, worker.gpus = "cuda:0", 0.5
    rows = [OutputRow(clip_id="a", status="failed"), OutputRow(clip_id="b", status="failed")]
    shipped = ShippedMedia(rows[1], {})
    # A call of 2 clips: 10 s wall on half a GPU, 4 s of process CPU → each 2.5 GPU-s, 2 CPU-s.
    stamped = worker.with_costs([rows[0], shipped], 10.0, 4.0)
    assert stamped[0].gpu_seconds == 2.5 and stamped[0].cpu_seconds == 2.0
    assert isinstance(stamped[1], ShippedMedia) and stamped[1].row.gpu_seconds == 2.5
    worker.device = "cpu"  # a CPU actor holds no GPU time, whatever it asked for
    (alone,) = worker.with_costs([rows[0]], 10.0, 4.0)
    assert alone.gpu_seconds == 0.0 and alone.cpu_seconds == 4.0


def _rows() -> list[OutputRow]:
    video = MediaRef("s3://b/out/media/ab/" + "a" * 64 + ".mp4", "a" * 64)
    return [
        OutputRow(
            clip_id="a",
            status="succeeded",
            idempotency_key=KEY,
            seconds=12.345,
            ray_node_id="f" * 40,
            gpu_name="NVIDIA H100",
            media={"video": video},
            metrics={"motion_vitality": 2.123456, "identity_ssim": 0.9},
        ),
        OutputRow(clip_id="b", status="succeeded", idempotency_key=KEY),
        OutputRow(clip_id="c", status="failed", error_type="SvgSecurityError", error_message="DTD"),
        OutputRow(clip_id="d", status="skipped", idempotency_key=KEY),
    ]


def test_summary_spends_gpu_and_cpu_minutes_and_counts_clips_per_gpu_hour():
    # 2 clips animated for 1800 GPU-s (30 GPU-minutes): 2 × 3600 / 1800 = 4 clips per GPU-hour.
    summary = summarise(
        _rows(),
        run_id="r",
        catalog="c",
        output="o",
        version=1,
        prior="modelscope",
        prior_is_trained=True,
        adopted=0,
        cpu_seconds=90.0,
        gpu_seconds=1800.0,
        prior_licence="CC-BY-NC-4.0",
    )
    assert (summary.cpu_minutes, summary.gpu_minutes, summary.clips_per_gpu_hour) == (1.5, 30.0, 4.0)
    text = markdown_report(summary)
    assert "- spent: 30.00 GPU-minutes, 1.50 CPU-minutes; clips per GPU-hour: 4.0" in text
    assert "- prior licence: CC-BY-NC-4.0" in text and "- HTML report: not written" in text
    cpu_only = summarise(_rows(), run_id="r", catalog="c", output="o", version=1, prior="tiny",
                         prior_is_trained=False, adopted=0, cpu_seconds=6.0)  # fmt: skip
    assert cpu_only.clips_per_gpu_hour is None and "clips per GPU-hour: n/a" in markdown_report(cpu_only)


def test_the_row_table_has_one_entry_per_row_with_reason_node_gpu_metrics_and_media():
    table = rows_table(_rows())
    assert [entry["clip"] for entry in table] == ["a", "b", "c", "d"]
    first = table[0]
    assert first["seconds"] == 12.35 and first["node"] == "f" * 12 and first["gpu"] == "NVIDIA H100"
    assert first["motion_vitality"] == 2.1235 and first["identity_ssim"] == 0.9 and first["text_alignment"] is None
    assert first["media"].endswith(".mp4") and first["media"].startswith("s3://b/out/media/")
    assert table[2]["status"] == "failed" and table[2]["reason"] == "SvgSecurityError: DTD"
    assert table[1]["reason"] == "" and table[1]["media"] == ""


def test_the_run_fails_above_max_failed_fraction_of_the_attempted_clips():
    # 1 failed of 3 attempted (the skipped row is not attempted): 1/3.
    summary = summarise(_rows(), run_id="r", catalog="c", output="o", version=1, prior="tiny",
                        prior_is_trained=False, adopted=0)  # fmt: skip
    assert summary.attempted == 3 and abs(summary.failed_fraction - 1 / 3) < 1e-12
    kept = final_state(summary, 0.34)
    assert kept.is_completed() and kept.name == "Completed with failures"
    failed = final_state(summary, 0.33)
    assert failed.is_failed() and "33% of the attempted clips failed, above max_failed_fraction 0.33" in failed.message
    assert final_state(summary).is_completed()  # the default, 0.5


def _record(progress: RunProgress, message: str) -> logging.LogRecord:
    record = logging.LogRecord("tasks.steps", logging.INFO, __file__, 1, message, (), None)
    setattr(record, PROGRESS_RECORD, progress)
    return record


def test_the_bar_draws_on_a_terminal_and_stays_off_a_pipe():
    assert progress_bar(io.StringIO()) is None  # not a TTY: the per-clip log lines are the progress
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    chunks = []
    with os.fdopen(slave, "w") as terminal:
        bar = progress_bar(terminal)
        assert bar is not None
        bar.handle(_record(RunProgress(total=4, done=1, animated=1, seconds=30.0), "clip a succeeded"))
        bar.handle(_record(RunProgress(total=4, done=2, failed=1, animated=2, seconds=60.0), "clip b failed X: y"))
        bar.close()
        while select.select([master], [], [], 0.5)[0]:
            chunks.append(os.read(master, 65536))
    os.close(master)
    screen = b"".join(chunks).decode(errors="replace")
    # 2 clips in 60 s: 120 clips/hour; 2 rows left: 60 s.
    assert "2/4" in screen and "1 failed, 120.0 clips/hour, ETA 60 s" in screen
    assert "clip b failed X: y" in screen and "clip a succeeded" not in screen  # failures print above the bar


def _terminal() -> tuple[int, int]:
    """A pseudo-terminal 160 columns wide: (master, slave) file descriptors."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    return master, slave


def _drain(master: int) -> str:
    chunks = []
    while select.select([master], [], [], 0.5)[0]:
        try:
            chunks.append(os.read(master, 65536))
        except OSError:  # EIO: the terminal's other end is closed and nothing is left
            break
    os.close(master)
    return b"".join(chunks).decode(errors="replace")


def test_a_run_wires_the_bar_to_the_clip_log_and_hides_the_console_lines_meanwhile():
    """`run_pipeline`'s wiring (`terminal_progress`), driven by the records `tasks.steps.dispatch`
    logs on ``tasks.steps``: the bar hears them through the ``tasks`` logger, Prefect's console
    handler (as `PREFECT_LOGGING_EXTRA_LOGGERS` puts one on ``tasks``) prints no progress line
    meanwhile but still prints the rest, and afterwards the bar is gone and the lines print again."""
    from prefect.logging.handlers import PrefectConsoleHandler

    from flexiclip_cli.pipeline import terminal_progress

    logger, console = logging.getLogger("tasks"), io.StringIO()
    prefect_console = PrefectConsoleHandler(stream=console)
    level, before = logger.level, list(logger.handlers)
    logger.setLevel(logging.INFO)  # as run_pipeline sets it
    logger.addHandler(prefect_console)
    clip_log = logging.getLogger("tasks.steps")
    # dispatch's sequence over 3 planned clips: each finished clip advances the run's RunProgress.
    progress = RunProgress(total=3)
    finished = [("a", "succeeded in 10.0 s", 0, 40.0), ("b", "failed RigError: no limbs", 1, 80.0),
                ("c", "succeeded in 9.0 s", 0, 90.0)]  # fmt: skip
    master, slave = _terminal()
    try:
        with os.fdopen(slave, "w") as terminal, terminal_progress(terminal) as bar:
            assert bar is not None and bar in logger.handlers
            for clip, detail, failed, seconds in finished:
                progress.done += 1
                progress.animated += 1
                progress.failed += failed
                progress.seconds = seconds
                line = f"clip {clip} {detail} [{progress.line()}]"
                clip_log.info(line, extra={PROGRESS_RECORD: RunProgress(**vars(progress))})
            clip_log.warning("clip c: a warning")
        assert bar not in logger.handlers and not any(f for f in prefect_console.filters)
        clip_log.info("clip d succeeded [4/4 done]", extra={PROGRESS_RECORD: progress})
    finally:
        logger.handlers[:] = before
        logger.setLevel(level)
    screen = _drain(master)
    # 3 clips in 90 s: 3 × 3600 / 90 = 120 clips/hour; 0 rows left: ETA 0 s.
    assert "3/3" in screen and "1 failed, 120.0 clips/hour, ETA 0 s" in screen, screen
    assert "clip b failed RigError: no limbs [2/3 done, 1 failed" in screen and "clip a succeeded" not in screen
    printed = console.getvalue()
    assert "clip c: a warning" in printed and "clip d succeeded [4/4 done]" in printed
    assert "clip a" not in printed and "clip b" not in printed, printed


def test_off_a_terminal_the_run_gets_no_bar_and_keeps_its_lines():
    from flexiclip_cli.pipeline import terminal_progress

    before = list(logging.getLogger("tasks").handlers)
    with terminal_progress(io.StringIO()) as bar:
        assert bar is None and logging.getLogger("tasks").handlers == before
