"""The pydiffvg training renderer: selectable by name everywhere, tested where pydiffvg imports."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from flexiclip_core.errors import ConfigError
from flexiclip_core.render import TRAINING_RENDERERS, PydiffvgRenderer, TrainRenderConfig
from tests.flexiclip_core.render.scenes import overlapping_scene, soft_iou

HAS_PYDIFFVG = importlib.util.find_spec("pydiffvg") is not None


def test_pydiffvg_is_a_registered_training_renderer():
    assert TRAINING_RENDERERS.get("pydiffvg") is PydiffvgRenderer


@pytest.mark.skipif(HAS_PYDIFFVG, reason="pydiffvg imports here: the missing-package error cannot occur")
def test_missing_pydiffvg_is_a_config_error_naming_the_package():
    with pytest.raises(ConfigError, match="pydiffvg.*does not import.*training_renderer='torch'"):
        PydiffvgRenderer(overlapping_scene())


@pytest.mark.skipif(not HAS_PYDIFFVG, reason="pydiffvg is not importable here (no wheel; build diffvg from source)")
def test_pydiffvg_agrees_with_the_torch_renderer_and_has_gradients():
    clip = overlapping_scene()
    config = TrainRenderConfig(size=64)
    points = torch.tensor(clip.control_points(), dtype=torch.float32)[None].requires_grad_()
    ours = TRAINING_RENDERERS.get("torch")(clip, config).render(points.detach())[0]
    theirs = PydiffvgRenderer(clip, config).render(points)
    assert theirs.shape == (1, 4, 64, 64)
    assert soft_iou(theirs[0, 3].detach().numpy(), ours[3].numpy()) >= 0.98
    theirs[:, :3].mean().backward()
    assert torch.isfinite(points.grad).all() and points.grad.abs().sum() > 0
