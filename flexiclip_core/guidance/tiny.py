"""The tiny test prior: ModelScope's diffusers classes at toy size with seeded random weights.

Same classes and same code path as the real prior (4-channel latents, 77-token text embeddings,
the same schedulers), so tests and smoke runs exercise the real pipeline on a CPU. By default
its VAE down-samples 16× (256² frames → 16² latents) where ModelScope's does 8×: the UNet's
temporal input transformer runs over every latent position of every frame of the guidance
batch, and at 32² latents it alone costs about 0.5 s per iteration on two CPU threads
(`TinyPriorConfig(vae_channels=(4, 8, 8, 8))` gives the real 8× shapes, tested).
Its weights are random: the motion it produces means nothing, and every output says so.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from flexiclip_core.guidance.base import PRIORS, VideoPrior, default_device
from flexiclip_core.guidance.diffusers_prior import (
    ClipPromptEncoder,
    DiffusersVideoPrior,
    default_dtypes,
    save_pipeline_folder,
)
from flexiclip_core.guidance.text import PROMPT_ENCODERS, PromptEncoder

log = logging.getLogger(__name__)

TINY_DESCRIPTION = "tiny random-weight test prior (motion is untrained)"
TEXT_MAX_TOKENS = 77
START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"


@dataclass(frozen=True)
class TinyPriorConfig:
    """Sizes of the tiny prior (defaults: cheap on a CPU, real shapes)."""

    seed: int = 0
    """Seed of all random weights (the prior is reproducible from it)."""
    prediction_type: str = "epsilon"
    """Prediction type written into its scheduler ("epsilon" or "v_prediction")."""
    unet_channels: tuple[int, ...] = (4, 8)
    """UNet block widths; one down-sampling between consecutive blocks."""
    vae_channels: tuple[int, ...] = (2, 4, 4, 4, 4)
    """VAE block widths, one spatial halving between consecutive blocks: five blocks down-sample
    16× (the real prior's four blocks, 8×, quadruple the UNet's cost on a CPU)."""
    unet_norm_groups: int = 2
    """Group-norm groups of the UNet (divides every UNet width)."""
    vae_norm_groups: int = 2
    """Group-norm groups of the VAE (divides every VAE width)."""
    text_width: int = 32
    """Width of the text encoder and of the UNet's cross-attention."""
    attention_head_dim: int = 4
    """Per-head width of the UNet's attention; its temporal input transformer is 8 heads of it
    over every latent position, the bulk of a CPU forward."""


def byte_unicode_alphabet() -> list[str]:
    """The 256 printable characters byte-level BPE uses to stand for the bytes 0…255, in byte order.

    Printable Latin-1 bytes stand for themselves; the others are shifted above U+0100 so that no
    byte maps to whitespace or a control character (the alphabet of the tokenizers ByteLevel
    pre-tokenizer and of CLIP's vocabulary).
    """
    printable = (
        set(range(ord("!"), ord("~") + 1)) | set(range(ord("¡"), ord("¬") + 1)) | set(range(ord("®"), ord("ÿ") + 1))
    )
    alphabet: list[str] = []
    shifted = 0
    for byte in range(256):
        if byte in printable:
            alphabet.append(chr(byte))
        else:
            alphabet.append(chr(256 + shifted))
            shifted += 1
    return alphabet


def build_byte_level_tokenizer() -> Any:
    """A CLIPTokenizer over single bytes (514 tokens), built offline without any vocabulary file.

    transformers 5 builds the BPE model from ``vocab=dict, merges=list`` (``vocab_file=`` is
    ignored); with no merges every byte of a word is one token and the last carries ``</w>``.
    """
    from transformers import CLIPTokenizer

    alphabet = byte_unicode_alphabet()
    vocab = {symbol: index for index, symbol in enumerate(alphabet)}
    vocab.update({symbol + "</w>": 256 + index for index, symbol in enumerate(alphabet)})
    vocab[START_TOKEN] = len(vocab)
    vocab[END_TOKEN] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=TEXT_MAX_TOKENS)


def _fill_zero_weights(module: torch.nn.Module, std: float = 0.02) -> None:
    """Give zero-initialised layers (temporal convs, output projections) small random weights, so
    every layer of the random network takes part instead of collapsing to the identity."""
    with torch.no_grad():
        for parameter in module.parameters():
            if parameter.dim() > 1 and not parameter.any():
                parameter.normal_(0.0, std)


def build_tiny_components(config: TinyPriorConfig = TinyPriorConfig()) -> dict[str, Any]:
    """The five components of a TextToVideoSDPipeline at toy size, seeded (global RNG untouched)."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet3DConditionModel

    tokenizer = build_byte_level_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        unet = UNet3DConditionModel(
            sample_size=32,
            in_channels=4,
            out_channels=4,
            block_out_channels=config.unet_channels,
            # Attention only below full resolution: the full-resolution spatial attention of the
            # real model is what makes a CPU forward expensive.
            down_block_types=("DownBlock3D",) + ("CrossAttnDownBlock3D",) * (len(config.unet_channels) - 1),
            up_block_types=("CrossAttnUpBlock3D",) * (len(config.unet_channels) - 1) + ("UpBlock3D",),
            layers_per_block=1,
            cross_attention_dim=config.text_width,
            attention_head_dim=config.attention_head_dim,
            norm_num_groups=config.unet_norm_groups,
        )
        _fill_zero_weights(unet)
        torch.manual_seed(config.seed + 1)
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            block_out_channels=config.vae_channels,
            down_block_types=("DownEncoderBlock2D",) * len(config.vae_channels),
            up_block_types=("UpDecoderBlock2D",) * len(config.vae_channels),
            layers_per_block=1,
            latent_channels=4,
            norm_num_groups=config.vae_norm_groups,
            sample_size=256,
            mid_block_add_attention=False,
        )
    scheduler = DDIMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        prediction_type=config.prediction_type,
    )
    text_encoder = build_tiny_text_encoder(config, tokenizer)
    return {"unet": unet, "vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer, "scheduler": scheduler}


def build_tiny_text_encoder(config: TinyPriorConfig, tokenizer: Any) -> torch.nn.Module:
    """The tiny prior's CLIP text encoder, seeded on its own (``config.seed + 2``; the global RNG
    untouched): the same weights whether built with the other components or alone, as the
    driver does to encode a run's prompts without building the UNet and VAE it would discard."""
    from transformers import CLIPTextConfig, CLIPTextModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed + 2)
        return CLIPTextModel(
            CLIPTextConfig(
                vocab_size=len(tokenizer),
                hidden_size=config.text_width,
                intermediate_size=2 * config.text_width,
                num_hidden_layers=2,
                num_attention_heads=4,
                max_position_embeddings=TEXT_MAX_TOKENS,
                projection_dim=config.text_width,
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        )


class TinyPrior(DiffusersVideoPrior):
    """Random-weight ModelScope architecture at toy size: for tests and smoke runs only."""

    def __init__(
        self,
        config: TinyPriorConfig = TinyPriorConfig(),
        device: torch.device | str | None = None,
        *,
        dtype: torch.dtype | None = None,
    ) -> None:
        """``dtype``: of all three networks; None: the device's defaults (`default_dtypes`).
        float64 serves exactness tests (outputs are float32 either way, as for every prior)."""
        device = torch.device(device) if device is not None else default_device()
        unet_dtype, vae_dtype = (dtype, dtype) if dtype is not None else default_dtypes(device)
        components = build_tiny_components(config)
        super().__init__(
            **components,
            name="tiny",
            description=TINY_DESCRIPTION,
            identifier=f"tiny-random(seed={config.seed})",
            is_trained=False,
            device=device,
            unet_dtype=unet_dtype,
            vae_dtype=vae_dtype,
        )
        self.config = config
        log.warning("using the %s: results are not meaningful animations", TINY_DESCRIPTION)


def _tiny_seed(argument: str | None) -> int:
    from flexiclip_core.errors import ConfigError

    if argument is None:
        return TinyPriorConfig().seed
    try:
        return int(argument)
    except ValueError:
        raise ConfigError(f"prior 'tiny:{argument}': the argument must be an integer seed") from None


@PROMPT_ENCODERS.register("tiny")
def _tiny_text_from_spec(argument: str | None, device: torch.device | None) -> PromptEncoder:
    """The tiny prior's CLIP text encoder alone (same seed, same weights as the prior's).

    Tokenizer and model are built on the first prompt the cache lacks, not here: a driver whose
    prompts are all cached imports no transformers (about 7 CPU-s of a run's start-up). The
    model is seeded, so a rebuild after `ClipPromptEncoder.release` has the same weights."""
    config = TinyPriorConfig(seed=_tiny_seed(argument))
    tokenizer = functools.cache(build_byte_level_tokenizer)
    device = torch.device(device) if device is not None else default_device()
    return ClipPromptEncoder(
        lambda: build_tiny_text_encoder(config, tokenizer()),
        model_key=f"tiny-random(seed={config.seed})",
        device=device,
        dtype=default_dtypes(device)[0],
        load_tokenizer=tokenizer,
        max_tokens=TEXT_MAX_TOKENS,
    )


@PRIORS.register("tiny")
def _tiny_from_spec(argument: str | None, device: torch.device | None) -> VideoPrior:
    """``tiny`` or ``tiny:SEED``."""
    from flexiclip_core.errors import ConfigError

    if argument is None:
        return TinyPrior(device=device)
    try:
        seed = int(argument)
    except ValueError:
        raise ConfigError(f"prior 'tiny:{argument}': the argument must be an integer seed") from None
    return TinyPrior(TinyPriorConfig(seed=seed), device=device)


def save_tiny_pipeline(directory: str | Path, config: TinyPriorConfig = TinyPriorConfig()) -> Path:
    """Write the tiny prior as a diffusers TextToVideoSDPipeline folder (ModelScope's layout).

    Lets the ModelScope loader be exercised end to end without the real weights.
    """
    return save_pipeline_folder(directory, "TextToVideoSDPipeline", build_tiny_components(config))
