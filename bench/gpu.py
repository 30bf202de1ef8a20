"""`flexiclip bench --gpu`: the real prior architectures at full size, timed in the project's own loop.

For each supported prior (a `GPU_PRIORS` hook): build its real architecture with random weights
(random weights cost the real FLOPs), save it in its diffusers layout, load it back through the
project's own loader (``load_prior(spec)``), then time the project's optimisation on the sample
human at paper settings for each preset:

- ``ms_per_iteration``: wall time of back-to-back iterations, synchronised only before and after
  (what a clip costs); ``min_per_clip``: that × the preset's iterations;
- ``peak_memory_gib``: the device's peak allocation over the preset (CUDA), or the process's
  peak resident set (CPU, where it includes everything loaded before);
- ``stage_ms.*``: a second pass with the device synchronised around every stage (medians);
- ``tflop_per_iter``: FLOPs of one real iteration counted by `FlopCounterMode` (matmuls,
  convolutions, attention; element-wise work uncounted), ``achieved_tflops`` = it / the time;
  for ModelScope at full size also bench/flops.py's count (``flops_py_tflop_per_iter``).

- ``lockstep_k{K}.ms_per_clip_iteration``: K clips (``--clips-per-call``, default 4; seeds
  0 … K−1 of the human) advanced together, one encoder and one prior call per step for all of
  them (`flexiclip_core.lockstep`): wall time of back-to-back lockstep steps / K, with
  ``min_per_clip`` and the device's peak memory over that run (``peak_memory_gib``); 0 or 1
  clips per call skips it.

- ``video_fit.*`` (issue 21): Wan2.1-VACE-1.3B's architecture with random weights samples one
  24-frame 256² reference from the sample human's rest render (``generate_s_per_video``; a batch
  of ``--clips-per-call`` clips in one call: ``generate_s_per_video_batch{K}``), and video-fit
  fits the sample human on the device to a known-answer reference (``fit_s``, its stages);
  ``generate_plus_fit_s`` is their sum (target on a GPU: ≤ 30 s per clip). ``--no-video-fit``
  skips it; ``--only-video-fit`` times it alone.

``--size tiny`` builds the tiny test architecture instead, so a CPU run proves the whole path
(save → load through the loader → timed iterations → JSON) without 1.4 B parameters. The run
keeps to ``--time-limit`` seconds: it stops timing a preset early (reporting how many iterations
it timed) and skips what does not fit (listed under ``skipped``). Needs torch, diffusers,
transformers (tokenizer/text encoder) and the project's modules; the geometry side needs cairo.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from flexiclip_core.registry import Registry

log = logging.getLogger(__name__)

SIZES: tuple[str, ...] = ("full", "tiny")
PRESETS: tuple[str, ...] = ("flexiclip", "aniclipart")
PROMPT = "a person dancing"

SavePrior = Callable[[Path, str, torch.device], str]
"""A per-prior hook: ``(empty folder, size, device to build on) -> prior spec`` that writes the
prior's architecture at ``size`` with random weights into the folder, in the layout its loader
reads, and returns the spec (``NAME:FOLDER``) that loads it through `load_prior`."""

GPU_PRIORS: Registry[SavePrior] = Registry("GPU benchmark prior")
"""Priors the GPU benchmark builds; a new real prior registers its hook here."""


def clip_text_config(size: str, vocab_size: int) -> dict[str, Any]:
    """CLIPTextModel settings: OpenCLIP ViT-H's text tower at full size (ModelScope's encoder).

    The vocabulary is the byte-level test tokenizer's (text encoding runs once per prompt and is
    not timed, so the 49 408-token table would only cost disk)."""
    if size == "full":
        return {
            "hidden_size": 1024,
            "intermediate_size": 4096,
            "num_hidden_layers": 23,
            "num_attention_heads": 16,
            "hidden_act": "gelu",
            "projection_dim": 1024,
            "vocab_size": vocab_size,
            "max_position_embeddings": 77,
        }
    raise ValueError(f"no text encoder settings for size {size!r}")


@GPU_PRIORS.register("modelscope")
def save_modelscope(directory: Path, size: str, device: torch.device) -> str:
    """text-to-video-ms-1.7b's architecture (bench/flops.py's configs) with random weights.

    Built on ``device`` (random init of 1.4 B parameters is seconds there) and saved in float16,
    the dtype the loader runs the UNet in on CUDA (the VAE is cast to its own dtype on load)."""
    from flexiclip_core.guidance.tiny import build_byte_level_tokenizer, save_tiny_pipeline

    if size == "tiny":
        save_tiny_pipeline(directory)
        return f"modelscope:{directory}"
    from diffusers import AutoencoderKL, DDIMScheduler, UNet3DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from bench.flops import MODELSCOPE_UNET_CONFIG, MODELSCOPE_VAE_CONFIG
    from flexiclip_core.guidance.diffusers_prior import save_pipeline_folder

    tokenizer = build_byte_level_tokenizer()
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    with torch.device(device):
        unet = UNet3DConditionModel(**MODELSCOPE_UNET_CONFIG).to(dtype)
        vae = AutoencoderKL(**MODELSCOPE_VAE_CONFIG)
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                **clip_text_config(size, len(tokenizer)),
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        ).to(dtype)
    scheduler = DDIMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        prediction_type="epsilon",
    )
    save_pipeline_folder(
        directory,
        "TextToVideoSDPipeline",
        {"unet": unet, "vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer, "scheduler": scheduler},
    )
    return f"modelscope:{directory}"


@GPU_PRIORS.register("wan")
def save_wan(directory: Path, size: str, device: torch.device) -> str:
    """Wan2.1-T2V-1.3B's transformer (1.42 B parameters) and its causal video VAE with random
    weights, saved in the Wan diffusers layout and stored in bfloat16, the dtype the loader runs
    them in on CUDA.

    The text encoder is a one-layer UMT5 at UMT5-XXL's width (4096, what the transformer reads):
    prompts are encoded once per run, apart from the video model (docs/priors.md), so the 5.7 B
    encoder costs no iteration time and building it would only fill the disk."""
    from flexiclip_core.guidance.wan_tiny import build_wan_tiny_tokenizer, save_wan_tiny_pipeline

    if size == "tiny":
        save_wan_tiny_pipeline(directory)
        return f"wan:{directory}"
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    from flexiclip_core.guidance.diffusers_prior import save_pipeline_folder
    from flexiclip_core.guidance.wan import WAN_1_3B_TRANSFORMER

    tokenizer = build_wan_tiny_tokenizer()
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    with torch.device(device):
        transformer = WanTransformer3DModel(**WAN_1_3B_TRANSFORMER).to(dtype)
        vae = AutoencoderKLWan()
        text_encoder = UMT5EncoderModel(
            UMT5Config(
                vocab_size=len(tokenizer),
                d_model=WAN_1_3B_TRANSFORMER["text_dim"],
                d_kv=64,
                d_ff=1024,
                num_layers=1,
                num_heads=4,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
                decoder_start_token_id=tokenizer.pad_token_id,
            )
        ).to(dtype)
    scheduler = UniPCMultistepScheduler(
        num_train_timesteps=1000, prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
    )
    save_pipeline_folder(
        directory,
        "WanPipeline",
        {
            "transformer": transformer,
            "vae": vae,
            "text_encoder": text_encoder,
            "tokenizer": tokenizer,
            "scheduler": scheduler,
        },
    )
    return f"wan:{directory}"


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_memory_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def count_step_flops(animator) -> float:
    """TFLOP of one iteration of ``animator`` (it advances the optimisation by that step)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        animator.step_on_device()
    return counter.get_total_flops() / 1e12


def time_preset(
    prior, method: str, device: torch.device, *, repeats: int, warmup: int, stage_repeats: int, deadline: float
) -> dict[str, Any]:
    """Figures of one preset on the sample human (see the module docstring)."""
    from bench.iteration import _human
    from flexiclip_core.optimize import ClipAnimator, fit_config_to_prior, preset

    config = fit_config_to_prior(preset(method), prior)  # causal video priors: N = 4k + 1 frames
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    animator = ClipAnimator(*_human(), prior, PROMPT, config, device=device)
    figures: dict[str, Any] = {"tflop_per_iter": count_step_flops(animator)}
    for _ in range(warmup):
        animator.step_on_device()
    _synchronise(device)

    timed = 0
    started = time.perf_counter()
    while timed < repeats and (timed == 0 or time.perf_counter() < deadline):
        total, _ = animator.step_on_device()
        timed += 1
    _synchronise(device)
    ms = (time.perf_counter() - started) * 1000.0 / timed
    figures.update(
        {
            "iterations_timed": timed,
            "ms_per_iteration": ms,
            "min_per_clip": ms * config.iterations / 60_000.0,
            "achieved_tflops": figures["tflop_per_iter"] / (ms / 1000.0),
            "loss_finite": bool(torch.isfinite(total).item()),
        }
    )

    stages: dict[str, list[float]] = defaultdict(list)

    @contextmanager
    def synchronised_timer(name: str):
        _synchronise(device)
        begun = time.perf_counter()
        yield
        _synchronise(device)
        stages[name].append((time.perf_counter() - begun) * 1000.0)

    animator.stage_timer = synchronised_timer
    staged = 0
    while staged < stage_repeats and time.perf_counter() < deadline:
        animator.step_on_device()
        staged += 1
    figures["stage_iterations"] = staged
    for name, values in stages.items():
        figures[f"stage_ms.{name}"] = statistics.median(values) * len(values) / staged
    figures["peak_memory_gib"] = _peak_memory_gib(device)
    return figures


def time_lockstep(
    prior, method: str, device: torch.device, *, clips: int, repeats: int, warmup: int, deadline: float
) -> dict[str, Any]:
    """ms per clip-iteration of ``clips`` clips in lockstep on the sample human (module docstring)."""
    from bench.iteration import _human
    from flexiclip_core.lockstep import lockstep_step
    from flexiclip_core.optimize import ClipAnimator, fit_config_to_prior, preset

    config = fit_config_to_prior(preset(method), prior)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    clipart, rig = _human()
    animators = [
        ClipAnimator(clipart, rig, prior, PROMPT, config.with_overrides({"seed": seed}), device=device)
        for seed in range(clips)
    ]
    for _ in range(warmup):
        lockstep_step(animators)
    _synchronise(device)
    timed = 0
    started = time.perf_counter()
    while timed < repeats and (timed == 0 or time.perf_counter() < deadline):
        outcomes = lockstep_step(animators)
        timed += 1
    _synchronise(device)
    ms = (time.perf_counter() - started) * 1000.0 / timed / clips
    failed = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    if failed:
        raise failed[0]
    finite = torch.stack([outcome[0] for outcome in outcomes if not isinstance(outcome, Exception)]).isfinite()
    return {
        "iterations_timed": timed,
        "ms_per_clip_iteration": ms,
        "min_per_clip": ms * config.iterations / 60_000.0,
        "peak_memory_gib": _peak_memory_gib(device),
        "loss_finite": bool(finite.all().item()),
    }


def run(
    size: str = "full",
    *,
    priors: list[str] | None = None,
    presets: tuple[str, ...] = PRESETS,
    device: str | None = None,
    repeats: int = 20,
    warmup: int = 3,
    stage_repeats: int = 5,
    time_limit_s: float = 480.0,
    compile_prior: bool = False,
    weights_dir: str | None = None,
    clips_per_call: int = 4,
    video_fit: bool = True,
) -> dict[str, Any]:
    """Flat figures ``gpu.<prior>.<preset>.<figure>`` plus what ran where; see the module docstring."""
    from flexiclip_core.guidance import default_device, load_prior
    from flexiclip_core.guidance.compile import compile_prior as compile_denoiser

    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    deadline = time.perf_counter() + time_limit_s
    target = torch.device(device) if device else default_device()
    figures: dict[str, Any] = {
        "gpu.size": size,
        "gpu.device": torch.cuda.get_device_name(target) if target.type == "cuda" else "cpu",
        "gpu.torch_version": torch.__version__,
        "gpu.compile_prior": compile_prior,
        "gpu.clips_per_call": clips_per_call,
    }
    skipped: list[str] = []
    for name in GPU_PRIORS.names() if priors is None else priors:
        save = GPU_PRIORS.get(name)
        folder = Path(tempfile.mkdtemp(prefix=f"flexiclip-gpu-bench-{name}-", dir=weights_dir))
        try:
            started = time.perf_counter()
            spec = save(folder, size, target)
            if target.type == "cuda":
                torch.cuda.empty_cache()
            figures[f"gpu.{name}.build_and_save_s"] = time.perf_counter() - started
            started = time.perf_counter()
            prior = load_prior(spec, device=target)
            figures[f"gpu.{name}.load_s"] = time.perf_counter() - started
            figures[f"gpu.{name}.vae_dtype"] = str(getattr(prior, "vae_dtype", "any")).removeprefix("torch.")
            if compile_prior:
                compile_denoiser(prior)
            for method in presets:
                if time.perf_counter() >= deadline:
                    skipped.append(f"{name}.{method}")
                    continue
                for key, value in time_preset(
                    prior,
                    method,
                    target,
                    repeats=repeats,
                    warmup=warmup,
                    stage_repeats=stage_repeats,
                    deadline=deadline,
                ).items():
                    figures[f"gpu.{name}.{method}.{key}"] = value
                if clips_per_call > 1:
                    if time.perf_counter() >= deadline:
                        skipped.append(f"{name}.{method}.lockstep_k{clips_per_call}")
                        continue
                    for key, value in time_lockstep(
                        prior,
                        method,
                        target,
                        clips=clips_per_call,
                        repeats=repeats,
                        warmup=warmup,
                        deadline=deadline,
                    ).items():
                        figures[f"gpu.{name}.{method}.lockstep_k{clips_per_call}.{key}"] = value
            if name == "modelscope" and size == "full":
                from bench.flops import run as count_flops

                counted = count_flops()
                figures["gpu.modelscope.flexiclip.flops_py_tflop_per_iter"] = counted["sds_tflop_per_iter_modelscope"]
                figures["gpu.modelscope.aniclipart.flops_py_tflop_per_iter"] = counted[
                    "sds_tflop_per_iter_modelscope_aniclipart"
                ]
            del prior
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    if video_fit:
        folder = Path(tempfile.mkdtemp(prefix="flexiclip-gpu-bench-wan-vace-", dir=weights_dir))
        try:
            if time.perf_counter() < deadline:
                for key, value in time_video_fit(size, target, folder, clips=clips_per_call, deadline=deadline).items():
                    figures[f"gpu.video_fit.{key}"] = value
            else:
                skipped.append("video_fit")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    figures["gpu.skipped"] = skipped
    figures["gpu.seconds"] = time_limit_s - (deadline - time.perf_counter())
    return figures


WAN_VACE_1_3B_TRANSFORMER: dict[str, Any] = {
    "patch_size": (1, 2, 2),
    "num_attention_heads": 12,
    "attention_head_dim": 128,
    "in_channels": 16,
    "out_channels": 16,
    "text_dim": 4096,
    "freq_dim": 256,
    "ffn_dim": 8960,
    "num_layers": 30,
    "vace_layers": list(range(0, 30, 2)),
    "vace_in_channels": 96,
}
"""transformer/config.json of Wan2.1-VACE-1.3B: the 1.3 B Wan DiT plus 15 VACE control blocks."""


def save_wan_vace(directory: Path, size: str) -> Path:
    """Wan2.1-VACE at ``size`` with random weights in the WanVACEPipeline layout: ``full`` is the
    1.3 B transformer and the Wan2.1 VAE at full width, with a one-layer UMT5 of the real width
    (text encoding runs once per prompt, outside the timed sampling); ``tiny`` is wan-vace-tiny."""
    from flexiclip_core.guidance.diffusers_prior import save_pipeline_folder
    from flexiclip_core.videofit.generate import build_wan_vace_tiny_components

    components = build_wan_vace_tiny_components()
    if size == "full":
        from diffusers import AutoencoderKLWan, WanVACETransformer3DModel
        from transformers import UMT5Config, UMT5EncoderModel

        tokenizer = components["tokenizer"]
        components["transformer"] = WanVACETransformer3DModel(**WAN_VACE_1_3B_TRANSFORMER)
        components["vae"] = AutoencoderKLWan()  # diffusers' defaults are Wan2.1's VAE
        components["text_encoder"] = UMT5EncoderModel(
            UMT5Config(
                vocab_size=len(tokenizer),
                d_model=4096,
                d_kv=64,
                d_ff=10240,
                num_layers=1,
                num_heads=64,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
                decoder_start_token_id=tokenizer.pad_token_id,
            )
        )
    return save_pipeline_folder(directory, "WanVACEPipeline", components)


def time_video_fit(size: str, target: torch.device, folder: Path, *, clips: int, deadline: float) -> dict[str, Any]:
    """``generate_s_per_video``: one 24-frame 256² reference sampled by Wan2.1-VACE at ``size``
    (the second of two calls; the first warms up), ``generate_s_per_video_batch{K}``: a batch of K
    clips in one call / K; ``fit_s``: video-fit of the sample human on ``target`` to the known-answer
    H.264 reference of bench/videofit.py (a random-weight generator's video shows no drawing, so
    the fit's cost is timed on a video that does; it does not depend on where the video came
    from); ``generate_plus_fit_s`` their sum (the issue's target on a GPU: ≤ 30 s)."""
    from bench.iteration import _human
    from flexiclip_core.config import PRESETS as METHOD_PRESETS
    from flexiclip_core.videofit import load_reference_video
    from flexiclip_core.videofit.fit import fit_reference
    from flexiclip_core.videofit.generate import (
        GENERATED_FPS,
        VaceSampling,
        WanVaceGenerator,
        WanVaceTinyConfig,
        rest_render,
    )
    from tests.flexiclip_core.videofit import motions

    figures: dict[str, Any] = {}
    root = save_wan_vace(folder / "wan-vace", size)
    dtype = torch.bfloat16 if target.type == "cuda" else torch.float32
    sampling = WanVaceTinyConfig().sampling if size == "tiny" else VaceSampling()
    started = time.perf_counter()
    generator = WanVaceGenerator(root, device=target, dtype=dtype, name=f"wan-vace-{size}", sampling=sampling)
    figures["load_s"] = time.perf_counter() - started
    clipart, rig = _human()
    rest = rest_render(clipart)[None].to(target)
    config = METHOD_PRESETS["video-fit"].with_overrides({"video_fit.loop": "none"})
    frames = config.schedule.frame_count
    for attempt in range(2):
        _synchronise(target)
        started = time.perf_counter()
        generator.generate(rest, [PROMPT], frames=frames, fps=GENERATED_FPS, seeds=[attempt])
        _synchronise(target)
        figures["generate_s_per_video"] = time.perf_counter() - started
    figures["generate_steps"] = sampling.steps
    if clips > 1 and time.perf_counter() < deadline:
        started = time.perf_counter()
        generator.generate(
            rest.expand(clips, -1, -1, -1), [PROMPT] * clips, frames=frames, fps=GENERATED_FPS, seeds=list(range(clips))
        )
        _synchronise(target)
        figures[f"generate_s_per_video_batch{clips}"] = (time.perf_counter() - started) / clips
    figures["generate_peak_memory_gib"] = _peak_memory_gib(target)
    del generator
    if time.perf_counter() >= deadline:
        return figures
    truth = motions.in_family_points(clipart, rig, config, seed=3, amplitude_px=12.0)
    path = motions.write_mp4(folder / "reference.mp4", motions.over_background(motions.render_rgba(clipart, truth)))
    reference = load_reference_video(path, clip="human")
    started = time.perf_counter()
    fitted = fit_reference(clipart, rig, reference, config, clip="human", device=target)
    _synchronise(target)
    figures["fit_s"] = time.perf_counter() - started
    figures.update({f"fit_stage_s.{key}": value for key, value in fitted.seconds.items() if key != "total"})
    figures["generate_plus_fit_s"] = figures["generate_s_per_video"] + figures["fit_s"]
    return figures


def update_peak_table(figures: dict[str, Any], path: str | Path, date: str | None = None) -> list[str]:
    """Write the single-clip ``peak_memory_gib`` of a full-size CUDA run into the peak table at
    ``path`` (tasks/per_clip_peaks.json) as ``measured`` rows naming the GPU and the date,
    replacing the rows of the same (prior, family, VAE dtype). Returns the keys written."""
    import datetime

    from tasks.batch import preset_family

    if figures.get("gpu.size") != "full" or figures.get("gpu.device", "cpu") == "cpu":
        return []
    table = json.loads(Path(path).read_text())
    rows = {(row["prior"], row["family"], row["vae_dtype"]): row for row in table["peaks"]}
    day = date or datetime.date.today().isoformat()
    written = []
    for key, value in sorted(figures.items()):
        parts = key.split(".")
        if len(parts) != 4 or parts[0] != "gpu" or parts[3] != "peak_memory_gib" or parts[2] not in PRESETS:
            continue
        prior, method = parts[1], parts[2]
        dtype = str(figures.get(f"gpu.{prior}.vae_dtype", "any"))
        row_key = (prior, preset_family(method), dtype)
        rows[row_key] = {
            "prior": prior,
            "family": row_key[1],
            "vae_dtype": dtype,
            "gib": round(float(value) + 0.05, 1),  # rounded up to 0.1 GiB
            "source": "measured",
            "device": figures["gpu.device"],
            "date": day,
            "note": f"bench.gpu, one clip at paper settings, torch {figures.get('gpu.torch_version')}",
        }
        written.append("/".join(row_key))
    table["peaks"] = list(rows.values())
    Path(path).write_text(json.dumps(table, indent=2) + "\n")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--size", choices=SIZES, default="full")
    parser.add_argument("--prior", action="append", dest="priors", help="only these priors (repeatable)")
    parser.add_argument("--preset", action="append", dest="presets", help="only these presets (repeatable)")
    parser.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--stage-repeats", type=int, default=5)
    parser.add_argument("--time-limit", type=float, default=480.0, help="seconds for the whole run")
    parser.add_argument("--compile-prior", action="store_true", help="torch.compile the denoiser first")
    parser.add_argument(
        "--clips-per-call", type=int, default=4, help="clips advanced in lockstep per prior call (≤ 1: skip)"
    )
    parser.add_argument("--only-video-fit", action="store_true", help="time only the video-fit figures")
    parser.add_argument(
        "--no-video-fit", action="store_true", help="skip the video-fit figures (Wan2.1-VACE generation + fit)"
    )
    parser.add_argument("--weights-dir", default=None, help="where the temporary layouts go (default: $TMPDIR)")
    parser.add_argument(
        "--update-peaks",
        default=None,
        metavar="JSON",
        help="write the measured single-clip peaks into this peak table (tasks/per_clip_peaks.json)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    figures = run(
        args.size,
        priors=[] if args.only_video_fit else args.priors,
        presets=tuple(args.presets or PRESETS),
        device=args.device,
        repeats=args.repeats,
        warmup=args.warmup,
        stage_repeats=args.stage_repeats,
        time_limit_s=args.time_limit,
        compile_prior=args.compile_prior,
        weights_dir=args.weights_dir,
        clips_per_call=args.clips_per_call,
        video_fit=not args.no_video_fit,
    )
    if args.update_peaks:
        figures["gpu.peaks_updated"] = update_peak_table(figures, args.update_peaks)
    if args.json:
        print(json.dumps(figures, indent=2, sort_keys=True))
    else:
        for key, value in figures.items():
            print(f"{key:60s} {value:12.3f}" if isinstance(value, float) else f"{key:60s} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
