"""The video-prior interface (docs/method.md §8): what score distillation needs from a diffusion model.

A prior turns text into embeddings, frames into latents (differentiably, weights frozen) and
noisy latents into its raw prediction. Everything schedule-related is described by a
`NoiseSchedule` (z_t = α_t z + σ_t ε), so ε-, v- and flow-velocity models map to the same
noise estimate ε̂ and therefore to the same SDS gradient.

Priors register a factory under a name in `PRIORS`; `load_prior("modelscope:/weights")` builds
one from a spec string ``NAME[:ARGUMENT]``.
"""

from __future__ import annotations

import abc
import functools
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from flexiclip_core.errors import ConfigError
from flexiclip_core.guidance.text import PromptBank, PromptEncoder, TextEmbeddingCache
from flexiclip_core.registry import Registry

log = logging.getLogger(__name__)

PredictionType = Literal["epsilon", "v_prediction", "flow"]
PREDICTION_TYPES: tuple[str, ...] = ("epsilon", "v_prediction", "flow")
FrameEncoding = Literal["per_frame", "causal_video"]
"""How a prior's VAE sees time (docs/priors.md): "per_frame" encodes each frame on its own, so
the distinct poses are encoded once and their latents tiled; "causal_video" compresses time
(latent frame j depends on frames ≤ 4j), so the whole N = 4k + 1 frame video is encoded in one call."""
NOT_APPLICABLE_LICENCE = "n/a"
"""Licence of the test priors, which ship no weights."""
FINGERPRINT_WINDOW_BYTES = 1 << 20
"""Bytes hashed at the start, middle and end of each weight file by `weights_fingerprint`."""


def default_device() -> torch.device:
    """CUDA when available, else CPU (chosen at run time, never hard-coded; see `resolve_device`)."""
    from flexiclip_core.devices import resolve_device

    return resolve_device("auto")


def scaled_linear_alphas_cumprod(
    num_train_timesteps: int = 1000, beta_start: float = 0.00085, beta_end: float = 0.012
) -> Tensor:  # [T_train] float64
    """ᾱ_t of the "scaled_linear" β schedule used by Stable Diffusion and ModelScope T2V."""
    betas = torch.linspace(beta_start**0.5, beta_end**0.5, num_train_timesteps, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0)


def shifted_flow_sigmas(num_train_timesteps: int = 1000, shift: float = 1.0) -> Tensor:  # [T_train] float64
    """σ_t of a flow-matching model at its training timesteps t = 0 … T−1, ascending.

    σ = s·u / (1 + (s − 1)·u) with u = (t + 1)/T: the timestep shift s of diffusers'
    FlowMatchEulerDiscreteScheduler (and of Wan's flow_shift), which spends more of a uniform
    draw of t at high noise when s > 1. The network is conditioned on T·σ (docs/priors.md).
    """
    if shift <= 0:
        raise ConfigError(f"timestep shift must be > 0, got {shift}")
    uniform = torch.arange(1, num_train_timesteps + 1, dtype=torch.float64) / num_train_timesteps
    return shift * uniform / (1.0 + (shift - 1.0) * uniform)


@dataclass(frozen=True)
class NoiseSchedule:
    """Forward process z_t = α_t z + σ_t ε at the integer training timesteps t ∈ {0 … T_train−1}."""

    signal_scales: Tensor
    """α_t, [T_train] float64 on CPU."""
    noise_scales: Tensor
    """σ_t, [T_train] float64 on CPU."""

    @classmethod
    def variance_preserving(cls, alphas_cumprod: Tensor) -> NoiseSchedule:
        """DDPM/DDIM schedule: α_t = √ᾱ_t, σ_t = √(1−ᾱ_t)."""
        alphas_cumprod = torch.as_tensor(alphas_cumprod, dtype=torch.float64).cpu()
        return cls(alphas_cumprod.sqrt(), (1.0 - alphas_cumprod).sqrt())

    @classmethod
    def rectified_flow(cls, sigmas: Tensor) -> NoiseSchedule:
        """Flow matching / rectified flow: z_t = (1−σ_t) z + σ_t ε."""
        sigmas = torch.as_tensor(sigmas, dtype=torch.float64).cpu()
        return cls(1.0 - sigmas, sigmas)

    @property
    def num_train_timesteps(self) -> int:
        return int(self.signal_scales.shape[0])

    @property
    def alphas_cumprod(self) -> Tensor:  # [T_train]
        """ᾱ_t of the variance-preserving process with the same signal-to-noise ratio.

        Equal to the scheduler's ᾱ for DDPM-style schedules; for flow schedules it is
        α²/(α²+σ²), the ᾱ at which a VP model would see the same SNR (ε̂ does not depend on
        the overall scale of z_t, so SDS weights defined on ᾱ carry over unchanged).
        """
        signal = self.signal_scales**2
        return signal / (signal + self.noise_scales**2)

    def scales_at(self, timesteps: Tensor, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
        """(α_t, σ_t) for integer ``timesteps`` [N], on the timesteps' device."""
        index = timesteps.long()
        signal = self.signal_scales.to(device=index.device, dtype=dtype)[index]
        noise = self.noise_scales.to(device=index.device, dtype=dtype)[index]
        return signal, noise


@dataclass(frozen=True)
class TextEmbeddings:
    """Encoded prompts of a batch of clips (one row per clip, or one row broadcast to all)."""

    conditional: Tensor
    """[P, L, D] embeddings of the prompts."""
    unconditional: Tensor
    """[P, L, D] embeddings of the negative prompts ("" when none)."""
    prompts: tuple[str, ...]
    """The prompts, for logs and provenance."""
    negative_prompts: tuple[str, ...]
    """The negative prompts."""

    def expand_to(self, batch: int) -> TextEmbeddings:
        """Rows repeated to ``batch`` clips (P must be 1 or ``batch``)."""
        rows = self.conditional.shape[0]
        if rows == batch:
            return self
        if rows != 1:
            raise ValueError(f"text embeddings hold {rows} prompts but the batch has {batch} clips")
        return TextEmbeddings(
            self.conditional.expand(batch, -1, -1),
            self.unconditional.expand(batch, -1, -1),
            self.prompts * batch,
            self.negative_prompts * batch,
        )


class VideoPrior(abc.ABC):
    """A frozen text-to-video latent diffusion model used only as a source of score estimates."""

    name: str
    """Registry name ("tiny", "modelscope", "analytic-gaussian")."""
    description: str
    """One line for catalogs and reports; untrained priors say so."""
    identifier: str
    """What exactly made a result (model id + revision / local path, or the test prior + seed)."""
    is_trained: bool
    """False for test priors whose motion means nothing."""
    prediction_type: PredictionType
    """What the model outputs: noise ε, velocity v = α ε − σ z, or flow velocity u = ε − z."""
    schedule: NoiseSchedule
    """The forward process the model was trained with."""
    latent_scale: int
    """Spatial downsampling of the encoder (8 for the Stable Diffusion VAE)."""
    latent_channels: int
    """Channels of the latents (4)."""
    device: torch.device
    """Where the prior's models live and where it returns tensors."""
    licence: str = NOT_APPLICABLE_LICENCE
    """SPDX-style licence of the weights ("CC-BY-NC-4.0", "Apache-2.0"; "n/a" for test priors),
    carried into every output row, since outputs inherit the model licence's obligations."""
    frame_encoding: FrameEncoding = "per_frame"
    """Whether the VAE encodes frames independently or the video jointly and causally."""
    temporal_compression: int = 1
    """Frames per latent frame after the first (4 for the Wan VAE; 1 for per-frame VAEs)."""

    weights_directory: Path | None = None
    """The local folder the weights were loaded from (None for priors without weight files)."""

    @functools.cached_property
    def result_key(self) -> str:
        """What identifies this prior in a result's idempotency key: its name, plus
        ``@<weights_fingerprint>`` when it was loaded from weight files, so that other weights
        under the same name (a new download, a fine-tune) make new results instead of skipping."""
        if self.weights_directory is None:
            return self.name
        return f"{self.name}@{weights_fingerprint(self.weights_directory)}"

    @property
    def commercially_usable(self) -> bool:
        """True when the licence allows commercial use (not a non-commercial licence, not a test prior)."""
        return self.licence != NOT_APPLICABLE_LICENCE and "-NC" not in self.licence.upper()

    def latent_frame_count(self, frame_count: int) -> int:
        """Latent frames of an N-frame video; `ConfigError` when a causal VAE cannot take N."""
        if self.frame_encoding == "per_frame":
            return frame_count
        step = self.temporal_compression
        if frame_count < 1 or (frame_count - 1) % step:
            raise ConfigError(
                f"prior {self.name!r}: its causal video VAE needs N = {step}k + 1 frames, got {frame_count} "
                f"(e.g. schedule.frame_count=25, schedule.hold_turns=false: rest pose + 24)"
            )
        return (frame_count - 1) // step + 1

    @property
    def alphas_cumprod(self) -> Tensor:  # [T_train]
        return self.schedule.alphas_cumprod

    @property
    def num_train_timesteps(self) -> int:
        return self.schedule.num_train_timesteps

    prompt_encoder: PromptEncoder | None = None
    """The prior's text encoder on its own (None for priors without one, e.g. the analytic ones)."""
    text_cache: TextEmbeddingCache | None = None
    """Where its prompt embeddings are looked up before the text encoder is asked."""

    def provide_text_embeddings(self, bank: PromptBank) -> int:
        """Take a run's embeddings (made once, before the workers start: docs/priors.md), so that
        `encode_text` never loads the text encoder for their prompts. A bank made by another text
        model is ignored with a warning. Returns how many embeddings were taken."""
        if self.prompt_encoder is None or self.text_cache is None:
            return 0
        if bank.model_key != self.prompt_encoder.model_key:
            log.warning(
                "prior %s: ignoring the run's text embeddings, made by another text model (%s, not %s)",
                self.name,
                bank.model_key,
                self.prompt_encoder.model_key,
            )
            return 0
        for prompt, embedding in bank.embeddings.items():
            self.text_cache.remember(self.prompt_encoder.key(prompt), embedding)
        return len(bank.embeddings)

    @abc.abstractmethod
    def encode_text(self, prompts: list[str], negative: list[str] | None = None) -> TextEmbeddings:
        """Embeddings [P, L, D] of the prompts and of the negatives ("" by default); no grad.

        Costly for real priors: callers encode once per prompt and keep the result.
        """

    @abc.abstractmethod
    def encode_frames(self, frames: Tensor) -> Tensor:
        """Frames [B, T, 3, H, W] in [0, 1] over white → latents [B, C, T', H/s, W/s] (float32).

        T' = T for per-frame VAEs; for causal video VAEs T = 4k + 1 frames of one video in order
        and T' = k + 1 (`latent_frame_count`). Differentiable w.r.t. ``frames`` only: the
        encoder's weights are frozen.
        """

    @abc.abstractmethod
    def predict_noise(self, noisy_latents: Tensor, timesteps: Tensor, text_embeddings: Tensor) -> Tensor:
        """Raw model output (of ``prediction_type``) for noisy latents [N, C, T, h, w] at integer
        ``timesteps`` [N] with text embeddings [N, L, D]; float32, computed without grad."""

    def add_noise(self, latents: Tensor, noise: Tensor, timesteps: Tensor) -> Tensor:
        """z_t = α_t z + σ_t ε for latents/noise [N, C, T, h, w] and timesteps [N]."""
        signal, sigma = self.schedule.scales_at(timesteps.to(latents.device), latents.dtype)
        shape = (-1,) + (1,) * (latents.dim() - 1)
        return signal.view(shape) * latents + sigma.view(shape) * noise

    def output_to_epsilon(self, model_output: Tensor, noisy_latents: Tensor, timesteps: Tensor) -> Tensor:
        """Noise estimate ε̂ from the raw model output (all [N, C, T, h, w]), for any prediction type.

        ε:  ε̂ = output.
        v:  v = α ε − σ z₀ and z_t = α z₀ + σ ε with α² + σ² = 1  ⇒  ε̂ = α v + σ z_t.
        flow: u = ε − z₀ and z_t = (1−σ) z₀ + σ ε  ⇒  ε̂ = z_t + (1−σ) u.
        """
        if self.prediction_type == "epsilon":
            return model_output
        signal, sigma = self.schedule.scales_at(timesteps.to(model_output.device), model_output.dtype)
        shape = (-1,) + (1,) * (model_output.dim() - 1)
        signal, sigma = signal.view(shape), sigma.view(shape)
        if self.prediction_type == "v_prediction":
            # General form for α² + σ² ≠ 1: ε̂ = (α v + σ z_t) / (α² + σ²).
            return (signal * model_output + sigma * noisy_latents) / (signal**2 + sigma**2)
        if self.prediction_type == "flow":
            return noisy_latents + signal * model_output
        raise ConfigError(f"prior {self.name!r}: unknown prediction type {self.prediction_type!r}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.identifier!r}, prediction={self.prediction_type}, device={self.device})"


PriorFactory = Callable[[str | None, torch.device | None], VideoPrior]
"""Builds a prior from the optional argument of its spec (``NAME:ARGUMENT``) and a device."""

PRIORS: Registry[PriorFactory] = Registry("prior")
"""Prior factories by name; filled when `flexiclip_core.guidance` is imported."""


def load_prior(spec: str, device: torch.device | str | None = None) -> VideoPrior:
    """Build the prior named by ``spec`` (``tiny``, ``modelscope``, ``modelscope:/path``,
    ``analytic-gaussian:flow`` ...) on ``device`` (default: CUDA when available)."""
    name, _, argument = spec.partition(":")
    factory = PRIORS.get(name.strip())
    return factory(argument or None, torch.device(device) if device is not None else None)


def weights_fingerprint(root: Path) -> str:
    """16 hex digits identifying the files under ``root``: each file's relative path, size and
    the sha256 of three `FINGERPRINT_WINDOW_BYTES` windows (start, middle, end).

    Cheap for multi-GiB weights (a few MiB read per file) and it changes with any re-export,
    conversion or fine-tune in practice (every tensor byte changes, so every window does);
    a file edited only outside the windows would keep it, which weight files never are.
    Symlinks are followed (a Hugging Face snapshot links into its blob store).
    """
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file() and not p.name.startswith(".")):
        size = path.stat().st_size
        digest.update(f"{path.relative_to(root).as_posix()}\0{size}\0".encode())
        with path.open("rb") as handle:
            for start in sorted(
                {0, max(0, size // 2 - FINGERPRINT_WINDOW_BYTES // 2), max(0, size - FINGERPRINT_WINDOW_BYTES)}
            ):
                handle.seek(start)
                digest.update(handle.read(FINGERPRINT_WINDOW_BYTES))
    return digest.hexdigest()[:16]
