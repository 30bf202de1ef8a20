"""Stroke coverage: a box-filtered band around the centre-line chords (docs/render.md §5).

Round joins, with miter tips added at mitered corners; round, butt or square caps; the box
filter follows the chord's orientation; coverage is max-reduced per pixel.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from flexiclip_core.render.layout import CapLayout, Crops, JointLayout


def window_size(half_width_px: float) -> int:
    """Pixels per axis that a ≤1 px chord with a band of ``half_width_px`` can touch."""
    reach = half_width_px + 0.5
    return int(math.floor(1.0 + 2.0 * reach)) + 1


def _half_plane_area(h: Tensor, low: Tensor, high: Tensor) -> Tensor:
    """Area of {n·(p − c) ≤ h} inside the unit pixel centred at c, for a unit normal n whose
    components have magnitudes ``low`` ≤ ``high``: linear in h in the middle, quadratic where a
    corner is cut, clamped to [0, 1]."""
    inner = 0.5 * (high - low)
    outer = 0.5 * (high + low)
    u = h.abs()
    corner = outer - u
    upper = torch.where(
        u <= inner,
        0.5 + u / high,
        torch.where(u < outer, 1.0 - corner * corner / (2.0 * low * high), torch.ones_like(u)),
    )
    return torch.where(h >= 0, upper, 1.0 - upper)


def _unit_direction(dx: Tensor, dy: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Unit vector of (dx, dy) and whether it is degenerate (zero length: direction (1, 0), so
    that no branch of `_half_plane_area` divides by zero — torch.where's untaken branch would
    turn inf into NaN gradients)."""
    length_sq = dx * dx + dy * dy
    degenerate = length_sq <= 1e-12
    length = length_sq.clamp(min=1e-12).sqrt()
    unit_x = torch.where(degenerate, torch.ones_like(dx), dx / length)
    unit_y = torch.where(degenerate, torch.zeros_like(dy), dy / length)
    return unit_x, unit_y, degenerate


def _cap_factor(
    x0: Tensor,
    y0: Tensor,
    x1: Tensor,
    y1: Tensor,
    half_width: Tensor,
    centre_x: Tensor,
    centre_y: Tensor,
    caps: CapLayout,
) -> Tensor:
    """[Q, B, K²] pixel area on the inner side of each capped chord's subpath end cuts.

    ``half_width`` [Q, 1, 1] and pixel centres [Q, B, K²] are those of the capped chords. A cut
    is the half-plane through the subpath's end point, normal to its end chord, pushed out by
    the cap's extension; it applies to chords within a half-width (+1 px) of arc length from
    that end, where round joins could poke past it.
    """
    with torch.no_grad():
        length = torch.hypot(x1 - x0, y1 - y0)  # [C, B]
        walked = length.cumsum(0)
        from_start = (walked[caps.chord] - length[caps.chord]) - (walked[caps.first] - length[caps.first])
        to_end = walked[caps.last] - walked[caps.chord]
        reach = half_width.view(-1, 1) + 1.0
        near_start = (from_start < reach) & ~torch.isnan(caps.start_extension).view(-1, 1)
        near_end = (to_end < reach) & ~torch.isnan(caps.end_extension).view(-1, 1)
    factor = torch.ones_like(centre_x)
    for near, chord, extension, sign in (
        (near_start, caps.first, caps.start_extension, 1.0),
        (near_end, caps.last, caps.end_extension, -1.0),
    ):
        ax, ay, bx, by = (v.index_select(0, chord) for v in (x0, y0, x1, y1))
        unit_x, unit_y, degenerate = _unit_direction(bx - ax, by - ay)  # [Q, B], into the path at the start
        end_x, end_y = (ax, ay) if sign > 0 else (bx, by)
        # Signed distance of the pixel centre inside the cut (positive = kept).
        inside = sign * (
            (centre_x - end_x.unsqueeze(-1)) * unit_x.unsqueeze(-1)
            + (centre_y - end_y.unsqueeze(-1)) * unit_y.unsqueeze(-1)
        )
        inside = inside + torch.nan_to_num(extension).view(-1, 1, 1) * half_width
        low = torch.minimum(unit_x.abs(), unit_y.abs()).clamp(min=1e-6).unsqueeze(-1)
        high = torch.maximum(unit_x.abs(), unit_y.abs()).unsqueeze(-1)
        cut = (near & ~degenerate).unsqueeze(-1)
        factor = factor * torch.where(cut, _half_plane_area(inside, low, high), torch.ones_like(inside))
    return factor


def _band_coverage(
    x0: Tensor,
    y0: Tensor,
    x1: Tensor,
    y1: Tensor,
    chord_half_width: Tensor,
    pixel_x: Tensor,
    pixel_y: Tensor,
    stretch: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """[C, B, K²] box-filtered coverage of each chord's band (half-width ``chord_half_width``
    [C, 1, 1]) at the pixels ``pixel_x``/``pixel_y`` [C, B, K²], with round ends; ``stretch``
    (before the start, after the end; each [C, 1, 1] output px) lengthens chords first."""
    dx, dy = (x1 - x0).unsqueeze(-1), (y1 - y0).unsqueeze(-1)
    rel_x = pixel_x + 0.5 - x0.unsqueeze(-1)
    rel_y = pixel_y + 0.5 - y0.unsqueeze(-1)
    length_sq = (dx * dx + dy * dy).clamp(min=1e-12)
    t = (rel_x * dx + rel_y * dy) / length_sq
    if stretch is None:
        t = t.clamp(0.0, 1.0)
    else:
        length = length_sq.sqrt()
        t = torch.clamp(t, -stretch[0] / length, 1.0 + stretch[1] / length)
    off_x, off_y = rel_x - t * dx, rel_y - t * dy
    distance = (off_x * off_x + off_y * off_y).clamp(min=1e-12).sqrt()
    # Box filter of the band across the chord's normal n: the exact pixel area of a half-plane
    # {n·(p − c) ≤ h} is A(h), so the band |n·(p − q)| ≤ w/2 covers A(w/2 − d) − A(−w/2 − d).
    # A zero-length chord (a degenerate segment) has no direction: `_unit_direction` gives it
    # (1, 0), so that no branch of `_half_plane_area` divides by zero.
    unit_x, unit_y, _ = _unit_direction(dx, dy)
    low = torch.minimum(unit_x.abs(), unit_y.abs()).clamp(min=1e-6)
    high = torch.maximum(unit_x.abs(), unit_y.abs())
    return (
        _half_plane_area(chord_half_width - distance, low, high)
        - _half_plane_area(-chord_half_width - distance, low, high)
    ).clamp(min=0.0)


def _window_pixels(x0: Tensor, y0: Tensor, x1: Tensor, y1: Tensor, reach: Tensor, window: int) -> tuple[Tensor, Tensor]:
    """[C, B, K²] pixel coordinates of the K×K block from the first pixel whose centre can be
    within ``reach`` [C, 1, 1] of each chord (each [C, B])."""
    steps = torch.arange(window, device=x0.device)
    step_x = steps.repeat(window).to(x0.dtype)  # [K²]
    step_y = steps.repeat_interleave(window).to(x0.dtype)
    pixel_x = torch.ceil(torch.minimum(x0, x1).unsqueeze(-1) - reach - 0.5) + step_x
    pixel_y = torch.ceil(torch.minimum(y0, y1).unsqueeze(-1) - reach - 0.5) + step_y
    return pixel_x, pixel_y


def _scatter_max(
    buffer: Tensor, coverage: Tensor, pixel_x: Tensor, pixel_y: Tensor, table: Tensor, frame_size: int
) -> Tensor:
    """Max-reduce coverage [C, B, K²] at its pixels into the flat buffer [B·frame_size + 1] of
    the chords' crops (``table`` [C, 6] rows); pixels outside a crop go to the last entry."""
    batch = coverage.shape[1]
    total = batch * frame_size
    with torch.no_grad():
        height, width, stride, offset = (table[:, i : i + 1].unsqueeze(-1) for i in range(2, 6))  # [C, 1, 1]
        local_x = pixel_x.long() - table[:, 0:1].unsqueeze(-1)
        local_y = pixel_y.long() - table[:, 1:2].unsqueeze(-1)
        inside = (local_x >= 0) & (local_x < width) & (local_y >= 0) & (local_y < height)
        frame = torch.arange(batch, device=coverage.device).view(1, -1, 1) * frame_size
        index = frame + offset + local_y * stride + local_x
        index = torch.where(inside, index, torch.full_like(index, total)).reshape(-1)
    return buffer.scatter_reduce(0, index, coverage.reshape(-1), reduce="amax", include_self=True)


def _miter_coverage(
    x0: Tensor,
    y0: Tensor,
    x1: Tensor,
    y1: Tensor,
    chord_half_width: Tensor,
    joints: JointLayout,
    max_chord_px: float,
) -> tuple[Tensor, Tensor, Tensor, Tensor] | None:
    """The miters of mitered corners, beyond the round joins that the chords already draw.

    Each corner's incoming chord is stretched forward and its outgoing chord backward by
    w/2 · tan(θ/2) (θ the turn), each clipped at the bisector through the corner: the union of
    the two is the miter. A corner whose miter is longer than the limit stays round (SVG draws a
    bevel there, slightly less). Returns (coverage [2J, B, K²], pixel x, pixel y, chord [2J]),
    or None when no corner is within its limit.
    """
    a, b = joints.incoming, joints.outgoing
    ax0, ay0, ax1, ay1 = (v.index_select(0, a) for v in (x0, y0, x1, y1))  # [J, B]
    bx0, by0, bx1, by1 = (v.index_select(0, b) for v in (x0, y0, x1, y1))
    in_x, in_y, in_flat = _unit_direction(ax1 - ax0, ay1 - ay0)
    out_x, out_y, out_flat = _unit_direction(bx1 - bx0, by1 - by0)
    cosine = in_x * out_x + in_y * out_y
    sine = in_x * out_y - in_y * out_x
    half_width = chord_half_width.index_select(0, a).view(-1, 1)  # [J, 1]
    # Miter length / stroke width = 1 / cos(θ/2) = √(2 / (1 + cos θ)).
    active = ~in_flat & ~out_flat & ((1.0 + cosine) * joints.limit.view(-1, 1) ** 2 >= 2.0)
    tan_half = sine.abs() / (1.0 + cosine).clamp(min=1e-6)
    extension = torch.where(active, half_width * tan_half, torch.zeros_like(tan_half))  # [J, B] px
    with torch.no_grad():
        # The one extra device→host copy, and only for clips with mitered corners: the block
        # size that holds the longest stretched chord.
        longest, widest = torch.stack([extension.amax(), half_width.amax()]).tolist()
    if longest <= 0.0:
        return None
    window = int(math.ceil(longest + max_chord_px + 2.0 * widest + 3.0)) + 1
    corner_x, corner_y = ax1, ay1
    # Stretched chords: incoming [start, corner + e·u_in], outgoing [start − e·u_out, end].
    sx0 = torch.cat([ax0, bx0 - extension * out_x])
    sy0 = torch.cat([ay0, by0 - extension * out_y])
    sx1 = torch.cat([ax1 + extension * in_x, bx1])
    sy1 = torch.cat([ay1 + extension * in_y, by1])
    stretched_half_width = torch.cat([half_width, half_width]).view(-1, 1, 1)
    with torch.no_grad():
        pixel_x, pixel_y = _window_pixels(sx0, sy0, sx1, sy1, stretched_half_width + 0.5, window)
    coverage = _band_coverage(sx0, sy0, sx1, sy1, stretched_half_width, pixel_x, pixel_y)
    # Clip at the bisector: the incoming chord keeps (p − corner)·k ≤ 0, the outgoing ≥ 0, with
    # k the mean of the two directions.
    bisector_x, bisector_y, _ = _unit_direction(in_x + out_x, in_y + out_y)
    side = torch.cat([-torch.ones_like(half_width), torch.ones_like(half_width)]).view(-1, 1, 1)
    kx, ky = torch.cat([bisector_x, bisector_x]).unsqueeze(-1), torch.cat([bisector_y, bisector_y]).unsqueeze(-1)
    along = (pixel_x + 0.5 - torch.cat([corner_x, corner_x]).unsqueeze(-1)) * kx + (
        pixel_y + 0.5 - torch.cat([corner_y, corner_y]).unsqueeze(-1)
    ) * ky
    low = torch.minimum(kx.abs(), ky.abs()).clamp(min=1e-6)
    high = torch.maximum(kx.abs(), ky.abs())
    keep = torch.cat([active, active]).unsqueeze(-1)
    coverage = torch.where(keep, coverage * _half_plane_area(side * along, low, high), torch.zeros_like(coverage))
    return coverage, pixel_x, pixel_y, torch.cat([a, b])


def stroke_coverage(
    x0: Tensor,
    y0: Tensor,
    x1: Tensor,
    y1: Tensor,
    chord_slot: Tensor,
    half_width: Tensor,
    window: int,
    crops: Crops,
    caps: CapLayout | None = None,
    joints: JointLayout | None = None,
    max_chord_px: float = 1.0,
) -> Tensor:
    """Box-filtered stroke coverage [B, frame_size] of all stroke crops from chords (each [C, B]).

    ``half_width`` [L] is per stroke slot in output px. Each chord visits a window×window pixel
    block around it; a pixel's coverage is the band integral at its distance to the chord,
    max-reduced over chords (equivalent to the band at the distance to the whole centre line).
    Joins are round, plus `_miter_coverage` at mitered corners; ends of open subpaths are round,
    or cut by `_cap_factor` for butt and square caps (a square cap's end chord is first
    extended by a half-width).
    """
    batch = x0.shape[1]
    total = batch * crops.frame_size
    if x0.shape[0] == 0 or total == 0:
        return x0.new_zeros(batch, crops.frame_size)
    table = crops.table.index_select(0, chord_slot)
    chord_half_width = half_width.index_select(0, chord_slot).view(-1, 1, 1)
    with torch.no_grad():
        reach = (chord_half_width if caps is None else chord_half_width * caps.reach) + 0.5
        pixel_x, pixel_y = _window_pixels(x0, y0, x1, y1, reach, window)  # [C, B, K²]
    stretch = None
    if caps is not None:
        # Square caps: the band of a subpath's end chord runs on a half-width past the end.
        capped_half_width = chord_half_width.index_select(0, caps.chord)
        ends = []
        for end_chord, extension in ((caps.first, caps.start_extension), (caps.last, caps.end_extension)):
            at_end = (caps.chord == end_chord).view(-1, 1, 1)
            cap = torch.where(at_end, torch.nan_to_num(extension).view(-1, 1, 1), 0.0) * capped_half_width
            ends.append(torch.zeros_like(chord_half_width).index_copy(0, caps.chord, cap))
        stretch = (ends[0], ends[1])
    coverage = _band_coverage(x0, y0, x1, y1, chord_half_width, pixel_x, pixel_y, stretch)
    if caps is not None:
        capped = caps.chord
        factor = _cap_factor(
            x0,
            y0,
            x1,
            y1,
            chord_half_width.index_select(0, capped),
            pixel_x.index_select(0, capped) + 0.5,
            pixel_y.index_select(0, capped) + 0.5,
            caps,
        )
        coverage = coverage.index_copy(0, capped, coverage.index_select(0, capped) * factor)
    buffer = _scatter_max(x0.new_zeros(total + 1), coverage, pixel_x, pixel_y, table, crops.frame_size)
    if joints is not None:
        miters = _miter_coverage(x0, y0, x1, y1, chord_half_width.view(-1), joints, max_chord_px)
        if miters is not None:
            miter, miter_x, miter_y, miter_chord = miters
            buffer = _scatter_max(buffer, miter, miter_x, miter_y, table.index_select(0, miter_chord), crops.frame_size)
    return buffer[:total].view(batch, crops.frame_size)
