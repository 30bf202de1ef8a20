"""Clip paths in the torch training renderer (docs/render.md §12): a clipped layer's coverage
times its regions' coverage, differentiable in the clip points, in agreement with cairo's clip."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from flexiclip_core.clipart import Clipart, ClipRegion, Stroke, SubPath
from flexiclip_core.errors import RenderError
from flexiclip_core.render import TorchVectorRenderer, TrainRenderConfig, render_clipart_float
from flexiclip_core.svg import parse_svg
from tests.flexiclip_core.render.scenes import (
    circle_points,
    clip_of,
    fill_shape,
    polygon_points,
    soft_iou,
    star_vertices,
)
from tests.flexiclip_core.svg.resvg import document
from tests.flexiclip_core.svg.test_clip_paths import BACKDROP, CLIP_CASES


def region(*subpaths: np.ndarray, rule: str = "nonzero") -> ClipRegion:
    return ClipRegion(tuple(SubPath(np.asarray(p, dtype=np.float64), True) for p in subpaths), rule)  # type: ignore[arg-type]


def clipped_scene() -> Clipart:
    """An unclipped disc; a stroked star clipped by a disc and an even-odd ring (two regions);
    a square clipped by a rotated square."""
    disc = fill_shape(circle_points(70.3, 80.6, 50.2), rgb=(0.9, 0.2, 0.1), opacity=0.7)
    star = fill_shape(
        polygon_points(star_vertices(140.7, 130.2, 90.3, 40.1)),
        rgb=(0.1, 0.3, 0.8),
        opacity=0.9,
        stroke=Stroke((0.1, 0.1, 0.1), 9.3, opacity=0.8, linejoin="round"),
    )
    star = replace(
        star,
        clip=(
            region(circle_points(150.2, 120.4, 70.6)),
            region(circle_points(130.1, 140.3, 80.2), circle_points(131.4, 139.2, 30.7), rule="evenodd"),
        ),
    )
    corners = np.array([[128.0, 40.0], [200.0, 90.0], [150.0, 160.0], [80.0, 110.0]]) + 0.37
    square = fill_shape(polygon_points(np.array([[60.3, 150.2], [140.6, 150.2], [140.6, 230.4], [60.3, 230.4]])))
    square = replace(square, clip=(region(polygon_points(corners + [-30.0, 90.0])),))
    return clip_of(disc, star, square)


def test_gradcheck_points_and_clip_points_float64():
    clip = clipped_scene()
    renderer = TorchVectorRenderer(clip, TrainRenderConfig(size=24), dtype=torch.float64)
    generator = torch.Generator().manual_seed(0)
    base = torch.from_numpy(clip.control_points())
    clip_base = torch.from_numpy(clip.clip_points())
    points = torch.stack([base, base + 0.5 * torch.randn(base.shape, generator=generator, dtype=torch.float64)])
    clip_points = torch.stack(
        [clip_base, clip_base + 2.0 + 0.5 * torch.randn(clip_base.shape, generator=generator, dtype=torch.float64)]
    )
    inputs = (points.requires_grad_(), clip_points.requires_grad_())

    def render(p: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return renderer.render(p, clip_points=c)

    assert torch.autograd.gradcheck(render, inputs, eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=True)
    image = render(*inputs)
    grads = torch.autograd.grad((image * torch.rand_like(image)).sum(), inputs)
    assert all(grad.abs().sum() > 0 for grad in grads)  # the clip points move the image


def test_float32_clip_point_gradient_matches_central_differences():
    clip = clipped_scene()
    size = 64
    renderer32 = TorchVectorRenderer(clip, TrainRenderConfig(size=size), dtype=torch.float32)
    renderer64 = TorchVectorRenderer(clip, TrainRenderConfig(size=size), dtype=torch.float64)
    weights = torch.rand(1, 4, size, size, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    points = torch.from_numpy(clip.control_points())[None]
    clip_points = torch.from_numpy(clip.clip_points())[None]

    def loss64(c: torch.Tensor) -> float:
        return float((renderer64.render(points, clip_points=c) * weights).sum())

    c32 = clip_points.float().requires_grad_()
    (renderer32.render(points.float(), clip_points=c32) * weights.float()).sum().backward()
    generator = torch.Generator().manual_seed(3)
    directions = [torch.randn(clip_points.shape, generator=generator, dtype=torch.float64) for _ in range(8)]
    step = 1e-3
    autograd = torch.stack([(c32.grad.double() * v).sum() for v in directions])
    numeric = torch.tensor(
        [(loss64(clip_points + step * v) - loss64(clip_points - step * v)) / (2 * step) for v in directions]
    )
    assert float((autograd - numeric).norm() / numeric.norm()) < 0.03
    assert numeric.abs().max() > 0.1


def _against_final(clip: Clipart, clip_points: np.ndarray | None = None) -> tuple[float, float]:
    """(soft IoU of alpha, PSNR dB over white) of the torch renderer vs cairo (4×4 supersampled)."""
    renderer = TorchVectorRenderer(clip, TrainRenderConfig(size=256), dtype=torch.float64)
    posed = clip if clip_points is None else clip.with_clip_points(clip_points)
    with torch.no_grad():
        image = renderer.render(
            torch.from_numpy(clip.control_points())[None],
            clip_points=torch.from_numpy(posed.clip_points())[None],
        )[0]
    ours = image.permute(1, 2, 0).numpy()
    reference = render_clipart_float(posed, 256, supersample=4, background="transparent").astype(np.float64)
    alpha = reference[..., 3:]
    mse = float(((ours[..., :3] - (reference[..., :3] * alpha + 1.0 - alpha)) ** 2).mean())
    return soft_iou(ours[..., 3], reference[..., 3]), 10.0 * math.log10(1.0 / max(mse, 1e-12))


@pytest.mark.parametrize("case", sorted(CLIP_CASES))
def test_clip_cases_match_the_final_renderer(case: str):
    iou, psnr = _against_final(parse_svg(document(BACKDROP + CLIP_CASES[case]).encode()))
    assert iou >= 0.99 and psnr >= 30.0, f"soft IoU {iou:.4f}, PSNR {psnr:.1f} dB"


def test_moved_clip_points_match_the_final_renderer_and_change_the_image():
    clip = clipped_scene()
    moved = clip.clip_points() + np.array([-25.3, 18.1])
    iou, psnr = _against_final(clip, moved)
    assert iou >= 0.99 and psnr >= 30.0
    unmoved_iou, _ = _against_final(clip, None)
    renderer = TorchVectorRenderer(clip, TrainRenderConfig(size=64), dtype=torch.float64)
    points = torch.from_numpy(clip.control_points())[None]
    rest = renderer.render(points)
    shifted = renderer.render(points, clip_points=torch.from_numpy(moved)[None])
    assert float((rest - shifted).abs().sum()) > 10.0 and unmoved_iou >= 0.99


def test_unclipped_shapes_render_as_without_clips():
    clip = clipped_scene()
    unclipped_only = clip_of(clip.shapes[0])
    # The disc alone, and the disc in a drawing that also holds clipped shapes, draw the same
    # pixels where only the disc lies.
    alone = TorchVectorRenderer(unclipped_only, TrainRenderConfig(size=64))
    full = TorchVectorRenderer(clip, TrainRenderConfig(size=64))
    disc_area = (slice(None), slice(None), slice(0, 20), slice(0, 20))
    full_image = full.render(torch.tensor(clip.control_points(), dtype=torch.float32)[None])
    alone_image = alone.render(torch.tensor(unclipped_only.control_points(), dtype=torch.float32)[None])
    assert float((1.0 - alone_image[disc_area][:, :3]).abs().sum()) > 1.0  # the disc is there
    assert torch.allclose(full_image[disc_area], alone_image[disc_area], atol=1e-6)


def test_clip_points_shape_is_checked():
    clip = clipped_scene()
    renderer = TorchVectorRenderer(clip, TrainRenderConfig(size=16))
    points = torch.tensor(clip.control_points(), dtype=torch.float32)[None]
    with pytest.raises(RenderError, match="clip points of shape"):
        renderer.render(points, clip_points=torch.zeros(1, 3, 2))
