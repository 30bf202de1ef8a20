"""Generated references (docs/method.md §13, issue 21 item 2b): an image-to-video model samples a
reference video from the rendered rest pose and the prompt, and video-fit fits the motion to it.

Generators register in `REFERENCE_GENERATORS` (`register_generator`): a factory, and a function
that gives the loaded generator's `GeneratorSpec.result_key` without loading it (the planner's
key part, `generator_result_key`). `load_generator(name, device=…, dtype=…, model_dir=…)`
builds one. Both shipped generators are Wan2.1-VACE in the diffusers
layout, driven through diffusers' `WanVACEPipeline` components:

- ``wan-vace``: Wan2.1-VACE-1.3B (Apache-2.0) from a local folder (``model_dir``, else
  ``$FLEXICLIP_WAN_VACE_MODEL``, else an already-populated Hugging Face cache). Nothing is
  downloaded; a missing folder is a one-line `PriorUnavailable` naming it.
- ``wan-vace-tiny``: the same classes at toy size with seeded random weights, saved once in the
  diffusers layout and loaded by path through the same loader (tests, smoke runs; its videos
  mean nothing).

Conditioning on the rest pose (`vace_conditioning`): VACE's video + mask input. Frame 0 of the
control video is the rest render composited over the background and its mask is 0 (keep); every
later frame is 0 in [−1, 1] (mid grey) with mask 1 (generate). So the model continues the drawing
in motion from exactly its rest pose, which is what the registration of the fit expects.

Batching: `WanVACEPipeline.__call__` takes one video and one prompt per call; `generate` runs the
pipeline's own steps (`prepare_video_latents`, `prepare_masks`, the scheduler
and the VACE transformer, the VAE decode) with the B clips of a call stacked in one batch, so a
batch of clips costs one denoising loop. Each clip's starting noise is drawn from its own seed on
the CPU, so a clip's video depends on its seed, not on the batch it shares.
"""

from __future__ import annotations

import abc
import hashlib
import json
import logging
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from flexiclip_core.clipart import Clipart
from flexiclip_core.errors import ConfigError, PriorUnavailable
from flexiclip_core.guidance.base import NOT_APPLICABLE_LICENCE, weights_fingerprint
from flexiclip_core.guidance.diffusers_prior import save_pipeline_folder
from flexiclip_core.guidance.modelscope import _cached_snapshot, hub_cache_dir
from flexiclip_core.guidance.text import TextEmbeddingCache, embed_prompts
from flexiclip_core.guidance.wan import (
    WAN_REFERENCE_PIXELS,
    WanPriorConfig,
    WanPromptEncoder,
    cache_root,
    missing_parts,
)
from flexiclip_core.registry import Registry
from flexiclip_core.videofit.reference import ReferenceVideo

log = logging.getLogger(__name__)

WAN_VACE_REPO_ID = "Wan-AI/Wan2.1-VACE-1.3B-diffusers"
WAN_VACE_LICENCE = "Apache-2.0"
WAN_VACE_MODEL_ENV_VAR = "FLEXICLIP_WAN_VACE_MODEL"
WAN_VACE_HOW_TO_PROVIDE = (
    f"Wan2.1-VACE-1.3B is licensed {WAN_VACE_LICENCE}; nothing is downloaded at run time. Fetch it once, e.g. "
    f"`hf download {WAN_VACE_REPO_ID} --local-dir DIR`, then pass it as the generator's model folder "
    f"(--generator-model DIR) or set {WAN_VACE_MODEL_ENV_VAR}=DIR"
)
DEFAULT_NEGATIVE_PROMPT = (
    "static, still picture, camera motion, zoom, background change, blurred details, low quality, "
    "deformed, extra limbs, new objects"
)
"""Negative prompt of the generated references: the fit wants the drawing itself moving in a
fixed frame, so camera motion and new content are pushed away."""


@dataclass(frozen=True)
class GeneratorSpec:
    """What a loaded generator is, for provenance and the idempotency key."""

    name: str
    """Registry name (``wan-vace``, ``wan-vace-tiny``)."""
    licence: str
    """Licence of its weights (``n/a`` for random-weight test generators)."""
    result_key: str
    """``name@<weights fingerprint>#<sampling hash>``: changes with the weights or any sampling
    setting, so a cached video is reused only when the same model would sample it again."""
    description: str
    """One line for logs and notes."""
    is_trained: bool
    """False for the random-weight test generator (its videos mean nothing)."""


@dataclass(frozen=True)
class VaceSampling:
    """How a VACE generator samples a reference (hashed into `GeneratorSpec.result_key`)."""

    steps: int = 30
    """Denoising steps (the diffusers example's 30; UniPC converges in 20–50)."""
    guidance_scale: float = 5.0
    """Classifier-free guidance weight (Wan's default 5.0); ≤ 1 turns the unconditional pass off."""
    conditioning_scale: float = 1.0
    """Scale of the VACE control stream in every control layer (diffusers' default)."""
    flow_shift: float | None = None
    """σ shift of the scheduler; None: the folder's flow_shift (tuned for 480×832) rescaled to the
    frame size by √(pixels / (480·832)), as the Wan prior does (docs/priors.md)."""
    negative_prompt: str = DEFAULT_NEGATIVE_PROMPT
    """The unconditional branch of the guidance."""
    max_text_tokens: int = 512
    """Tokens per prompt (WanVACEPipeline's max_sequence_length)."""
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)
    """RGB in [0, 1] the transparent rest render is composited over for frame 0 (white, as the
    clipart is drawn); the fit estimates it back from the first frame's border."""
    keep_first_frame: bool = True
    """Put the kept frame 0 (the composited rest render) back into the output in place of its VAE
    round trip, as inpainting pipelines paste back their known pixels: the fit registers on
    exactly the rest pose (the model was asked to keep it; the decode only blurs it)."""

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ConfigError(f"generator steps must be ≥ 1, got {self.steps}")
        if self.max_text_tokens < 1:
            raise ConfigError(f"generator max_text_tokens must be ≥ 1, got {self.max_text_tokens}")


class ReferenceGenerator(abc.ABC):
    """An image-to-video model that samples reference videos for video-fit."""

    spec: GeneratorSpec

    @abc.abstractmethod
    def generate(
        self, rest: Tensor, prompts: list[str], *, frames: int, fps: float, seeds: list[int]
    ) -> list[ReferenceVideo]:
        """One video per clip from ``rest`` [B, 4, H, W] (straight RGBA rest-pose render in
        [0, 1]), ``prompts`` (B) and ``seeds`` (B), in one batched sampling run. Each video has
        ``frames`` frames [frames, H, W, 4] at ``fps``, opaque (alpha 1)."""


GeneratorFactory = Callable[..., ReferenceGenerator]


@dataclass(frozen=True)
class GeneratorEntry:
    """A registered reference generator: how to load it, and who it is without loading it."""

    load: GeneratorFactory
    """factory(*, device, dtype, model_dir) of the `ReferenceGenerator`."""
    result_key: Callable[[Path | None], str]
    """model_dir → the `GeneratorSpec.result_key` the loaded generator has, computed from its
    files and settings alone (nothing loaded: milliseconds): what the planner puts in the
    idempotency key of a generated video-fit row (docs/pipeline.md §4)."""


REFERENCE_GENERATORS: Registry[GeneratorEntry] = Registry("reference generator")
"""name → `GeneratorEntry`."""


def register_generator(
    name: str, result_key: Callable[[Path | None], str]
) -> Callable[[GeneratorFactory], GeneratorFactory]:
    """Decorator: register a generator factory as ``name`` with its ``result_key`` function."""

    def decorator(factory: GeneratorFactory) -> GeneratorFactory:
        REFERENCE_GENERATORS.register(name)(GeneratorEntry(factory, result_key))
        return factory

    return decorator


def generator_result_key(name: str, model_dir: Path | None = None) -> str:
    """The `GeneratorSpec.result_key` generator ``name`` will have, without loading it:
    `ConfigError` for an unknown name (one line listing the known ones), `PriorUnavailable` for
    weights that are not there."""
    return REFERENCE_GENERATORS.get(name).result_key(model_dir)


def load_generator(
    name: str,
    *,
    device: torch.device | str,
    dtype: torch.dtype | None = None,
    model_dir: Path | None = None,
) -> ReferenceGenerator:
    """The generator registered as ``name`` on ``device``; ``dtype`` of its transformer (None:
    bfloat16 on CUDA, float32 elsewhere); ``model_dir``: its local weights folder."""
    factory = REFERENCE_GENERATORS.get(name).load
    torch_device = torch.device(device)
    if dtype is None:
        dtype = torch.bfloat16 if torch_device.type == "cuda" else torch.float32
    return factory(device=torch_device, dtype=dtype, model_dir=model_dir)


GENERATED_FPS = 16.0
"""Frame rate of generated references: Wan's training rate (its videos are 16 fps)."""
GENERATED_SIZE = 256
"""Side of generated references: the fit's canvas (a multiple of VACE's 16-px stride)."""


def candidate_seeds(seed: int, count: int) -> list[int]:
    """Seeds of a clip's ``count`` reference candidates: seed, seed + 1, …, seed + count − 1."""
    if count < 1:
        raise ConfigError(f"reference candidates must be ≥ 1, got {count}")
    return [seed + index for index in range(count)]


def rest_render(clipart: Clipart, size: int = GENERATED_SIZE) -> Tensor:
    """The drawing at rest by the final renderer: [4, size, size] straight RGBA in [0, 1]."""
    from flexiclip_core.render import render_frames

    rgba = render_frames(clipart, clipart.control_points()[None], size=size, background="transparent")
    return torch.from_numpy(rgba[0]).permute(2, 0, 1).float() / 255.0


def generate_references(
    generator: ReferenceGenerator,
    clipart: Clipart,
    prompt: str,
    *,
    frames: int,
    seeds: list[int],
    size: int = GENERATED_SIZE,
    fps: float = GENERATED_FPS,
) -> list[ReferenceVideo]:
    """One clip's candidates: its rest render and ``prompt`` once per seed, in one batched call."""
    rest = rest_render(clipart, size)
    return generator.generate(
        rest[None].expand(len(seeds), -1, -1, -1), [prompt] * len(seeds), frames=frames, fps=fps, seeds=seeds
    )


def vace_frame_count(frames: int, temporal_stride: int = 4) -> int:
    """Frames sampled for ``frames`` output frames: the least k·stride + 1 ≥ frames (the causal
    VAE's lengths); the extra frames are dropped after decoding."""
    if frames < 1:
        raise ConfigError(f"a generated reference needs ≥ 1 frame, got {frames}")
    return temporal_stride * math.ceil((frames - 1) / temporal_stride) + 1


def vace_conditioning(
    rest: Tensor, frame_count: int, background: tuple[float, float, float] = (1.0, 1.0, 1.0)
) -> tuple[Tensor, Tensor]:
    """VACE's control video and mask for "continue the rest pose in motion".

    ``rest`` [B, 4, H, W] straight RGBA in [0, 1] → (video [B, 3, F, H, W] in [−1, 1], mask
    [B, 1, F, H, W] in {0, 1}): frame 0 is rest over ``background`` (2·(a·rgb + (1 − a)·bg) − 1)
    with mask 0 (kept), frames 1 … F − 1 are 0 (mid grey) with mask 1 (generated)."""
    if rest.dim() != 4 or rest.shape[1] != 4:
        raise ConfigError(f"rest render must be [B, 4, H, W] RGBA, got {tuple(rest.shape)}")
    if frame_count < 1:
        raise ConfigError(f"frame_count must be ≥ 1, got {frame_count}")
    batch, _, height, width = rest.shape
    rest = rest.float().clamp(0.0, 1.0)
    alpha = rest[:, 3:4]
    colour = torch.tensor(background, dtype=torch.float32, device=rest.device).view(1, 3, 1, 1)
    first = rest[:, :3] * alpha + colour * (1.0 - alpha)  # [B, 3, H, W]
    video = torch.zeros(batch, 3, frame_count, height, width, device=rest.device)
    video[:, :, 0] = first * 2.0 - 1.0
    mask = torch.ones(batch, 1, frame_count, height, width, device=rest.device)
    mask[:, :, 0] = 0.0
    return video, mask


def _sampling_hash(sampling: VaceSampling) -> str:
    return hashlib.sha256(json.dumps(asdict(sampling), sort_keys=True).encode()).hexdigest()[:8]


def vace_result_key(name: str, weights_id: str, sampling: VaceSampling) -> str:
    """``name@<weights_id>#<sampling hash>``: a VACE generator's `GeneratorSpec.result_key`."""
    return f"{name}@{weights_id}#{_sampling_hash(sampling)}"


class WanVaceGenerator(ReferenceGenerator):
    """A WanVACEPipeline diffusers folder conditioned on the rest pose through its video + mask
    input (see the module docstring); batched over clips."""

    def __init__(
        self,
        root: Path,
        *,
        device: torch.device,
        dtype: torch.dtype,
        name: str = "wan-vace",
        licence: str = WAN_VACE_LICENCE,
        is_trained: bool = True,
        sampling: VaceSampling = VaceSampling(),
        description: str | None = None,
        weights_id: str | None = None,
    ) -> None:
        """``weights_id``: what names the weights in the result_key (None: `weights_fingerprint`
        of ``root``; the tiny generator's: its config)."""
        from diffusers import AutoencoderKLWan, WanVACEPipeline

        self.device = device
        self.dtype = dtype
        self.sampling = sampling
        self.root = root
        try:
            # The VAE in float32 (the diffusers example's choice: it is small and bf16 decoding bands).
            vae = AutoencoderKLWan.from_pretrained(
                root, subfolder="vae", torch_dtype=torch.float32, local_files_only=True
            )
            # UMT5 is not loaded with the pipeline: prompts go through `WanPromptEncoder` and the
            # on-disk embedding cache, which load it only for an uncached prompt and free it after.
            pipeline = WanVACEPipeline.from_pretrained(
                root, vae=vae, text_encoder=None, tokenizer=None, torch_dtype=dtype, local_files_only=True
            )
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise PriorUnavailable(f"generator {name!r}: cannot load {root}: {exc}") from exc
        pipeline.set_progress_bar_config(disable=True)
        self.pipeline = pipeline.to(device)
        self.pipeline.transformer.requires_grad_(False)
        text_config = WanPriorConfig(path=str(root), max_text_tokens=sampling.max_text_tokens)
        self.prompt_encoder = WanPromptEncoder(root, str(root), text_config, device, prior_name=name)
        self.text_cache = TextEmbeddingCache(cache_root() / "text-embeddings")
        self.spec = GeneratorSpec(
            name=name,
            licence=licence,
            result_key=vace_result_key(name, weights_id or weights_fingerprint(root), sampling),
            description=description or f"Wan2.1-VACE ({root}; licence {licence})",
            is_trained=is_trained,
        )

    def prompt_embeddings(self, prompts: list[str]) -> Tensor:  # [P, L, D] float32 on the device
        """As `WanVACEPipeline.encode_prompt` makes them (zero past each prompt's tokens), each prompt
        encoded at most once per cache."""
        found = embed_prompts(self.prompt_encoder, self.text_cache, prompts)
        width = int(self.pipeline.transformer.config.text_dim)
        padded = torch.zeros(len(prompts), self.sampling.max_text_tokens, width)
        for row, prompt in enumerate(prompts):
            embedding = found[prompt]
            padded[row, : embedding.shape[0]] = embedding[: self.sampling.max_text_tokens]
        return padded.to(self.device)

    @torch.no_grad()
    def control_states(self, rest: Tensor, frame_count: int) -> Tensor:
        """VACE's control stream for ``rest`` [B, 4, H, W]: [B, 2·16 + s², F', H/s, W/s] (s the VAE's
        spatial stride, F' = (F − 1)/4 + 1): the normalised latents of the kept part (video·(1 −
        mask): the rest pose in frame 0), of the generated part (video·mask: zeros here), and the
        mask folded s × s into channels, as `WanVACEPipeline` builds it. The fold samples latent
        frame j at frame ⌊(j + ½)·F/F'⌋ ≥ 1 (nearest-exact), so with one kept frame the mask
        channels are all 1: the rest pose reaches the model through the kept latents, as in
        diffusers' and VACE's own first-frame extension."""
        pipe = self.pipeline
        video, mask = vace_conditioning(rest.to(self.device), frame_count, self.sampling.background)
        control = []
        for index in range(video.shape[0]):  # the pipeline's helpers take one video at a time
            latents = pipe.prepare_video_latents(video[index : index + 1], mask[index : index + 1], [[]], None)
            masks = pipe.prepare_masks(mask[index : index + 1], [[]], None)
            control.append(torch.cat([latents, masks.to(latents.dtype)], dim=1))
        return torch.cat(control)

    def _scheduler(self, height: int, width: int) -> Any:
        """The folder's scheduler with its shift rescaled to the frame size (a fresh copy per call)."""
        scheduler = self.pipeline.scheduler
        config = dict(scheduler.config)
        key = "flow_shift" if "flow_shift" in config else "shift"
        shift = self.sampling.flow_shift
        if shift is None:
            shift = float(config.get(key, 1.0)) * math.sqrt(height * width / WAN_REFERENCE_PIXELS)
        return type(scheduler).from_config(config, **{key: shift})

    @torch.no_grad()
    def generate(
        self, rest: Tensor, prompts: list[str], *, frames: int, fps: float, seeds: list[int]
    ) -> list[ReferenceVideo]:
        pipe = self.pipeline
        batch = rest.shape[0] if rest.dim() == 4 else -1
        if batch < 1 or len(prompts) != batch or len(seeds) != batch:
            raise ConfigError(
                f"generator {self.spec.name!r}: rest [B, 4, H, W], B prompts and B seeds needed, got "
                f"{tuple(rest.shape)}, {len(prompts)} prompts, {len(seeds)} seeds"
            )
        if not (fps > 0 and math.isfinite(fps)):
            raise ConfigError(f"generator {self.spec.name!r}: fps must be positive, got {fps}")
        height, width = int(rest.shape[2]), int(rest.shape[3])
        spatial = int(pipe.vae_scale_factor_spatial)
        temporal = int(pipe.vae_scale_factor_temporal)
        multiple = spatial * int(pipe.transformer.config.patch_size[1])
        if height % multiple or width % multiple:
            raise ConfigError(
                f"generator {self.spec.name!r}: frame size {height}x{width} is not a multiple of {multiple}"
            )
        count = vace_frame_count(frames, temporal)
        sampling = self.sampling
        transformer = pipe.transformer
        control_states = self.control_states(rest, count).to(transformer.dtype)
        guided = sampling.guidance_scale > 1.0
        texts = list(prompts) + ([sampling.negative_prompt] * batch if guided else [])
        text = self.prompt_embeddings(texts).to(transformer.dtype)  # positives, then negatives
        scale = torch.full(
            (len(transformer.config.vace_layers),),
            sampling.conditioning_scale,
            device=self.device,
            dtype=transformer.dtype,
        )
        channels = int(transformer.config.in_channels)
        shape = (1, channels, (count - 1) // temporal + 1, height // spatial, width // spatial)
        noise = [torch.randn(shape, generator=torch.Generator("cpu").manual_seed(int(seed))) for seed in seeds]
        latents = torch.cat(noise).to(self.device)  # [B, 16, F', h, w] float32
        scheduler = self._scheduler(height, width)
        scheduler.set_timesteps(sampling.steps, device=self.device)
        doubled = torch.cat([control_states, control_states]) if guided else control_states
        for timestep in scheduler.timesteps:
            model_input = latents.to(transformer.dtype)
            if guided:
                model_input = torch.cat([model_input, model_input])
            prediction = transformer(
                hidden_states=model_input,
                timestep=timestep.expand(model_input.shape[0]),
                encoder_hidden_states=text,
                control_hidden_states=doubled,
                control_hidden_states_scale=scale,
                return_dict=False,
            )[0]
            if guided:
                conditional, unconditional = prediction.chunk(2)
                prediction = unconditional + sampling.guidance_scale * (conditional - unconditional)
            latents = scheduler.step(prediction, timestep, latents, return_dict=False)[0]
        vae = pipe.vae
        view = (1, int(vae.config.z_dim), 1, 1, 1)
        mean = torch.tensor(vae.config.latents_mean, device=self.device).view(view)
        std = torch.tensor(vae.config.latents_std, device=self.device).view(view)
        decoded = vae.decode((latents.float() * std + mean).to(vae.dtype), return_dict=False)[0]
        pixels = ((decoded.float() + 1.0) / 2.0).clamp(0.0, 1.0)[:, :, :frames]  # [B, 3, frames, H, W]
        if sampling.keep_first_frame:
            video, _ = vace_conditioning(rest.to(self.device), 1, sampling.background)
            pixels[:, :, 0] = (video[:, :, 0] + 1.0) / 2.0
        return [self._reference(pixels[index], fps, int(seeds[index])) for index in range(batch)]

    def _reference(self, pixels: Tensor, fps: float, seed: int) -> ReferenceVideo:
        """[3, T, H, W] in [0, 1] → an opaque ReferenceVideo, quantised to 8 bits (so storing it
        losslessly keeps its content hash)."""
        levels = (pixels.permute(1, 2, 3, 0).cpu().numpy() * 255.0).round().astype(np.uint8)  # [T, H, W, 3]
        rgba = np.concatenate([levels, np.full(levels.shape[:3] + (1,), 255, np.uint8)], axis=-1)
        digest = hashlib.sha256(rgba.tobytes() + f"{rgba.shape}".encode()).hexdigest()
        return ReferenceVideo(
            frames=rgba.astype(np.float32) / 255.0,
            fps=float(fps),
            source=f"generated:{self.spec.name}:seed={seed}:{digest[:12]}",
            content_sha256=digest,
            has_alpha=False,
            source_kind=f"generated:{self.spec.name}",
            licence=self.spec.licence,
            seed=seed,
        )


def resolve_wan_vace_directory(model_dir: Path | None) -> Path:
    """The Wan2.1-VACE folder: ``model_dir``, else $FLEXICLIP_WAN_VACE_MODEL, else a cached snapshot
    of the repository; `PriorUnavailable` (one line, naming the folder) when none is complete."""
    if model_dir is None and os.environ.get(WAN_VACE_MODEL_ENV_VAR):
        model_dir = Path(os.environ[WAN_VACE_MODEL_ENV_VAR])
    if model_dir is None:
        snapshot = _cached_snapshot(hub_cache_dir(), WAN_VACE_REPO_ID)
        if snapshot is None:
            raise PriorUnavailable(
                f"generator 'wan-vace': no model folder given, ${WAN_VACE_MODEL_ENV_VAR} unset and no "
                f"{WAN_VACE_REPO_ID} under {hub_cache_dir()}. {WAN_VACE_HOW_TO_PROVIDE}"
            )
        model_dir = snapshot[0]
    root = Path(model_dir).expanduser()
    if not root.is_dir():
        raise PriorUnavailable(f"generator 'wan-vace': model folder {root} does not exist. {WAN_VACE_HOW_TO_PROVIDE}")
    missing = missing_parts(root)
    if missing:
        raise PriorUnavailable(
            f"generator 'wan-vace': model folder {root} is not a complete WanVACEPipeline folder "
            f"(missing: {'; '.join(missing)}). {WAN_VACE_HOW_TO_PROVIDE}"
        )
    return root.resolve()


def _wan_vace_key(model_dir: Path | None) -> str:
    """wan-vace's result_key from its folder: `weights_fingerprint` (every file's relative path and
    size, and three 1 MiB windows of each: a few MiB read, nothing loaded) and the sampling. Names
    and sizes alone would not do: a fine-tune keeps every tensor's shape, so every file's size."""
    return vace_result_key("wan-vace", weights_fingerprint(resolve_wan_vace_directory(model_dir)), VaceSampling())


@register_generator("wan-vace", _wan_vace_key)
def _wan_vace(*, device: torch.device, dtype: torch.dtype, model_dir: Path | None = None) -> ReferenceGenerator:
    """Wan2.1-VACE-1.3B from a local folder."""
    root = resolve_wan_vace_directory(model_dir)  # before the slow imports: fail fast
    return WanVaceGenerator(root, device=device, dtype=dtype)


# --- wan-vace-tiny ---------------------------------------------------------------------------------

WAN_VACE_TINY_DESCRIPTION = (
    "wan-vace-tiny random-weight test generator (Wan2.1-VACE diffusers classes at toy size; its videos are untrained)"
)


@dataclass(frozen=True)
class WanVaceTinyConfig:
    """Sizes of the wan-vace-tiny test generator (real layout and classes, toy widths)."""

    seed: int = 0
    """Seed of all random weights."""
    vae_base_dim: int = 4
    """VAE base width (Wan: 96); the real 8× spatial, 4× temporal layout, so the pipeline's own
    mask and latent arithmetic applies unchanged."""
    transformer_heads: int = 2
    """Attention heads (VACE 1.3B: 12)."""
    transformer_head_dim: int = 12
    """Per-head width (Wan: 128; divisible by 6 for the 3-axis rotary embedding)."""
    transformer_layers: int = 2
    """Transformer blocks (VACE 1.3B: 30), each with a VACE control block."""
    text_width: int = 16
    """UMT5 d_model = transformer text_dim (UMT5-XXL: 4096)."""
    sampling: VaceSampling = field(default_factory=lambda: VaceSampling(steps=4, max_text_tokens=32, flow_shift=3.0))
    """4 steps, 32 tokens: seconds on a CPU, guidance still on (both branches run)."""


def build_wan_vace_tiny_components(config: WanVaceTinyConfig = WanVaceTinyConfig()) -> dict[str, Any]:
    """Transformer, VAE, UMT5 encoder, tokenizer and scheduler of a WanVACEPipeline at toy size."""
    from diffusers import UniPCMultistepScheduler, WanVACETransformer3DModel

    from flexiclip_core.guidance.tiny import _fill_zero_weights
    from flexiclip_core.guidance.wan_tiny import build_tiny_umt5, build_tiny_wan_vae, build_wan_tiny_tokenizer

    tokenizer = build_wan_tiny_tokenizer()
    channels = 16
    spatial = 8  # the VAE's stride: 3 downsampling stages, no patch
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        transformer = WanVACETransformer3DModel(
            patch_size=(1, 2, 2),
            num_attention_heads=config.transformer_heads,
            attention_head_dim=config.transformer_head_dim,
            in_channels=channels,
            out_channels=channels,
            text_dim=config.text_width,
            freq_dim=16,
            ffn_dim=2 * config.transformer_heads * config.transformer_head_dim,
            num_layers=config.transformer_layers,
            vace_layers=list(range(config.transformer_layers)),
            vace_in_channels=2 * channels + spatial * spatial,
        )
        _fill_zero_weights(transformer)  # type: ignore[arg-type]  # diffusers ModelMixin: a Module mypy cannot see
        torch.manual_seed(config.seed + 1)
        vae = build_tiny_wan_vae(config.vae_base_dim, channels, downsamples=3)
        torch.manual_seed(config.seed + 2)
        text_encoder = build_tiny_umt5(tokenizer, config.text_width)
    scheduler = UniPCMultistepScheduler(
        num_train_timesteps=1000, prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
    )
    return {
        "transformer": transformer,
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "scheduler": scheduler,
    }


def wan_vace_tiny_digest(config: WanVaceTinyConfig = WanVaceTinyConfig()) -> str:
    """sha256 (hex) of wan-vace-tiny's sizes, seed and sampling and the diffusers version: all its
    seeded weights depend on (its cache folder's name and its result_key)."""
    from importlib.metadata import version

    return hashlib.sha256(json.dumps([repr(config), version("diffusers")]).encode()).hexdigest()


def wan_vace_tiny_directory(config: WanVaceTinyConfig = WanVaceTinyConfig(), model_dir: Path | None = None) -> Path:
    """wan-vace-tiny saved once: ``model_dir`` when given, else under the cache folder (keyed by
    its sizes and the diffusers version). Built atomically (a parallel builder's copy is dropped)."""
    key = wan_vace_tiny_digest(config)[:12]
    target = Path(model_dir) if model_dir is not None else cache_root() / f"wan-vace-tiny-{config.seed}-{key}"
    if target.is_dir() and not missing_parts(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".wan-vace-tiny-"))
    save_pipeline_folder(staging, "WanVACEPipeline", build_wan_vace_tiny_components(config))
    try:
        if target.is_dir():
            target.rmdir()  # an empty folder named by the caller
        staging.rename(target)
    except OSError:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        if missing_parts(target):
            raise PriorUnavailable(f"generator 'wan-vace-tiny': cannot write its weights to {target}") from None
    return target


def _wan_vace_tiny_key(model_dir: Path | None) -> str:
    """wan-vace-tiny's result_key: its weights are a function of its fixed config (seed, sizes)
    and the diffusers version, so they name it (``model_dir`` plays no part); nothing is built."""
    config = WanVaceTinyConfig()
    return vace_result_key("wan-vace-tiny", wan_vace_tiny_digest(config)[:16], config.sampling)


@register_generator("wan-vace-tiny", _wan_vace_tiny_key)
def _wan_vace_tiny(*, device: torch.device, dtype: torch.dtype, model_dir: Path | None = None) -> ReferenceGenerator:
    """wan-vace-tiny (built under the cache folder, or in ``model_dir``)."""
    config = WanVaceTinyConfig()
    root = wan_vace_tiny_directory(config, model_dir)
    log.warning("using the %s: generated references are not meaningful motion", WAN_VACE_TINY_DESCRIPTION)
    return WanVaceGenerator(
        root,
        device=device,
        dtype=dtype,
        name="wan-vace-tiny",
        licence=NOT_APPLICABLE_LICENCE,
        is_trained=False,
        sampling=config.sampling,
        description=WAN_VACE_TINY_DESCRIPTION,
        weights_id=wan_vace_tiny_digest(config)[:16],
    )
