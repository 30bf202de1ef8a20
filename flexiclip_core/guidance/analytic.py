"""An analytic prior: the exact denoiser of a Gaussian data distribution in latent space.

If the latents z₀ ~ N(μ, s²I) and z_t = α_t z₀ + σ_t ε, then z_t ~ N(α μ, (α² s² + σ²) I) and
the optimal (MMSE) predictions are linear in z_t:

    ε*(z_t)  = E[ε | z_t]  = σ (z_t − α μ) / (α² s² + σ²)
    ẑ₀(z_t)  = E[z₀ | z_t] = μ + α s² (z_t − α μ) / (α² s² + σ²)

(for the VP schedule α² = ᾱ, σ² = 1 − ᾱ: ε* = √(1−ᾱ)(z_t − √ᾱ μ)/(ᾱ s² + 1 − ᾱ)). The prior
outputs ε*, v* = α ε* − σ ẑ₀ or the flow velocity u* = ε* − ẑ₀ as asked, so the ε/v/flow
conversions are checked against one exact answer, and SDS with it provably pulls latents to μ:
E_ε[ε*(α z + σ ε) − ε] = α σ (z − μ) / (α² s² + σ²).

With ``temporal_compression`` k > 1 the encoder is causal in time like the Wan VAE and, like it,
trades time for channels: latent frame j stacks the 4-channel latents of frames k(j−1)+1 … kj
into 4k channels (latent frame 0: frame 0, repeated), so videos of N = k·m + 1 frames are
encoded jointly into m + 1 latent frames (the path `ClipAnimator` takes for causal video
priors). Stacking loses nothing, so the known answer stays exact.

Text conditioning is a scalar c per sample: the data mean is μ_u + c (μ − μ_u), with c = 1 for
prompts and 0 for negatives; μ_u defaults to μ (a text-agnostic prior, so CFG changes nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from flexiclip_core.errors import ConfigError
from flexiclip_core.guidance.base import (
    PREDICTION_TYPES,
    PRIORS,
    NoiseSchedule,
    PredictionType,
    TextEmbeddings,
    VideoPrior,
    default_device,
    scaled_linear_alphas_cumprod,
    shifted_flow_sigmas,
)

# Fixed RGB → 4-channel latent map (rows: latent channels): three colour channels and luminance.
CHANNEL_MAP: tuple[tuple[float, float, float], ...] = (
    (1.0, 0.0, 0.0),
    (0.0, 1.0, 0.0),
    (0.0, 0.0, 1.0),
    (1 / 3, 1 / 3, 1 / 3),
)


@dataclass(frozen=True)
class AnalyticGaussianConfig:
    """The analytic Gaussian prior's parameters."""

    prediction_type: PredictionType = "epsilon"
    """What it outputs: ε*, v* or the flow velocity u* (same exact denoiser)."""
    data_std: float = 0.5
    """s, the per-coordinate standard deviation of the latent data distribution."""
    num_train_timesteps: int = 1000
    """Length of the noise schedule (scaled-linear VP for ε/v, shifted σ_t for flow)."""
    timestep_shift: float = 1.0
    """Flow only: σ_t = s·u/(1 + (s−1)·u), u = (t+1)/T (`shifted_flow_sigmas`; Wan uses 3)."""
    temporal_compression: int = 1
    """1: frames encoded one by one; k > 1: causal video encoder averaging k frames per latent frame."""


class AnalyticGaussianPrior(VideoPrior):
    """Exact denoiser of N(μ, s²I) over latents produced by a fixed average-pooling encoder."""

    latent_scale = 8
    latent_channels = len(CHANNEL_MAP)

    def __init__(
        self,
        mean: Tensor,
        config: AnalyticGaussianConfig = AnalyticGaussianConfig(),
        *,
        unconditional_mean: Tensor | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        """``mean`` μ: latents broadcastable to [N, 4, T, h, w] (e.g. [1, 4, T, 32, 32])."""
        if config.prediction_type not in PREDICTION_TYPES:
            raise ConfigError(f"prior 'analytic-gaussian': unknown prediction type {config.prediction_type!r}")
        if config.data_std <= 0:
            raise ConfigError(f"prior 'analytic-gaussian': data_std must be > 0, got {config.data_std}")
        if config.temporal_compression < 1:
            raise ConfigError(
                f"prior 'analytic-gaussian': temporal_compression must be ≥ 1, got {config.temporal_compression}"
            )
        self.config = config
        if config.temporal_compression > 1:
            self.frame_encoding = "causal_video"
            self.temporal_compression = config.temporal_compression
            self.latent_channels = len(CHANNEL_MAP) * config.temporal_compression
        self.device = torch.device(device) if device is not None else default_device()
        self.prediction_type = config.prediction_type
        self.name = "analytic-gaussian"
        self.description = (
            f"analytic Gaussian test prior (exact denoiser of N(mu, {config.data_std}^2 I); not a video model)"
        )
        self.identifier = f"analytic-gaussian({config.prediction_type}, s={config.data_std})"
        self.is_trained = False
        steps = config.num_train_timesteps
        if config.prediction_type == "flow":
            self.schedule = NoiseSchedule.rectified_flow(shifted_flow_sigmas(steps, config.timestep_shift))
        else:
            self.schedule = NoiseSchedule.variance_preserving(scaled_linear_alphas_cumprod(steps))
        self.mean = mean.detach().float().to(self.device)
        self.unconditional_mean = (
            unconditional_mean.detach().float().to(self.device) if unconditional_mean is not None else self.mean
        )
        self.channel_map = torch.tensor(CHANNEL_MAP, dtype=torch.float32, device=self.device)  # [4, 3]

    @classmethod
    def from_target_frames(
        cls,
        frames: Tensor,
        data_std: float = 0.5,
        prediction_type: PredictionType = "epsilon",
        device: torch.device | str | None = None,
        *,
        timestep_shift: float = 1.0,
        temporal_compression: int = 1,
    ) -> AnalyticGaussianPrior:
        """A prior whose data mean μ is the encoding of target ``frames`` [1, N, 3, H, W] in [0, 1]."""
        config = AnalyticGaussianConfig(
            prediction_type=prediction_type,
            data_std=data_std,
            timestep_shift=timestep_shift,
            temporal_compression=temporal_compression,
        )
        encoder = cls(torch.zeros(1), config, device=device)
        with torch.no_grad():
            mean = encoder.encode_frames(frames.to(encoder.device))
        return cls(mean, config, device=device)

    def encode_text(self, prompts: list[str], negative: list[str] | None = None) -> TextEmbeddings:
        negatives = list(negative) if negative is not None else [""] * len(prompts)
        count = len(prompts)
        return TextEmbeddings(
            torch.ones(count, 1, 1, device=self.device),
            torch.zeros(count, 1, 1, device=self.device),
            tuple(prompts),
            tuple(negatives),
        )

    def encode_frames(self, frames: Tensor) -> Tensor:
        """2x − 1, 8×8 average pooling, fixed 3 → 4 channel map: [B, T, 3, H, W] → [B, 4, T, H/8, W/8];
        causal (k > 1): frame 0 (repeated k times), then each next k frames, stacked in channels
        → [B, 4k, (T−1)/k + 1, h, w]."""
        if frames.dim() != 5 or frames.shape[2] != 3:
            raise ValueError(f"frames must be [B, T, 3, H, W], got {tuple(frames.shape)}")
        batch, count, _, height, width = frames.shape
        latent_frames = self.latent_frame_count(count)
        images = frames.reshape(batch * count, 3, height, width).to(self.device).float() * 2.0 - 1.0
        pooled = F.avg_pool2d(images, self.latent_scale)  # [B·T, 3, h, w]
        latents = torch.einsum("lc,nchw->nlhw", self.channel_map, pooled)
        latents = latents.reshape(batch, count, *latents.shape[1:]).permute(0, 2, 1, 3, 4)  # [B, 4, T, h, w]
        if self.frame_encoding == "per_frame":
            return latents
        step = self.temporal_compression
        channels, size = latents.shape[1], latents.shape[3:]
        # [B, 4, 1 + m·k, h, w] → [B, 4, m + 1, k, h, w] (frame 0 fills its own chunk) → [B, 4k, m + 1, h, w]
        chunks = torch.cat([latents[:, :, :1].expand(-1, -1, step, -1, -1), latents[:, :, 1:]], dim=2)
        chunks = chunks.reshape(batch, channels, latent_frames, step, *size)
        return chunks.permute(0, 3, 1, 2, 4, 5).reshape(batch, step * channels, latent_frames, *size)

    def optimal_predictions(
        self, noisy_latents: Tensor, timesteps: Tensor, text_embeddings: Tensor
    ) -> tuple[Tensor, Tensor]:
        """(ε*, ẑ₀) for noisy latents [N, C, T, h, w], timesteps [N], embeddings [N, 1, 1]."""
        signal, sigma = self.schedule.scales_at(timesteps.to(self.device), torch.float32)
        shape = (-1,) + (1,) * (noisy_latents.dim() - 1)
        signal, sigma = signal.view(shape), sigma.view(shape)
        weight = text_embeddings.to(self.device).float().reshape(shape)
        mean = self.unconditional_mean + weight * (self.mean - self.unconditional_mean)
        deviation = noisy_latents.to(self.device).float() - signal * mean
        variance = signal**2 * self.config.data_std**2 + sigma**2
        epsilon = sigma * deviation / variance
        clean = mean + signal * self.config.data_std**2 * deviation / variance
        return epsilon, clean

    @torch.no_grad()
    def predict_noise(self, noisy_latents: Tensor, timesteps: Tensor, text_embeddings: Tensor) -> Tensor:
        epsilon, clean = self.optimal_predictions(noisy_latents, timesteps, text_embeddings)
        if self.prediction_type == "epsilon":
            return epsilon
        if self.prediction_type == "flow":
            return epsilon - clean
        signal, sigma = self.schedule.scales_at(timesteps.to(self.device), torch.float32)
        shape = (-1,) + (1,) * (epsilon.dim() - 1)
        return signal.view(shape) * epsilon - sigma.view(shape) * clean


@PRIORS.register("analytic-gaussian")
def _analytic_from_spec(argument: str | None, device: torch.device | None) -> VideoPrior:
    """``analytic-gaussian[:PREDICTION_TYPE]``: zero data mean (tests build μ from target frames)."""
    prediction_type = argument or "epsilon"
    if prediction_type not in PREDICTION_TYPES:
        raise ConfigError(
            f"prior 'analytic-gaussian:{argument}': prediction type must be one of {', '.join(PREDICTION_TYPES)}"
        )
    config = AnalyticGaussianConfig(prediction_type=prediction_type)  # type: ignore[arg-type]
    return AnalyticGaussianPrior(torch.zeros(1, 4, 1, 1, 1), config, device=device)
