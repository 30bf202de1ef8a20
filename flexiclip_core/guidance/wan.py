"""Wan2.1-T2V-1.3B (Apache-2.0) as a prior: flow-velocity transformer, causal video VAE, UMT5 text.

Where the weights come from, in order: an explicit folder (``--prior wan:PATH``), the
``FLEXICLIP_WAN_MODEL`` environment variable, then an already-populated Hugging Face cache
(``HF_HUB_CACHE`` or ``HF_HOME``/hub) holding ``Wan-AI/Wan2.1-T2V-1.3B-Diffusers``
(``models--…/snapshots/<rev>/``). Nothing is downloaded and no hub client is asked: the
folders are read from disk with ``local_files_only``. Missing parts raise `PriorUnavailable`
naming each one and how to provide it.

How the model maps onto score distillation (docs/priors.md):
- it predicts the flow velocity v ≈ ε − z₀ for z_σ = (1 − σ) z₀ + σ ε (``prediction_type="flow"``)
  and is conditioned on T·σ; the training-timestep index t ∈ {0 … 999} maps to the shifted
  σ_t of `shifted_flow_sigmas` with the shift of the folder's ``scheduler_config.json``;
- its VAE is causal in time (``frame_encoding="causal_video"``): videos of N = 4k + 1 frames are
  encoded in one call into k + 1 latent frames, normalised per channel with the VAE config's
  ``latents_mean`` / ``latents_std``;
- its UMT5-XXL text encoder (about 5.7 B parameters) is larger than the transformer: it is loaded
  only when a prompt is not in the on-disk embedding cache, on the CPU by default, and released
  after encoding, so the accelerator holds only the transformer and the VAE.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast, get_args

import torch
from torch import Tensor

from flexiclip_core.errors import ConfigError, PriorUnavailable
from flexiclip_core.guidance.base import (
    PRIORS,
    NoiseSchedule,
    TextEmbeddings,
    VideoPrior,
    default_device,
    shifted_flow_sigmas,
    weights_fingerprint,
)
from flexiclip_core.guidance.modelscope import _cached_snapshot, hub_cache_dir
from flexiclip_core.guidance.text import PROMPT_ENCODERS, PromptEncoder, TextEmbeddingCache, embed_prompts

log = logging.getLogger(__name__)

WAN_REPO_ID = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
WAN_LICENCE = "Apache-2.0"
WAN_MODEL_ENV_VAR = "FLEXICLIP_WAN_MODEL"
CACHE_ENV_VAR = "FLEXICLIP_CACHE"
WAN_VAE_DTYPE_ENV_VAR = "FLEXICLIP_WAN_VAE_DTYPE"
"""`WanPriorConfig.vae_dtype` of a Wan prior built from its spec (``wan``, ``wan:PATH``): set by
the CLI's ``--wan-vae-dtype``; a run's workers inherit it with every other ``FLEXICLIP_*``."""
"""Folder for derived data (text embeddings, the wan-tiny weights); default: the system temp dir."""
WAN_MAX_TEXT_TOKENS = 512
"""WanPipeline's ``max_sequence_length``: embeddings are [512, 4096], zero past each prompt."""
WAN_REFERENCE_PIXELS = 480 * 832
"""Frame size the scheduler's flow_shift is tuned for (WanPipeline's default 480×832)."""
WAN_1_3B_TRANSFORMER: dict[str, Any] = {
    "patch_size": (1, 2, 2),
    "num_attention_heads": 12,
    "attention_head_dim": 128,
    "in_channels": 16,
    "out_channels": 16,
    "text_dim": 4096,
    "freq_dim": 256,
    "ffn_dim": 8960,
    "num_layers": 30,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-6,
}
"""transformer/config.json of Wan2.1-T2V-1.3B (dim 1536 = 12 × 128; the original repo's config)."""
WEIGHT_SUFFIXES: tuple[str, ...] = (".safetensors", ".bin")
COMPONENTS: dict[str, str] = {
    "transformer": "diffusion_pytorch_model",
    "vae": "diffusion_pytorch_model",
    "text_encoder": "model",
}
"""Weighted components of the Wan diffusers layout and the stem of their weight files."""

HOW_TO_PROVIDE = (
    f"Wan2.1-T2V-1.3B is licensed {WAN_LICENCE}; nothing is downloaded at run time. Fetch it once, e.g. "
    f"`hf download {WAN_REPO_ID} --local-dir DIR` (diffusers layout: model_index.json, transformer/, vae/, "
    "text_encoder/, tokenizer/, scheduler/), then pass `--prior wan:DIR` or set "
    f"{WAN_MODEL_ENV_VAR}=DIR, or pre-populate the Hugging Face cache (HF_HOME / HF_HUB_CACHE) with that "
    "repository."
)

DtypeName = Literal["auto", "bfloat16", "float16", "float32"]


@dataclass(frozen=True)
class WanPriorConfig:
    """Where and how to load Wan2.1-T2V (or any model in the WanPipeline diffusers layout)."""

    path: str | None = None
    """Local diffusers folder; None: $FLEXICLIP_WAN_MODEL, then the Hugging Face cache."""
    dtype: DtypeName = "auto"
    """Transformer dtype; auto: bfloat16 on CUDA (it only runs forward), float32 on CPU."""
    vae_dtype: DtypeName = "auto"
    """VAE dtype (it is differentiated w.r.t. its input); auto: float32 on CPU and on CUDA cards
    with at least `WAN_FP32_VAE_MIN_GIB` of memory, bfloat16 on smaller cards (`wan_vae_dtype`)."""
    text_encoder_device: str = "cpu"
    """Where UMT5 runs when a prompt is not cached: "cpu" (default; the accelerator never holds
    it) or a device such as "cuda" (faster, then released when ``keep_text_encoder`` is False)."""
    text_encoder_dtype: DtypeName = "auto"
    """auto: bfloat16 on CUDA, float32 on CPU (UMT5-XXL in fp32 needs about 23 GB of RAM)."""
    keep_text_encoder: bool = False
    """Keep UMT5 loaded between prompts; False frees it after each `encode_text` that needed it."""
    text_cache_dir: str | None = None
    """Embedding cache; None: $FLEXICLIP_CACHE/text-embeddings (system temp dir when unset)."""
    max_text_tokens: int = WAN_MAX_TEXT_TOKENS
    """Tokens per prompt (WanPipeline: 512, zero-padded past each prompt's length)."""
    timestep_shift: float | None = None
    """σ shift of the timestep schedule; None: the scheduler config's flow_shift (tuned for
    480×832 frames) rescaled to ``frame_size`` by √(pixels / (480·832)), as SD3's
    resolution-dependent shift (docs/priors.md): 3 → 1.22 for 256² frames."""
    frame_size: tuple[int, int] = (256, 256)
    """Height, width of the frames the shift is rescaled to: the training renderer's default size.
    Fixed per loaded prior (its noise schedule is shared by every clip of a worker);
    `fit_config_to_prior` warns when a clip renders at another size (docs/priors.md)."""


def cache_root() -> Path:
    """$FLEXICLIP_CACHE, else <system temp>/flexiclip-cache (read now, not at import)."""
    return Path(os.environ.get(CACHE_ENV_VAR) or Path(tempfile.gettempdir()) / "flexiclip-cache")


def _weight_problems(folder: Path, stem: str) -> list[str]:
    """What the weights of one component lack: none found, or shards named by an index but absent."""
    indexes = [path for suffix in WEIGHT_SUFFIXES for path in folder.glob(f"{stem}{suffix}.index*.json")]
    for index in indexes:
        try:
            shards = set(json.loads(index.read_text())["weight_map"].values())
        except (OSError, ValueError, KeyError, TypeError):
            return [f"{folder.name}/{index.name} (unreadable shard index)"]
        absent = sorted(shard for shard in shards if not (folder / shard).is_file())
        if absent:
            return [f"{folder.name}/ weight shards {', '.join(absent)}"]
        return []
    if any(any(folder.glob(f"{stem}*{suffix}")) for suffix in WEIGHT_SUFFIXES):
        return []
    return [f"{folder.name}/ weights ({stem}*.safetensors)"]


def missing_parts(root: Path) -> list[str]:
    """What a WanPipeline diffusers folder lacks (empty when complete), one entry per part."""
    missing: list[str] = []
    for name, stem in COMPONENTS.items():
        folder = root / name
        if not (folder / "config.json").is_file():
            missing.append(f"{name}/config.json")
        if folder.is_dir():
            missing.extend(_weight_problems(folder, stem))
        else:
            missing.append(f"{name}/ weights ({stem}*.safetensors)")
    if not (root / "scheduler" / "scheduler_config.json").is_file():
        missing.append("scheduler/scheduler_config.json")
    tokenizer = root / "tokenizer"
    if not ((tokenizer / "tokenizer.json").is_file() or (tokenizer / "spiece.model").is_file()):
        missing.append("tokenizer/ (tokenizer.json or spiece.model)")
    return missing


def resolve_wan_directory(path: str | Path | None = None) -> tuple[Path, str]:
    """(folder holding the weights, what it is: path or repo id@commit); `PriorUnavailable` if none."""
    explicit = [(Path(path).expanduser(), "--prior wan:PATH")] if path else []
    if not explicit and os.environ.get(WAN_MODEL_ENV_VAR):
        explicit = [(Path(os.environ[WAN_MODEL_ENV_VAR]).expanduser(), f"${WAN_MODEL_ENV_VAR}")]
    for root, origin in explicit:
        if not root.is_dir():
            raise PriorUnavailable(f"prior 'wan': {origin} = {root} is not a directory. {HOW_TO_PROVIDE}")
        missing = missing_parts(root)
        if missing:
            raise PriorUnavailable(
                f"prior 'wan': {origin} = {root} is not a complete WanPipeline folder "
                f"(missing: {'; '.join(missing)}). {HOW_TO_PROVIDE}"
            )
        return root.resolve(), str(root.resolve())
    cache = hub_cache_dir()
    snapshot = _cached_snapshot(cache, WAN_REPO_ID)
    if snapshot is not None:
        root, commit = snapshot
        missing = missing_parts(root)
        if missing:
            raise PriorUnavailable(
                f"prior 'wan': the cached snapshot {root} of {WAN_REPO_ID} is incomplete "
                f"(missing: {'; '.join(missing)}). {HOW_TO_PROVIDE}"
            )
        return root, f"{WAN_REPO_ID}@{commit}"
    raise PriorUnavailable(
        f"prior 'wan': no weights found (no path given, ${WAN_MODEL_ENV_VAR} unset, nothing cached under "
        f"{cache}). {HOW_TO_PROVIDE}"
    )


def wan_configured() -> bool:
    """Whether Wan weights are configured here ($FLEXICLIP_WAN_MODEL set or a cached snapshot),
    complete or not: `--prior auto` then uses (or fails on) Wan and never falls back to a
    non-commercial model."""
    return bool(os.environ.get(WAN_MODEL_ENV_VAR)) or _cached_snapshot(hub_cache_dir(), WAN_REPO_ID) is not None


def flow_shift_from_scheduler(root: Path) -> tuple[float, int]:
    """(timestep shift, training timesteps) from ``scheduler/scheduler_config.json``.

    The Diffusers repackaging ships UniPCMultistepScheduler with ``use_flow_sigmas`` and
    ``flow_shift``; FlowMatchEulerDiscreteScheduler names it ``shift``. Anything else is not a
    flow-matching model this prior can drive.
    """
    path = root / "scheduler" / "scheduler_config.json"
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PriorUnavailable(f"prior 'wan': cannot read {path}: {exc}. {HOW_TO_PROVIDE}") from exc
    name = config.get("_class_name")
    steps = int(config.get("num_train_timesteps", 1000))
    if name == "FlowMatchEulerDiscreteScheduler":
        return float(config.get("shift", 1.0)), steps
    if config.get("use_flow_sigmas") and config.get("prediction_type") == "flow_prediction":
        return float(config.get("flow_shift", 1.0)), steps
    raise PriorUnavailable(
        f"prior 'wan': {path} describes {name} without flow sigmas / flow prediction; "
        "expected a flow-matching scheduler (UniPC with use_flow_sigmas, or FlowMatchEulerDiscreteScheduler)"
    )


def _dtype(name: DtypeName, device: torch.device) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return getattr(torch, name)


WAN_FP32_VAE_MIN_GIB = 64.0
"""Smallest card (total GiB) on which ``vae_dtype="auto"`` keeps the VAE in float32: one
flexiclip clip with an fp32 VAE needs about 43 GiB (tasks/batch.py `PEAK_TABLE`), 53 GiB with
the 1.25 headroom, so 80 GB cards (H100, A100-80GB) and the H200 have it to spare; 24–48 GB
cards run the VAE in bfloat16 (about 23 GiB per clip)."""


def wan_vae_dtype(name: DtypeName, device: torch.device, total_bytes: int | None) -> torch.dtype:
    """The Wan VAE's dtype: ``name`` unless "auto"; auto: float32 on CPU, and on CUDA when the
    card has at least `WAN_FP32_VAE_MIN_GIB` (``total_bytes``: its total memory; None: unknown,
    taken as small), else bfloat16 (on the tiny model bf16 moves the frame gradient by 2.7%,
    cosine 0.9997: accuracy where memory allows it, packing where it does not)."""
    if name != "auto":
        return getattr(torch, name)
    if device.type != "cuda":
        return torch.float32
    if total_bytes is not None and total_bytes >= WAN_FP32_VAE_MIN_GIB * 1024**3:
        return torch.float32
    return torch.bfloat16


def _total_memory(device: torch.device) -> int | None:
    if device.type != "cuda" or not torch.cuda.is_available():
        return None
    return int(torch.cuda.get_device_properties(device).total_memory)


class WanPromptEncoder(PromptEncoder):
    """UMT5 of a WanPipeline folder on its own, embedding prompts as `WanPipeline.encode_prompt`
    does: the pipeline's `prompt_clean`, ``max_tokens`` tokens, each prompt's own tokens kept
    (the pipeline zeroes the rest, restored by `WanPrior.prompt_embeddings`)."""

    def __init__(
        self,
        root: Path,
        origin: str,
        config: WanPriorConfig,
        device: torch.device | str | None = None,
        *,
        prior_name: str = "wan",
    ) -> None:
        self.root = root
        self.prior_name = prior_name
        self.device = torch.device(device if device is not None else config.text_encoder_device)
        self.dtype = _dtype(config.text_encoder_dtype, self.device)
        self.max_tokens = config.max_text_tokens
        self.model_key = (
            f"{origin}#{weights_fingerprint(root / 'text_encoder')}#{weights_fingerprint(root / 'tokenizer')}"
        )
        self.loads = 0
        """How often UMT5 was loaded (prompts found in a cache or a run's bank never load it)."""
        self.model: torch.nn.Module | None = None
        self.tokenizer: Any = None

    def clean(self, prompt: str) -> str:
        from diffusers.pipelines.wan.pipeline_wan import prompt_clean

        return prompt_clean(prompt)

    def load(self) -> tuple[torch.nn.Module, Any]:
        if self.model is None:
            from transformers import AutoTokenizer, UMT5EncoderModel

            root = self.root
            try:
                tokenizer = AutoTokenizer.from_pretrained(root / "tokenizer", local_files_only=True)
                encoder = UMT5EncoderModel.from_pretrained(
                    root / "text_encoder", dtype=self.dtype, local_files_only=True
                )
            except (OSError, ValueError, KeyError, RuntimeError) as exc:
                raise PriorUnavailable(
                    f"prior {self.prior_name!r}: cannot load the text encoder of {root}: {exc}"
                ) from exc
            vocabulary = int(encoder.config.vocab_size)
            # transformers can return a near-empty tokenizer instead of raising (docs/priors.md,
            # "Loading Wan"); UMT5's embedding table is padded past the tokenizer's size, never below it.
            if not 0.9 * vocabulary <= len(tokenizer) <= vocabulary:
                raise PriorUnavailable(
                    f"prior {self.prior_name!r}: tokenizer in {root / 'tokenizer'} has {len(tokenizer)} tokens, "
                    f"the text encoder's table {vocabulary}. {HOW_TO_PROVIDE}"
                )
            self.model = _frozen(encoder, self.device)
            self.tokenizer = tokenizer
            self.loads += 1
        return self.model, self.tokenizer

    def release(self) -> None:
        if self.model is not None:
            device = next(self.model.parameters()).device
            self.model = None
            self.tokenizer = None
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()

    @torch.no_grad()
    def embed(self, prompts: list[str]) -> list[Tensor]:  # each [L_i, D] float32 on CPU
        encoder, tokenizer = self.load()
        tokens = tokenizer(
            [self.clean(prompt) for prompt in prompts],
            padding="max_length",
            max_length=self.max_tokens,
            truncation=True,
            add_special_tokens=True,
            return_attention_mask=True,
            return_tensors="pt",
        )
        mask = tokens.attention_mask
        hidden = encoder(tokens.input_ids.to(self.device), mask.to(self.device)).last_hidden_state.float().cpu()
        return [row[: int(length)] for row, length in zip(hidden, mask.gt(0).sum(dim=1))]


def _frozen(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """On ``device``, eval mode, no grad; the dtype was set by ``from_pretrained``, which keeps
    the modules Wan marks fp32-only (norms, rotary and time embeddings) in fp32."""
    return module.to(device=device).eval().requires_grad_(False)


class WanPrior(VideoPrior):
    """A WanPipeline folder (Wan2.1-T2V-1.3B) as a flow-prediction prior with a causal video VAE."""

    prediction_type = "flow"
    frame_encoding = "causal_video"

    def __init__(
        self,
        config: WanPriorConfig = WanPriorConfig(),
        device: torch.device | str | None = None,
        *,
        name: str = "wan",
        description: str | None = None,
        is_trained: bool = True,
        licence: str = WAN_LICENCE,
    ) -> None:
        root, origin = resolve_wan_directory(config.path)  # before the slow imports: fail fast
        from diffusers import AutoencoderKLWan, WanTransformer3DModel

        self.config = config
        self.name = name
        self.is_trained = is_trained
        self.licence = licence
        self.device = torch.device(device) if device is not None else default_device()
        self.dtype = _dtype(config.dtype, self.device)
        self.vae_dtype = wan_vae_dtype(config.vae_dtype, self.device, _total_memory(self.device))
        self.weights_directory = root
        self.identifier = f"{name}:{origin}"
        self.description = description or f"Wan2.1-T2V ({origin}; licence {licence})"
        shift, steps = flow_shift_from_scheduler(root)
        self.scheduler_shift = shift
        if config.timestep_shift is not None:
            self.timestep_shift = float(config.timestep_shift)
        else:
            pixels = config.frame_size[0] * config.frame_size[1]
            self.timestep_shift = shift * (pixels / WAN_REFERENCE_PIXELS) ** 0.5
        self.shift_frame_size = None if config.timestep_shift is not None else tuple(config.frame_size)
        """The frame size the shift was rescaled to (None where a fixed ``timestep_shift`` was given)."""
        self.schedule = NoiseSchedule.rectified_flow(shifted_flow_sigmas(steps, self.timestep_shift))
        log.info(
            "loading %s from %s (transformer %s, vae %s, %s, shift %.2f)",
            name,
            origin,
            self.dtype,
            self.vae_dtype,
            self.device,
            self.timestep_shift,
        )
        try:
            transformer = WanTransformer3DModel.from_pretrained(
                root, subfolder="transformer", torch_dtype=self.dtype, local_files_only=True
            )
            vae = AutoencoderKLWan.from_pretrained(
                root, subfolder="vae", torch_dtype=self.vae_dtype, local_files_only=True
            )
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise PriorUnavailable(f"prior {name!r}: cannot load {origin}: {exc}. {HOW_TO_PROVIDE}") from exc
        # Never differentiated: the transformer runs forward only, the VAE is differentiated
        # w.r.t. its input only (docs/method.md §8).
        self.transformer = _frozen(transformer, self.device)
        self.vae = _frozen(vae, self.device)
        self.latent_channels = int(self.vae.config.z_dim)
        self.latent_scale = int(self.vae.config.scale_factor_spatial)
        self.temporal_compression = int(self.vae.config.scale_factor_temporal)
        patch = tuple(self.transformer.config.patch_size)
        self.frame_multiple = self.latent_scale * max(patch[1], patch[2])
        """Frame height and width must be multiples of this (VAE stride × transformer patch)."""
        shape = (1, self.latent_channels, 1, 1, 1)
        self.latents_mean = torch.tensor(self.vae.config.latents_mean, dtype=torch.float32).view(shape).to(self.device)
        self.latents_std = torch.tensor(self.vae.config.latents_std, dtype=torch.float32).view(shape).to(self.device)
        self.text_width = int(self.transformer.config.text_dim)
        self.prompt_encoder = WanPromptEncoder(root, origin, config, prior_name=name)
        self.text_cache = TextEmbeddingCache(
            Path(config.text_cache_dir) if config.text_cache_dir else cache_root() / "text-embeddings"
        )

    @property
    def text_encoder_loads(self) -> int:
        """How often UMT5 was loaded (prompts found in the cache or a run's bank never load it)."""
        return self.prompt_encoder.loads

    # --- text -----------------------------------------------------------------------------

    def release_text_encoder(self) -> None:
        """Free UMT5 (and its accelerator memory); it is reloaded if an uncached prompt comes."""
        self.prompt_encoder.release()

    def prompt_embeddings(self, prompts: list[str]) -> Tensor:  # [P, L, D] float32 on the device
        """Embeddings as WanPipeline makes them (zero past each prompt's tokens), each prompt
        encoded at most once per cache (a run's bank, the disk cache)."""
        budget = self.config.max_text_tokens
        found = embed_prompts(self.prompt_encoder, self.text_cache, prompts, release=not self.config.keep_text_encoder)
        padded = torch.zeros(len(prompts), budget, self.text_width)
        for row, prompt in enumerate(prompts):
            embedding = found.get(prompt)
            if embedding is None or embedding.dim() != 2 or embedding.shape[1] != self.text_width:
                raise PriorUnavailable(
                    f"prior {self.name!r}: text embedding of {prompt!r} has shape "
                    f"{None if embedding is None else tuple(embedding.shape)}, expected [L, {self.text_width}]"
                )
            padded[row, : embedding.shape[0]] = embedding[:budget]
        return padded.to(self.device)

    def encode_text(self, prompts: list[str], negative: list[str] | None = None) -> TextEmbeddings:
        negatives = list(negative) if negative is not None else [""] * len(prompts)
        if len(negatives) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(negatives)} negative prompts")
        embedded = self.prompt_embeddings(list(prompts) + negatives)
        count = len(prompts)
        return TextEmbeddings(embedded[:count], embedded[count:], tuple(prompts), tuple(negatives))

    # --- video ----------------------------------------------------------------------------

    def encode_frames(self, frames: Tensor) -> Tensor:
        """Frames [B, N, 3, H, W] in [0, 1], N = 4k + 1 → normalised latents [B, 16, k + 1, H/8, W/8].

        All N frames of each video go through the causal VAE in one call (latent frame j sees
        frames ≤ 4j); the posterior mean, normalised as (μ − latents_mean) / latents_std.
        """
        if frames.dim() != 5 or frames.shape[2] != 3:
            raise ValueError(f"frames must be [B, N, 3, H, W], got {tuple(frames.shape)}")
        _, count, _, height, width = frames.shape
        self.latent_frame_count(count)
        if height % self.frame_multiple or width % self.frame_multiple:
            raise ConfigError(
                f"prior {self.name!r}: frame size {height}x{width} is not a multiple of {self.frame_multiple} "
                "(VAE stride × transformer patch)"
            )
        video = frames.to(device=self.device).permute(0, 2, 1, 3, 4) * 2.0 - 1.0  # [B, 3, N, H, W]
        moments = self.vae.encode(video.to(self.vae_dtype)).latent_dist.mean  # [B, 16, k + 1, h, w]
        return (moments.float() - self.latents_mean) / self.latents_std

    def model_timesteps(self, timesteps: Tensor) -> Tensor:  # [N] float32
        """What the transformer is conditioned on for training-timestep indices t: T·σ_t."""
        _, sigma = self.schedule.scales_at(timesteps, torch.float32)
        return sigma * self.num_train_timesteps

    @torch.no_grad()
    def predict_noise(self, noisy_latents: Tensor, timesteps: Tensor, text_embeddings: Tensor) -> Tensor:
        """Flow velocity v̂ ≈ ε − z₀ for noisy latents [N, 16, T', h, w] (float32)."""
        output = self.transformer(
            hidden_states=noisy_latents.to(device=self.device, dtype=self.dtype),
            timestep=self.model_timesteps(timesteps.to(self.device)),
            encoder_hidden_states=text_embeddings.to(device=self.device, dtype=self.dtype),
            return_dict=False,
        )[0]
        return output.float()


@PROMPT_ENCODERS.register("wan")
def _wan_text_from_spec(argument: str | None, device: torch.device | None) -> PromptEncoder:
    """UMT5 of ``wan`` / ``wan:PATH`` alone, for encoding a run's prompts before its workers start."""
    root, origin = resolve_wan_directory(argument)
    return WanPromptEncoder(root, origin, WanPriorConfig(path=argument), device)


def wan_vae_dtype_setting(value: str | None) -> DtypeName:
    """The VAE dtype a setting names (``--wan-vae-dtype``, ``$FLEXICLIP_WAN_VAE_DTYPE``): unset or
    empty is "auto"; anything but a `DtypeName` raises `ConfigError`."""
    if not value:
        return "auto"
    if value not in get_args(DtypeName):
        raise ConfigError(f"Wan VAE dtype {value!r} is not one of {', '.join(get_args(DtypeName))}")
    return cast(DtypeName, value)


def wan_config_from_spec(argument: str | None, environ: Mapping[str, str]) -> WanPriorConfig:
    """The config of ``wan`` / ``wan:PATH``: the path, and the VAE dtype from ``environ``'s
    `WAN_VAE_DTYPE_ENV_VAR`; every other field at its default."""
    return WanPriorConfig(path=argument, vae_dtype=wan_vae_dtype_setting(environ.get(WAN_VAE_DTYPE_ENV_VAR)))


@PRIORS.register("wan")
def _wan_from_spec(argument: str | None, device: torch.device | None) -> VideoPrior:
    """``wan`` (environment / cache) or ``wan:PATH``; ``$FLEXICLIP_WAN_VAE_DTYPE`` picks the VAE dtype."""
    return WanPrior(wan_config_from_spec(argument, os.environ), device=device)
