"""ModelScope text-to-video-ms-1.7b (docs/method.md §8's default prior), loaded from local files only.

Where the weights come from, in order: an explicit directory (``--prior modelscope:PATH``), the
``FLEXICLIP_T2V_MODEL`` environment variable, then an already-populated Hugging Face cache
(``HF_HUB_CACHE`` or ``HF_HOME``/hub) holding ``ali-vilab/text-to-video-ms-1.7b`` (or its former
name ``damo-vilab/…``). Nothing is ever downloaded: the cache is read directly from disk, no hub
client is asked. Missing weights raise `PriorUnavailable` saying how to provide them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from flexiclip_core.errors import PriorUnavailable
from flexiclip_core.guidance.base import PRIORS, VideoPrior, default_device, weights_fingerprint
from flexiclip_core.guidance.diffusers_prior import ClipPromptEncoder, DiffusersVideoPrior, default_dtypes
from flexiclip_core.guidance.text import PROMPT_ENCODERS, PromptEncoder, default_text_cache_folder

log = logging.getLogger(__name__)

MODEL_ENV_VAR = "FLEXICLIP_T2V_MODEL"
MODELSCOPE_REPO_IDS: tuple[str, ...] = ("ali-vilab/text-to-video-ms-1.7b", "damo-vilab/text-to-video-ms-1.7b")
MODELSCOPE_LICENCE = "CC-BY-NC-4.0"
COMPONENT_FILES: dict[str, tuple[str, ...]] = {
    "unet": ("diffusion_pytorch_model",),
    "vae": ("diffusion_pytorch_model",),
    "text_encoder": ("model", "pytorch_model"),
}
MODELSCOPE_UNET_CHANNELS: tuple[int, ...] = (320, 640, 1280, 1280)
WEIGHT_SUFFIXES: tuple[str, ...] = (".safetensors", ".bin")

HOW_TO_PROVIDE = (
    f"The ModelScope text-to-video-ms-1.7b weights are licensed {MODELSCOPE_LICENCE} (non-commercial use "
    "only); nothing is downloaded at run time. Where that licence fits your use, fetch them once, e.g. "
    f"`hf download {MODELSCOPE_REPO_IDS[0]} --local-dir DIR` (diffusers layout: model_index.json, unet/, "
    "vae/, text_encoder/, tokenizer/, scheduler/), then pass `--prior modelscope:DIR` or set "
    f"{MODEL_ENV_VAR}=DIR, or pre-populate the Hugging Face cache (HF_HOME / HF_HUB_CACHE) with that "
    "repository. Without weights only the `tiny` test prior can run."
)

DtypeName = Literal["auto", "float16", "bfloat16", "float32"]


@dataclass(frozen=True)
class ModelScopePriorConfig:
    """Where and how to load ModelScope T2V."""

    path: str | None = None
    """Local diffusers folder; None: $FLEXICLIP_T2V_MODEL, then the Hugging Face cache."""
    unet_dtype: DtypeName = "auto"
    """UNet and text encoder dtype; auto: float16 on CUDA, float32 on CPU."""
    vae_dtype: DtypeName = "auto"
    """VAE dtype; auto: bfloat16 on CUDA (fp16 overflows in this VAE), float32 on CPU."""


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache as the environment names it now (not as at import time)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface"
    )
    return Path(home) / "hub"


def missing_parts(root: Path) -> list[str]:
    """What a diffusers TextToVideoSDPipeline folder lacks (empty when complete)."""
    missing = [
        f"{name}/config.json" for name in ("unet", "vae", "text_encoder") if not (root / name / "config.json").is_file()
    ]
    for name, stems in COMPONENT_FILES.items():
        folder = root / name
        weights = [path for stem in stems for suffix in WEIGHT_SUFFIXES for path in folder.glob(f"{stem}*{suffix}")]
        if folder.is_dir() and not weights:
            missing.append(f"{name}/ weights")
    if not (root / "scheduler" / "scheduler_config.json").is_file():
        missing.append("scheduler/scheduler_config.json")
    tokenizer = root / "tokenizer"
    if not ((tokenizer / "tokenizer.json").is_file() or (tokenizer / "vocab.json").is_file()):
        missing.append("tokenizer/ (tokenizer.json or vocab.json + merges.txt)")
    return missing


def _cached_snapshot(cache: Path, repo_id: str) -> tuple[Path, str] | None:
    """The snapshot folder of ``repo_id`` in a hub cache and its commit, read from disk."""
    repo_dir = cache / ("models--" + repo_id.replace("/", "--"))
    snapshots = repo_dir / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = repo_dir / "refs" / "main"
    if ref.is_file():
        commit = ref.read_text().strip()
        if (snapshots / commit).is_dir():
            return snapshots / commit, commit
    candidates = sorted((p for p in snapshots.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    return (candidates[0], candidates[0].name) if candidates else None


def resolve_modelscope_directory(path: str | Path | None = None) -> tuple[Path, str]:
    """(folder holding the weights, what it is: path or repo id@commit); `PriorUnavailable` if none."""
    explicit = [(Path(path).expanduser(), "--prior modelscope:PATH")] if path else []
    if not explicit and os.environ.get(MODEL_ENV_VAR):
        explicit = [(Path(os.environ[MODEL_ENV_VAR]).expanduser(), f"${MODEL_ENV_VAR}")]
    for root, origin in explicit:
        if not root.is_dir():
            raise PriorUnavailable(f"prior 'modelscope': {origin} = {root} is not a directory. {HOW_TO_PROVIDE}")
        missing = missing_parts(root)
        if missing:
            raise PriorUnavailable(
                f"prior 'modelscope': {origin} = {root} is not a complete diffusers folder "
                f"(missing: {', '.join(missing)}). {HOW_TO_PROVIDE}"
            )
        return root, str(root)
    cache = hub_cache_dir()
    for repo_id in MODELSCOPE_REPO_IDS:
        snapshot = _cached_snapshot(cache, repo_id)
        if snapshot is None:
            continue
        root, commit = snapshot
        missing = missing_parts(root)
        if missing:
            raise PriorUnavailable(
                f"prior 'modelscope': the cached snapshot {root} of {repo_id} is incomplete "
                f"(missing: {', '.join(missing)}). {HOW_TO_PROVIDE}"
            )
        return root, f"{repo_id}@{commit}"
    raise PriorUnavailable(
        f"prior 'modelscope': no weights found (no path given, ${MODEL_ENV_VAR} unset, nothing cached under "
        f"{cache}). {HOW_TO_PROVIDE}"
    )


def _variant(folder: Path, stems: tuple[str, ...]) -> str | None:
    """None when full-precision weights exist, "fp16" when only the fp16 variant does."""
    if any((folder / f"{stem}{suffix}").is_file() for stem in stems for suffix in WEIGHT_SUFFIXES):
        return None
    if any(folder.glob("*.fp16.*")):
        return "fp16"
    return None


def _dtype(name: DtypeName, auto: torch.dtype) -> torch.dtype:
    return auto if name == "auto" else getattr(torch, name)


class ModelScopePrior(DiffusersVideoPrior):
    """text-to-video-ms-1.7b from local files: UNet fp16 on CUDA, fp32 on CPU (see `default_dtypes`)."""

    licence = MODELSCOPE_LICENCE

    def __init__(
        self, config: ModelScopePriorConfig = ModelScopePriorConfig(), device: torch.device | str | None = None
    ) -> None:
        root, origin = resolve_modelscope_directory(config.path)  # before the slow imports: fail fast
        from diffusers import AutoencoderKL, DDIMScheduler, UNet3DConditionModel
        from transformers import CLIPTextConfig, CLIPTokenizer

        device = torch.device(device) if device is not None else default_device()
        auto_unet, auto_vae = default_dtypes(device)
        unet_dtype, vae_dtype = _dtype(config.unet_dtype, auto_unet), _dtype(config.vae_dtype, auto_vae)
        log.info("loading ModelScope T2V from %s (unet %s, vae %s, %s)", origin, unet_dtype, vae_dtype, device)
        try:
            unet = UNet3DConditionModel.from_pretrained(
                root,
                subfolder="unet",
                torch_dtype=unet_dtype,
                local_files_only=True,
                variant=_variant(root / "unet", COMPONENT_FILES["unet"]),
            )
            vae = AutoencoderKL.from_pretrained(
                root,
                subfolder="vae",
                torch_dtype=vae_dtype,
                local_files_only=True,
                variant=_variant(root / "vae", COMPONENT_FILES["vae"]),
            )
            text_config = CLIPTextConfig.from_pretrained(root / "text_encoder", local_files_only=True)
            tokenizer = CLIPTokenizer.from_pretrained(root / "tokenizer", local_files_only=True)
            scheduler = DDIMScheduler.from_pretrained(root, subfolder="scheduler", local_files_only=True)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise PriorUnavailable(f"prior 'modelscope': cannot load {origin}: {exc}. {HOW_TO_PROVIDE}") from exc
        if len(tokenizer) != text_config.vocab_size:
            # transformers can return a near-empty tokenizer instead of raising (docs/priors.md, "Loading Wan").
            raise PriorUnavailable(
                f"prior 'modelscope': tokenizer in {root / 'tokenizer'} has {len(tokenizer)} tokens, the text "
                f"encoder expects {text_config.vocab_size}. {HOW_TO_PROVIDE}"
            )
        text_encoder = modelscope_prompt_encoder(root, origin, device, unet_dtype, tokenizer, text_config)
        description = f"ModelScope text-to-video-ms-1.7b ({origin}; licence {MODELSCOPE_LICENCE})"
        if tuple(unet.config.block_out_channels) != MODELSCOPE_UNET_CHANNELS:
            log.warning("the UNet in %s is not the text-to-video-ms-1.7b architecture", origin)
            description = f"text-to-video model in ModelScope's diffusers layout ({origin}; not the 1.7b architecture)"
        super().__init__(
            unet=unet,
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            scheduler=scheduler,
            name="modelscope",
            description=description,
            identifier=f"modelscope:{origin}",
            is_trained=True,
            device=device,
            unet_dtype=unet_dtype,
            vae_dtype=vae_dtype,
            text_cache_folder=default_text_cache_folder(),
        )
        self.config = config
        self.weights_directory = root


def modelscope_prompt_encoder(
    root: Path, origin: str, device: torch.device, dtype: torch.dtype, tokenizer: Any = None, text_config: Any = None
) -> ClipPromptEncoder:
    """ModelScope's CLIP text encoder, loaded from ``root`` on its first uncached prompt."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    if tokenizer is None:
        tokenizer = CLIPTokenizer.from_pretrained(root / "tokenizer", local_files_only=True)
    if text_config is None:
        text_config = CLIPTextConfig.from_pretrained(root / "text_encoder", local_files_only=True)

    def load_model() -> torch.nn.Module:
        try:
            return CLIPTextModel.from_pretrained(
                root / "text_encoder",
                dtype=dtype,
                local_files_only=True,
                variant=_variant(root / "text_encoder", COMPONENT_FILES["text_encoder"]),
            )
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise PriorUnavailable(f"prior 'modelscope': cannot load the text encoder of {origin}: {exc}") from exc

    return ClipPromptEncoder(
        load_model,
        tokenizer,
        model_key=f"{origin}#{weights_fingerprint(root / 'text_encoder')}#{weights_fingerprint(root / 'tokenizer')}",
        device=device,
        dtype=dtype,
        max_position_embeddings=int(text_config.max_position_embeddings),
    )


@PROMPT_ENCODERS.register("modelscope")
def _modelscope_text_from_spec(argument: str | None, device: torch.device | None) -> PromptEncoder:
    """ModelScope's CLIP text encoder alone, for encoding a run's prompts before its workers start."""
    root, origin = resolve_modelscope_directory(argument)
    device = torch.device(device) if device is not None else default_device()
    return modelscope_prompt_encoder(root, origin, device, default_dtypes(device)[0])


@PRIORS.register("modelscope")
def _modelscope_from_spec(argument: str | None, device: torch.device | None) -> VideoPrior:
    """``modelscope`` (environment / cache) or ``modelscope:PATH``."""
    return ModelScopePrior(ModelScopePriorConfig(path=argument), device=device)
