"""Compositing: layers back to front with premultiplied "over", batched over frames.

A custom autograd function (`Composite`) touches each layer's crop only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from flexiclip_core.render.layout import Crops


@dataclass(frozen=True)
class PaintStep:
    """One layer's place in the coverage buffers and on the canvas."""

    is_fill: bool
    colour_row: int
    """Row of the stacked [L, 4] colour table."""
    offset: int
    row_stride: int
    x: int
    y: int
    height: int
    width: int
    pixel_paint: int = -1
    """Index of this layer's per-pixel paint [B, 3, height, width] among the `Composite`'s
    ``pixel_paints`` (a gradient, docs/render.md §11); -1: the one colour of ``colour_row``."""


class Composite(torch.autograd.Function):
    """Premultiplied back-to-front "over" of all layers, each touching only its crop.

    Takes every layer's alpha (coverage × opacity) in the flat crop buffers, so the per-layer
    Python loop does only the few ops that must be sequential. Saves the canvas under each crop
    before painting it (the only way to get ∂/∂alpha without dividing by 1 − alpha) and replays
    the layers in reverse in backward. Whole-canvas passes dominate small clips, so the canvas
    starts as the background and backward copies only the gradient inside the crops' union.

    A layer with a per-pixel paint (``pixel_paints``, straight colours [B, 3, h, w] over its
    crop: a gradient) is painted with it instead of its row of ``paint_rgb``; that paint is
    taken as constant (no gradient flows to it or to its row).
    """

    @staticmethod
    def forward(
        ctx,
        fill_alpha: Tensor,
        stroke_alpha: Tensor,
        paint_rgb: Tensor,
        steps,
        size: int,
        white: bool,
        pixel_paints: tuple[Tensor, ...] = (),
    ) -> Tensor:
        batch = fill_alpha.shape[0]
        canvas = fill_alpha.new_empty(batch, 4, size, size)
        canvas[:, :3].fill_(1.0 if white else 0.0)
        canvas[:, 3].fill_(0.0)
        # Premultiplied paint [L, 4, 1, 1]: colour, and 1 for the alpha channel.
        paints = torch.cat([paint_rgb, torch.ones_like(paint_rgb[:, :1])], dim=1)[:, :, None, None]
        saved = []
        for step in steps:
            alpha = _step_view(step, fill_alpha if step.is_fill else stroke_alpha).unsqueeze(1)
            region = canvas[:, :, step.y : step.y + step.height, step.x : step.x + step.width]
            saved.append(region.clone())
            paint = paints[step.colour_row] if step.pixel_paint < 0 else _with_alpha(pixel_paints[step.pixel_paint])
            # canvas' = paint + (1 − alpha)(canvas − paint) = canvas + alpha (paint − canvas)
            region.sub_(paint).mul_(1.0 - alpha).add_(paint)
        ctx.steps = steps
        ctx.saved_regions = saved
        ctx.pixel_paints = pixel_paints
        ctx.save_for_backward(fill_alpha, stroke_alpha, paint_rgb)
        return canvas

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_canvas: Tensor):
        fill_alpha, stroke_alpha, paint_rgb = ctx.saved_tensors
        steps = ctx.steps
        grad_fill = torch.zeros_like(fill_alpha)
        grad_stroke = torch.zeros_like(stroke_alpha)
        grad_paint = torch.zeros_like(paint_rgb)
        if not steps:
            return grad_fill, grad_stroke, grad_paint, None, None, None, None
        x0 = min(step.x for step in steps)
        y0 = min(step.y for step in steps)
        x1 = max(step.x + step.width for step in steps)
        y1 = max(step.y + step.height for step in steps)
        grad = grad_canvas[:, :, y0:y1, x0:x1].clone()  # only the union of the crops matters
        paints = torch.cat([paint_rgb, torch.ones_like(paint_rgb[:, :1])], dim=1)[:, :, None, None]
        for step, previous in zip(reversed(steps), reversed(ctx.saved_regions)):
            alpha = _step_view(step, fill_alpha if step.is_fill else stroke_alpha).unsqueeze(1)
            region = grad[:, :, step.y - y0 : step.y - y0 + step.height, step.x - x0 : step.x - x0 + step.width]
            # ∂/∂alpha of canvas' = previous + alpha (paint − previous)
            grad_alpha = _step_view(step, grad_fill if step.is_fill else grad_stroke)
            if step.pixel_paint < 0:
                grad_alpha.copy_(((paints[step.colour_row] - previous) * region).sum(1))
                grad_paint[step.colour_row] += (region[:, :3] * alpha).sum((0, 2, 3))
            else:
                pixel_paint = _with_alpha(ctx.pixel_paints[step.pixel_paint])
                grad_alpha.copy_(((pixel_paint - previous) * region).sum(1))
            region.mul_(1.0 - alpha)
        return grad_fill, grad_stroke, grad_paint, None, None, None, None


def _with_alpha(rgb: Tensor) -> Tensor:
    """[B, 3, h, w] straight colour → [B, 4, h, w] with 1 in the alpha channel (as the solid
    paints' rows)."""
    return torch.cat([rgb, torch.ones_like(rgb[:, :1])], dim=1)


def _step_view(step: PaintStep, buffer: Tensor) -> Tensor:
    """The [B, h, w] crop of one layer inside a flat [B, frame_size] buffer."""
    size = step.height * step.row_stride
    return buffer[:, step.offset : step.offset + size].view(-1, step.height, step.row_stride)[..., : step.width]


def layer_of_element(crops: Crops, device: torch.device) -> Tensor:
    """int64 [frame_size]: the layer slot each element of a per-frame crop buffer belongs to."""
    blocks = torch.from_numpy(crops.height * crops.row_stride).to(device)
    return torch.repeat_interleave(torch.arange(len(blocks), device=device), blocks, output_size=crops.frame_size)
