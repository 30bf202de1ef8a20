"""Known answer for flow-prediction priors through the causal 4k+1-frame joint-encoding path (issue 13).

The analytic prior here predicts the exact optimal flow velocity v* = ε* − ẑ₀ of a Gaussian
target (with the timestep shift the Wan prior uses at 256²) and encodes videos like the Wan VAE: causally,
25 = 4·6 + 1 frames into 7 latent frames in one call. The optimiser must recover the same
target motion as the ε-prior proof in test_convergence.py, with the schedule that
`fit_config_to_prior` chooses for such priors (seamless ping-pong, 7 poses + closing frame).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from flexiclip_core.guidance import AnalyticGaussianPrior
from flexiclip_core.motion import tile_frames
from flexiclip_core.optimize import ClipAnimator, fit_config_to_prior, preset
from flexiclip_core.rig import rig_clipart
from flexiclip_core.svg import parse_svg
from tests.conftest import SAMPLES_DIR
from tests.flexiclip_core.test_convergence import target_motion

ITERATIONS = 120
CAUSAL_STEP = 4
SHIFT = WAN_SHIFT_AT_256 = 3.0 * (256 * 256 / (480 * 832)) ** 0.5
"""The shift the Wan prior uses for 256² frames (its 480p shift of 3, rescaled: docs/priors.md)."""


def recover(method: str) -> tuple[float, float, float, ClipAnimator]:
    """(mean error on the moving keypoints at the start and after optimising, largest target
    displacement) in px, and the animator."""
    entry = next(e for e in json.loads((SAMPLES_DIR / "samples.json").read_text()) if e["clip_id"] == "human")
    clipart = parse_svg(SAMPLES_DIR / entry["svg"], clip_id="human")
    rig = rig_clipart(clipart, keypoints=np.array(entry["keypoints"]), bones=np.array(entry["skeleton"]))
    base = preset(method).with_overrides({"iterations": ITERATIONS, "augment": False, "render": {"size": 128}})
    causal_stand_in = AnalyticGaussianPrior(torch.zeros(1), _config(), device="cpu")
    config = fit_config_to_prior(base, causal_stand_in)
    assert config.schedule.frame_count == 25 and config.schedule.pose_count == 7
    rest = torch.as_tensor(rig.keypoints)
    target = target_motion(rest, config.schedule.pose_times(dtype=torch.float64))

    renderer_only = ClipAnimator(clipart, rig, causal_stand_in, "", config)
    with torch.no_grad():
        vertices = renderer_only.arap(target.float()[:, renderer_only.handle_keypoints])
        frames = renderer_only.renderer.render(renderer_only.binding.apply(vertices))[:, :3]
    prior = AnalyticGaussianPrior.from_target_frames(
        tile_frames(frames, config.schedule)[None],
        data_std=0.05,
        prediction_type="flow",
        device="cpu",
        timestep_shift=SHIFT,
        temporal_compression=CAUSAL_STEP,
    )
    assert prior.mean.shape[2] == 7  # 25 frames → 7 latent frames, encoded jointly
    animator = ClipAnimator(clipart, rig, prior, "a person leaning and swinging both arms", config)

    moving = (target - rest).norm(dim=-1).amax(dim=0) > 1.0  # keypoints the target moves by > 1 px

    def error() -> float:
        with torch.no_grad():
            return float((animator.trajectories().double() - target)[:, moving].norm(dim=-1).mean())

    start = error()
    for _ in range(ITERATIONS):
        animator.step()
    return start, error(), float((target - rest).norm(dim=-1).max()), animator


def _config():
    from flexiclip_core.guidance import AnalyticGaussianConfig

    return AnalyticGaussianConfig(prediction_type="flow", timestep_shift=SHIFT, temporal_compression=CAUSAL_STEP)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["aniclipart", "flexiclip"])
def test_flow_sds_through_the_causal_video_encoder_recovers_the_target_motion(method):
    torch.manual_seed(0)
    start, final, largest, animator = recover(method)
    assert animator.prior.frame_encoding == "causal_video"
    assert largest > 12.0  # the target really moves
    assert final <= 1.5, f"{method}: mean keypoint error {final:.2f} px after optimisation (start {start:.2f} px)"
    assert final < 0.5 * start
