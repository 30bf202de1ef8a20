"""End to end on CPU with wan-tiny (Wan's diffusers classes at toy size, loaded by path through
the real loader): both presets write every output, on the 25-frame schedule of its causal VAE,
with the prior and its licence labelled (issue 13)."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from flexiclip_core.animate import ClipRequest, animate_clip
from flexiclip_core.export import ExportConfig
from flexiclip_core.guidance import load_prior
from flexiclip_core.metrics import METRIC_COLUMNS
from flexiclip_core.optimize import preset
from tests.conftest import SAMPLES_DIR

FAST = {"iterations": 2, "render": {"size": 64}}


@pytest.fixture(scope="module")
def wan_tiny(tmp_path_factory):
    import os

    previous = os.environ.get("FLEXICLIP_CACHE")
    os.environ["FLEXICLIP_CACHE"] = str(tmp_path_factory.mktemp("flexiclip-cache"))
    try:
        yield load_prior("wan-tiny", device="cpu")
    finally:
        if previous is None:
            os.environ.pop("FLEXICLIP_CACHE", None)
        else:
            os.environ["FLEXICLIP_CACHE"] = previous


@pytest.mark.slow
@pytest.mark.parametrize("method", ["flexiclip", "aniclipart"])
def test_both_presets_with_wan_tiny_write_every_output(method, wan_tiny, tmp_path):
    entry = next(e for e in json.loads((SAMPLES_DIR / "samples.json").read_text()) if e["clip_id"] == "human")
    request = ClipRequest(
        svg=SAMPLES_DIR / entry["svg"],
        prompt=entry["prompt"],
        clip_id="human",
        keypoints=np.array(entry["keypoints"]),
        bones=np.array(entry["skeleton"]),
    )
    outputs = animate_clip(
        request,
        wan_tiny,
        preset(method).with_overrides(FAST),
        tmp_path,
        export=ExportConfig(size=128, frame_pngs=False),
    )
    frames = 25  # rest pose + 24: N = 4k + 1 for the causal VAE

    for name in ("video.mp4", "animation.gif", "animation.svg", "poster.png", "metrics.json", "config.json"):
        assert (tmp_path / name).is_file() and (tmp_path / name).stat().st_size > 0, name
    assert len(list((tmp_path / "frames").glob("frame_*.svg"))) == frames
    with av.open(str(tmp_path / "video.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == frames
    assert outputs.result.frame_points.shape[0] == frames
    assert np.isfinite(outputs.result.frame_points).all()

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics["metrics"]) == set(METRIC_COLUMNS)
    assert metrics["prior"] == "wan-tiny" and metrics["prior_is_trained"] is False
    assert metrics["prior_licence"] == "n/a" and "untrained" in metrics["prior_note"]
    assert [h for h in outputs.result.loss_history if h["step"] == 2]

    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["prior"] == "wan-tiny" and saved["prior_licence"] == "n/a"
    assert saved["config"]["schedule"] == {"frame_count": 25, "loop_count": 2, "fix_start": True, "hold_turns": False}
    assert saved["method"] == method and outputs.result.prior_licence == "n/a"
