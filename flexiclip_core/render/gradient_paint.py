"""Per-pixel gradient paint for the training renderer (``TrainRenderConfig.paint_gradients``,
docs/render.md §11).

The colour field of a `LinearGradient`/`RadialGradient` placed in canvas px, evaluated at pixel
centres with the final renderer's semantics: the gradient parameter t in gradient space (the
frame's inverse), the spread method, then the stop ramp interpolating straight colours and
alphas, every alpha times ``gradient.opacity``. Each frame's gradient is carried by
`paint_motion.posed_paint`'s rule, the one the final renderer follows, applied to all frames at
once on the device (`GradientPaint.inverse_frames`: the same `AffineFit` and `collapses`), so the
two carry it alike and no host sync is needed. The field is computed without autograd: the
colour does not depend on the control points here (their gradients reach them through the
coverage edges only).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from flexiclip_core.clipart import Fill, Gradient, LinearGradient, SpreadMethod, Stroke
from flexiclip_core.paint_motion import AffineFit, collapses

_DEGENERATE_QUADRATIC = 1e-9
"""|a| below this fraction of the quadratic's scale makes the radial equation linear in t (the
focal circle touching the end circle)."""


def gradient_parameter(
    gradient: Gradient,
    gx: Tensor,  # [...] gradient-space x (the frame's inverse applied to canvas px)
    gy: Tensor,  # [...] gradient-space y, same shape
) -> tuple[Tensor, Tensor | None]:  # t [...], painted [...] bool or None (everywhere)
    """The gradient parameter t at gradient-space points (gx, gy) before the spread method, and
    where the gradient paints at all (None: everywhere; a radial gradient paints nothing outside
    the cone its two circles span). Linear: the projection on (x1, y1) → (x2, y2). Radial (two-point conical,
    SVG 2 / pixman): the largest t whose circle, centre f + t(c − f), radius fr + t(r − fr) ≥ 0,
    passes through the point."""
    if isinstance(gradient, LinearGradient):
        dx, dy = gradient.x2 - gradient.x1, gradient.y2 - gradient.y1
        length2 = dx * dx + dy * dy  # > 0: the parser paints a zero-length vector as a solid colour
        t = ((gx - gradient.x1) * dx + (gy - gradient.y1) * dy) / length2
        return t, None
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


def stop_colours(gradient: Gradient) -> list[tuple[float, float, float, float]]:
    """Each stop's straight sRGB colour and alpha, the alpha times ``gradient.opacity``."""
    return [(*stop.rgb, stop.alpha * gradient.opacity) for stop in gradient.stops]


def stop_ramp(
    offsets: tuple[float, ...],  # [K] the stops' offsets, non-decreasing in [0, 1]
    rgba: Tensor,  # [B, K, 4] their colours (`stop_colours`) per frame, on t's device and dtype
    t: Tensor,  # [B, H, W] spread t ∈ [0, 1]
) -> tuple[Tensor, Tensor]:  # rgb [B, 3, H, W], alpha [B, H, W]
    """Straight colour and alpha at spread t: stops linearly interpolated (straight colours, as
    pixman, SVG and resvg do), the first / last stop's before / after them, a hard step (two
    stops at one offset) taking the later stop at its offset. A sum of one clamped ramp per pair
    of stops: elementwise ops only."""
    field = rgba[:, 0].view(-1, 4, 1, 1).expand(t.shape[0], 4, *t.shape[1:]).clone()  # [B, 4, H, W]
    for k, (offset, next_offset) in enumerate(zip(offsets, offsets[1:])):
        step = (rgba[:, k + 1] - rgba[:, k]).view(-1, 4, 1, 1)
        if next_offset > offset:
            weight = ((t - offset) / (next_offset - offset)).clamp(0.0, 1.0)
        else:
            weight = (t >= offset).to(t.dtype)
        field += weight.unsqueeze(1) * step
    return field[:, :3], field[:, 3]


class GradientPaint:
    """One gradient fill or stroke of a shape, ready to be painted in any batch of poses on the
    device with no host sync: the shape's best-fit affine fit (`paint_motion.AffineFit`, float64)
    and the paint's constants, moved there once."""

    def __init__(
        self,
        paint: Fill | Stroke,  # with a gradient
        rest: np.ndarray,  # float64 [n, 2] the shape's rest control points, canvas px (n ≥ 1)
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        if paint.gradient is None:
            raise ValueError("GradientPaint needs a paint with a gradient")
        self.gradient = paint.gradient
        self.fit = AffineFit.of(rest).converted(lambda a: torch.as_tensor(a, dtype=torch.float64, device=device))
        self.frame = torch.as_tensor(self.gradient.frame, dtype=torch.float64, device=device)  # [3, 2]
        self.offsets = tuple(stop.offset for stop in self.gradient.stops)
        self.stop_rgba = torch.tensor(stop_colours(self.gradient), dtype=dtype, device=device)  # [K, 4]
        self.flat_rgba = torch.tensor((*paint.rgb, paint.opacity), dtype=dtype, device=device)  # [4]

    def posed_frames(
        self,
        pose: Tensor,  # float64 [B, n, 2] the shape's posed control points, canvas px
    ) -> tuple[Tensor, Tensor]:  # frames [B, 3, 2] float64 canvas px, collapsed [B] bool
        """The gradient's frame carried into each pose, and where the pose collapses it:
        `paint_motion.posed_paint`'s rule for all frames at once, on the device. The same fit
        (`AffineFit.apply`) and collapse test (`collapses`); a pose equal to the rest pose keeps
        the rest frame exactly, as there; the frame moved as `Gradient.moved` moves it."""
        eye = torch.eye(2, dtype=pose.dtype, device=pose.device)
        linear, translation = self.fit.apply(pose)  # [B, 2, 2], [B, 2]
        at_rest = (pose == self.fit.rest).all(-1).all(-1)  # [B]
        linear = torch.where(at_rest.view(-1, 1, 1), eye, linear)
        translation = torch.where(at_rest.view(-1, 1), 0.0, translation)
        return self.frame @ linear.mT + translation.unsqueeze(1), collapses(linear, translation)

    def inverse_frames(
        self,
        pose: Tensor,  # float64 [B, n, 2] the shape's posed control points, canvas px
    ) -> tuple[Tensor, Tensor]:  # inverse [B, 2, 3] float64, collapsed [B] bool
        """Canvas px → gradient space per frame (the inverse of `Gradient.matrix` of each posed
        frame; identity rows where the pose collapsed the gradient), and those frames."""
        frames, collapsed = self.posed_frames(pose)
        eye = torch.eye(2, dtype=pose.dtype, device=pose.device)
        origin = torch.where(collapsed.view(-1, 1), 0.0, frames[:, 0])  # [B, 2]
        basis = torch.where(collapsed.view(-1, 1, 1), eye, (frames[:, 1:] - frames[:, :1]).mT)  # [B, 2, 2]
        det = basis[:, 0, 0] * basis[:, 1, 1] - basis[:, 0, 1] * basis[:, 1, 0]
        adjugate = torch.stack(
            [torch.stack([basis[:, 1, 1], -basis[:, 0, 1]], -1), torch.stack([-basis[:, 1, 0], basis[:, 0, 0]], -1)], -2
        )
        inverse_linear = adjugate / det.view(-1, 1, 1)
        return torch.cat([inverse_linear, -(inverse_linear @ origin.unsqueeze(-1))], dim=-1), collapsed

    @torch.no_grad()
    def field(
        self,
        pose: Tensor,  # float64 [B, n, 2] the shape's posed control points, canvas px
        x: Tensor,  # [W] canvas px of the pixel centres of a crop's columns
        y: Tensor,  # [H] canvas px of its rows' centres
    ) -> tuple[Tensor, Tensor]:  # rgb [B, 3, H, W], alpha [B, H, W]
        """The straight colour and the opacity of the paint over a crop, per frame, carried into
        each frame's pose (`inverse_frames`)."""
        inverse, collapsed = self.inverse_frames(pose)
        return paint_field(self, inverse.to(x.dtype), collapsed, x, y)


@torch.no_grad()
def paint_field(
    paint: GradientPaint,
    inverse: Tensor,  # [B, 2, 3] canvas px → gradient space per frame, x's dtype
    collapsed: Tensor,  # [B] bool: frames whose pose collapsed the gradient
    x: Tensor,  # [W] canvas px of the pixel centres of a crop's columns
    y: Tensor,  # [H] canvas px of its rows' centres
) -> tuple[Tensor, Tensor]:  # rgb [B, 3, H, W], alpha [B, H, W]
    """The straight colour and the opacity of one fill or stroke over a crop, per frame: its
    gradient's field, or its flat colour and opacity in a frame whose pose collapsed the
    gradient (`posed_paint` then drops it, and the final renderer paints that colour too).
    The frames' gradients differ only in their frames, so all frames are evaluated at once."""
    template = paint.gradient
    inverse = inverse.view(-1, 2, 3, 1, 1)
    grid_x, grid_y = x.view(1, 1, -1), y.view(1, -1, 1)  # broadcast to [B, H, W]
    gx = inverse[:, 0, 0] * grid_x + inverse[:, 0, 1] * grid_y + inverse[:, 0, 2]
    gy = inverse[:, 1, 0] * grid_x + inverse[:, 1, 1] * grid_y + inverse[:, 1, 2]
    t, painted = gradient_parameter(template, gx, gy)  # t finite everywhere
    # A collapsed frame's stops all take the flat colour: its ramp is that colour exactly.
    rgba = torch.where(collapsed.view(-1, 1, 1), paint.flat_rgba, paint.stop_rgba)  # [B, K, 4]
    rgb, alpha = stop_ramp(paint.offsets, rgba, spread(t, template.spread))  # [B, 3, H, W], [B, H, W]
    if painted is not None:
        alpha = torch.where(painted | collapsed.view(-1, 1, 1), alpha, torch.zeros_like(alpha))
    return rgb, alpha
