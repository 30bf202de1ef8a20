"""Score distillation and the flow estimator, checked against the analytic Gaussian prior."""

from __future__ import annotations

import pytest
import torch

from flexiclip_core.errors import ConfigError
from flexiclip_core.guidance import (
    AnalyticGaussianConfig,
    AnalyticGaussianPrior,
    SdsConfig,
    TextEmbeddings,
    score_distillation,
    tile_latents,
)

PREDICTION_TYPES = ("epsilon", "v_prediction", "flow")


def _target_frames() -> torch.Tensor:  # [1, 3, 3, 64, 64]: flat colour blocks, so μ is far from 0
    frames = torch.ones(1, 3, 3, 64, 64)
    frames[0, :, 0, :32] = 0.1
    frames[0, 1, 1, :, 32:] = 0.0
    frames[0, 2, 2] = 0.3
    return frames


class CountingPrior(AnalyticGaussianPrior):
    """The analytic prior, recording the batch of every model call."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.call_batches: list[int] = []

    def predict_noise(self, noisy_latents, timesteps, text_embeddings):
        self.call_batches.append(int(noisy_latents.shape[0]))
        return super().predict_noise(noisy_latents, timesteps, text_embeddings)


@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
def test_gradient_descent_with_sds_converges_to_the_data_mean(prediction_type: str) -> None:
    prior = AnalyticGaussianPrior.from_target_frames(
        _target_frames(), data_std=0.5, prediction_type=prediction_type, device="cpu"
    )
    text = prior.encode_text(["a target"])
    latents = torch.zeros_like(prior.mean, requires_grad=True)
    optimiser = torch.optim.SGD([latents], lr=0.1)
    generator = torch.Generator().manual_seed(0)
    start_error = float((latents.detach() - prior.mean).abs().mean())
    average = torch.zeros_like(prior.mean)
    for step in range(300):
        optimiser.zero_grad()
        score_distillation(prior, text, latents, None, SdsConfig(), generator).loss_sds.backward()
        optimiser.step()
        if step >= 200:
            average += latents.detach() / 100
    assert start_error > 0.3
    assert float((average - prior.mean).abs().mean()) < 0.05 * start_error


@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
def test_expected_sds_gradient_points_from_z_to_the_mean(prediction_type: str) -> None:
    """E_ε[g] = w(t) α σ (z − μ) / (α² s² + σ²) at a fixed t, for ε, v and flow models alike."""
    s = 0.5
    mean = torch.full((1, 4, 1, 2, 2), 0.8)
    prior = AnalyticGaussianPrior(
        mean, AnalyticGaussianConfig(prediction_type=prediction_type, data_std=s), device="cpu"
    )
    latents = torch.full((4000, 4, 1, 2, 2), -0.4)  # many clips = many independent ε draws
    text = prior.encode_text(["x"])
    result = score_distillation(
        prior, text, latents, None, SdsConfig(t_min=300, t_max=300), torch.Generator().manual_seed(1)
    )
    signal, sigma = (float(v) for v in prior.schedule.scales_at(torch.tensor([300]), torch.float64))
    weight = 1 - float(prior.alphas_cumprod[300])
    expected = weight * signal * sigma * (-0.4 - 0.8) / (signal**2 * s**2 + sigma**2)
    assert float(result.sds_gradient.mean()) == pytest.approx(expected, rel=0.03)
    assert torch.all(result.timesteps == 300)


def test_surrogate_loss_gradient_equals_the_injected_gradient() -> None:
    prior = AnalyticGaussianPrior.from_target_frames(_target_frames(), device="cpu")
    latents = torch.randn(1, *prior.mean.shape[1:], requires_grad=True)
    result = score_distillation(
        prior, prior.encode_text(["x"]), latents, None, SdsConfig(), torch.Generator().manual_seed(2)
    )
    result.loss_sds.backward()
    torch.testing.assert_close(latents.grad, result.sds_gradient)
    assert float(result.loss_sds.detach()) == pytest.approx(0.5 * float(result.sds_gradient.square().sum()), rel=1e-5)


def test_cfg_with_identical_conditioning_equals_the_plain_prediction() -> None:
    mean = torch.full((1, 4, 2, 4, 4), 0.5)
    prior = AnalyticGaussianPrior(mean, unconditional_mean=torch.zeros_like(mean), device="cpu")
    embedding = torch.ones(1, 1, 1)
    same = TextEmbeddings(embedding, embedding, ("x",), ("x",))
    latents = torch.zeros(1, 4, 2, 4, 4)
    guided = score_distillation(
        prior, same, latents, None, SdsConfig(guidance_scale=50), torch.Generator().manual_seed(3)
    )
    plain = score_distillation(
        prior, same, latents, None, SdsConfig(guidance_scale=1), torch.Generator().manual_seed(3)
    )
    torch.testing.assert_close(guided.sds_gradient, plain.sds_gradient)
    # With a real negative prompt the guidance does act (this prior's unconditional mean differs).
    negative = score_distillation(
        prior, prior.encode_text(["x"]), latents, None, SdsConfig(guidance_scale=50), torch.Generator().manual_seed(3)
    )
    assert not torch.allclose(negative.sds_gradient, plain.sds_gradient)


@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
def test_cfg_gradient_matches_the_closed_form_with_a_distinct_unconditional_mean(prediction_type: str) -> None:
    """g = w(t) (ε̂_u + s (ε̂_c − ε̂_u) − ε), clip by clip, against the exact denoisers of μ_c ≠ μ_u.

    With a data std s_d → 0 the exact denoiser is ε*(z_t) = (z_t − α μ)/σ, so with z_t = α z + σ ε
    the guided gradient is g = w(t) α (z − μ_cfg)/σ, μ_cfg = μ_u + s (μ_c − μ_u): free of ε, so
    it is checked exactly for every clip, whatever t and ε were drawn. A flipped guidance sign
    (ε̂_c + s (ε̂_u − ε̂_c)) gives μ_c + s (μ_u − μ_c) instead: far off here.
    """
    data_std = 1e-4
    mean = torch.full((1, 4, 2, 2, 2), 0.8)
    unconditional_mean = torch.full((1, 4, 2, 2, 2), -0.3)
    unconditional_mean[:, 1] = 0.5  # not a scalar multiple of μ_c either
    config = AnalyticGaussianConfig(prediction_type=prediction_type, data_std=data_std)
    prior = AnalyticGaussianPrior(mean, config, unconditional_mean=unconditional_mean, device="cpu")
    latents = torch.randn(6, 4, 2, 2, 2, generator=torch.Generator().manual_seed(10))
    scale = 7.5
    result = score_distillation(
        prior,
        prior.encode_text(["x"]),
        latents,
        None,
        SdsConfig(guidance_scale=scale, t_min=200, t_max=800),
        torch.Generator().manual_seed(11),
    )
    signal, sigma = (v.double().view(-1, 1, 1, 1, 1) for v in prior.schedule.scales_at(result.timesteps, torch.float64))
    weight = 1.0 - prior.alphas_cumprod[result.timesteps].view(-1, 1, 1, 1, 1)
    guided_mean = unconditional_mean.double() + scale * (mean.double() - unconditional_mean.double())
    expected = weight * signal * (latents.double() - guided_mean) / sigma
    assert len(set(result.timesteps.tolist())) > 1
    torch.testing.assert_close(result.sds_gradient.double(), expected, rtol=2e-3, atol=2e-3)


def test_sds_defaults_are_the_methods_values() -> None:
    """docs/method.md §8: t ~ U{50 … 949}, s = 50, w(t) = 1 − ᾱ_t."""
    config = SdsConfig()
    assert (config.t_min, config.t_max, config.guidance_scale, config.weighting) == (50, 949, 50.0, "1-alphas_cumprod")


def test_flow_gradient_is_weighted_by_w_of_t_like_sds() -> None:
    """g_flow = w(t) (ε̂_c(final) − ε̂_c(pose)) with the shared t and ε: for the exact denoiser,
    ε* is linear in z_t with slope σ/v (v = α² s² + σ²), so g_flow = w(t) σ α (z_f − z_p) / v."""
    data_std = 0.5
    prior = AnalyticGaussianPrior(torch.zeros(1, 4, 1, 2, 2), AnalyticGaussianConfig(data_std=data_std), device="cpu")
    final = torch.full((5, 4, 1, 2, 2), 0.6)
    pose = torch.full((5, 4, 1, 2, 2), -0.2)
    result = score_distillation(
        prior, prior.encode_text(["x"]), final, pose, SdsConfig(), torch.Generator().manual_seed(12)
    )
    assert result.flow_gradient is not None
    signal, sigma = (v.view(-1, 1, 1, 1, 1) for v in prior.schedule.scales_at(result.timesteps, torch.float64))
    weight = 1.0 - prior.alphas_cumprod[result.timesteps].view(-1, 1, 1, 1, 1)
    expected = weight * sigma * signal * (final.double() - pose.double()) / (signal**2 * data_std**2 + sigma**2)
    torch.testing.assert_close(result.flow_gradient.double(), expected, rtol=1e-4, atol=1e-6)


def test_one_batched_prior_call_with_three_or_two_samples() -> None:
    prior = CountingPrior(torch.zeros(1, 4, 1, 1, 1), device="cpu")
    text = prior.encode_text(["x"])
    final = torch.randn(2, 4, 3, 4, 4)
    with_pose = score_distillation(prior, text, final, torch.randn(2, 4, 3, 4, 4), SdsConfig(), torch.Generator())
    without_pose = score_distillation(prior, text, final, None, SdsConfig(), torch.Generator())
    assert prior.call_batches == [6, 4]
    assert (with_pose.prior_batch_size, without_pose.prior_batch_size) == (6, 4)
    assert without_pose.loss_flow is None and without_pose.flow_gradient is None


def test_flow_term_reaches_both_videos_with_opposite_signs() -> None:
    prior = AnalyticGaussianPrior.from_target_frames(_target_frames(), device="cpu")
    final = (prior.mean + 0.3).clone().requires_grad_(True)
    pose = (prior.mean - 0.2).clone().requires_grad_(True)
    result = score_distillation(
        prior, prior.encode_text(["x"]), final, pose, SdsConfig(), torch.Generator().manual_seed(4)
    )
    assert result.loss_flow is not None and result.flow_gradient is not None
    result.loss_flow.backward()
    assert float(final.grad.abs().sum()) > 0 and float(pose.grad.abs().sum()) > 0
    torch.testing.assert_close(final.grad, result.flow_gradient)
    torch.testing.assert_close(pose.grad, -result.flow_gradient)
    # Descending the flow term pulls the two videos together: ε̂ grows with z here.
    assert float((result.flow_gradient * (final - pose).detach()).sum()) > 0
    # And the pose video gets no SDS gradient of its own.
    final.grad, pose.grad = None, None
    result.loss_sds.backward()
    assert pose.grad is None and final.grad is not None


def test_flow_term_vanishes_for_identical_videos() -> None:
    prior = AnalyticGaussianPrior.from_target_frames(_target_frames(), device="cpu")
    latents = prior.mean + 0.25
    result = score_distillation(
        prior, prior.encode_text(["x"]), latents, latents.clone(), SdsConfig(), torch.Generator()
    )
    assert result.flow_gradient is not None and float(result.flow_gradient.abs().max()) == 0.0
    assert float(result.sds_gradient.abs().max()) > 0


def test_timesteps_are_sampled_inclusively_and_reproducibly() -> None:
    prior = AnalyticGaussianPrior(torch.zeros(1, 4, 1, 1, 1), device="cpu")
    text = prior.encode_text(["x"])
    latents = torch.zeros(512, 4, 1, 1, 1)
    config = SdsConfig(t_min=50, t_max=52)
    first = score_distillation(prior, text, latents, None, config, torch.Generator().manual_seed(5))
    again = score_distillation(prior, text, latents, None, config, torch.Generator().manual_seed(5))
    assert set(first.timesteps.tolist()) == {50, 51, 52}
    torch.testing.assert_close(first.sds_gradient, again.sds_gradient)
    diagnostics = first.diagnostics()
    assert 50 <= diagnostics["sds_t"] <= 52 and diagnostics["sds_grad_norm"] > 0


def test_noise_is_independent_per_frame_and_shared_between_videos() -> None:
    """Tiled (identical) frames still get different noise; the pose video gets the same noise."""
    prior = AnalyticGaussianPrior(torch.zeros(1, 4, 1, 1, 1), device="cpu")
    frame = torch.zeros(1, 4, 1, 2, 2)
    video = frame.expand(1, 4, 6, 2, 2).contiguous()
    config = SdsConfig(guidance_scale=1.0)
    result = score_distillation(
        prior, prior.encode_text(["x"]), video, video.clone(), config, torch.Generator().manual_seed(6)
    )
    gradient = result.sds_gradient[0]
    assert not torch.allclose(gradient[:, 0], gradient[:, 1])
    assert result.flow_gradient is not None and float(result.flow_gradient.abs().max()) == 0.0


def test_tile_latents_gathers_frames_and_sums_gradients_per_pose() -> None:
    latents = torch.randn(2, 4, 3, 2, 2, requires_grad=True)
    frame_to_pose = torch.tensor([0, 1, 2, 2, 1, 0, 0])
    video = tile_latents(latents, frame_to_pose)
    assert video.shape == (2, 4, 7, 2, 2)
    torch.testing.assert_close(video[:, :, 4], latents[:, :, 1])
    weights = torch.arange(7, dtype=torch.float32).view(1, 1, 7, 1, 1)
    (video * weights).sum().backward()
    assert latents.grad is not None
    torch.testing.assert_close(latents.grad[0, 0, :, 0, 0], torch.tensor([0.0 + 5 + 6, 1 + 4, 2 + 3]))


def test_config_validation() -> None:
    with pytest.raises(ConfigError):
        SdsConfig(t_min=500, t_max=100)
    with pytest.raises(ConfigError):
        SdsConfig(weighting="sqrt")  # type: ignore[arg-type]
    prior = AnalyticGaussianPrior(torch.zeros(1, 4, 1, 1, 1), device="cpu")
    with pytest.raises(ConfigError):
        score_distillation(prior, prior.encode_text(["x"]), torch.zeros(1, 4, 1, 1, 1), None, SdsConfig(t_max=1000))
