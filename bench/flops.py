"""FLOPs of one score-distillation iteration on the real ModelScope T2V architecture.

Counted with `torch.utils.flop_counter.FlopCounterMode` on meta tensors: the models are built
from their published configs under ``torch.device("meta")``, so no weights (and no memory) are
needed. Counted per iteration at paper settings (24 frames, 256², latents 4×32²):

- ours: VAE encoder forward + backward w.r.t. its input only (weights frozen) for the distinct
  poses of the videos that need it (flexiclip: final + pose video, 6 poses each = 12 frames;
  aniclipart: 6), plus ONE UNet forward on the guidance batch (flexiclip: final unconditional,
  final conditional, pose conditional = 3 samples × 24 frames; aniclipart: 2 × 24);
- the reference code's way: all 24 frames of a video through the VAE encoder with weight
  gradients too (its VAE is not frozen), and one separate 2-sample CFG pass per video.
  FlexiClip's reference computes its pose-video branch (the flow term) under no_grad, so that
  video's 24 frames are encoded forward only; the variant with a backward for it as well is
  reported as ``reference_tflop_per_iter_pose_with_grad``.

Wan2.1-T2V-1.3B (``sds_tflop_per_iter_wan``, docs/priors.md) at its SDS settings: 25 frames
(4k + 1 for its causal VAE) at 256², latents 16×7×32², text 512 tokens × 4096: the VAE encoder
forward + input backward over every frame of each video in one call (its latents depend on all
earlier frames, so nothing can be tiled), plus ONE transformer forward on the guidance batch
(flexiclip 3 samples, aniclipart 2), the real 1.3B configuration built on meta tensors.

Text encoding is excluded (cached once per prompt); the Jacobian/ODE/rendering side is tiny.
FlopCounterMode counts matmuls, convolutions and attention (2 FLOPs per multiply-add) and their
backward formulas; element-wise ops (norms, activations) are not counted.
"""

from __future__ import annotations

import json
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

# text-to-video-ms-1.7b, unet/config.json (the diffusers UNet3DConditionModel defaults were
# written for this model; 1.41 B parameters).
MODELSCOPE_UNET_CONFIG: dict[str, Any] = {
    "sample_size": 32,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ("CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "DownBlock3D"),
    "up_block_types": ("UpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D"),
    "block_out_channels": (320, 640, 1280, 1280),
    "layers_per_block": 2,
    "downsample_padding": 1,
    "mid_block_scale_factor": 1,
    "act_fn": "silu",
    "norm_num_groups": 32,
    "norm_eps": 1e-5,
    "cross_attention_dim": 1024,
    "attention_head_dim": 64,
}
# text-to-video-ms-1.7b, vae/config.json (the Stable Diffusion 2 VAE; 34 M encoder parameters).
MODELSCOPE_VAE_CONFIG: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "act_fn": "silu",
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 256,
    "scaling_factor": 0.18215,
}
TEXT_TOKENS = 77
TEXT_WIDTH = 1024  # OpenCLIP ViT-H text encoder hidden size = UNet cross-attention width
FRAMES = 24
RESOLUTION = 256
LATENT_SIZE = RESOLUTION // 8
DISTINCT_POSES = 6  # Q = N / (2L) with L = 2 loops

# Per preset: (videos encoded, guidance samples in the single prior call) for ours;
# (frames with a VAE backward, frames encoded forward only, 2-sample prior passes) for the reference.
PRESETS: dict[str, dict[str, int]] = {
    "flexiclip": {
        "videos": 2,
        "guidance_samples": 3,
        "ref_grad_frames": FRAMES,
        "ref_nograd_frames": FRAMES,
        "ref_passes": 2,
    },
    "aniclipart": {
        "videos": 1,
        "guidance_samples": 2,
        "ref_grad_frames": FRAMES,
        "ref_nograd_frames": 0,
        "ref_passes": 1,
    },
}


def build_meta_models() -> tuple[torch.nn.Module, torch.nn.Module]:
    """The real UNet and VAE architectures on the meta device (no weights allocated)."""
    from diffusers import AutoencoderKL, UNet3DConditionModel

    with torch.device("meta"):
        unet = UNet3DConditionModel(**MODELSCOPE_UNET_CONFIG)
        vae = AutoencoderKL(**MODELSCOPE_VAE_CONFIG)
    return unet.eval().requires_grad_(False), vae.eval().requires_grad_(False)


def _count(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def vae_encoder_flops(vae: torch.nn.Module, frames: int, *, backward: bool, weight_gradients: bool = False) -> int:
    """FLOPs of encoding ``frames`` 256² frames (posterior mean), with an optional backward."""
    if frames == 0:
        return 0
    vae.requires_grad_(weight_gradients)
    images = torch.empty(frames, 3, RESOLUTION, RESOLUTION, device="meta", requires_grad=backward)

    def run_encoder() -> None:
        with torch.set_grad_enabled(backward):
            latents = vae.encode(images).latent_dist.mean
            if backward:
                latents.backward(torch.empty_like(latents))

    try:
        return _count(run_encoder)
    finally:
        vae.requires_grad_(False)


def unet_flops(unet: torch.nn.Module, samples: int) -> int:
    """FLOPs of one UNet forward on ``samples`` videos of 24 frames of 4×32² latents."""
    latents = torch.empty(samples, 4, FRAMES, LATENT_SIZE, LATENT_SIZE, device="meta")
    timesteps = torch.zeros(samples, dtype=torch.long, device="meta")
    text = torch.empty(samples, TEXT_TOKENS, TEXT_WIDTH, device="meta")

    def run_unet() -> None:
        with torch.no_grad():
            unet(latents, timesteps, encoder_hidden_states=text)

    return _count(run_unet)


WAN_FRAMES = 25  # rest pose + 24: N = 4k + 1 for the causal VAE (docs/priors.md)
WAN_RESOLUTION = 256
WAN_TEXT_TOKENS = 512


def build_wan_meta_models() -> tuple[torch.nn.Module, torch.nn.Module]:
    """Wan2.1-T2V-1.3B's transformer and VAE (the AutoencoderKLWan defaults are Wan2.1's VAE) on meta."""
    from diffusers import AutoencoderKLWan, WanTransformer3DModel

    from flexiclip_core.guidance.wan import WAN_1_3B_TRANSFORMER

    with torch.device("meta"):
        transformer = WanTransformer3DModel(**WAN_1_3B_TRANSFORMER)
        vae = AutoencoderKLWan()
    return transformer.eval().requires_grad_(False), vae.eval().requires_grad_(False)


def wan_vae_encoder_flops(vae: torch.nn.Module, videos: int, *, backward: bool = True) -> int:
    """FLOPs of encoding ``videos`` videos of 25 frames at 256² jointly, with the input backward."""
    frames = torch.empty(videos, 3, WAN_FRAMES, WAN_RESOLUTION, WAN_RESOLUTION, device="meta", requires_grad=backward)

    def run_encoder() -> None:
        with torch.set_grad_enabled(backward):
            latents = vae.encode(frames).latent_dist.mean
            if backward:
                latents.backward(torch.empty_like(latents))

    return _count(run_encoder)


def wan_transformer_flops(transformer: torch.nn.Module, samples: int) -> int:
    """FLOPs of one transformer forward on ``samples`` latent videos [16, 7, 32, 32]."""
    latent_frames = (WAN_FRAMES - 1) // 4 + 1
    latents = torch.empty(samples, 16, latent_frames, WAN_RESOLUTION // 8, WAN_RESOLUTION // 8, device="meta")
    timesteps = torch.zeros(samples, device="meta")
    text = torch.empty(samples, WAN_TEXT_TOKENS, 4096, device="meta")

    def run_transformer() -> None:
        with torch.no_grad():
            transformer(hidden_states=latents, timestep=timesteps, encoder_hidden_states=text)

    return _count(run_transformer)


def run_wan() -> dict[str, float]:
    """TFLOP per SDS iteration with Wan2.1-T2V-1.3B, flexiclip and aniclipart presets."""
    transformer, vae = build_wan_meta_models()
    results: dict[str, float] = {}
    for preset, spec in PRESETS.items():
        total = wan_vae_encoder_flops(vae, spec["videos"]) + wan_transformer_flops(
            transformer, spec["guidance_samples"]
        )
        suffix = "" if preset == "flexiclip" else f"_{preset}"
        results[f"sds_tflop_per_iter_wan{suffix}"] = total / 1e12
    results["wan_vae_encoder_tflop_per_video_input_backward"] = wan_vae_encoder_flops(vae, 1) / 1e12
    results["wan_transformer_tflop_per_sample"] = wan_transformer_flops(transformer, 1) / 1e12
    results["wan_transformer_parameters_billion"] = sum(p.numel() for p in transformer.parameters()) / 1e9
    return results


def run() -> dict[str, float]:
    """TFLOP per SDS iteration, ours vs the reference's way, for the flexiclip and aniclipart presets."""
    unet, vae = build_meta_models()
    results: dict[str, float] = run_wan()
    for preset, spec in PRESETS.items():
        ours = vae_encoder_flops(vae, spec["videos"] * DISTINCT_POSES, backward=True) + unet_flops(
            unet, spec["guidance_samples"]
        )
        reference_unet = spec["ref_passes"] * unet_flops(unet, 2)
        reference_grad_vae = vae_encoder_flops(vae, spec["ref_grad_frames"], backward=True, weight_gradients=True)
        reference = (
            reference_grad_vae + vae_encoder_flops(vae, spec["ref_nograd_frames"], backward=False) + reference_unet
        )
        suffix = "" if preset == "flexiclip" else f"_{preset}"
        results[f"sds_tflop_per_iter_modelscope{suffix}"] = ours / 1e12
        results[f"reference_tflop_per_iter{suffix}"] = reference / 1e12
        if spec["ref_nograd_frames"]:
            pose_with_grad = 2 * reference_grad_vae + reference_unet
            results[f"reference_tflop_per_iter_pose_with_grad{suffix}"] = pose_with_grad / 1e12
    results["vae_encoder_tflop_per_frame_forward"] = vae_encoder_flops(vae, 1, backward=False) / 1e12
    results["vae_encoder_tflop_per_frame_input_backward"] = vae_encoder_flops(vae, 1, backward=True) / 1e12
    results["unet_tflop_per_sample"] = unet_flops(unet, 1) / 1e12
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
