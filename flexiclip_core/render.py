"""Differentiable training renderer: exact box-filtered coverage in plain PyTorch (render.md).

Fills use the signed-area accumulation of font rasterisers: every segment is flattened into
chords of at most ``max_chord_px`` output pixels and at most ``flatness_px`` from the curve,
whose end points are Bernstein combinations of
the control points (so gradients reach the points), every chord is split where it crosses pixel
grid lines, each piece adds its signed area to the shape's bounding-box crop with ``index_add``
(`_FillAreas`, a fused op with an analytic backward), and a cumulative sum along rows gives the
box-filtered winding number. Strokes are a box-filtered band around the centre-line chords
(round joins, with miter tips added at mitered corners; round, butt or square caps; the box
filter follows the chord's orientation), max-reduced per pixel.
Layers are composited back to front with premultiplied "over", batched over frames, by a custom
autograd function (`_Composite`) that touches each layer's crop only.

Everything is standard tensor ops and runs unchanged on CUDA. Per call there is one small
device-to-host copy (chord counts and crop boxes, which fix tensor sizes); the chord layout that
depends on the counts is cached.

Known limits (render.md): where two outlines of one shape cross inside a pixel the folded
winding number slightly over-covers it; abutting shapes show conflation seams; where a thin
stroke folds back inside one pixel the max under-covers the union; bevel joins, and miters
beyond their limit (which SVG bevels), are drawn round, and strokes solid (dashes are the
final renderer's); chord counts are
the max over the batch, so a frame flattens a little differently alone than in a batch (chords
stay ≤ 1 px either way). On a CPU shared by several busy processes, torch's intra-op threads
mostly wait on each other: callers sharing cores should run one thread per worker.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from flexiclip_core.clipart import Clipart
from flexiclip_core.errors import ConfigError, RenderError
from flexiclip_core.registry import Registry

logger = logging.getLogger(__name__)

TRAINING_RENDERERS: Registry[type] = Registry("training renderer")
"""Differentiable renderers by name: ``torch`` always, ``pydiffvg`` when it imports."""

Background = Literal["white", "transparent"]


@dataclass(frozen=True)
class TrainRenderConfig:
    """Settings of the differentiable training renderer."""

    size: int = 256
    """Output side in px; the 256² working canvas is scaled to it."""
    max_chord_px: float = 1.0
    """Longest flattening chord, in output px. At most 1: each chord then crosses at most one
    vertical and one horizontal grid line, which keeps the pixel split fixed-size."""
    background: Background = "white"
    """``white``: colour channels composited over white; ``transparent``: premultiplied colour."""
    flatness_px: float = 0.03
    """Largest distance, in output px, between a curve and its flattening chords (cairo's
    default tolerance is the same 0.1 px). Tight curls need more chords than the length bound."""
    max_chords_per_segment: int = 4096
    """Cap on the chords of one segment, so a runaway deformation cannot exhaust memory (longer
    chords then cost accuracy, not correctness of shapes)."""

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ConfigError(f"render size must be positive, got {self.size}")
        if not 0.0 < self.max_chord_px <= 1.0:
            raise ConfigError(f"max_chord_px must be in (0, 1], got {self.max_chord_px}")
        if not self.flatness_px > 0.0:
            raise ConfigError(f"flatness_px must be positive, got {self.flatness_px}")
        if self.background not in ("white", "transparent"):
            raise ConfigError(f"background must be 'white' or 'transparent', got {self.background!r}")
        if self.max_chords_per_segment < 1:
            raise ConfigError(f"max_chords_per_segment must be positive, got {self.max_chords_per_segment}")


# ----------------------------------------------------------------------------------------------
# Topology: fixed per clip
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layer:
    """One painted layer in paint order: the fill or the stroke of a shape."""

    kind: Literal["fill", "stroke"]
    shape_index: int
    slot: int
    """Index among the layers of the same kind (row of the per-kind tables)."""
    evenodd: bool = False


@dataclass(frozen=True)
class _Segments:
    """Cubic segments of one layer kind, as indices into the clip's control points."""

    point_index: np.ndarray
    """int64 [N, 4] control point indices of each cubic."""
    slot: np.ndarray
    """int64 [N] layer slot (fill or stroke table row) of each segment."""
    subpath: np.ndarray
    """int64 [N] running subpath number of each segment (consecutive segments of one subpath
    share it)."""
    cap_start: np.ndarray
    """float [N] the stroke's cap extension, in half-widths, where the segment starts an open
    subpath (butt 0, square 1); NaN where nothing is cut there (round caps, joins, fills)."""
    cap_end: np.ndarray
    """float [N] the same where the segment ends an open subpath."""
    joints: np.ndarray
    """int64 [J, 2] consecutive segments (incoming, outgoing) that meet at a corner of a stroke
    with miter joins (a turn of more than `_CORNER_DEGREES` in the rest pose)."""
    joint_limit: np.ndarray
    """float [J] the stroke's miter limit at each joint (longer miters are drawn round)."""


_CORNER_DEGREES = 10.0
"""Turns below this are left round: a miter then adds under 0.1% of a half-width squared."""

_CAP_EXTENSION = {"butt": 0.0, "square": 1.0, "round": math.nan}


def _corners(rest: list[np.ndarray], closed: bool) -> list[tuple[int, int]]:
    """(incoming, outgoing) positions in ``rest`` (the [4, 2] cubics of one subpath, in order)
    of the junctions that turn by more than `_CORNER_DEGREES`; zero-length cubics are skipped
    and a closed subpath also joins its last cubic to its first."""

    def tangent(cubic: np.ndarray, at_end: bool) -> np.ndarray | None:
        anchor = cubic[3] if at_end else cubic[0]
        for other in (cubic[2], cubic[1], cubic[0]) if at_end else (cubic[1], cubic[2], cubic[3]):
            direction = anchor - other if at_end else other - anchor
            if np.hypot(*direction) > 1e-9:
                return direction / np.hypot(*direction)
        return None

    drawn = [i for i, cubic in enumerate(rest) if tangent(cubic, False) is not None]
    pairs = list(zip(drawn[:-1], drawn[1:]))
    if closed and len(drawn) > 1:
        pairs.append((drawn[-1], drawn[0]))
    threshold = math.cos(math.radians(_CORNER_DEGREES))
    return [(a, b) for a, b in pairs if float(tangent(rest[a], True) @ tangent(rest[b], False)) < threshold]


def _build_topology(clipart: Clipart) -> tuple[list[_Layer], _Segments, _Segments, np.ndarray, np.ndarray]:
    """Layers in paint order, fill and stroke segments, and the shape of each fill/stroke slot."""
    layers: list[_Layer] = []
    fill_index: list[list[int]] = []
    fill_slot: list[int] = []
    stroke_index: list[list[int]] = []
    stroke_slot: list[int] = []
    stroke_subpath: list[int] = []
    stroke_cap_start: list[float] = []
    stroke_cap_end: list[float] = []
    stroke_joints: list[tuple[int, int]] = []
    stroke_joint_limit: list[float] = []
    fill_shapes: list[int] = []
    stroke_shapes: list[int] = []
    offset = 0
    for shape_index, shape in enumerate(clipart.shapes):
        fill_slot_id = len(fill_shapes) if shape.fill is not None else -1
        stroke_slot_id = len(stroke_shapes) if shape.stroke is not None else -1
        for subpath in shape.subpaths:
            count = len(subpath.points)
            first, last = offset, offset + count - 1
            segments = [[offset + 3 * i + k for k in range(4)] for i in range(subpath.segment_count)]
            if fill_slot_id >= 0:
                # Filling closes every subpath implicitly (zero length when already closed).
                fill_index.extend(segments + [[last, last, first, first]])
                fill_slot.extend([fill_slot_id] * (len(segments) + 1))
            if stroke_slot_id >= 0:
                closing = [[last, last, first, first]] if subpath.closed else []
                run = len(segments) + len(closing)
                if shape.stroke.linejoin == "miter":
                    rest = [subpath.points[3 * i : 3 * i + 4] for i in range(subpath.segment_count)]
                    if subpath.closed:
                        rest.append(subpath.points[[-1, -1, 0, 0]])
                    for a, b in _corners(rest, subpath.closed):
                        stroke_joints.append((len(stroke_index) + a, len(stroke_index) + b))
                        stroke_joint_limit.append(float(shape.stroke.miter_limit))
                stroke_index.extend(segments + closing)
                stroke_slot.extend([stroke_slot_id] * run)
                stroke_subpath.extend([len(stroke_subpath) and stroke_subpath[-1] + 1] * run)
                cap = math.nan if subpath.closed else _CAP_EXTENSION[shape.stroke.linecap]
                ends = [math.nan] * run
                stroke_cap_start.extend([cap] + ends[1:] if run else [])
                stroke_cap_end.extend(ends[1:] + [cap] if run else [])
            offset += count
        if shape.fill is not None:
            layers.append(_Layer("fill", shape_index, fill_slot_id, shape.fill.rule == "evenodd"))
            fill_shapes.append(shape_index)
        if shape.stroke is not None:
            layers.append(_Layer("stroke", shape_index, stroke_slot_id))
            stroke_shapes.append(shape_index)

    def segments(
        index: list[list[int]], slot: list[int], subpath=(), cap_start=(), cap_end=(), joints=(), joint_limit=()
    ) -> _Segments:
        n = len(slot)
        return _Segments(
            np.asarray(index, dtype=np.int64).reshape(-1, 4),
            np.asarray(slot, dtype=np.int64).reshape(-1),
            np.asarray(subpath if n and len(subpath) else np.zeros(n), dtype=np.int64).reshape(-1),
            np.asarray(cap_start if n and len(cap_start) else np.full(n, math.nan), dtype=np.float64).reshape(-1),
            np.asarray(cap_end if n and len(cap_end) else np.full(n, math.nan), dtype=np.float64).reshape(-1),
            np.asarray(joints, dtype=np.int64).reshape(-1, 2),
            np.asarray(joint_limit, dtype=np.float64).reshape(-1),
        )

    return (
        layers,
        segments(fill_index, fill_slot),
        segments(
            stroke_index, stroke_slot, stroke_subpath, stroke_cap_start, stroke_cap_end, stroke_joints, stroke_joint_limit
        ),
        np.asarray(fill_shapes, dtype=np.int64),
        np.asarray(stroke_shapes, dtype=np.int64),
    )


@dataclass(frozen=True)
class _ChordLayout:
    """Where the flattening samples and chords of a segment set lie, for given chord counts."""

    sample_point_index: Tensor
    """int64 [M·4] control point index of each Bernstein term of each sample."""
    sample_weights: Tensor
    """float [M, 4] Bernstein weights of each sample."""
    chord_start: Tensor
    """int64 [C] sample index of each chord's start (its end is the next sample)."""
    chord_slot: Tensor
    """int64 [C] layer slot of each chord."""
    caps: _CapLayout | None = None
    """Chords of open subpaths whose ends are cut (butt or square caps); None when there are none."""
    joints: _JointLayout | None = None
    """Chord pairs meeting at mitered corners; None when there are none."""


@dataclass(frozen=True)
class _JointLayout:
    """The chords on either side of each mitered corner."""

    incoming: Tensor
    """int64 [J] the last chord before the corner."""
    outgoing: Tensor
    """int64 [J] the first chord after it."""
    limit: Tensor
    """float [J] miter limit (ratio of miter length to stroke width)."""


@dataclass(frozen=True)
class _CapLayout:
    """The chords of subpaths with butt or square caps, and where their subpaths begin and end.

    Every chord near (in arc length) a cut end is clipped by the cap's half-plane: with chords of
    at most 1 px, the round joins of the first few chords would otherwise poke past a butt end.
    """

    chord: Tensor
    """int64 [Q] chord index of each capped-subpath chord."""
    first: Tensor
    """int64 [Q] index of the first chord of its subpath."""
    last: Tensor
    """int64 [Q] index of the last chord of its subpath."""
    start_extension: Tensor
    """float [Q] start cap extension in half-widths (0 butt, 1 square), NaN: no cap."""
    end_extension: Tensor
    """float [Q] end cap extension in half-widths, NaN: no cap."""
    reach: Tensor
    """float [C, 1, 1] how far, in half-widths, each chord's band reaches past its end points:
    √2 for the end chords of square caps (the cap's corners), 1 elsewhere."""


def _chord_layout(segments: _Segments, counts: np.ndarray, device: torch.device, dtype: torch.dtype) -> _ChordLayout:
    """Sample parameters t = k / n, k = 0..n, of every segment flattened into n chords."""
    samples_per_segment = counts + 1
    segment_of_sample = np.repeat(np.arange(len(counts)), samples_per_segment)
    first_sample = np.cumsum(samples_per_segment) - samples_per_segment
    k = np.arange(len(segment_of_sample)) - first_sample[segment_of_sample]
    t = k / counts[segment_of_sample]
    s = 1.0 - t
    weights = np.stack([s * s * s, 3.0 * s * s * t, 3.0 * s * t * t, t * t * t], axis=1)
    chord_start = np.flatnonzero(k < counts[segment_of_sample])
    segment_of_chord = segment_of_sample[chord_start]
    return _ChordLayout(
        sample_point_index=torch.from_numpy(segments.point_index[segment_of_sample].reshape(-1)).to(device),
        sample_weights=torch.from_numpy(weights).to(device=device, dtype=dtype),
        chord_start=torch.from_numpy(chord_start).to(device),
        chord_slot=torch.from_numpy(segments.slot[segment_of_chord]).to(device),
        caps=_cap_layout(segments, segment_of_chord, k[chord_start], counts, device, dtype),
        joints=_joint_layout(segments, counts, device, dtype),
    )


def _joint_layout(segments: _Segments, counts: np.ndarray, device: torch.device, dtype: torch.dtype) -> _JointLayout | None:
    """Chord indices on either side of each mitered corner, for the given chord counts."""
    if not len(segments.joints):
        return None
    first_chord = np.cumsum(counts) - counts
    incoming, outgoing = segments.joints[:, 0], segments.joints[:, 1]
    return _JointLayout(
        incoming=torch.from_numpy(first_chord[incoming] + counts[incoming] - 1).to(device),
        outgoing=torch.from_numpy(first_chord[outgoing]).to(device),
        limit=torch.from_numpy(segments.joint_limit).to(device=device, dtype=dtype),
    )


def _cap_layout(
    segments: _Segments, segment_of_chord: np.ndarray, k: np.ndarray, counts: np.ndarray,
    device: torch.device, dtype: torch.dtype,
) -> _CapLayout | None:
    """Cap data of the chords (segment ``segment_of_chord``, chord ``k`` of ``counts``) whose
    subpath has a butt or square end."""
    start_cap = segments.cap_start[segment_of_chord]
    end_cap = segments.cap_end[segment_of_chord]
    start_cap = np.where(k == 0, start_cap, np.nan)
    end_cap = np.where(k == counts[segment_of_chord] - 1, end_cap, np.nan)
    subpath = segments.subpath[segment_of_chord]
    if not len(subpath):
        return None
    # Chords of one subpath are consecutive: each run's first and last chord index.
    starts = np.flatnonzero(np.r_[True, subpath[1:] != subpath[:-1]])
    ends = np.r_[starts[1:], len(subpath)] - 1
    run = np.cumsum(np.r_[True, subpath[1:] != subpath[:-1]]) - 1
    first, last = starts[run], ends[run]
    subpath_start_cap = start_cap[first]
    subpath_end_cap = end_cap[last]
    capped = np.flatnonzero(~(np.isnan(subpath_start_cap) & np.isnan(subpath_end_cap)))
    if not len(capped):
        return None

    def tensor(values: np.ndarray, float_type: bool = False) -> Tensor:
        return torch.from_numpy(values).to(device=device, dtype=dtype if float_type else torch.long)

    square_end = (np.nan_to_num(start_cap) > 0) | (np.nan_to_num(end_cap) > 0)
    reach = np.where(square_end, math.sqrt(2.0), 1.0).reshape(-1, 1, 1)
    return _CapLayout(
        chord=tensor(capped),
        first=tensor(first[capped]),
        last=tensor(last[capped]),
        start_extension=tensor(subpath_start_cap[capped], True),
        end_extension=tensor(subpath_end_cap[capped], True),
        reach=tensor(reach, True),
    )


def _chords(points_by_point: Tensor, layout: _ChordLayout) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Chord end points x0, y0, x1, y1, each [C, B], as Bernstein combinations of the points.

    ``points_by_point`` is the point-major layout [P, 2, B] of the [B, P, 2] control points, so
    every later per-chord tensor is [C, B] and per-chord tables broadcast as [C, 1].
    """
    count, _, batch = points_by_point.shape
    flat = points_by_point.reshape(count, 2 * batch)
    terms = flat.index_select(0, layout.sample_point_index).view(-1, 4, 2 * batch)
    samples = (terms * layout.sample_weights.unsqueeze(-1)).sum(1).view(-1, 2, batch)  # [M, 2, B]
    start = samples.index_select(0, layout.chord_start)
    end = samples.index_select(0, layout.chord_start + 1)
    return start[:, 0], start[:, 1], end[:, 0], end[:, 1]


# ----------------------------------------------------------------------------------------------
# Coverage
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Crops:
    """Per-slot crop boxes of one layer kind, laid out back to back in a per-frame buffer."""

    origin_x: np.ndarray
    origin_y: np.ndarray
    height: np.ndarray
    width: np.ndarray
    row_stride: np.ndarray
    offset: np.ndarray
    """Start of each slot's [height, row_stride] block in the frame buffer."""
    frame_size: int
    table: Tensor
    """int64 [L, 6] device copy: origin x, origin y, height, width, row stride, offset."""


def _crops(boxes: np.ndarray, pad_column: bool, device: torch.device) -> _Crops:
    """Crops from integer boxes [L, 4] (x0, y0, x1, y1), already clipped to the canvas."""
    origin_x, origin_y = boxes[:, 0], boxes[:, 1]
    width = np.maximum(boxes[:, 2] - origin_x, 0)
    height = np.maximum(boxes[:, 3] - origin_y, 0)
    width = np.where(height > 0, width, 0)
    height = np.where(width > 0, height, 0)
    # Fill rows get one extra column: the right neighbour of the last pixel receives area too.
    row_stride = width + 1 if pad_column else width
    block = np.where(height > 0, height * row_stride, 0)
    offset = np.cumsum(block) - block
    table = np.stack([origin_x, origin_y, height, width, row_stride, offset], axis=1).astype(np.int64)
    return _Crops(
        origin_x, origin_y, height, width, row_stride, offset, int(block.sum()),
        torch.from_numpy(table).to(device),
    )


def _grid_crossing(start: Tensor, end: Tensor, delta: Tensor) -> tuple[Tensor, Tensor]:
    """Whether a ≤1 px chord crosses an integer grid line, and its parameter there (else 1)."""
    floor_start, floor_end = torch.floor(start), torch.floor(end)
    crosses = floor_start != floor_end
    line = torch.maximum(floor_start, floor_end)
    safe_delta = torch.where(crosses, delta, torch.ones_like(delta))  # keeps the unused branch finite
    return crosses, torch.where(crosses, (line - start) / safe_delta, torch.ones_like(delta))


class _FillAreas(torch.autograd.Function):
    """Signed areas of all fill chord pieces, accumulated into the crops' flat buffer.

    Fused forward and analytic backward: the autograd graph of the same ~40 elementwise ops
    costs about twice the time and keeps every intermediate alive. Chord end points are [C, B]
    in canvas (output) px; ``table`` [C, 6] is each chord's crop row of `_Crops.table`.
    Returns the flat buffer [B · frame_size + 1] (the last element absorbs zero shares).
    """

    @staticmethod
    def forward(ctx, x0: Tensor, y0: Tensor, x1: Tensor, y1: Tensor, table: Tensor, frame_size: int) -> Tensor:
        batch = x0.shape[1]
        origin_x, origin_y = table[:, 0:1].to(x0.dtype), table[:, 1:2].to(x0.dtype)
        height, width, stride, offset = (table[:, i : i + 1].unsqueeze(-1) for i in range(2, 6))  # [C, 1, 1]
        x0, x1, y0, y1 = x0 - origin_x, x1 - origin_x, y0 - origin_y, y1 - origin_y
        dx, dy = x1 - x0, y1 - y0
        # Chords are at most 1 px per axis, so each crosses at most one grid line per axis:
        # split there into three pieces (some empty), each inside one pixel cell.
        crosses_x, t_x = _grid_crossing(x0, x1, dx)
        crosses_y, t_y = _grid_crossing(y0, y1, dy)
        x_first = t_x <= t_y
        t_first, t_second = torch.minimum(t_x, t_y), torch.maximum(t_x, t_y)
        xs = torch.stack([x0, torch.addcmul(x0, t_first, dx), torch.addcmul(x0, t_second, dx), x1], dim=-1)
        ys = torch.stack([y0, torch.addcmul(y0, t_first, dy), torch.addcmul(y0, t_second, dy), y1], dim=-1)
        # Clamping x after the split is exact: a piece left of the crop covers its whole row
        # span (all its area goes to column 0), one right of it lands in the pad column.
        width_f = width.to(x0.dtype)
        unclamped = (xs > 0) & (xs < width_f)
        xs = torch.minimum(xs.clamp(min=0.0), width_f)
        x_mid = 0.5 * (xs[..., :-1] + xs[..., 1:])  # [C, B, 3] pieces
        row = torch.floor(0.5 * (ys[..., :-1] + ys[..., 1:])).long()
        column = torch.minimum(torch.floor(x_mid).long(), width)
        inside = (row >= 0) & (row < height)
        row = torch.minimum(row.clamp(min=0), (height - 1).clamp(min=0))
        frame = torch.arange(batch, device=x0.device).view(1, -1, 1) * frame_size
        index = (frame + offset + row * stride + column).reshape(-1)
        fraction = x_mid - column.to(x0.dtype)
        piece_dy = torch.where(inside, ys[..., 1:] - ys[..., :-1], torch.zeros_like(x_mid))
        # The classic split of a piece's signed area between its cell and the cell to its right.
        area_right = piece_dy * fraction
        area_here = piece_dy - area_right
        buffer = x0.new_zeros(batch * frame_size + 1)
        buffer.index_add_(0, index, area_here.reshape(-1))
        buffer.index_add_(0, index + 1, area_right.reshape(-1))
        ctx.save_for_backward(index, fraction, piece_dy, inside, unclamped, dx, dy, t_first, t_second,
                              crosses_x, crosses_y, x_first)
        return buffer

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_buffer: Tensor):
        index, fraction, piece_dy, inside, unclamped, dx, dy, t_first, t_second, crosses_x, crosses_y, x_first = (
            ctx.saved_tensors
        )
        grad_here = grad_buffer.index_select(0, index).view_as(fraction)
        grad_right = grad_buffer.index_select(0, index + 1).view_as(fraction)
        grad_step = grad_right - grad_here
        grad_piece_dy = torch.where(inside, torch.addcmul(grad_here, fraction, grad_step), torch.zeros_like(fraction))
        grad_fraction = piece_dy * grad_step
        # Corner k starts piece k and ends piece k − 1: y enters as ±dy, x through the midpoint.
        zero = torch.zeros_like(fraction[..., :1])
        grad_cy = torch.cat([zero, grad_piece_dy], -1) - torch.cat([grad_piece_dy, zero], -1)  # [C, B, 4]
        grad_cx = 0.5 * (torch.cat([zero, grad_fraction], -1) + torch.cat([grad_fraction, zero], -1))
        grad_cx = torch.where(unclamped, grad_cx, torch.zeros_like(grad_cx))
        grad_x0, grad_y0 = grad_cx[..., 0].clone(), grad_cy[..., 0].clone()
        grad_x1, grad_y1 = grad_cx[..., 3].clone(), grad_cy[..., 3].clone()
        # Inner corners lie on a grid line at parameter t: on a vertical line x is fixed and
        # y = y0 + (X − x0)·dy/dx moves with all four coordinates; likewise on a horizontal
        # one; a corner with no crossing (t = 1) is the chord's end.
        slope_yx = dy / torch.where(crosses_x, dx, torch.ones_like(dx))
        slope_xy = dx / torch.where(crosses_y, dy, torch.ones_like(dy))
        first_on_x = crosses_x & x_first
        first_on_y = crosses_y & ~first_on_x
        second_on_x = crosses_x & ~first_on_x
        second_on_y = crosses_y & ~first_on_y
        for k, t, on_x, on_y in ((1, t_first, first_on_x, first_on_y), (2, t_second, second_on_x, second_on_y)):
            gx, gy = grad_cx[..., k], grad_cy[..., k]
            along_x = torch.where(on_x, gy, torch.zeros_like(gy))  # y moves along a vertical line
            along_y = torch.where(on_y, gx, torch.zeros_like(gx))  # x moves along a horizontal one
            free = ~(on_x | on_y)
            weight_start = 1.0 - t
            grad_x0 += weight_start * (along_y - along_x * slope_yx)
            grad_y0 += weight_start * (along_x - along_y * slope_xy)
            grad_x1 += t * (along_y - along_x * slope_yx) + torch.where(free, gx, torch.zeros_like(gx))
            grad_y1 += t * (along_x - along_y * slope_xy) + torch.where(free, gy, torch.zeros_like(gy))
        return grad_x0, grad_y0, grad_x1, grad_y1, None, None


def _fill_winding(x0: Tensor, y0: Tensor, x1: Tensor, y1: Tensor, chord_slot: Tensor, crops: _Crops) -> Tensor:
    """Box-filtered winding numbers [B, frame_size] of all fill crops from chords (each [C, B])."""
    batch = x0.shape[1]
    table = crops.table.index_select(0, chord_slot)
    buffer = _FillAreas.apply(x0, y0, x1, y1, table, crops.frame_size)
    # Every crop row sums to zero (closed paths), so one running sum per frame gives each row's
    # winding numbers without resetting at row starts.
    return buffer[: batch * crops.frame_size].view(batch, crops.frame_size).cumsum(dim=1)


def _window_size(half_width_px: float) -> int:
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
    x0: Tensor, y0: Tensor, x1: Tensor, y1: Tensor, half_width: Tensor, centre_x: Tensor, centre_y: Tensor,
    caps: _CapLayout,
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
        inside = sign * ((centre_x - end_x.unsqueeze(-1)) * unit_x.unsqueeze(-1)
                         + (centre_y - end_y.unsqueeze(-1)) * unit_y.unsqueeze(-1))
        inside = inside + torch.nan_to_num(extension).view(-1, 1, 1) * half_width
        low = torch.minimum(unit_x.abs(), unit_y.abs()).clamp(min=1e-6).unsqueeze(-1)
        high = torch.maximum(unit_x.abs(), unit_y.abs()).unsqueeze(-1)
        cut = (near & ~degenerate).unsqueeze(-1)
        factor = factor * torch.where(cut, _half_plane_area(inside, low, high), torch.ones_like(inside))
    return factor


def _band_coverage(
    x0: Tensor, y0: Tensor, x1: Tensor, y1: Tensor, chord_half_width: Tensor, pixel_x: Tensor, pixel_y: Tensor,
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
    x0: Tensor, y0: Tensor, x1: Tensor, y1: Tensor, chord_half_width: Tensor, joints: _JointLayout,
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


def _stroke_coverage(
    x0: Tensor, y0: Tensor, x1: Tensor, y1: Tensor, chord_slot: Tensor, half_width: Tensor, window: int,
    crops: _Crops, caps: _CapLayout | None = None, joints: _JointLayout | None = None, max_chord_px: float = 1.0,
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
            x0, y0, x1, y1, chord_half_width.index_select(0, capped),
            pixel_x.index_select(0, capped) + 0.5, pixel_y.index_select(0, capped) + 0.5, caps,
        )
        coverage = coverage.index_copy(0, capped, coverage.index_select(0, capped) * factor)
    buffer = _scatter_max(x0.new_zeros(total + 1), coverage, pixel_x, pixel_y, table, crops.frame_size)
    if joints is not None:
        miters = _miter_coverage(x0, y0, x1, y1, chord_half_width.view(-1), joints, max_chord_px)
        if miters is not None:
            miter, miter_x, miter_y, miter_chord = miters
            buffer = _scatter_max(buffer, miter, miter_x, miter_y, table.index_select(0, miter_chord), crops.frame_size)
    return buffer[:total].view(batch, crops.frame_size)


# ----------------------------------------------------------------------------------------------
# Compositing
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PaintStep:
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


def _fill_coverage(winding: Tensor, evenodd: Tensor | None) -> Tensor:
    """Coverage from box-filtered winding numbers: nonzero min(1, |w|), even-odd 1 − ||w| mod 2 − 1|.

    ``evenodd`` is a bool mask broadcastable to ``winding`` (None: all nonzero).
    """
    magnitude = winding.abs()
    nonzero = magnitude.clamp(max=1.0)
    if evenodd is None:
        return nonzero
    return torch.where(evenodd, 1.0 - (torch.remainder(magnitude, 2.0) - 1.0).abs(), nonzero)


class _Composite(torch.autograd.Function):
    """Premultiplied back-to-front "over" of all layers, each touching only its crop.

    Takes every layer's alpha (coverage × opacity) in the flat crop buffers, so the per-layer
    Python loop does only the few ops that must be sequential. Saves the canvas under each crop
    before painting it (the only way to get ∂/∂alpha without dividing by 1 − alpha) and replays
    the layers in reverse in backward. Whole-canvas passes dominate small clips, so the canvas
    starts as the background and backward copies only the gradient inside the crops' union.
    """

    @staticmethod
    def forward(ctx, fill_alpha: Tensor, stroke_alpha: Tensor, paint_rgb: Tensor, steps, size: int, white: bool) -> Tensor:
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
            paint = paints[step.colour_row]
            # canvas' = paint + (1 − alpha)(canvas − paint) = canvas + alpha (paint − canvas)
            region.sub_(paint).mul_(1.0 - alpha).add_(paint)
        ctx.steps = steps
        ctx.saved_regions = saved
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
            return grad_fill, grad_stroke, grad_paint, None, None, None
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
            grad_alpha.copy_(((paints[step.colour_row] - previous) * region).sum(1))
            grad_paint[step.colour_row] += (region[:, :3] * alpha).sum((0, 2, 3))
            region.mul_(1.0 - alpha)
        return grad_fill, grad_stroke, grad_paint, None, None, None


def _step_view(step: _PaintStep, buffer: Tensor) -> Tensor:
    """The [B, h, w] crop of one layer inside a flat [B, frame_size] buffer."""
    size = step.height * step.row_stride
    return buffer[:, step.offset : step.offset + size].view(-1, step.height, step.row_stride)[..., : step.width]


# ----------------------------------------------------------------------------------------------
# Renderers
# ----------------------------------------------------------------------------------------------


def _layer_of_element(crops: _Crops, device: torch.device) -> Tensor:
    """int64 [frame_size]: the layer slot each element of a per-frame crop buffer belongs to."""
    blocks = torch.from_numpy(crops.height * crops.row_stride).to(device)
    return torch.repeat_interleave(torch.arange(len(blocks), device=device), blocks, output_size=crops.frame_size)


def _default_colours(clipart: Clipart) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fill RGBA [S, 4], stroke RGBA [S, 4] and stroke width [S] (canvas px) from the clip."""
    count = len(clipart.shapes)
    fill = np.zeros((count, 4))
    stroke = np.zeros((count, 4))
    stroke_width = np.zeros(count)
    for i, shape in enumerate(clipart.shapes):
        if shape.fill is not None:
            fill[i] = (*shape.fill.rgb, shape.fill.opacity)
        if shape.stroke is not None:
            stroke[i] = (*shape.stroke.rgb, shape.stroke.opacity)
            stroke_width[i] = shape.stroke.width
    return fill, stroke, stroke_width


@TRAINING_RENDERERS.register("torch")
class TorchVectorRenderer:
    """Differentiable rasteriser of one clip's shapes for any batch of control point sets.

    The topology (which points form which segments and layers) is fixed at construction; each
    ``render`` call only takes new point positions (and optionally colours and widths).
    """

    def __init__(
        self,
        clipart: Clipart,
        config: TrainRenderConfig = TrainRenderConfig(),
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.clipart = clipart
        self.config = config
        self.device = torch.device(device)
        self.dtype = dtype
        self.scale = config.size / clipart.canvas_size
        self.point_count = clipart.point_count
        self._layers, self._fill_segments, self._stroke_segments, fill_shapes, stroke_shapes = _build_topology(clipart)
        self._fill_shapes = torch.from_numpy(fill_shapes).to(self.device)
        self._stroke_shapes = torch.from_numpy(stroke_shapes).to(self.device)
        self._fill_point_index = torch.from_numpy(self._fill_segments.point_index.reshape(-1)).to(self.device)
        self._stroke_point_index = torch.from_numpy(self._stroke_segments.point_index.reshape(-1)).to(self.device)
        self._fill_slot = torch.from_numpy(self._fill_segments.slot).to(self.device)
        evenodd = [layer.evenodd for layer in self._layers if layer.kind == "fill"]
        self._fill_evenodd = torch.tensor(evenodd, dtype=torch.bool, device=self.device)
        self._any_evenodd = any(evenodd)
        self._stroke_slot = torch.from_numpy(self._stroke_segments.slot).to(self.device)
        # How far each stroke reaches past its centre line, in half-widths: a square cap's
        # corners lie √2 half-widths from the end point.
        square = [clipart.shapes[i].stroke.linecap == "square" for i in stroke_shapes]
        self._stroke_reach = torch.tensor(
            [math.sqrt(2.0) if flag else 1.0 for flag in square], dtype=dtype, device=self.device
        )
        # Crops must also hold the miter tips: up to the miter limit in half-widths.
        grow = self._stroke_reach.clone()
        joints = self._stroke_segments.joints
        if len(joints):
            slot_of_joint = torch.from_numpy(self._stroke_segments.slot[joints[:, 0]]).to(self.device)
            limit = torch.from_numpy(self._stroke_segments.joint_limit).to(device=self.device, dtype=dtype)
            grow = grow.scatter_reduce(0, slot_of_joint, limit.clamp(min=1.0), "amax")
        self._stroke_grow = grow
        fill, stroke, width = _default_colours(clipart)
        self.default_fill_rgba = torch.tensor(fill, dtype=dtype, device=self.device)
        self.default_stroke_rgba = torch.tensor(stroke, dtype=dtype, device=self.device)
        self.default_stroke_width = torch.tensor(width, dtype=dtype, device=self.device)
        self._layout_cache: dict[tuple[str, bytes], _ChordLayout] = {}

    # -- per-call geometry -----------------------------------------------------------------

    def _segment_stats(self, points: Tensor, point_index: Tensor, slot: Tensor, slots: int, grow: Tensor | None):
        """Chord counts [N] and integer crop boxes [slots, 4] (max over frames), no gradient."""
        size = self.config.size
        if point_index.numel() == 0:
            return points.new_zeros(0, dtype=torch.long), points.new_zeros(slots, 4, dtype=torch.long)
        control = points.index_select(1, point_index).view(points.shape[0], -1, 4, 2)
        # |B'(t)| ≤ 3 max|ΔP|, so n = ⌈3 max|ΔP| / max_chord⌉ chords are never longer than max_chord.
        leg = (control[:, :, 1:] - control[:, :, :-1]).norm(dim=-1).amax(dim=(0, 2))
        chord_px = self.config.max_chord_px * 0.999
        by_length = 3.0 * leg / chord_px
        # A chord of parameter length h strays at most h²·max|B''|/8 from the curve and
        # |B''(t)| ≤ 6 max|P_i − 2P_{i+1} + P_{i+2}|, so n = ⌈√(0.75·max|Δ²P| / flatness)⌉ chords
        # keep the polyline within ``flatness_px`` of the curve (small tight curls need this; a
        # 1 px chord on a 1 px radius strays 0.125 px, a quarter of a 0.5 px-wide feature).
        bend = (control[:, :, 2:] - 2.0 * control[:, :, 1:-1] + control[:, :, :-2]).norm(dim=-1).amax(dim=(0, 2))
        by_flatness = torch.sqrt(0.75 * bend / self.config.flatness_px)
        counts = torch.ceil(torch.maximum(by_length, by_flatness)).clamp(1, self.config.max_chords_per_segment).long()
        low = control.amin(dim=(0, 2))
        high = control.amax(dim=(0, 2))
        slot_low = low.new_full((slots, 2), math.inf).scatter_reduce(0, slot.view(-1, 1).expand(-1, 2), low, "amin")
        slot_high = high.new_full((slots, 2), -math.inf).scatter_reduce(0, slot.view(-1, 1).expand(-1, 2), high, "amax")
        if grow is not None:
            slot_low = slot_low - grow.view(-1, 1)
            slot_high = slot_high + grow.view(-1, 1)
        box = torch.cat([torch.floor(slot_low), torch.ceil(slot_high)], dim=1).clamp(0, size)
        return counts, box.long()

    def _layout(self, kind: str, segments: _Segments, counts: np.ndarray) -> _ChordLayout:
        key = (kind, counts.tobytes())
        layout = self._layout_cache.get(key)
        if layout is None:
            layout = _chord_layout(segments, counts, self.device, self.dtype)
            # Counts drift slowly during optimisation; keep only the latest few layouts.
            if len(self._layout_cache) >= 8:
                self._layout_cache.pop(next(iter(self._layout_cache)))
            self._layout_cache[key] = layout
        return layout

    def render(
        self,
        points: Tensor,
        fill_rgba: Tensor | None = None,
        stroke_rgba: Tensor | None = None,
        stroke_width: Tensor | None = None,
    ) -> Tensor:
        """Render frames.

        Args:
            points: [B, P, 2] control points in canvas px, in ``clipart.control_points()`` order.
            fill_rgba: [S, 4] per-shape fill colour (sRGB) and opacity; default from the clip.
            stroke_rgba: [S, 4] per-shape stroke colour and opacity; default from the clip.
            stroke_width: [S] stroke widths in canvas px; default from the clip.

        Returns:
            [B, 4, H, W]: channels 0–2 colour over white (``background="white"``) or
            premultiplied over transparent, channel 3 the total alpha.
        """
        clip = self.clipart.source or None
        if points.dim() != 3 or points.shape[1:] != (self.point_count, 2):
            raise RenderError(
                f"expected points of shape [B, {self.point_count}, 2], got {list(points.shape)}", clip=clip
            )
        points = points.to(device=self.device, dtype=self.dtype) * self.scale
        fill_rgba = self.default_fill_rgba if fill_rgba is None else fill_rgba.to(self.device, self.dtype)
        stroke_rgba = self.default_stroke_rgba if stroke_rgba is None else stroke_rgba.to(self.device, self.dtype)
        stroke_width = self.default_stroke_width if stroke_width is None else stroke_width.to(self.device, self.dtype)
        batch, size = points.shape[0], self.config.size
        fill_slots, stroke_slots = len(self._fill_shapes), len(self._stroke_shapes)
        half_width = stroke_width.index_select(0, self._stroke_shapes) * (0.5 * self.scale)  # [Ls] output px

        with torch.no_grad():
            fill_counts, fill_boxes = self._segment_stats(
                points, self._fill_point_index, self._fill_slot, fill_slots, None
            )
            stroke_counts, stroke_boxes = self._segment_stats(
                points, self._stroke_point_index, self._stroke_slot, stroke_slots,
                half_width.detach() * self._stroke_grow + 1.0,
            )
            max_half_width = (
                (half_width.detach() * self._stroke_reach).amax().view(1) if stroke_slots else half_width.new_zeros(1)
            )
            finite = torch.isfinite(points).all().view(1)
            # The single device→host copy per call: everything that fixes tensor sizes.
            host = torch.cat(
                [
                    fill_counts, fill_boxes.view(-1), stroke_counts, stroke_boxes.view(-1),
                    torch.ceil(max_half_width * 1024).long(), finite.long(),
                ]
            ).cpu().numpy()
        if not host[-1]:
            raise RenderError("non-finite control points", clip=clip)
        cursor = 0

        def take(count: int) -> np.ndarray:
            nonlocal cursor
            part = host[cursor : cursor + count]
            cursor += count
            return part

        fill_counts_np = take(len(self._fill_slot))
        fill_crops = _crops(take(4 * fill_slots).reshape(-1, 4), True, self.device)
        stroke_counts_np = take(len(self._stroke_slot))
        stroke_crops = _crops(take(4 * stroke_slots).reshape(-1, 4), False, self.device)
        max_half_width_px = float(take(1)[0]) / 1024

        points_by_point = points.permute(1, 2, 0)  # [P, 2, B]: per-chord tensors become [C, B]
        if len(fill_counts_np):
            layout = self._layout("fill", self._fill_segments, fill_counts_np)
            fill_winding = _fill_winding(*_chords(points_by_point, layout), layout.chord_slot, fill_crops)
        else:
            fill_winding = points.new_zeros(batch, 0)
        if len(stroke_counts_np):
            layout = self._layout("stroke", self._stroke_segments, stroke_counts_np)
            stroke_coverage = _stroke_coverage(
                *_chords(points_by_point, layout),
                layout.chord_slot,
                half_width,
                _window_size(max_half_width_px),
                stroke_crops,
                layout.caps,
                layout.joints,
                self.config.max_chord_px,
            )
        else:
            stroke_coverage = points.new_zeros(batch, 0)

        fill_colours = fill_rgba.index_select(0, self._fill_shapes)  # [Lf, 4]
        stroke_colours = stroke_rgba.index_select(0, self._stroke_shapes)  # [Ls, 4]
        fill_layer = _layer_of_element(fill_crops, self.device)
        fill_evenodd = self._fill_evenodd.index_select(0, fill_layer) if self._any_evenodd else None
        fill_alpha = _fill_coverage(fill_winding, fill_evenodd) * fill_colours[:, 3].index_select(0, fill_layer)
        stroke_layer = _layer_of_element(stroke_crops, self.device)
        stroke_alpha = stroke_coverage * stroke_colours[:, 3].index_select(0, stroke_layer)
        paint_rgb = torch.cat([fill_colours[:, :3], stroke_colours[:, :3]])
        steps = []
        for layer in self._layers:
            crops = fill_crops if layer.kind == "fill" else stroke_crops
            i = layer.slot
            if crops.height[i] == 0 or crops.width[i] == 0:
                continue
            steps.append(
                _PaintStep(
                    is_fill=layer.kind == "fill",
                    colour_row=i if layer.kind == "fill" else fill_slots + i,
                    offset=int(crops.offset[i]),
                    row_stride=int(crops.row_stride[i]),
                    x=int(crops.origin_x[i]),
                    y=int(crops.origin_y[i]),
                    height=int(crops.height[i]),
                    width=int(crops.width[i]),
                )
            )
        white = self.config.background == "white"
        return _Composite.apply(fill_alpha, stroke_alpha, paint_rgb, tuple(steps), size, white)


try:  # pragma: no cover - pydiffvg has no wheel for these machines (render.md)
    import pydiffvg as _pydiffvg
except ImportError:  # pragma: no cover
    _pydiffvg = None

if _pydiffvg is not None:  # pragma: no cover

    @TRAINING_RENDERERS.register("pydiffvg")
    class PydiffvgRenderer:
        """The method's original renderer (diffvg), behind the same interface, where it imports."""

        def __init__(
            self,
            clipart: Clipart,
            config: TrainRenderConfig = TrainRenderConfig(),
            device: torch.device | str = "cpu",
            dtype: torch.dtype = torch.float32,
        ) -> None:
            self.clipart = clipart
            self.config = config
            self.device = torch.device(device)
            self.dtype = dtype
            self.scale = config.size / clipart.canvas_size
            fill, stroke, width = _default_colours(clipart)
            self.default_fill_rgba = torch.tensor(fill, dtype=torch.float32)
            self.default_stroke_rgba = torch.tensor(stroke, dtype=torch.float32)
            self.default_stroke_width = torch.tensor(width, dtype=torch.float32)
            # Per subpath: (shape index, point offset, point count, closed).
            self._subpaths = []
            offset = 0
            for shape_index, shape in enumerate(clipart.shapes):
                for subpath in shape.subpaths:
                    self._subpaths.append((shape_index, offset, len(subpath.points), subpath.closed))
                    offset += len(subpath.points)

        def render(self, points, fill_rgba=None, stroke_rgba=None, stroke_width=None) -> Tensor:
            fill_rgba = self.default_fill_rgba if fill_rgba is None else fill_rgba
            stroke_rgba = self.default_stroke_rgba if stroke_rgba is None else stroke_rgba
            stroke_width = self.default_stroke_width if stroke_width is None else stroke_width
            size = self.config.size
            frames = []
            for frame_points in points.float() * self.scale:
                shapes, shape_ids = [], {}
                for shape_index, offset, count, closed in self._subpaths:
                    segment_count = (count - 1) // 3
                    frame_subpath = frame_points[offset : offset + count]
                    if closed:  # diffvg closes a path itself: drop the repeated start point
                        frame_subpath = frame_subpath[:-1]
                    shape_ids.setdefault(shape_index, []).append(len(shapes))
                    shapes.append(
                        _pydiffvg.Path(
                            num_control_points=torch.full((segment_count,), 2, dtype=torch.int32),
                            points=frame_subpath.contiguous(),
                            is_closed=closed,
                            stroke_width=stroke_width[shape_index] * self.scale,
                        )
                    )
                # One group per shape, so its subpaths fill together (holes, fill rule).
                groups = [
                    _pydiffvg.ShapeGroup(
                        shape_ids=torch.tensor(ids),
                        fill_color=fill_rgba[i] if self.clipart.shapes[i].fill is not None else None,
                        stroke_color=stroke_rgba[i] if self.clipart.shapes[i].stroke is not None else None,
                        use_even_odd_rule=self.clipart.shapes[i].fill is not None
                        and self.clipart.shapes[i].fill.rule == "evenodd",
                    )
                    for i, ids in shape_ids.items()
                ]
                scene = _pydiffvg.RenderFunction.serialize_scene(size, size, shapes, groups)
                image = _pydiffvg.RenderFunction.apply(size, size, 2, 2, 0, None, *scene)  # [H, W, 4]
                alpha = image[..., 3:4]
                rgb = image[..., :3] * alpha if self.config.background == "transparent" else image[..., :3] * alpha + (1 - alpha)
                frames.append(torch.cat([rgb, alpha], dim=-1).permute(2, 0, 1))
            return torch.stack(frames).to(self.device, self.dtype)
