"""Per-pixel gradient paint for the training renderer (``TrainRenderConfig.paint_gradients``,
docs/render.md §11).

The colour field of a `LinearGradient`/`RadialGradient` placed in canvas px, evaluated at pixel
centres with the final renderer's semantics: the gradient parameter t in gradient space (the
frame's inverse), the spread method, then the stop ramp interpolating straight colours and
alphas, every alpha times ``gradient.opacity``. The pose's gradient comes from
`paint_motion.posed_paint`, the function the final renderer calls, so the two carry it alike.
The field is computed without autograd: the colour does not depend on the control points here
(their gradients reach them through the coverage edges only).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from flexiclip_core.clipart import Fill, Gradient, LinearGradient, SpreadMethod, Stroke

_DEGENERATE_QUADRATIC = 1e-9
"""|a| below this fraction of the quadratic's scale makes the radial equation linear in t (the
focal circle touching the end circle)."""


def gradient_parameter(
    gradient: Gradient,
    gx: Tensor,  # [...] gradient-space x (the frame's inverse applied to canvas px)
    gy: Tensor,  # [...] gradient-space y, same shape
) -> tuple[Tensor, Tensor]:  # t [...], painted [...] bool
    """The gradient parameter t at gradient-space points (gx, gy) before the spread method, and
    where the gradient paints at all (a radial gradient paints nothing outside the cone its two
    circles span). Linear: the projection on (x1, y1) → (x2, y2). Radial (two-point conical,
    SVG 2 / pixman): the largest t whose circle, centre f + t(c − f), radius fr + t(r − fr) ≥ 0,
    passes through the point."""
    if isinstance(gradient, LinearGradient):
        dx, dy = gradient.x2 - gradient.x1, gradient.y2 - gradient.y1
        length2 = dx * dx + dy * dy  # > 0: the parser paints a zero-length vector as a solid colour
        t = ((gx - gradient.x1) * dx + (gy - gradient.y1) * dy) / length2
        return t, torch.ones_like(t, dtype=torch.bool)
    # |p − f − t·cd| = fr + t·dr  ⇔  a t² − 2 b t + c = 0.
    cdx, cdy = gradient.cx - gradient.fx, gradient.cy - gradient.fy
    dr = gradient.r - gradient.fr
    pdx, pdy = gx - gradient.fx, gy - gradient.fy
    a = cdx * cdx + cdy * cdy - dr * dr
    b = pdx * cdx + pdy * cdy + gradient.fr * dr
    c = pdx * pdx + pdy * pdy - gradient.fr * gradient.fr
    if abs(a) <= _DEGENERATE_QUADRATIC * max(cdx * cdx + cdy * cdy, dr * dr, 1e-300):
        t = c / (2.0 * b)
        painted = (b != 0) & (gradient.fr + t * dr >= 0)
        return torch.where(painted, t, torch.zeros_like(t)), painted
    discriminant = b * b - a * c
    root = torch.sqrt(discriminant.clamp(min=0.0))
    larger = torch.maximum((b + root) / a, (b - root) / a)
    smaller = torch.minimum((b + root) / a, (b - root) / a)
    real = discriminant >= 0
    larger_ok = real & (gradient.fr + larger * dr >= 0)
    smaller_ok = real & (gradient.fr + smaller * dr >= 0)
    t = torch.where(larger_ok, larger, smaller)
    painted = larger_ok | smaller_ok
    return torch.where(painted, t, torch.zeros_like(t)), painted


def spread(t: Tensor, method: SpreadMethod) -> Tensor:
    """t mapped into [0, 1] by SVG's spreadMethod: pad clamps, repeat takes the fraction,
    reflect folds every other period back."""
    if method == "pad":
        return t.clamp(0.0, 1.0)
    if method == "repeat":
        return t - torch.floor(t)
    folded = t - 2.0 * torch.floor(0.5 * t)  # [0, 2)
    return torch.where(folded > 1.0, 2.0 - folded, folded)


def stop_ramp(gradient: Gradient, t: Tensor) -> tuple[Tensor, Tensor]:  # rgb [B, 3, H, W], alpha [B, H, W]
    """Straight colour and alpha at spread t ∈ [0, 1] ([B, H, W]): stops linearly interpolated
    (straight colours, as pixman, SVG and resvg do), the first / last stop's before / after
    them, a hard step (two stops at one offset) taking the later stop at its offset; each alpha
    times ``gradient.opacity``. A sum of one clamped ramp per pair of stops: elementwise ops only."""
    stops = gradient.stops
    rgba = [(*stop.rgb, stop.alpha * gradient.opacity) for stop in stops]
    field = t.new_tensor(rgba[0]).view(1, 4, 1, 1).expand(t.shape[0], 4, *t.shape[1:]).clone()  # [B, 4, H, W]
    for (offset, colour), (next_offset, next_colour) in zip(
        zip((stop.offset for stop in stops), rgba), zip((stop.offset for stop in stops[1:]), rgba[1:])
    ):
        step = t.new_tensor([b - a for a, b in zip(colour, next_colour)]).view(1, 4, 1, 1)
        if next_offset > offset:
            weight = ((t - offset) / (next_offset - offset)).clamp(0.0, 1.0)
        else:
            weight = (t >= offset).to(t.dtype)
        field += weight.unsqueeze(1) * step
    return field[:, :3], field[:, 3]


@torch.no_grad()
def paint_field(
    paints: list[Fill | Stroke],  # one per frame, carried into that frame's pose (`posed_paint`)
    x: Tensor,  # [W] canvas px of the pixel centres of a crop's columns
    y: Tensor,  # [H] canvas px of its rows' centres
) -> tuple[Tensor, Tensor]:  # rgb [B, 3, H, W], alpha [B, H, W]
    """The straight colour and the opacity of one fill or stroke over a crop, per frame: its
    gradient's field, or its flat colour and opacity in a frame whose pose collapsed the
    gradient (`posed_paint` then drops it, and the final renderer paints that colour too).
    The frames' gradients differ only in their frames, so all frames are evaluated at once."""
    template = next((paint.gradient for paint in paints if paint.gradient is not None), None)
    flat_rgb = x.new_tensor([paint.rgb for paint in paints]).view(-1, 3, 1, 1)  # [B, 3, 1, 1]
    flat_alpha = x.new_tensor([paint.opacity for paint in paints]).view(-1, 1, 1)  # [B, 1, 1]
    if template is None:
        shape = (len(paints), len(y), len(x))
        return flat_rgb.expand(-1, -1, *shape[1:]).clone(), flat_alpha.expand(shape).clone()
    # Canvas px → gradient space per frame: [B, 2, 3] (identity rows where the gradient collapsed).
    inverses = np.stack(
        [np.eye(3)[:2] if paint.gradient is None else np.linalg.inv(paint.gradient.matrix())[:2] for paint in paints]
    )
    inverse = x.new_tensor(inverses).view(-1, 2, 3, 1, 1)
    grid_x, grid_y = x.view(1, 1, -1), y.view(1, -1, 1)  # broadcast to [B, H, W]
    gx = inverse[:, 0, 0] * grid_x + inverse[:, 0, 1] * grid_y + inverse[:, 0, 2]
    gy = inverse[:, 1, 0] * grid_x + inverse[:, 1, 1] * grid_y + inverse[:, 1, 2]
    t, painted = gradient_parameter(template, gx, gy)
    colour, alpha = stop_ramp(template, spread(t, template.spread))  # [B, 3, H, W], [B, H, W]
    alpha = torch.where(painted, alpha, torch.zeros_like(alpha))
    collapsed = x.new_tensor([paint.gradient is None for paint in paints], dtype=torch.bool)
    if bool(collapsed.any()):
        rgb = torch.where(collapsed.view(-1, 1, 1, 1), flat_rgb, colour)
        return rgb, torch.where(collapsed.view(-1, 1, 1), flat_alpha, alpha)
    return colour, alpha
