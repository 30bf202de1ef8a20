"""Known answers for score distillation (docs/method.md §8): the noise schedules at interior
timesteps, w(t), the classifier-free guidance combination at a known point, the prediction-type
conversions, the exact flow gradient of the analytic prior and the surrogate-loss identity
∂L/∂z = g / B, plus the augmentation's homography at an interior point.

Expected values are computed here from the schedules' definitions (β, σ formulas), not from the
schedules the code builds.
"""

from __future__ import annotations

import math

import pytest
import torch

from flexiclip_core.guidance import AnalyticGaussianConfig, AnalyticGaussianPrior, SdsConfig, score_distillation
from flexiclip_core.guidance.augment import AugmentationConfig, augment_frames, homography_from_points
from flexiclip_core.guidance.base import scaled_linear_alphas_cumprod, shifted_flow_sigmas
from flexiclip_core.guidance.sds import _gradients, sds_weights


def _alpha_bar(t: int) -> float:
    """ᾱ_t of the scaled-linear schedule: β_i = (√0.00085 + i (√0.012 − √0.00085)/999)²."""
    low, high = math.sqrt(0.00085), math.sqrt(0.012)
    product = 1.0
    for i in range(t + 1):
        product *= 1.0 - (low + i * (high - low) / 999) ** 2
    return product


def _vp_prior(**config) -> AnalyticGaussianPrior:
    return AnalyticGaussianPrior(torch.zeros(1, 4, 1, 1, 1), AnalyticGaussianConfig(**config), device="cpu")


def test_scaled_linear_schedule_at_interior_timesteps() -> None:
    alphas_cumprod = scaled_linear_alphas_cumprod()
    assert float(alphas_cumprod[0]) == pytest.approx(1.0 - 0.00085, abs=1e-15)
    for t in (1, 300, 500, 998):
        assert float(alphas_cumprod[t]) == pytest.approx(_alpha_bar(t), rel=1e-12), t
    assert float(alphas_cumprod[999] / alphas_cumprod[998]) == pytest.approx(1.0 - 0.012, rel=1e-12)
    # w(t) = 1 − ᾱ_t on the prior's schedule, and 1 when uniform.
    prior = _vp_prior()
    weights = sds_weights(prior, torch.tensor([50, 500, 949]), "1-alphas_cumprod")
    assert weights.tolist() == pytest.approx([1.0 - _alpha_bar(t) for t in (50, 500, 949)], rel=1e-6)
    assert sds_weights(prior, torch.tensor([500]), "uniform").tolist() == [1.0]


def test_shifted_flow_schedule_and_its_sds_weight() -> None:
    # u = (t + 1)/T = ½ at t = 499: σ = s u / (1 + (s − 1) u) = 1.5 / 2 = 0.75 for s = 3; u for s = 1.
    assert float(shifted_flow_sigmas(1000, 3.0)[499]) == pytest.approx(0.75, abs=1e-15)
    assert float(shifted_flow_sigmas(1000, 1.0)[249]) == pytest.approx(0.25, abs=1e-15)
    prior = _vp_prior(prediction_type="flow", timestep_shift=3.0)
    # α = 1 − σ = ¼: the VP ᾱ of equal SNR is α²/(α² + σ²) = 0.0625/0.625 = 0.1, so w = 0.9.
    assert float(prior.alphas_cumprod[499]) == pytest.approx(0.1, abs=1e-12)
    assert sds_weights(prior, torch.tensor([499]), "1-alphas_cumprod").item() == pytest.approx(0.9, abs=1e-6)


def test_prediction_conversions_at_a_known_point() -> None:
    z_t, t = torch.full((1, 4, 1, 1, 1), 0.3), torch.tensor([499])
    output = torch.full((1, 4, 1, 1, 1), -0.4)
    # flow, σ = 0.75: ε̂ = z_t + (1 − σ) u = 0.3 − 0.1.
    flow = _vp_prior(prediction_type="flow", timestep_shift=3.0)
    assert flow.output_to_epsilon(output, z_t, t).flatten().tolist() == pytest.approx([0.2] * 4, abs=1e-6)
    # v: ε̂ = α v + σ z_t with α = √ᾱ, σ = √(1 − ᾱ).
    v = _vp_prior(prediction_type="v_prediction")
    alpha, sigma = math.sqrt(_alpha_bar(499)), math.sqrt(1.0 - _alpha_bar(499))
    expected = alpha * -0.4 + sigma * 0.3
    assert v.output_to_epsilon(output, z_t, t).flatten().tolist() == pytest.approx([expected] * 4, abs=1e-6)
    # ε: unchanged.
    assert _vp_prior().output_to_epsilon(output, z_t, t).flatten().tolist() == pytest.approx([-0.4] * 4)


def test_analytic_epsilon_at_a_known_point() -> None:
    # ε* = σ (z_t − α μ)/(α² s² + σ²) with μ = 0.8, s = 0.5, z_t = 0.3 at t = 300.
    prior = AnalyticGaussianPrior(torch.full((1, 4, 1, 1, 1), 0.8), AnalyticGaussianConfig(data_std=0.5), device="cpu")
    alpha, sigma = math.sqrt(_alpha_bar(300)), math.sqrt(1.0 - _alpha_bar(300))
    expected = sigma * (0.3 - alpha * 0.8) / (alpha**2 * 0.25 + sigma**2)
    epsilon = prior.predict_noise(torch.full((1, 4, 1, 1, 1), 0.3), torch.tensor([300]), torch.ones(1, 1, 1))
    assert epsilon.flatten().tolist() == pytest.approx([expected] * 4, rel=1e-5)


@pytest.mark.parametrize("weighting", ["1-alphas_cumprod", "uniform"])
def test_cfg_and_flow_combination_at_a_known_point(weighting: str) -> None:
    # ε̂_u = 0.2, ε̂_c = 0.5, ε̂_pose = 0.4, ε = 0.1, s = 7.5 at t = 500:
    # g_sds = w (0.2 + 7.5 (0.5 − 0.2) − 0.1) = 2.35 w, g_flow = w (0.5 − 0.4) = 0.1 w.
    prior = _vp_prior()
    shape = (1, 4, 2, 1, 1)
    config = SdsConfig(guidance_scale=7.5, weighting=weighting)  # type: ignore[arg-type]
    sds, flow = _gradients(
        prior,
        config,
        torch.full(shape, 0.2),
        torch.full(shape, 0.5),
        torch.full(shape, 0.4),
        torch.full(shape, 0.1),
        torch.tensor([500]),
    )
    w = 1.0 - _alpha_bar(500) if weighting == "1-alphas_cumprod" else 1.0
    assert sds.flatten().tolist() == pytest.approx([2.35 * w] * 8, rel=1e-5)
    assert flow is not None
    assert flow.flatten().tolist() == pytest.approx([0.1 * w] * 8, rel=1e-5)


def test_flow_gradient_is_exact_and_the_surrogates_return_g_over_b() -> None:
    # Final and pose video share t and ε, so with the analytic prior
    # g_flow = w (ε*_c(final) − ε*_c(pose)) = w α σ (z_final − z_pose)/(α² s² + σ²) exactly.
    s = 0.5
    prior = AnalyticGaussianPrior(torch.full((1, 4, 1, 1, 1), 0.8), AnalyticGaussianConfig(data_std=s), device="cpu")
    text = prior.encode_text(["x"])
    final = torch.full((2, 4, 3, 2, 2), 0.6, requires_grad=True)
    pose = torch.full((2, 4, 3, 2, 2), -0.2, requires_grad=True)
    result = score_distillation(
        prior, text, final, pose, SdsConfig(t_min=400, t_max=400), torch.Generator().manual_seed(3)
    )
    alpha_bar = _alpha_bar(400)
    alpha, sigma = math.sqrt(alpha_bar), math.sqrt(1.0 - alpha_bar)
    expected = (1.0 - alpha_bar) * alpha * sigma * (0.6 - -0.2) / (alpha**2 * s**2 + sigma**2)
    assert result.flow_gradient is not None and result.loss_flow is not None
    torch.testing.assert_close(result.flow_gradient, torch.full_like(final, expected), rtol=1e-5, atol=1e-7)
    assert result.prior_batch_size == 6
    # ∂L/∂z = g / B for both surrogates, and −g_flow / B into the pose latents.
    result.loss_sds.backward(retain_graph=True)
    torch.testing.assert_close(final.grad, result.sds_gradient / 2)
    final.grad = None
    result.loss_flow.backward()
    torch.testing.assert_close(final.grad, result.flow_gradient / 2)
    torch.testing.assert_close(pose.grad, -result.flow_gradient / 2)
    # The loss values are ½‖g‖²/B.
    assert result.loss_flow.item() == pytest.approx(2 * 0.5 * expected**2 * final.numel() / 2, rel=1e-5)


def test_homography_maps_the_centre_to_the_diagonals_crossing() -> None:
    # A projective map keeps incidences: the square's centre (0, 0) goes to where the target
    # quadrilateral's diagonals cross. Target (−1, −1), (1, −1), (0.5, 0.5), (−0.5, 1):
    # diagonal A→C: (−1, −1) + a (1.5, 1.5); B→D: (1, −1) + b (−1.5, 2). Equal y gives b = ¾ a,
    # equal x −1 + 1.5 a = 1 − 1.125 a, so a = 2/2.625 and they cross at (1/7, 1/7).
    source = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]], dtype=torch.float64)
    target = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [0.5, 0.5], [-0.5, 1.0]], dtype=torch.float64)
    warp = homography_from_points(source, target)
    crossing = [1.0 / 7.0, 1.0 / 7.0]
    mapped = warp @ torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    assert (mapped[:2] / mapped[2]).tolist() == pytest.approx(crossing, abs=1e-12)
    # No distortion and a whole-image crop: the augmentation is the identity at pixel centres.
    frames = torch.rand(1, 2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    identity = AugmentationConfig(perspective_distortion=0.0, crop_scale=(1.0, 1.0))
    torch.testing.assert_close(augment_frames(frames, torch.Generator().manual_seed(1), identity), frames)
