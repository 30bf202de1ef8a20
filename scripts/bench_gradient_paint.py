"""Before/after timing and agreement of the training renderer's per-pixel gradient paint
(docs/render.md §11): the sample object with ``paint_gradients`` on, 24 frames at 256²,
forward + backward, float32, CPU.

"Before" is the renderer and `gradient_paint` module of a git revision (``--before``, default
the commit before the batched device path), loaded from git beside the working tree's, so both
are timed in one process, alternating, each the median of ``--repeats`` steps (wall time, and
process CPU time, which a loaded machine disturbs less with one thread). The same run
checks that they agree (images and point gradients, both backgrounds) on random poses: a
rotation, a reflection, a shape squashed onto a line (collapsed) and free noise.

    PYTHONPATH=. .venv/bin/python scripts/bench_gradient_paint.py [--before REV] [--repeats 15] [--threads 1]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch

from bench.render import swaying_frames
from flexiclip_core.render import TrainRenderConfig
from flexiclip_core.render.torch_renderer import TorchVectorRenderer
from flexiclip_core.svg import parse_svg

ROOT = Path(__file__).resolve().parents[1]
FRAMES, SIZE = 24, 256


def _module_at(revision: str, path: str, name: str, rewrite: dict[str, str]) -> types.ModuleType:
    source = subprocess.run(["git", "show", f"{revision}:{path}"], cwd=ROOT, check=True, capture_output=True, text=True)
    text = source.stdout
    for old, new in rewrite.items():
        if old not in text:
            raise SystemExit(f"{path} at {revision}: expected {old!r}")
        text = text.replace(old, new)
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    exec(compile(text, f"{revision}:{path}", "exec"), module.__dict__)
    return module


def before_renderer(revision: str) -> type:
    _module_at(revision, "flexiclip_core/render/gradient_paint.py", "_before_gradient_paint", {})
    module = _module_at(
        revision,
        "flexiclip_core/render/torch_renderer.py",
        "_before_torch_renderer",
        {
            "from flexiclip_core.render.gradient_paint import": "from _before_gradient_paint import",
            '@TRAINING_RENDERERS.register("torch")\n': "",
        },
    )
    return module.TorchVectorRenderer


def poses(clip, generator: np.random.Generator) -> np.ndarray:
    """[5, P, 2]: rest, rotated, reflected, the gradient shape squashed flat, free noise."""
    rest = clip.control_points()
    centre = rest.mean(axis=0)
    angle = 0.6
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    reflection = np.array([[-1.0, 0.0], [0.0, 1.0]]) @ rotation
    rotated = (rest - centre) @ (0.9 * rotation).T + centre + generator.normal(0, 1.5, rest.shape)
    reflected = (rest - centre) @ reflection.T + centre + generator.normal(0, 1.5, rest.shape)
    squashed = rest.copy()
    first = sum(shape.point_count for shape in clip.shapes[:2])  # shape 2 holds the glaze gradient
    squashed[first : first + clip.shapes[2].point_count, 1] = 140.0
    noisy = rest + generator.normal(0, 6.0, rest.shape)
    return np.stack([rest, rotated, reflected, squashed, noisy])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="e48cd2d")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clip = parse_svg(ROOT / "catalogs" / "samples" / "object.svg", clip_id="object")
    renderers = {"before": before_renderer(args.before), "after": TorchVectorRenderer}

    worst_image, worst_grad = 0.0, 0.0
    test_poses = torch.tensor(poses(clip, np.random.default_rng(0)), dtype=torch.float32)
    for background in ("white", "transparent"):
        config = TrainRenderConfig(size=SIZE, background=background, paint_gradients=True)
        outputs = {}
        for name, renderer_type in renderers.items():
            points = test_poses.clone().requires_grad_()
            image = renderer_type(clip, config).render(points)
            weights = torch.linspace(-1.0, 1.0, image.numel()).view_as(image)
            (image * weights).sum().backward()
            assert points.grad is not None
            outputs[name] = (image.detach(), points.grad)
        worst_image = max(worst_image, (outputs["before"][0] - outputs["after"][0]).abs().max().item())
        worst_grad = max(worst_grad, (outputs["before"][1] - outputs["after"][1]).abs().max().item())
    print(f"agreement on 5 poses, both backgrounds: max |Δimage| {worst_image:.2e}, max |Δgrad| {worst_grad:.2e}")

    config = TrainRenderConfig(size=SIZE, paint_gradients=True)
    points = torch.tensor(swaying_frames(clip.control_points(), FRAMES), dtype=torch.float32).requires_grad_()
    weights = torch.rand(FRAMES, 4, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    built = {name: renderer_type(clip, config) for name, renderer_type in renderers.items()}
    off = TorchVectorRenderer(clip, TrainRenderConfig(size=SIZE))
    built["off (mean colour)"] = off

    def step(renderer) -> tuple[float, float]:
        start, start_cpu = time.perf_counter(), time.process_time()
        renderer.render(points).backward(weights)
        points.grad = None
        return (time.perf_counter() - start) * 1e3, (time.process_time() - start_cpu) * 1e3

    times: dict[str, list[tuple[float, float]]] = {name: [] for name in built}
    for name in built:
        for _ in range(2):
            step(built[name])
    for _ in range(args.repeats):
        for name, renderer in built.items():
            times[name].append(step(renderer))
    print(f"forward + backward, {FRAMES} frames, {SIZE}², float32, {args.threads} thread(s), {args.repeats} reps:")
    for name, values in times.items():
        wall, cpu = [v[0] for v in values], [v[1] for v in values]
        print(
            f"  {name:18s} wall median {statistics.median(wall):6.1f} ms, fastest {min(wall):6.1f} ms;"
            f" process CPU median {statistics.median(cpu):6.1f} ms"
        )


if __name__ == "__main__":
    main()
