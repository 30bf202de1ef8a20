"""bench/flops.py: the SDS iteration on the real ModelScope architecture stays at its FLOP floor."""

from __future__ import annotations

import pytest

from bench import flops


@pytest.mark.slow
def test_flops_per_iteration_meet_the_budget() -> None:
    result = flops.run()
    assert result["sds_tflop_per_iter_modelscope"] <= 30.0
    assert result["sds_tflop_per_iter_modelscope"] == pytest.approx(28.6, abs=0.3)
    assert result["sds_tflop_per_iter_modelscope_aniclipart"] == pytest.approx(18.0, abs=0.3)
    assert result["reference_tflop_per_iter"] == pytest.approx(56.0, abs=1.0)
    assert result["reference_tflop_per_iter_aniclipart"] == pytest.approx(34.0, abs=1.0)
    assert result["reference_tflop_per_iter_pose_with_grad"] > result["reference_tflop_per_iter"]
    # The parts: an input-only VAE backward costs one more forward, the UNet dominates.
    forward = result["vae_encoder_tflop_per_frame_forward"]
    assert result["vae_encoder_tflop_per_frame_input_backward"] == pytest.approx(2 * forward, rel=0.02)
    assert result["unet_tflop_per_sample"] > 20 * forward
