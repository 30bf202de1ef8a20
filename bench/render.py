"""Renderer benchmark: the training renderer's forward + backward on 24 frames of the sample
human at 256², and the final (cairo) renderer on the same frames.

Every figure is the median over ``repeats`` runs after warm-up, in milliseconds, float32, with
torch's default CPU thread count. The training step is forward + backward of the scalar loss
Σ weights · frames (fixed random weights), with the loss's gradient fed to backward directly. The machine is shared, so the same run also times a fixed
reference op (``render_reference_op_ms``: one elementwise pass and one reduction over a 24×4×256²
float32 tensor plus a 256² matmul) to judge the load: compare renderer figures across runs in
units of it, not only in ms. ``*_1thread`` figures repeat the measurement with one torch thread
and ``render_train_fwd_bwd_cpu_ms_24f`` is process CPU time per step: under load, waiting between
threads, not the renderer, dominates the default-thread wall time.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from flexiclip_core.render import TRAINING_RENDERERS, TrainRenderConfig, render_frames
from flexiclip_core.svg import parse_svg

FRAMES = 24
SIZE = 256
SAMPLE = Path(__file__).resolve().parents[1] / "catalogs" / "samples" / "human.svg"


def _median_ms(step: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def swaying_frames(rest: np.ndarray, frames: int = FRAMES) -> np.ndarray:
    """[frames, P, 2]: a smooth sway and bob, so every frame has its own geometry."""
    phase = np.linspace(0.0, 2.0 * np.pi, frames, endpoint=False)[:, None]
    height = (rest[:, 1] - rest[:, 1].min()) / max(np.ptp(rest[:, 1]), 1.0)  # 0 at the top
    moved = np.repeat(rest[None], frames, axis=0)
    moved[..., 0] += 6.0 * np.sin(phase) * (1.0 - height)[None]
    moved[..., 1] += 2.0 * np.cos(2.0 * phase)
    return moved


def run(repeats: int = 5) -> dict[str, float]:
    clip = parse_svg(SAMPLE)
    frames = swaying_frames(clip.control_points())
    renderer = TRAINING_RENDERERS.get("torch")(clip, TrainRenderConfig(size=SIZE))
    points = torch.tensor(frames, dtype=torch.float32)
    weights = torch.rand(FRAMES, 4, SIZE, SIZE, generator=torch.Generator().manual_seed(0))

    def train_step() -> None:
        # Backward of the scalar loss Σ weights · frames, fed as its (dense) upstream gradient:
        # the loss's own whole-canvas multiply and sum belong to the loss, not the renderer.
        leaf = points.clone().requires_grad_()
        renderer.render(leaf).backward(weights)

    def train_forward() -> None:
        with torch.no_grad():
            renderer.render(points)

    reference_input = torch.rand(FRAMES, 4, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    matrix = torch.rand(256, 256, generator=torch.Generator().manual_seed(2))

    def reference_op() -> None:
        (reference_input * 2.0).sum()
        matrix @ matrix

    results = {
        "render_reference_op_ms": _median_ms(reference_op, repeats),
        "render_train_fwd_bwd_ms_24f": _median_ms(train_step, repeats),
        "render_train_fwd_ms_24f": _median_ms(train_forward, repeats),
        "render_final_ms_24f": _median_ms(lambda: render_frames(clip, frames, SIZE), repeats, warmup=1),
    }
    # On a loaded shared machine, torch's threads wait on each other at every op; one thread
    # shows what the renderer itself costs there.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        results["render_train_fwd_bwd_ms_24f_1thread"] = _median_ms(train_step, repeats)
        results["render_reference_op_1thread_ms"] = _median_ms(reference_op, repeats)
    finally:
        torch.set_num_threads(threads)
    start = time.process_time()
    for _ in range(repeats):
        train_step()
    results["render_train_fwd_bwd_cpu_ms_24f"] = (time.process_time() - start) * 1e3 / repeats
    results["render_reference_op_after_ms"] = _median_ms(reference_op, repeats)
    results["render_human_segments"] = float(clip.segment_count)
    results["render_torch_threads"] = float(torch.get_num_threads())
    return results


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name}: {value:.1f}")
