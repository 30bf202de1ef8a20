"""The video-fit engine against known answers: a motion rendered by the final renderer, encoded
as H.264, fitted back; errors in the drawing's own terms (control points in px at 256², mask IoU).

The fast test fits one clip (the sample human, a motion of the model's own family, MP4). The
slow test runs the issue's matrix (in- and out-of-family motions, MP4 and GIF, coloured
background, scaled and offset, 12 fps) and the ablation without the flow initialisation.
"""

from __future__ import annotations

import numpy as np
import pytest

from flexiclip_core.config import PRESETS
from flexiclip_core.videofit import load_reference_video
from flexiclip_core.videofit.fit import crossfade_seam, fit_reference
from tests.flexiclip_core.videofit import motions

NO_LOOP = PRESETS["video-fit"].with_overrides({"video_fit.loop": "none"})
"""The known answers do not loop: compare every frame, the seam untouched."""
FAST = NO_LOOP.with_overrides({"video_fit.refine_steps": [5, 0, 0]})
"""The fast test's budget: the least-squares start plus 5 coarse refinement steps (the full
preset's 25 steps run in the slow matrix)."""


def test_crossfade_changes_only_the_seam_frames_by_hand():
    values = np.arange(6, dtype=np.float64)  # x_n = n: the continuation x̂_6 = 6, the jump d = 6 − 0 = 6
    eased, jump = crossfade_seam(values, seam_frames=2)
    # Seam frames 4, 5: w = 1/3, 2/3; smoothstep 7/27, 20/27; x'_n = x_n − s(w)·6.
    np.testing.assert_allclose(eased, [0, 1, 2, 3, 4 - 42 / 27, 5 - 120 / 27])
    assert jump == 6.0
    points = np.zeros((6, 3, 2))
    points[:, :, 0] = np.arange(6)[:, None]
    eased_points, jump_px = crossfade_seam(points, seam_frames=2)
    np.testing.assert_array_equal(eased_points[:4], points[:4])
    assert jump_px == 6.0 and np.abs(eased_points[4:] - points[4:]).max() < 6.0


def _fit(clipart, rig, truth, tmp_path, config=NO_LOOP, writer=motions.write_mp4, colour=(255, 255, 255), **place):
    frames = motions.over_background(motions.render_rgba(clipart, truth), colour)
    if place:
        frames = motions.place(frames, colour=colour, **place)
    path = writer(tmp_path / f"reference{'.gif' if writer is motions.write_gif else '.mp4'}", frames)
    return fit_reference(clipart, rig, load_reference_video(path, clip="human"), config, clip="human")


@pytest.fixture(scope="module")
def in_family(human, tmp_path_factory):
    clipart, rig = human
    truth = motions.in_family_points(clipart, rig, NO_LOOP, seed=3, amplitude_px=12.0)
    return truth, _fit(clipart, rig, truth, tmp_path_factory.mktemp("fit"), config=FAST)


def test_a_motion_of_the_models_family_is_recovered_from_h264(in_family):
    truth, fitted = in_family
    mean_px, p95_px = motions.point_errors(fitted.result.frame_points, truth)
    # The truth moves control points by up to ~20 px; the bounds: mean ≤ 1, p95 ≤ 3 px.
    assert np.linalg.norm(truth - truth[:1], axis=-1).max() > 10.0
    assert mean_px <= 1.0 and p95_px <= 3.0, (mean_px, p95_px)
    # Measured 0.96–0.97 after the 5 coarse steps (0.972 min after the full 25 steps).
    assert fitted.metrics["fit_mask_iou_mean"] >= 0.95, fitted.metrics
    assert fitted.metrics["fit_psnr"] > 25.0 and fitted.metrics["fit_flow_residual_px"] < 1.5
    assert fitted.result.frame_points.shape == truth.shape
    assert fitted.result.prior_name == "reference:supplied" and fitted.result.config.method == "video-fit"
    assert set(fitted.seconds) == {"register", "flow", "initialise", "refine", "total"}


def test_the_refinement_improves_on_the_least_squares_start(in_family):
    _, fitted = in_family
    history = fitted.result.loss_history
    assert len(history) == 5
    assert history[-1]["photometric"] < history[0]["photometric"]


@pytest.mark.slow
def test_animate_clip_fits_a_supplied_video_and_writes_outputs_with_provenance(human, tmp_path):
    import json

    from flexiclip_core.animate import ClipRequest, animate_clip
    from flexiclip_core.export import ExportConfig
    from tests.conftest import SAMPLES_DIR

    clipart, rig = human
    truth = motions.in_family_points(clipart, rig, NO_LOOP, seed=5, amplitude_px=8.0)
    path = motions.write_mp4(tmp_path / "ref.mp4", motions.over_background(motions.render_rgba(clipart, truth)))
    request = ClipRequest(
        svg=SAMPLES_DIR / "human.svg",
        prompt="",
        clip_id="human",
        keypoints=None,
        reference_video=str(path),
    )
    # The automatic rig differs from the catalog's: the fit must still follow the drawing.
    config = PRESETS["video-fit"].with_overrides({"video_fit.refine_steps": [3, 0, 0]})
    outputs = animate_clip(request, None, config, tmp_path / "out", export=ExportConfig(size=128, frame_pngs=False))
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["reference_source"] == "supplied" and metrics["prior"] == "reference:supplied"
    assert metrics["video_fit"]["fit_mask_iou_mean"] > 0.9 and "loop_seam_px" in metrics["video_fit"]
    assert (tmp_path / "out" / "video.mp4").is_file() and outputs.result.frame_points.shape[0] == 24
