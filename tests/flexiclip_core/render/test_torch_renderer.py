"""The torch training renderer as a whole: gradients, batching, its interface, and agreement
with the final (cairo) renderer on real clipart."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from flexiclip_core.clipart import Clipart
from flexiclip_core.errors import ConfigError, RenderError
from flexiclip_core.render import TRAINING_RENDERERS, TorchVectorRenderer, TrainRenderConfig
from tests.flexiclip_core.render.scenes import (
    circle_points,
    clip_of,
    fill_shape,
    layer_coverage_reference,
    overlapping_scene,
    polygon_points,
    soft_iou,
    star_vertices,
)


def test_gradcheck_points_colours_and_widths_float64():
    clip = overlapping_scene()
    renderer = TorchVectorRenderer(clip, TrainRenderConfig(size=24), dtype=torch.float64)
    base = torch.from_numpy(clip.control_points())
    points = torch.stack(
        [
            base,
            base
            + torch.tensor([3.1, -2.3])
            + 0.5 * torch.randn(base.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64),
        ]
    )
    fill = renderer.default_fill_rgba.clone()
    stroke = renderer.default_stroke_rgba.clone()
    width = renderer.default_stroke_width.clone()
    inputs = tuple(t.clone().requires_grad_() for t in (points, fill, stroke, width))
    assert torch.autograd.gradcheck(renderer.render, inputs, eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=True)
    # The check must not be vacuous: every kind of input moves the image.
    image = renderer.render(*inputs)
    grads = torch.autograd.grad((image * torch.rand_like(image)).sum(), inputs)
    for grad in grads:
        assert grad.abs().sum() > 0


def test_float32_gradient_matches_central_differences():
    clip = overlapping_scene()
    size = 64
    renderer32 = TorchVectorRenderer(clip, TrainRenderConfig(size=size), dtype=torch.float32)
    renderer64 = TorchVectorRenderer(clip, TrainRenderConfig(size=size), dtype=torch.float64)
    weights = torch.rand(1, 4, size, size, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    points = torch.from_numpy(clip.control_points())[None]

    def loss64(p: torch.Tensor) -> float:
        return float((renderer64.render(p) * weights).sum())

    p32 = points.float().requires_grad_()
    (renderer32.render(p32) * weights.float()).sum().backward()
    # Directional derivatives along random directions (each a central difference in float64)
    # and along each coordinate of the first three control points.
    generator = torch.Generator().manual_seed(3)
    directions = [torch.randn(points.shape, generator=generator, dtype=torch.float64) for _ in range(8)]
    for i in range(6):
        unit = torch.zeros_like(points)
        unit.view(-1)[i] = 1.0
        directions.append(unit)
    step = 1e-3
    autograd = torch.stack([(p32.grad.double() * v).sum() for v in directions])
    numeric = torch.tensor([(loss64(points + step * v) - loss64(points - step * v)) / (2 * step) for v in directions])
    relative = float((autograd - numeric).norm() / numeric.norm())
    assert relative < 0.03
    assert numeric.abs().max() > 0.1  # a real signal, not two zeros agreeing


def test_pushing_star_vertices_outward_grows_coverage():
    vertices = star_vertices(128.3, 127.9, 100.0, 40.0)
    clip = clip_of(fill_shape(polygon_points(vertices)))
    renderer = TorchVectorRenderer(clip, TrainRenderConfig(size=64))
    points = torch.tensor(clip.control_points(), dtype=torch.float32)[None].requires_grad_()
    area = renderer.render(points)[:, 3].sum()
    area.backward()
    outward = points.detach()[0] - torch.tensor([128.3, 127.9])
    outward = outward / outward.norm(dim=1, keepdim=True)
    assert float((points.grad[0] * outward).sum()) > 0
    # Every vertex on its own pulls outward (only the vertices' own points, not the 1/3 handles).
    vertex_rows = torch.arange(0, len(points[0]) - 1, 3)
    assert bool(((points.grad[0, vertex_rows] * outward[vertex_rows]).sum(1) > 0).all())
    with torch.no_grad():
        moved = renderer.render(points + 2.0 * outward)[:, 3].sum()
    assert float(moved) > float(area.detach()) + 1.0


def test_batched_frames_equal_single_renders():
    clip = overlapping_scene()
    renderer = TorchVectorRenderer(clip, TrainRenderConfig(size=48))
    base = torch.tensor(clip.control_points(), dtype=torch.float32)
    generator = torch.Generator().manual_seed(2)
    frames = torch.stack([base + 4.0 * torch.randn(base.shape, generator=generator) for _ in range(3)])
    batched = renderer.render(frames)
    singles = torch.cat([renderer.render(frames[i : i + 1]) for i in range(3)])
    # Chord counts are the max over the batch, so curves are flattened slightly differently
    # (chords ≤ 1 px either way); straight edges and everything else agree to rounding.
    assert (batched - singles).abs().max() < 0.01
    assert (batched - singles).abs().mean() < 1e-4
    assert (batched[0] - batched[1]).abs().max() > 0.5  # the frames really differ


def test_registry_config_and_errors():
    assert TRAINING_RENDERERS.get("torch") is TorchVectorRenderer
    # diffvg's backend is always a known name; where pydiffvg does not import, building it
    # fails with a message naming the package (tests/flexiclip_core/render/test_diffvg_renderer.py).
    assert "pydiffvg" in TRAINING_RENDERERS
    with pytest.raises(ConfigError):
        TrainRenderConfig(max_chord_px=1.5)
    with pytest.raises(ConfigError):
        TrainRenderConfig(background="black")
    with pytest.raises(ConfigError):
        TrainRenderConfig(size=0)
    clip = overlapping_scene()
    renderer = TorchVectorRenderer(clip)
    with pytest.raises(RenderError, match="test"):
        renderer.render(torch.zeros(1, clip.point_count + 1, 2))
    bad = torch.tensor(clip.control_points(), dtype=torch.float32)[None].clone()
    bad[0, 3, 0] = float("nan")
    with pytest.raises(RenderError, match="non-finite"):
        renderer.render(bad)


def test_shapes_outside_the_canvas_and_empty_clips_render():
    clip = clip_of(fill_shape(circle_points(-300.0, 50.0, 40.0)), fill_shape(circle_points(128.0, 128.0, 40.0)))
    renderer = TorchVectorRenderer(clip, TrainRenderConfig(size=32))
    points = torch.tensor(clip.control_points(), dtype=torch.float32)[None].requires_grad_()
    image = renderer.render(points)
    assert float(image.detach()[0, 3].sum()) == pytest.approx(math.pi * 5.0**2, rel=0.01)
    image.sum().backward()
    assert torch.isfinite(points.grad).all()
    empty = TorchVectorRenderer(Clipart(()), TrainRenderConfig(size=16))
    blank = empty.render(torch.zeros(2, 0, 2))
    assert blank.shape == (2, 4, 16, 16)
    assert torch.equal(blank[:, :3], torch.ones(2, 3, 16, 16))


def _compare_with_final_renderer(clip: Clipart) -> tuple[float, float, float]:
    """(soft IoU of alpha, PSNR dB of the colour over white) against `render.final` at 256², and
    the soft IoU of alpha against `layer_coverage_reference`."""
    from flexiclip_core.render.final import render_clipart

    renderer = TorchVectorRenderer(clip, TrainRenderConfig(size=256, background="white"))
    with torch.no_grad():
        image = renderer.render(torch.tensor(clip.control_points(), dtype=torch.float32)[None])[0]
    ours = image.permute(1, 2, 0).numpy().astype(np.float64)
    # The training renderer paints each gradient's mean colour and opacity (docs/render.md §11):
    # compare with the final renderer drawing those means.
    flat = dataclasses.replace(
        clip,
        shapes=tuple(
            dataclasses.replace(
                shape,
                fill=None if shape.fill is None else dataclasses.replace(shape.fill, gradient=None),
                stroke=None if shape.stroke is None else dataclasses.replace(shape.stroke, gradient=None),
            )
            for shape in clip.shapes
        ),
    )
    reference = render_clipart(flat, 256, background="transparent").astype(np.float64) / 255.0
    alpha = reference[..., 3:]
    reference_rgb = reference[..., :3] * alpha + (1.0 - alpha)
    mse = float(((ours[..., :3] - reference_rgb) ** 2).mean())
    psnr = 10.0 * math.log10(1.0 / max(mse, 1e-12))
    return soft_iou(ours[..., 3], reference[..., 3]), psnr, soft_iou(ours[..., 3], layer_coverage_reference(clip))


def test_sample_clipart_matches_final_renderer(samples_dir):
    from flexiclip_core.svg import parse_svg

    paths = sorted(samples_dir.glob("*.svg"))
    assert paths, "catalogs/samples has no SVGs"
    for path in paths:
        iou, psnr, exact_iou = _compare_with_final_renderer(parse_svg(path))
        assert iou >= 0.99, path.name
        assert exact_iou >= 0.995, path.name
        assert psnr >= 30.0, path.name


def check_against_final_renderer(files: list[Path], min_files: int, distribution: bool) -> None:
    """Soft IoU (Σmin/Σmax of alpha, stricter than thresholded IoU) of every file that parses.

    Per file, against the final renderer with exact per-layer coverage
    (`layer_coverage_reference`), the training renderer must reach 0.99. What remains below is
    named in flexiclip_core/render: thin strokes folding inside one pixel (max, not union), miter joins
    drawn round. Against cairo's plain 256² image the bar is a distribution: on line art that
    image is itself up to 5% (IoU) from exact coverage (15 sub-rows per pixel). The bars on the
    median and the share hold for a whole corpus folder (``distribution``); the stratified sample
    over-represents the hardest files by construction, so only the per-file bars apply to it.
    """
    from flexiclip_core.errors import SvgParseError
    from flexiclip_core.svg import parse_svg

    plain, exact = {}, {}
    for path in files:
        try:
            clip = parse_svg(path)
        except SvgParseError:
            continue
        name = str(path.relative_to(path.parents[1]))
        plain[name], _, exact[name] = _compare_with_final_renderer(clip)
    for scores, median, share, least in ((exact, 0.999, 0.99, 0.97), (plain, 0.998, 0.94, 0.92)):
        ious = np.array(list(scores.values()))
        assert len(ious) >= min_files
        worst = sorted(scores.items(), key=lambda item: item[1])[:5]
        if distribution:
            assert np.median(ious) >= median, worst
            assert (ious >= 0.99).mean() >= share, worst
        assert ious.min() >= least, worst


@pytest.mark.slow
def test_corpus_sample_matches_final_renderer(corpus_sample: list[Path]):
    check_against_final_renderer(corpus_sample, min_files=len(corpus_sample) - 3, distribution=False)


@pytest.mark.slow
@pytest.mark.corpus_full
def test_openclipart_people_and_animals_match_final_renderer(corpus_people_animals: list[Path]):
    check_against_final_renderer(corpus_people_animals, min_files=500, distribution=True)
