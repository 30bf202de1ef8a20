"""The whole method end to end on CPU with the tiny prior: every preset writes every output."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from flexiclip_cli.main import app
from flexiclip_core.animate import ClipRequest, animate_clip
from flexiclip_core.export import ExportConfig, lottie_schema_errors
from flexiclip_core.guidance import load_prior
from flexiclip_core.metrics import METRIC_COLUMNS
from flexiclip_core.optimize import PRESETS, preset
from flexiclip_core.render import FINAL_RENDERERS, CairoRenderer
from tests.conftest import SAMPLES_DIR

FAST = {"iterations": 2, "render": {"size": 64}}


@pytest.fixture(scope="module")
def tiny_prior():
    return load_prior("tiny", device="cpu")


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(name for name, config in PRESETS.items() if config.objective == "sds"))
def test_every_preset_writes_every_output(method, tiny_prior, tmp_path):
    entry = next(e for e in json.loads((SAMPLES_DIR / "samples.json").read_text()) if e["clip_id"] == "human")
    request = ClipRequest(
        svg=SAMPLES_DIR / entry["svg"],
        prompt=entry["prompt"],
        clip_id="human",
        keypoints=np.array(entry["keypoints"]),
        bones=np.array(entry["skeleton"]),
    )
    config = preset(method).with_overrides(FAST)
    outputs = animate_clip(request, tiny_prior, config, tmp_path, export=ExportConfig(size=128, frame_pngs=False))

    for name in (
        "video.mp4",
        "video.webm",
        "animation.webp",
        "animation.json",
        "animation.gif",
        "animation.svg",
        "poster.png",
        "motion.npz",
        "metrics.json",
        "config.json",
    ):
        assert (tmp_path / name).is_file() and (tmp_path / name).stat().st_size > 0, name
    assert len(list((tmp_path / "frames").glob("frame_*.svg"))) == config.schedule.frame_count
    with av.open(str(tmp_path / "video.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == config.schedule.frame_count

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics["metrics"]) == set(METRIC_COLUMNS)
    assert metrics["prior"] == "tiny" and metrics["prior_is_trained"] is False
    assert "untrained" in metrics["prior_note"]
    for column in ("identity_lpips", "clip_identity", "text_alignment"):
        assert metrics["metrics"][column] is None and column in metrics["missing_reasons"]
    assert metrics["metrics"]["rigidity_error"] >= 0 and 0 < metrics["metrics"]["coverage_iou"] <= 1

    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["method"] == method and saved["config_hash"] == config.config_hash()
    assert saved["config"]["iterations"] == 2
    assert outputs.result.frame_points.shape[0] == config.schedule.frame_count
    with np.load(tmp_path / "motion.npz") as motion:
        np.testing.assert_allclose(motion["frame_points"], outputs.result.frame_points, atol=1e-3)
        assert motion["frame_keypoints"].shape == outputs.result.frame_keypoints.shape
        assert motion["faces"].shape == outputs.result.mesh.faces.shape


class CountingFinalRenderer(CairoRenderer):
    """The cairo renderer under another name, counting the frames it draws."""

    def __init__(self) -> None:
        self.frames = 0

    def rasterise(self, clipart, pose, side, background):
        self.frames += 1
        return super().rasterise(clipart, pose, side, background)


@pytest.mark.slow
def test_metric_frames_come_from_the_final_renderer_the_config_names(tiny_prior, tmp_path, monkeypatch):
    counting = CountingFinalRenderer()
    monkeypatch.setitem(FINAL_RENDERERS._entries, "counting", counting)  # registered for this test only
    entry = next(e for e in json.loads((SAMPLES_DIR / "samples.json").read_text()) if e["clip_id"] == "human")
    request = ClipRequest(
        svg=SAMPLES_DIR / entry["svg"],
        prompt=entry["prompt"],
        clip_id="human",
        keypoints=np.array(entry["keypoints"]),
        bones=np.array(entry["skeleton"]),
    )
    config = preset("aniclipart").with_overrides({**FAST, "final_renderer": "counting"})
    outputs = animate_clip(request, tiny_prior, config, tmp_path, export=ExportConfig(size=64, frame_pngs=False))
    assert counting.frames == config.schedule.frame_count  # every metric frame, nothing else
    assert 0 < outputs.metrics.values["coverage_iou"] <= 1


@pytest.mark.slow
def test_cli_animate_writes_outputs_and_labels_the_tiny_prior(tmp_path):
    keypoints = tmp_path / "keypoints.json"
    entry = next(e for e in json.loads((SAMPLES_DIR / "samples.json").read_text()) if e["clip_id"] == "human")
    keypoints.write_text(json.dumps({"keypoints": entry["keypoints"], "skeleton": entry["skeleton"]}))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "animate",
            str(SAMPLES_DIR / "human.svg"),
            "--prompt",
            "a person waving",
            "--out",
            str(out),
            "--prior",
            "tiny",
            "--iterations",
            "2",
            "--method",
            "aniclipart",
            "--keypoints",
            str(keypoints),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "untrained" in result.output
    # No --device: auto picks CUDA where present, the CPU here otherwise.
    expected_device = "cuda" if torch.cuda.is_available() else "cpu"
    assert f"device: {expected_device} (auto)" in result.output
    assert (out / "video.mp4").is_file() and (out / "metrics.json").is_file()


@pytest.mark.slow
def test_cli_animate_export_options(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "animate",
            str(SAMPLES_DIR / "holes.svg"),
            "--prompt",
            "a shape breathing",
            "--out",
            str(out),
            "--prior",
            "tiny",
            "--iterations",
            "2",
            "--method",
            "aniclipart",
            "--size",
            "96",
            "--extra-size",
            "48",
            "--fps",
            "12",
            "--background",
            "#336699",
            "--format",
            "lottie",
            "--format",
            "webm",
            "--format",
            "poster",
        ],
    )
    assert result.exit_code == 0, result.output
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == [
        "animation.json",
        "config.json",
        "metrics.json",
        "motion.npz",
        "poster.png",
        "size_48/poster.png",
        "size_48/video.webm",
        "video.webm",
    ]
    animation = json.loads((out / "animation.json").read_text())
    assert (animation["w"], animation["fr"]) == (96, 12.0)
    assert lottie_schema_errors(animation) == []  # the animation.json of a real run is valid Lottie
    saved = json.loads((out / "config.json").read_text())["export"]
    assert saved["background"] == "#336699" and saved["extra_sizes"] == [48] and saved["formats"][0] == "lottie"


@pytest.mark.parametrize(
    "option",
    [
        ["--format", "flv"],
        ["--background", "blue"],
        ["--size", "0"],
        ["--export-profile", "tv"],
        ["--extra-size", "512"],
    ],
)
def test_cli_animate_refuses_bad_export_options_in_one_line(tmp_path, option):
    result = CliRunner().invoke(
        app,
        [
            "animate",
            str(SAMPLES_DIR / "holes.svg"),
            "--prompt",
            "x",
            "--out",
            str(tmp_path / "o"),
            "--prior",
            "tiny",
            *option,
        ],
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "o").exists()


def test_cli_animate_refuses_a_missing_file_in_one_line(tmp_path):
    result = CliRunner().invoke(
        app, ["animate", str(tmp_path / "nope.svg"), "--prompt", "x", "--out", str(tmp_path / "o"), "--prior", "tiny"]
    )
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "nope.svg" in result.output
