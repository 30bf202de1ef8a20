"""bench/gpu.py at ``--size tiny`` on a CPU: the whole GPU benchmark path without 1.4 B parameters."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from bench import gpu
from flexiclip_cli.main import app


def test_the_tiny_run_saves_loads_through_the_loader_and_times_each_preset(caplog):
    figures = gpu.run(
        "tiny",
        priors=["modelscope"],
        device="cpu",
        repeats=1,
        warmup=0,
        stage_repeats=1,
        time_limit_s=600,
        clips_per_call=2,
        video_fit=False,  # generation + fit at 256², 24 frames: minutes on a CPU, not this test's path
    )
    # Loaded through ModelScopePrior from the saved layout (it warns the layout is not 1.7b's).
    assert "not the text-to-video-ms-1.7b architecture" in caplog.text
    assert figures["gpu.device"] == "cpu" and figures["gpu.skipped"] == []
    assert figures["gpu.modelscope.load_s"] > 0
    for method, iterations in (("flexiclip", 1000), ("aniclipart", 500)):
        prefix = f"gpu.modelscope.{method}."
        ms = figures[prefix + "ms_per_iteration"]
        assert ms > 0 and figures[prefix + "iterations_timed"] == 1
        assert figures[prefix + "min_per_clip"] == pytest.approx(ms * iterations / 60_000)
        assert figures[prefix + "tflop_per_iter"] > 0
        assert figures[prefix + "achieved_tflops"] == pytest.approx(figures[prefix + "tflop_per_iter"] / (ms / 1000))
        assert figures[prefix + "peak_memory_gib"] > 0 and figures[prefix + "loss_finite"]
        for stage in ("render", "prior_encode", "prior_score", "backward", "adam"):
            assert figures[prefix + f"stage_ms.{stage}"] > 0
        # Two clips in lockstep, one prior call per step for both.
        lockstep = prefix + "lockstep_k2."
        assert figures[lockstep + "iterations_timed"] == 1 and figures[lockstep + "loss_finite"]
        per_clip = figures[lockstep + "ms_per_clip_iteration"]
        assert per_clip > 0 and figures[lockstep + "min_per_clip"] == pytest.approx(per_clip * iterations / 60_000)
        assert figures[lockstep + "peak_memory_gib"] > 0
    # flexiclip runs the temporal ODE and a second (pose) video through the prior; aniclipart does not.
    assert "gpu.modelscope.flexiclip.stage_ms.temporal_ode" in figures
    assert "gpu.modelscope.aniclipart.stage_ms.temporal_ode" not in figures
    assert figures["gpu.modelscope.flexiclip.tflop_per_iter"] > figures["gpu.modelscope.aniclipart.tflop_per_iter"]


def test_the_time_limit_skips_what_does_not_fit_and_the_cli_emits_json():
    result = CliRunner().invoke(app, ["bench", "--gpu", "--size", "tiny", "--time-limit", "0", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output[result.output.index("{") :])
    assert figures["gpu.size"] == "tiny"
    presets = [f"{prior}.{preset}" for prior in ("modelscope", "wan") for preset in gpu.PRESETS]
    assert figures["gpu.skipped"] == [*presets, "video_fit"]


@pytest.mark.slow
def test_the_wan_hook_saves_the_wan_layout_and_times_it_through_the_wan_loader():
    # One preset, one timed step: the path (save → WanPrior → 25-frame schedule → timing), not a speed.
    figures = gpu.run(
        "tiny",
        priors=["wan"],
        presets=("aniclipart",),
        device="cpu",
        repeats=1,
        warmup=0,
        stage_repeats=1,
        video_fit=False,
    )
    assert figures["gpu.skipped"] == [] and figures["gpu.wan.load_s"] > 0
    assert figures["gpu.wan.aniclipart.ms_per_iteration"] > 0 and figures["gpu.wan.aniclipart.loss_finite"]
    assert figures["gpu.wan.aniclipart.tflop_per_iter"] > 0


def test_update_peaks_writes_measured_rows_with_the_gpu_and_the_date(tmp_path):
    import shutil

    from bench.gpu import update_peak_table
    from tasks.batch import PEAKS_FILE, load_peak_table

    table = tmp_path / "peaks.json"
    shutil.copy(PEAKS_FILE, table)
    figures = {
        "gpu.size": "full",
        "gpu.device": "NVIDIA H100 80GB HBM3",
        "gpu.wan.vae_dtype": "bfloat16",
        "gpu.wan.flexiclip.peak_memory_gib": 21.73,
        "gpu.wan.flexiclip.lockstep_k4.peak_memory_gib": 70.0,  # not a single-clip figure
        "gpu.wan.aniclipart.peak_memory_gib": 12.01,
    }
    written = update_peak_table(figures, table, date="2026-12-07")
    assert written == ["wan/aniclipart/bfloat16", "wan/flexiclip/bfloat16"]
    rows = load_peak_table(table)
    assert rows[("wan", "flexiclip", "bfloat16")].gib == 21.8  # rounded up
    assert rows[("wan", "flexiclip", "bfloat16")].source == "measured"
    assert rows[("wan", "flexiclip", "bfloat16")].device == "NVIDIA H100 80GB HBM3"
    assert rows[("wan", "aniclipart", "bfloat16")].date == "2026-12-07"
    assert rows[("wan", "flexiclip", "float32")].source == "derived"  # other rows are kept
    assert rows[("modelscope", "flexiclip", "any")] == load_peak_table(PEAKS_FILE)[("modelscope", "flexiclip", "any")]
    # A CPU or tiny run measures nothing a GPU worker can use.
    assert update_peak_table({**figures, "gpu.device": "cpu"}, table) == []
    assert update_peak_table({**figures, "gpu.size": "tiny"}, table) == []
