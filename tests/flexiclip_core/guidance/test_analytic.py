"""The analytic Gaussian prior: its denoiser is the exact posterior mean, in every parametrisation."""

from __future__ import annotations

import math

import pytest
import torch

from flexiclip_core.guidance import AnalyticGaussianConfig, AnalyticGaussianPrior

PREDICTION_TYPES = ("epsilon", "v_prediction", "flow")


def _prior(prediction_type: str, mean: torch.Tensor, data_std: float = 0.5) -> AnalyticGaussianPrior:
    return AnalyticGaussianPrior(
        mean, AnalyticGaussianConfig(prediction_type=prediction_type, data_std=data_std), device="cpu"
    )


@pytest.mark.parametrize("prediction_type", ["epsilon", "flow"])
def test_epsilon_is_the_posterior_mean_by_quadrature(prediction_type: str) -> None:
    """E[ε | z_t] computed by brute-force integration over z₀ equals the closed form."""
    mu, s = 0.7, 0.4
    prior = _prior(prediction_type, torch.full((1, 1, 1, 1, 1), mu), data_std=s)
    grid = torch.linspace(mu - 10 * s, mu + 10 * s, 20001, dtype=torch.float64)
    for t in (60, 400, 900):
        signal, sigma = (float(v) for v in prior.schedule.scales_at(torch.tensor([t]), torch.float64))
        for z_t in (-1.3, 0.2, 2.0):
            log_weight = -((grid - mu) ** 2) / (2 * s * s) - ((z_t - signal * grid) ** 2) / (2 * sigma * sigma)
            weight = torch.softmax(log_weight, dim=0)
            expected_eps = float((weight * (z_t - signal * grid) / sigma).sum())
            eps, clean = prior.optimal_predictions(
                torch.full((1, 1, 1, 1, 1), z_t), torch.tensor([t]), torch.ones(1, 1, 1)
            )
            assert float(eps) == pytest.approx(expected_eps, abs=1e-4)
            assert float(clean) == pytest.approx(float((weight * grid).sum()), abs=1e-4)


def test_vp_closed_form_matches_the_spec_formula() -> None:
    """ε* = √(1−ᾱ)(z_t − √ᾱ μ)/(ᾱ s² + 1 − ᾱ) for the VP schedule."""
    mean = torch.randn(1, 4, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    prior = _prior("epsilon", mean, data_std=0.3)
    z_t = torch.randn(2, 4, 3, 4, 4, generator=torch.Generator().manual_seed(2))
    t = torch.tensor([100, 800])
    abar = prior.alphas_cumprod[t].float().view(-1, 1, 1, 1, 1)
    expected = (1 - abar).sqrt() * (z_t - abar.sqrt() * mean) / (abar * 0.09 + 1 - abar)
    got = prior.predict_noise(z_t, t, torch.ones(2, 1, 1))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("prediction_type", ["v_prediction", "flow"])
def test_conversion_to_epsilon_recovers_the_exact_noise(prediction_type: str) -> None:
    """v and flow outputs, converted by the shared interface, give the exact ε* of the same prior."""
    mean = torch.randn(1, 4, 2, 4, 4, generator=torch.Generator().manual_seed(3))
    prior = _prior(prediction_type, mean)
    z_t = torch.randn(3, 4, 2, 4, 4, generator=torch.Generator().manual_seed(4))
    t = torch.tensor([50, 500, 949])
    text = torch.ones(3, 1, 1)
    output = prior.predict_noise(z_t, t, text)
    exact_eps, _ = prior.optimal_predictions(z_t, t, text)
    assert not torch.allclose(output, exact_eps)  # the raw output really is another parametrisation
    torch.testing.assert_close(prior.output_to_epsilon(output, z_t, t), exact_eps, rtol=1e-4, atol=1e-5)


def test_schedules() -> None:
    vp = _prior("epsilon", torch.zeros(1, 4, 1, 1, 1))
    abar = vp.alphas_cumprod
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
    assert float(abar[0]) == pytest.approx(1 - float(betas[0]))
    assert float(abar[-1]) == pytest.approx(float(torch.prod(1 - betas)), rel=1e-9)
    flow = _prior("flow", torch.zeros(1, 4, 1, 1, 1))
    signal, sigma = flow.schedule.scales_at(torch.tensor([499]), torch.float64)
    assert float(sigma) == pytest.approx(0.5) and float(signal) == pytest.approx(0.5)


def test_encoder_is_fixed_pooling_and_differentiable() -> None:
    frames = torch.rand(1, 2, 3, 64, 64, requires_grad=True)
    prior = _prior("epsilon", torch.zeros(1, 4, 1, 1, 1))
    latents = prior.encode_frames(frames)
    assert latents.shape == (1, 4, 2, 8, 8)
    expected_red = torch.nn.functional.avg_pool2d(frames[0, :, 0] * 2 - 1, 8)  # [2, 8, 8]
    torch.testing.assert_close(latents[0, 0], expected_red)
    latents.sum().backward()
    assert frames.grad is not None and float(frames.grad.abs().sum()) > 0


def test_from_target_frames_sets_the_mean_to_their_encoding() -> None:
    frames = torch.rand(1, 3, 3, 64, 64)
    prior = AnalyticGaussianPrior.from_target_frames(frames, data_std=0.2, prediction_type="flow", device="cpu")
    torch.testing.assert_close(prior.mean, prior.encode_frames(frames))
    assert prior.prediction_type == "flow" and not prior.is_trained
    assert math.isclose(prior.config.data_std, 0.2)
