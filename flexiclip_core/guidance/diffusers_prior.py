"""A `VideoPrior` over diffusers components: UNet3DConditionModel + AutoencoderKL + CLIP text encoder.

Shared by the real ModelScope prior and the tiny random-weight test prior, so the test prior
exercises exactly the code path the real one runs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from flexiclip_core.errors import PriorUnavailable
from flexiclip_core.guidance.base import NoiseSchedule, PredictionType, TextEmbeddings, VideoPrior
from flexiclip_core.guidance.text import PromptEncoder, TextEmbeddingCache, embed_prompts

log = logging.getLogger(__name__)


def default_dtypes(device: torch.device) -> tuple[torch.dtype, torch.dtype]:
    """(UNet + text encoder dtype, VAE dtype) for a device.

    CUDA: UNet in fp16 (it is only ever run forward, as ModelScope was released); VAE in bf16
    where supported, since the Stable Diffusion VAE overflows in fp16 and bf16 has fp32's range;
    else fp32. CPU: fp32 throughout.
    """
    if device.type == "cuda":
        vae_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        return torch.float16, vae_dtype
    return torch.float32, torch.float32


def schedule_from_scheduler(scheduler: Any, prior_name: str) -> tuple[NoiseSchedule, PredictionType]:
    """Noise schedule and prediction type of a diffusers DDPM/DDIM-style scheduler."""
    prediction_type = getattr(scheduler.config, "prediction_type", "epsilon")
    if prediction_type not in ("epsilon", "v_prediction"):
        raise PriorUnavailable(
            f"prior {prior_name!r}: scheduler prediction type {prediction_type!r} is not supported "
            "(expected 'epsilon' or 'v_prediction')"
        )
    alphas_cumprod = getattr(scheduler, "alphas_cumprod", None)
    if alphas_cumprod is None:
        raise PriorUnavailable(f"prior {prior_name!r}: scheduler {type(scheduler).__name__} has no alphas_cumprod")
    return NoiseSchedule.variance_preserving(alphas_cumprod), prediction_type


def save_pipeline_folder(directory: str | Path, pipeline_class: str, components: dict[str, Any]) -> Path:
    """Write ``components`` (name → diffusers/transformers object) as a diffusers pipeline folder:
    one ``save_pretrained`` sub-folder each and a ``model_index.json`` naming each one's library
    and class, as ``DiffusionPipeline.save_pretrained`` does. Returns the folder."""
    import diffusers

    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    index: dict[str, Any] = {"_class_name": pipeline_class, "_diffusers_version": diffusers.__version__}
    for name, component in components.items():
        component.save_pretrained(root / name)
        index[name] = [type(component).__module__.split(".")[0], type(component).__name__]
    (root / "model_index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return root


def _frozen(module: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """``module`` on ``device`` in ``dtype``, in eval mode, with no parameter requiring grad."""
    if any(parameter.dtype != dtype for parameter in module.parameters()):
        module = module.to(dtype=dtype)
    return module.to(device=device).eval().requires_grad_(False)


class ClipPromptEncoder(PromptEncoder):
    """A CLIP text encoder (ModelScope's, the tiny prior's) on its own, loaded on first use:
    ``max_tokens`` tokens padded to the budget, the last hidden state of every position
    (TextToVideoSDPipeline's embeddings).

    The tokenizer is given built (``tokenizer``) or as a builder (``load_tokenizer``, called on
    the first `embed`, with ``max_tokens`` then required): a run whose prompts are all in the
    cache then never imports transformers (its driver keys the cache by ``max_tokens`` alone).
    """

    def __init__(
        self,
        load_model: Callable[[], torch.nn.Module],
        tokenizer: Any = None,
        *,
        model_key: str,
        device: torch.device,
        dtype: torch.dtype,
        max_position_embeddings: int = 77,
        load_tokenizer: Callable[[], Any] | None = None,
        max_tokens: int | None = None,
    ) -> None:
        if (tokenizer is None) == (load_tokenizer is None):
            raise ValueError("ClipPromptEncoder takes a tokenizer or a load_tokenizer, not both or neither")
        if load_tokenizer is not None and max_tokens is None:
            raise ValueError("ClipPromptEncoder with load_tokenizer needs max_tokens")
        self._load_model = load_model
        self._tokenizer = tokenizer
        self._load_tokenizer = load_tokenizer
        self.model_key = model_key
        self.device = torch.device(device)
        self.dtype = dtype
        if max_tokens is None:
            max_tokens = int(getattr(tokenizer, "model_max_length", max_position_embeddings))
            if max_tokens > 4096:  # tokenizers without a limit report a huge sentinel
                max_tokens = int(max_position_embeddings)
        self.max_tokens = int(max_tokens)
        self.model: torch.nn.Module | None = None
        self.loads = 0

    @property
    def tokenizer(self) -> Any:
        """The tokenizer, built by ``load_tokenizer`` on first use when it was not given built."""
        if self._tokenizer is None:
            assert self._load_tokenizer is not None
            self._tokenizer = self._load_tokenizer()
        return self._tokenizer

    def load(self) -> torch.nn.Module:
        if self.model is None:
            self.model = _frozen(self._load_model(), self.device, self.dtype)
            self.loads += 1
        return self.model

    def release(self) -> None:
        self.model = None

    @torch.no_grad()
    def embed(self, prompts: list[str]) -> list[Tensor]:  # each [L, D] float32 on CPU
        model = self.load()
        tokens = self.tokenizer(
            prompts, padding="max_length", max_length=self.max_tokens, truncation=True, return_tensors="pt"
        )
        hidden = model(tokens.input_ids.to(self.device), return_dict=False)[0]
        return list(hidden.float().cpu())


class DiffusersVideoPrior(VideoPrior):
    """ModelScope-style text-to-video latent diffusion: frozen components, no grad into weights."""

    def __init__(
        self,
        *,
        unet: torch.nn.Module,
        vae: torch.nn.Module,
        text_encoder: torch.nn.Module | ClipPromptEncoder,
        tokenizer: Any,
        scheduler: Any,
        name: str,
        description: str,
        identifier: str,
        is_trained: bool,
        device: torch.device,
        unet_dtype: torch.dtype,
        vae_dtype: torch.dtype,
        text_cache_folder: Path | None = None,
    ) -> None:
        """``text_encoder``: the CLIP model itself, or a `ClipPromptEncoder` that loads it on the
        first uncached prompt; ``text_cache_folder``: where embeddings persist (None: memory only)."""
        self.name = name
        self.description = description
        self.identifier = identifier
        self.is_trained = is_trained
        self.device = torch.device(device)
        self.unet_dtype = unet_dtype
        self.vae_dtype = vae_dtype
        self.schedule, self.prediction_type = schedule_from_scheduler(scheduler, name)
        self.scheduler = scheduler
        self.tokenizer = tokenizer
        # Frozen: the UNet is never differentiated, the VAE only w.r.t. its input (docs/method.md §8).
        self.unet = _frozen(unet, self.device, unet_dtype)
        self.vae = _frozen(vae, self.device, vae_dtype)
        if isinstance(text_encoder, ClipPromptEncoder):
            self.prompt_encoder = text_encoder
        else:
            module = text_encoder
            self.prompt_encoder = ClipPromptEncoder(
                lambda: module,
                tokenizer,
                model_key=identifier,
                device=self.device,
                dtype=unet_dtype,
                max_position_embeddings=int(module.config.max_position_embeddings),
            )
        self.text_cache = TextEmbeddingCache(text_cache_folder)
        self.latent_channels = int(self.vae.config.latent_channels)
        self.latent_scale = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.scaling_factor = float(self.vae.config.scaling_factor)
        shift = getattr(self.vae.config, "shift_factor", None)
        self.shift_factor = float(shift) if shift is not None else 0.0
        self.max_text_tokens = self.prompt_encoder.max_tokens

    @property
    def text_encoder(self) -> torch.nn.Module:
        """The CLIP text model (loaded now if it was not)."""
        return self.prompt_encoder.load()

    def _embed(self, prompts: list[str]) -> Tensor:  # [P, L, D] float32 on the device
        found = embed_prompts(self.prompt_encoder, self.text_cache, prompts, release=False)
        return torch.stack([found[prompt] for prompt in prompts]).to(self.device)

    def encode_text(self, prompts: list[str], negative: list[str] | None = None) -> TextEmbeddings:
        negatives = list(negative) if negative is not None else [""] * len(prompts)
        if len(negatives) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(negatives)} negative prompts")
        embedded = self._embed(list(prompts) + negatives)
        count = len(prompts)
        return TextEmbeddings(embedded[:count], embedded[count:], tuple(prompts), tuple(negatives))

    def encode_frames(self, frames: Tensor) -> Tensor:
        if frames.dim() != 5 or frames.shape[2] != 3:
            raise ValueError(f"frames must be [B, T, 3, H, W], got {tuple(frames.shape)}")
        batch, count, _, height, width = frames.shape
        if height % self.latent_scale or width % self.latent_scale:
            raise ValueError(f"frame size {height}x{width} is not a multiple of {self.latent_scale}")
        images = frames.reshape(batch * count, 3, height, width).to(self.device) * 2.0 - 1.0
        # The posterior mean, not a sample as the reference (docs/method.md §12).
        moments = self.vae.encode(images.to(self.vae_dtype)).latent_dist.mean
        latents = (moments.float() - self.shift_factor) * self.scaling_factor  # [B·T, C, h, w]
        latents = latents.reshape(batch, count, *latents.shape[1:])
        return latents.permute(0, 2, 1, 3, 4)  # [B, C, T, h, w]

    @torch.no_grad()
    def predict_noise(self, noisy_latents: Tensor, timesteps: Tensor, text_embeddings: Tensor) -> Tensor:
        output = self.unet(
            noisy_latents.to(device=self.device, dtype=self.unet_dtype),
            timesteps.to(self.device),
            encoder_hidden_states=text_embeddings.to(device=self.device, dtype=self.unet_dtype),
            return_dict=False,
        )[0]
        return output.float()
