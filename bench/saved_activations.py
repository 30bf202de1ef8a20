"""GiB of tensors a VAE keeps for the backward of its encoder w.r.t. its input, counted on meta tensors.

What decides a clip's GPU memory with a video VAE (docs/pipeline.md §6, the peak table): the
encoder is differentiated w.r.t. the frames, so autograd keeps its intermediate tensors until the
backward. `saved_gib` builds the model on the meta device (no memory, no FLOPs), runs the encode
under `torch.autograd.graph.saved_tensors_hooks` and sums the bytes of every saved tensor, views
counted once through their base. Transients (the largest intermediate during the forward, the
backward's own buffers) are not included: the peak table adds a margin for them.

    python -m bench.saved_activations --dtype bfloat16 --frames 25 --size 256
"""

from __future__ import annotations

import argparse
from typing import Any

import torch


def saved_gib(vae: Any, frames: int, size: int, dtype: torch.dtype) -> tuple[float, int]:
    """(GiB saved for the input backward of one video [1, 3, frames, size, size], tensors saved)."""
    vae = vae.to(device="meta", dtype=dtype).requires_grad_(False)
    saved: dict[int, tuple[torch.Tensor, int]] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        base = tensor._base if tensor._base is not None else tensor
        saved[id(base)] = (base, base.numel() * base.element_size())  # the tensor is kept: ids stay unique
        return tensor

    video = torch.empty(1, 3, frames, size, size, device="meta", dtype=dtype, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        vae.encode(video)
    return sum(nbytes for _, nbytes in saved.values()) / 2**30, len(saved)


def main(argv: list[str] | None = None) -> int:
    from diffusers import AutoencoderKLWan

    parser = argparse.ArgumentParser(prog="python -m bench.saved_activations", description=__doc__.split("\n")[0])
    parser.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float16", "float32"))
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args(argv)
    with torch.device("meta"):
        vae: Any = AutoencoderKLWan()  # its defaults are the Wan2.1 VAE
    gib, count = saved_gib(vae, args.frames, args.size, getattr(torch, args.dtype))
    print(f"Wan2.1 VAE, {args.dtype}, {args.frames} frames at {args.size}²: {gib:.2f} GiB in {count} saved tensors")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
