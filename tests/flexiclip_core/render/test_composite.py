"""Compositing of layers ("over", backgrounds) by the torch training renderer."""

from __future__ import annotations

import torch

from flexiclip_core.render import TorchVectorRenderer, TrainRenderConfig
from tests.flexiclip_core.render.scenes import (
    clip_of,
    fill_shape,
    polygon_points,
)


def test_colours_composite_over_like_svg():
    # Opaque red square under a half-transparent blue one: (0.5, 0, 0.5) where they overlap.
    red = fill_shape(polygon_points([[0, 0], [128, 0], [128, 128], [0, 128]]), rgb=(1.0, 0.0, 0.0))
    blue = fill_shape(polygon_points([[64, 64], [192, 64], [192, 192], [64, 192]]), rgb=(0.0, 0.0, 1.0), opacity=0.5)
    clip = clip_of(red, blue)
    for background, outside_blue in (("white", (0.5, 0.5, 1.0)), ("transparent", (0.0, 0.0, 0.5))):
        renderer = TorchVectorRenderer(clip, TrainRenderConfig(size=32, background=background))
        image = renderer.render(torch.tensor(clip.control_points(), dtype=torch.float32)[None])[0]
        assert image.shape == (4, 32, 32)
        assert torch.allclose(image[:, 12, 12], torch.tensor([0.5, 0.0, 0.5, 1.0]), atol=1e-5)
        assert torch.allclose(image[:, 20, 20], torch.tensor([*outside_blue, 0.5]), atol=1e-5)
        assert torch.allclose(image[:, 4, 4], torch.tensor([1.0, 0.0, 0.0, 1.0]), atol=1e-5)
        empty = 1.0 if background == "white" else 0.0
        assert torch.allclose(image[:, 28, 4], torch.tensor([empty, empty, empty, 0.0]), atol=1e-6)
