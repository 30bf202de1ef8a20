"""wan-tiny: the Wan diffusers classes at toy size with seeded random weights, saved in the Wan
layout and loaded by path through the real Wan loader (`WanPrior`), for tests and smoke runs.
Labelled untrained everywhere; its motion means nothing (docs/priors.md)."""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from flexiclip_core.errors import ConfigError
from flexiclip_core.guidance.base import NOT_APPLICABLE_LICENCE, PRIORS, VideoPrior
from flexiclip_core.guidance.diffusers_prior import save_pipeline_folder
from flexiclip_core.guidance.text import PROMPT_ENCODERS, PromptEncoder
from flexiclip_core.guidance.wan import (
    WanPrior,
    WanPriorConfig,
    WanPromptEncoder,
    cache_root,
    missing_parts,
    resolve_wan_directory,
)

log = logging.getLogger(__name__)

WAN_TINY_DESCRIPTION = "wan-tiny random-weight test prior (Wan diffusers classes at toy size; motion is untrained)"


@dataclass(frozen=True)
class WanTinyConfig:
    """Sizes of the wan-tiny test prior (real layout and classes, toy widths)."""

    seed: int = 0
    """Seed of all random weights."""
    latent_channels: int = 16
    """VAE z_dim = transformer in/out channels (Wan: 16)."""
    vae_base_dim: int = 4
    """VAE base width (Wan: 96)."""
    vae_patch_size: int = 4
    """VAE input patchify (Wan2.1: none): 4 × 4 pixels per position keeps the full-resolution
    convolutions off the CPU; with two 2× stages the VAE strides 16× in space, 4× in time."""
    transformer_heads: int = 2
    """Attention heads (Wan 1.3B: 12)."""
    transformer_head_dim: int = 12
    """Per-head width (Wan: 128; divisible by 6 for the 3-axis rotary embedding)."""
    transformer_layers: int = 2
    """Transformer blocks (Wan 1.3B: 30)."""
    text_width: int = 16
    """UMT5 d_model = transformer text_dim (UMT5-XXL: 4096)."""
    timestep_shift: float = 3.0
    """flow_shift written into its UniPC scheduler config (the Diffusers repo's value at 480p)."""


def build_wan_tiny_tokenizer() -> Any:
    """A T5 (Unigram) tokenizer over single characters, built offline without any vocabulary file."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces += [(chr(code), -2.0) for code in range(32, 127)]
    pieces += [("▁" + chr(code), -1.0) for code in range(33, 127)]  # word-initial characters
    return T5Tokenizer(vocab=pieces, extra_ids=0)


def build_tiny_umt5(tokenizer: Any, width: int) -> Any:
    """A 2-layer UMT5 encoder of d_model ``width`` over ``tokenizer``'s vocabulary (random
    weights: seed torch first), the text half of every tiny Wan pipeline (T2V and VACE)."""
    from transformers import UMT5Config, UMT5EncoderModel

    return UMT5EncoderModel(
        UMT5Config(
            vocab_size=len(tokenizer),
            d_model=width,
            d_kv=4,
            d_ff=2 * width,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            decoder_start_token_id=tokenizer.pad_token_id,
        )
    )


def build_tiny_wan_vae(base_dim: int, channels: int, *, downsamples: int, patch_size: int | None = None) -> Any:
    """An `AutoencoderKLWan` at toy width (random weights: seed torch first), the VAE of every tiny
    Wan pipeline (T2V and VACE): base width ``base_dim``, ``channels`` latent channels,
    ``downsamples`` ≥ 2 stages of 2× in space, the last two also 2× in time (Wan's 4× temporal
    stride), over ``patch_size`` × ``patch_size`` pixel patches (None: none, as Wan2.1). Spatial
    stride: 2^downsamples · patch (wan-tiny: 2 stages, patch 4 → 16×; wan-vace-tiny: 3 stages, no
    patch → Wan2.1's 8×). One res block per stage, no attention scales, the latents' mean and
    std fixed (0.1·(−1)^c, 1 + 0.05·c) so normalisation is exercised."""
    from diffusers import AutoencoderKLWan

    if downsamples < 2:
        raise ConfigError(f"a tiny Wan VAE needs ≥ 2 downsampling stages (4× in time), got {downsamples}")
    patch = patch_size or 1
    return AutoencoderKLWan(
        base_dim=base_dim,
        z_dim=channels,
        dim_mult=[1] * (downsamples + 1),
        num_res_blocks=1,
        temperal_downsample=[False] * (downsamples - 2) + [True, True],
        in_channels=3 * patch * patch,
        out_channels=3 * patch * patch,
        patch_size=patch_size,
        scale_factor_spatial=2**downsamples * patch,
        scale_factor_temporal=4,
        latents_mean=[0.1 * ((-1) ** index) for index in range(channels)],
        latents_std=[1.0 + 0.05 * index for index in range(channels)],
    )


def build_wan_tiny_components(config: WanTinyConfig = WanTinyConfig()) -> dict[str, Any]:
    """Transformer, VAE, UMT5 encoder, tokenizer and scheduler of a WanPipeline at toy size (seeded)."""
    from diffusers import UniPCMultistepScheduler, WanTransformer3DModel

    from flexiclip_core.guidance.tiny import _fill_zero_weights

    tokenizer = build_wan_tiny_tokenizer()
    channels = config.latent_channels
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        transformer = WanTransformer3DModel(
            patch_size=(1, 2, 2),
            num_attention_heads=config.transformer_heads,
            attention_head_dim=config.transformer_head_dim,
            in_channels=channels,
            out_channels=channels,
            text_dim=config.text_width,
            freq_dim=16,
            ffn_dim=2 * config.transformer_heads * config.transformer_head_dim,
            num_layers=config.transformer_layers,
        )
        _fill_zero_weights(transformer)
        torch.manual_seed(config.seed + 1)
        vae = build_tiny_wan_vae(config.vae_base_dim, channels, downsamples=2, patch_size=config.vae_patch_size)
        torch.manual_seed(config.seed + 2)
        text_encoder = build_tiny_umt5(tokenizer, config.text_width)
    scheduler = UniPCMultistepScheduler(
        num_train_timesteps=1000,
        prediction_type="flow_prediction",
        use_flow_sigmas=True,
        flow_shift=config.timestep_shift,
    )
    return {
        "transformer": transformer,
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "scheduler": scheduler,
    }


def save_wan_tiny_pipeline(
    directory: str | Path, config: WanTinyConfig = WanTinyConfig(), *, dtype: torch.dtype = torch.float32
) -> Path:
    """Write wan-tiny as a WanPipeline diffusers folder (weights stored in ``dtype``)."""
    components = {
        name: component.to(dtype) if isinstance(component, torch.nn.Module) else component
        for name, component in build_wan_tiny_components(config).items()
    }
    return save_pipeline_folder(directory, "WanPipeline", components)


def wan_tiny_directory(config: WanTinyConfig = WanTinyConfig()) -> Path:
    """wan-tiny saved once under the cache folder (keyed by its sizes and diffusers version)."""
    import diffusers

    key = hashlib.sha256(json.dumps([repr(config), diffusers.__version__]).encode()).hexdigest()[:12]
    target = cache_root() / f"wan-tiny-{config.seed}-{key}"
    if target.is_dir() and not missing_parts(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".wan-tiny-"))
    save_wan_tiny_pipeline(staging, config)
    try:
        staging.rename(target)  # atomic; a parallel builder that won the race leaves its copy
    except OSError:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
    return target


class WanTinyPrior(WanPrior):
    """wan-tiny loaded by path through the real Wan loader; random weights, labelled untrained."""

    def __init__(
        self,
        config: WanTinyConfig = WanTinyConfig(),
        device: torch.device | str | None = None,
        *,
        directory: str | Path | None = None,
        text_cache_dir: str | None = None,
    ) -> None:
        root = Path(directory) if directory is not None else wan_tiny_directory(config)
        super().__init__(
            WanPriorConfig(path=str(root), text_cache_dir=text_cache_dir),
            device,
            name="wan-tiny",
            description=WAN_TINY_DESCRIPTION,
            is_trained=False,
            licence=NOT_APPLICABLE_LICENCE,
        )
        self.identifier = f"wan-tiny-random(seed={config.seed})"
        log.warning("using the %s: results are not meaningful animations", WAN_TINY_DESCRIPTION)


@PROMPT_ENCODERS.register("wan-tiny")
def _wan_tiny_text_from_spec(argument: str | None, device: torch.device | None) -> PromptEncoder:
    """wan-tiny's UMT5 alone (the saved folder's, the same the prior loads)."""
    try:
        config = WanTinyConfig(seed=int(argument)) if argument is not None else WanTinyConfig()
    except ValueError:
        raise ConfigError(f"prior 'wan-tiny:{argument}': the argument must be an integer seed") from None
    root, origin = resolve_wan_directory(str(wan_tiny_directory(config)))
    return WanPromptEncoder(root, origin, WanPriorConfig(path=str(root)), device, prior_name="wan-tiny")


@PRIORS.register("wan-tiny")
def _wan_tiny_from_spec(argument: str | None, device: torch.device | None) -> VideoPrior:
    """``wan-tiny`` or ``wan-tiny:SEED``."""
    if argument is None:
        return WanTinyPrior(device=device)
    try:
        seed = int(argument)
    except ValueError:
        raise ConfigError(f"prior 'wan-tiny:{argument}': the argument must be an integer seed") from None
    return WanTinyPrior(WanTinyConfig(seed=seed), device=device)
