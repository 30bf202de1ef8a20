"""Video score distillation and the flow-matching estimator (docs/method.md §8), in one prior call.

Per iteration: one t ~ U{t_min … t_max} per clip and one ε ~ N(0, I) (independent per frame),
shared by the final and the pose-only video; one batched prior call on
[final | negative prompt, final | prompt, pose | prompt]; every model output converted to a noise
estimate ε̂ for its prediction type; then

    SDS:  g_sds  = w(t) (ε̂_cfg(final) − ε),  ε̂_cfg = ε̂_u + s (ε̂_c − ε̂_u)
    flow: g_flow = w(t) (ε̂_c(final) − ε̂_c(pose)), injected into the final latents and, negated,
          into the pose latents (the SDS-style estimator of ∇ E_t‖s(X_final) − s(X_pose)‖²
          that treats ∂ε̂/∂z as the identity, s = −ε̂/σ_t).

The flow term compares the *conditional* predictions of both videos: they share the prompt, t and
ε, so their difference measures only how the two videos differ under the text-conditioned
score, and it vanishes when the videos agree (the minimiser of L_flow). Comparing the CFG'd
final prediction with the pose video's would add s(ε̂_c − ε̂_u) — a non-zero push even for
identical videos, duplicating SDS at 50× scale — and the pose video needs no unconditional
sample, which keeps the batch at three.

The losses are surrogates: L = ½‖z − sg(z − g)‖² summed over latent elements and averaged over
clips, so ∂L/∂z = g / B exactly (g for one clip); their values are ½‖g‖²/B, a diagnostic only.

Lockstep (`score_distillation_clips`, docs/method.md §10): K clips share the one prior call (K×3
samples) but each draws its t and ε from its own generator and gets its own, unaveraged loss, so
each clip's gradient is the one it would get alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from flexiclip_core.errors import ConfigError
from flexiclip_core.guidance.augment import AugmentationConfig
from flexiclip_core.guidance.base import TextEmbeddings, VideoPrior

SdsWeighting = Literal["1-alphas_cumprod", "uniform"]


@dataclass(frozen=True)
class SdsConfig:
    """Score distillation settings: the reference's values, except t_max (docs/method.md §12)."""

    guidance_scale: float = 50.0
    """Classifier-free guidance scale s in ε̂ = ε̂_u + s (ε̂_c − ε̂_u)."""
    t_min: int = 50
    """Smallest sampled training timestep (inclusive)."""
    t_max: int = 949
    """Largest sampled training timestep (inclusive): t ~ U{t_min … t_max}; the reference's
    draw stops at 948, a kept departure (docs/method.md §12)."""
    weighting: SdsWeighting = "1-alphas_cumprod"
    """w(t): "1-alphas_cumprod" (σ_t² of the SNR-equivalent VP process) or "uniform" (1)."""
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
    """The shared frame augmentation applied before encoding (see `augment_frames`)."""

    def __post_init__(self) -> None:
        if not 0 <= self.t_min <= self.t_max:
            raise ConfigError(f"sds timesteps must satisfy 0 ≤ t_min ≤ t_max, got {self.t_min}, {self.t_max}")
        if self.weighting not in ("1-alphas_cumprod", "uniform"):
            raise ConfigError(f"sds weighting must be '1-alphas_cumprod' or 'uniform', got {self.weighting!r}")
        if self.guidance_scale < 0:
            raise ConfigError(f"guidance_scale must be ≥ 0, got {self.guidance_scale}")


@dataclass
class SdsResult:
    """Surrogate losses and diagnostics of one score-distillation step (tensors: no host sync)."""

    loss_sds: Tensor
    """Scalar; its gradient w.r.t. the final latents is g_sds / B."""
    loss_flow: Tensor | None
    """Scalar or None (no pose video); gradient g_flow / B into final, −g_flow / B into pose latents."""
    timesteps: Tensor
    """[B] sampled timesteps."""
    sds_gradient: Tensor
    """[B, C, T, h, w] g_sds (detached)."""
    flow_gradient: Tensor | None
    """[B, C, T, h, w] g_flow (detached) or None."""
    prior_batch_size: int
    """Samples in the single prior call: 3B with a pose video, else 2B."""

    def diagnostics(self) -> dict[str, float]:
        """Floats for logs (synchronises with the device: call at log intervals)."""
        values = {
            "sds_t": float(self.timesteps.float().mean()),
            "sds_grad_norm": float(self.sds_gradient.norm()),
        }
        if self.flow_gradient is not None:
            values["flow_grad_norm"] = float(self.flow_gradient.norm())
        return values


def tile_latents(latents: Tensor, frame_to_pose: Tensor) -> Tensor:
    """Latents of the Q distinct poses [B, C, Q, h, w] → the N-frame video [B, C, N, h, w].

    ``frame_to_pose`` [N] (long) names the pose shown at each frame; gradients of repeated frames
    add up on their pose, so the VAE only ever encodes Q frames per video.
    """
    return latents.index_select(2, frame_to_pose.to(device=latents.device, dtype=torch.long))


def sds_weights(prior: VideoPrior, timesteps: Tensor, weighting: SdsWeighting) -> Tensor:  # [B]
    """w(t) for integer timesteps [B]."""
    if weighting == "uniform":
        return torch.ones(timesteps.shape, device=timesteps.device)
    alphas_cumprod = prior.alphas_cumprod.to(device=timesteps.device, dtype=torch.float32)
    return 1.0 - alphas_cumprod[timesteps]


def _surrogate(latents: Tensor, gradient: Tensor) -> Tensor:
    """½‖z − sg(z − g)‖² summed over elements: value ½‖g‖², gradient g."""
    target = (latents - gradient).detach()
    return 0.5 * (latents - target).square().sum()


def _check_latents(final_latents: Tensor, pose_latents: Tensor | None) -> None:
    if final_latents.dim() != 5:
        raise ValueError(f"final latents must be [B, C, T, h, w], got {tuple(final_latents.shape)}")
    if pose_latents is not None and pose_latents.shape != final_latents.shape:
        raise ValueError(f"pose latents {tuple(pose_latents.shape)} differ from final {tuple(final_latents.shape)}")


def _draw(
    config: SdsConfig, shape: torch.Size, generator: torch.Generator | None, device: torch.device
) -> tuple[Tensor, Tensor]:
    """(t [B], ε [B, C, T, h, w]) for ``shape`` = [B, C, T, h, w] from ``generator``, on ``device``."""
    sample_device = generator.device if generator is not None else device
    timesteps = torch.randint(config.t_min, config.t_max + 1, shape[:1], generator=generator, device=sample_device)
    noise = torch.randn(shape, generator=generator, device=sample_device).to(device)
    return timesteps.to(device), noise


def _predict_epsilon(
    prior: VideoPrior,
    text: TextEmbeddings,
    final_latents: Tensor,
    pose_latents: Tensor | None,
    timesteps: Tensor,
    noise: Tensor,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """One prior call on [final | negative, final | prompt, (pose | prompt)] for B clips (rows of
    ``text``, t and ε per clip) → (ε̂_u, ε̂_c of the final video, ε̂_c of the pose video), each [B, …].

    Every sample is denoised on its own (the priors normalise and attend within a sample), so a
    clip's estimates do not depend on its batch-mates beyond float reassociation in the kernels.
    """
    batch = final_latents.shape[0]
    device = final_latents.device
    text = text.expand_to(batch)
    with torch.no_grad():
        videos = [final_latents.detach().float()] + (
            [pose_latents.detach().float()] if pose_latents is not None else []
        )
        noisy = [prior.add_noise(video, noise, timesteps) for video in videos]
        samples = torch.cat([noisy[0], *noisy], dim=0)
        sample_timesteps = timesteps.repeat(len(noisy) + 1)
        embeddings = torch.cat([text.unconditional, *([text.conditional] * len(noisy))], dim=0).to(device)
        output = prior.predict_noise(samples, sample_timesteps, embeddings).to(device)
        epsilon = prior.output_to_epsilon(output, samples, sample_timesteps)
        epsilon_unconditional, epsilon_conditional, *epsilon_pose = epsilon.split(batch, dim=0)
    return epsilon_unconditional, epsilon_conditional, epsilon_pose[0] if epsilon_pose else None


def _gradients(
    prior: VideoPrior,
    config: SdsConfig,
    epsilon_unconditional: Tensor,
    epsilon_conditional: Tensor,
    epsilon_pose: Tensor | None,
    noise: Tensor,
    timesteps: Tensor,
) -> tuple[Tensor, Tensor | None]:
    """(g_sds, g_flow or None), each [B, C, T, h, w], from the noise estimates of B clips."""
    with torch.no_grad():
        guided = epsilon_unconditional + config.guidance_scale * (epsilon_conditional - epsilon_unconditional)
        weights = sds_weights(prior, timesteps, config.weighting).view(-1, 1, 1, 1, 1)
        sds_gradient = weights * (guided - noise)
        flow_gradient = weights * (epsilon_conditional - epsilon_pose) if epsilon_pose is not None else None
    return sds_gradient, flow_gradient


def _result(
    final_latents: Tensor,
    pose_latents: Tensor | None,
    sds_gradient: Tensor,
    flow_gradient: Tensor | None,
    timesteps: Tensor,
    divisor: int,
    prior_batch_size: int,
) -> SdsResult:
    """Surrogate losses (summed over latent elements, divided by ``divisor``) and diagnostics."""
    loss_sds = _surrogate(final_latents, sds_gradient) / divisor
    loss_flow = None
    if pose_latents is not None and flow_gradient is not None:
        loss_flow = (_surrogate(final_latents, flow_gradient) + _surrogate(pose_latents, -flow_gradient)) / divisor
    return SdsResult(
        loss_sds=loss_sds,
        loss_flow=loss_flow,
        timesteps=timesteps,
        sds_gradient=sds_gradient,
        flow_gradient=flow_gradient,
        prior_batch_size=prior_batch_size,
    )


def score_distillation(
    prior: VideoPrior,
    text: TextEmbeddings,
    final_latents: Tensor,
    pose_latents: Tensor | None = None,
    config: SdsConfig = SdsConfig(),
    generator: torch.Generator | None = None,
) -> SdsResult:
    """SDS on the final video and, given the pose video, the flow-matching estimator.

    final_latents, pose_latents: [B, C, T, h, w] (from `VideoPrior.encode_frames` + `tile_latents`);
    text: embeddings of 1 or B prompts; generator: source of t and ε (any device). The losses are
    averaged over the B clips (see `score_distillation_clips` for clips with their own generators).
    """
    _check_latents(final_latents, pose_latents)
    if config.t_max >= prior.num_train_timesteps:
        raise ConfigError(f"t_max {config.t_max} ≥ the prior's {prior.num_train_timesteps} training timesteps")
    batch = final_latents.shape[0]
    timesteps, noise = _draw(config, final_latents.shape, generator, final_latents.device)
    estimates = _predict_epsilon(prior, text, final_latents, pose_latents, timesteps, noise)
    sds_gradient, flow_gradient = _gradients(prior, config, *estimates, noise, timesteps)
    samples = batch * (3 if pose_latents is not None else 2)
    return _result(final_latents, pose_latents, sds_gradient, flow_gradient, timesteps, batch, samples)


@dataclass(frozen=True)
class GuidanceRequest:
    """One clip's share of a lockstep prior call (docs/method.md §10)."""

    text: TextEmbeddings
    """The clip's prompt and negative prompt (one row)."""
    final_latents: Tensor
    """[1, C, T, h, w] latents of the final video (differentiable)."""
    pose_latents: Tensor | None
    """[1, C, T, h, w] latents of the pose-only video, or None (no flow term)."""
    config: SdsConfig
    """The clip's score-distillation settings."""
    generator: torch.Generator | None
    """The clip's own source of t and ε: its draws never depend on its batch-mates."""


def score_distillation_clips(
    prior: VideoPrior, requests: Sequence[GuidanceRequest], pad_to: int | None = None
) -> list[SdsResult]:
    """SDS (and the flow estimator) for K clips in ONE prior call over K×3 (or K×2) samples.

    Each clip draws t and ε from its own generator, exactly as `score_distillation` does for it
    alone, and gets its own loss, summed over its latent elements (not averaged over the batch),
    so ∂L_k/∂z_k is the single-clip gradient g_k. All clips must have the pose video or none.

    ``pad_to``: the prior call carries that many clips' samples whatever K (a compiled denoiser
    then sees one shape and never recompiles, docs/method.md §10); the missing slots are copies
    of clip 0's detached latents and text with a constant t (``t_max``) and ε = 0, never drawn
    from any clip's generator, and their outputs are discarded. `ConfigError` if K > ``pad_to``.
    """
    if pad_to is not None and pad_to < len(requests):
        raise ConfigError(f"pad_to {pad_to} < the {len(requests)} clips of this lockstep prior call")
    if not requests:
        return []
    with_pose = requests[0].pose_latents is not None
    draws = []
    for index, request in enumerate(requests):
        _check_latents(request.final_latents, request.pose_latents)
        if request.final_latents.shape[0] != 1 or request.final_latents.shape != requests[0].final_latents.shape:
            raise ValueError(
                f"clip {index}: final latents {tuple(request.final_latents.shape)} must be one clip shaped as "
                f"clip 0's {tuple(requests[0].final_latents.shape)}"
            )
        if (request.pose_latents is not None) != with_pose:
            raise ValueError(f"clip {index}: all clips of a lockstep call need the pose video, or none")
        if request.config.t_max >= prior.num_train_timesteps:
            raise ConfigError(
                f"clip {index}: t_max {request.config.t_max} ≥ the prior's "
                f"{prior.num_train_timesteps} training timesteps"
            )
        draws.append(
            _draw(request.config, request.final_latents.shape, request.generator, request.final_latents.device)
        )
    slots = list(requests)
    if pad_to is not None and pad_to > len(requests):
        # Padding slots: clip 0's inputs, detached (no gradient reaches it through a copy), with
        # constants for t and ε so no clip's generator advances; their outputs are discarded.
        head = requests[0]
        pad = GuidanceRequest(
            head.text,
            head.final_latents.detach(),
            head.pose_latents.detach() if head.pose_latents is not None else None,
            head.config,
            None,
        )
        timesteps_0, noise_0 = draws[0]
        constant = (torch.full_like(timesteps_0, head.config.t_max), torch.zeros_like(noise_0))
        slots += [pad] * (pad_to - len(requests))
        draws += [constant] * (pad_to - len(requests))
    timesteps = torch.cat([t for t, _ in draws])
    noise = torch.cat([n for _, n in draws])
    text = TextEmbeddings(
        torch.cat([r.text.conditional for r in slots]),
        torch.cat([r.text.unconditional for r in slots]),
        tuple(p for r in slots for p in r.text.prompts),
        tuple(p for r in slots for p in r.text.negative_prompts),
    )
    final = torch.cat([r.final_latents for r in slots])
    pose = torch.cat([r.pose_latents for r in slots if r.pose_latents is not None]) if with_pose else None
    unconditional, conditional, pose_estimate = _predict_epsilon(prior, text, final, pose, timesteps, noise)
    samples = len(slots) * (3 if with_pose else 2)
    results = []
    for k, request in enumerate(requests):
        # Per clip, on its own rows: the clip's config, and a loss (and gradient) that is its own.
        rows = slice(k, k + 1)
        sds_gradient, flow_gradient = _gradients(
            prior,
            request.config,
            unconditional[rows],
            conditional[rows],
            pose_estimate[rows] if pose_estimate is not None else None,
            noise[rows],
            timesteps[rows],
        )
        results.append(
            _result(
                request.final_latents, request.pose_latents, sds_gradient, flow_gradient, timesteps[rows], 1, samples
            )
        )
    return results
