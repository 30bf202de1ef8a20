"""How the optimisation executes (issue 14): sparse host syncs and a compiled prior change no result."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch._dynamo.testing import CompileCounterWithBackend

from flexiclip_core.errors import ConfigError
from flexiclip_core.guidance import load_prior
from flexiclip_core.guidance.compile import compile_prior
from flexiclip_core.optimize import ClipAnimator, ExecutionConfig, optimise, preset, worker_execution
from flexiclip_core.rig import rig_clipart
from flexiclip_core.svg import parse_svg
from tests.conftest import SAMPLES_DIR


@pytest.fixture(scope="module")
def human():
    entry = next(e for e in json.loads((SAMPLES_DIR / "samples.json").read_text()) if e["clip_id"] == "human")
    clipart = parse_svg(SAMPLES_DIR / entry["svg"], clip_id="human")
    rig = rig_clipart(clipart, keypoints=np.array(entry["keypoints"]), bones=np.array(entry["skeleton"]))
    return clipart, rig


def _animator(human, prior, iterations: int, method: str = "flexiclip") -> ClipAnimator:
    config = preset(method).with_overrides({"iterations": iterations})
    return ClipAnimator(*human, prior, "a person dancing", config)


class NaNAfter:
    """Fault injection: the wrapped prior's denoiser returns NaN from its ``calls``-th call on."""

    def __init__(self, prior, calls: int) -> None:
        self.prior = prior
        self.calls = calls
        self.count = 0
        self.eager = prior.predict_noise
        prior.predict_noise = self

    def __call__(self, noisy_latents, timesteps, text_embeddings):
        self.count += 1
        output = self.eager(noisy_latents, timesteps, text_embeddings)
        return torch.full_like(output, float("nan")) if self.count >= self.calls else output


def test_report_every_must_be_positive():
    with pytest.raises(ConfigError, match="report_every"):
        ExecutionConfig(report_every=0)


def test_worker_execution_compiles_and_syncs_sparsely_only_on_cuda():
    assert worker_execution("cpu") == ExecutionConfig()
    cuda = worker_execution("cuda")
    assert cuda.compile_prior and cuda.report_every > 1


def test_reading_losses_every_ten_steps_changes_nothing(human):
    prior = load_prior("analytic-gaussian", device="cpu")
    every_step, every_ten = [], []
    one = optimise(_animator(human, prior, 12, "aniclipart"), on_step=every_step.append)
    ten = optimise(
        _animator(human, prior, 12, "aniclipart"), on_step=every_ten.append, execution=ExecutionConfig(report_every=10)
    )
    np.testing.assert_array_equal(one.frame_points, ten.frame_points)
    np.testing.assert_array_equal(one.frame_jacobians, ten.frame_jacobians)
    assert one.loss_history == ten.loss_history  # all 12 steps, the last 2 read back at the end
    assert [r.step for r in every_ten] == list(range(1, 13))
    assert every_step == every_ten


@pytest.mark.parametrize("report_every", [1, 10])
def test_a_nan_loss_is_raised_within_report_every_steps(human, report_every):
    prior = load_prior("analytic-gaussian", device="cpu")
    animator = _animator(human, prior, 15, method="aniclipart")
    NaNAfter(prior, calls=4)
    seen = []
    with pytest.raises(FloatingPointError, match="loss became nan at step 4"):
        optimise(animator, on_step=seen.append, execution=ExecutionConfig(report_every=report_every))
    assert [r.step for r in seen] == [1, 2, 3]
    # Without a per-step check the NaN parameters reach step 5, whose renderer fails on them.
    assert animator.step_index == 4


def test_compiled_and_eager_steps_agree(human):
    """aot_eager traces the same denoiser into one graph (no generated kernels, so it compiles in
    seconds on a CPU); the traced graph may reorder float32 reductions, hence the tolerance."""
    torch.manual_seed(0)
    eager_prior = load_prior("tiny", device="cpu")
    compiled_prior = load_prior("tiny", device="cpu")
    backend = CompileCounterWithBackend("aot_eager")
    assert compile_prior(compiled_prior, backend=backend)
    assert not compile_prior(compiled_prior, backend=backend)  # once per prior
    latents = torch.randn(3, 4, 24, 16, 16)
    timesteps = torch.tensor([500, 500, 500])
    text = torch.randn(3, 77, eager_prior.text_encoder.config.hidden_size)
    with torch.no_grad():  # as score_distillation calls it (grad mode is part of the compiled graph's guards)
        torch.testing.assert_close(
            compiled_prior.predict_noise(latents, timesteps, text),
            eager_prior.predict_noise(latents, timesteps, text),
            rtol=1e-5,
            atol=1e-5,
        )
    assert backend.frame_count == 1
    eager = _animator(human, eager_prior, 2)
    compiled = _animator(human, compiled_prior, 2)
    for _ in range(2):
        eager_report, compiled_report = eager.step(), compiled.step()
        assert compiled_report.total == pytest.approx(eager_report.total, rel=1e-4)
    # The step's guidance batch [3, 4, 24, 16, 16] is the shape compiled above: never recompiled.
    assert backend.frame_count == 1
    for name, module in eager.trainable_modules().items():
        compiled_state = compiled.trainable_modules()[name].state_dict()
        for key, expected in module.state_dict().items():
            actual = compiled_state[key]
            torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-6, msg=f"{name}.{key}")
