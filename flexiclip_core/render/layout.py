"""Where the flattening samples and chords of a segment set lie, and the per-layer crop boxes.

Segments are flattened into chords whose end points are Bernstein combinations of the control
points (so gradients reach the points). The layout depends only on the chord counts, so
`TorchVectorRenderer` caches it; crops are recomputed per call from the bounding boxes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from flexiclip_core.render.topology import Segments


@dataclass(frozen=True)
class ChordLayout:
    """Where the flattening samples and chords of a segment set lie, for given chord counts."""

    sample_point_index: Tensor
    """int64 [M·4] control point index of each Bernstein term of each sample."""
    sample_weights: Tensor
    """float [M, 4] Bernstein weights of each sample."""
    chord_start: Tensor
    """int64 [C] sample index of each chord's start (its end is the next sample)."""
    chord_slot: Tensor
    """int64 [C] layer slot of each chord."""
    caps: CapLayout | None = None
    """Chords of open subpaths whose ends are cut (butt or square caps); None when there are none."""
    joints: JointLayout | None = None
    """Chord pairs meeting at mitered corners; None when there are none."""


@dataclass(frozen=True)
class JointLayout:
    """The chords on either side of each mitered corner."""

    incoming: Tensor
    """int64 [J] the last chord before the corner."""
    outgoing: Tensor
    """int64 [J] the first chord after it."""
    limit: Tensor
    """float [J] miter limit (ratio of miter length to stroke width)."""


@dataclass(frozen=True)
class CapLayout:
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


def chord_layout(segments: Segments, counts: np.ndarray, device: torch.device, dtype: torch.dtype) -> ChordLayout:
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
    return ChordLayout(
        sample_point_index=torch.from_numpy(segments.point_index[segment_of_sample].reshape(-1)).to(device),
        sample_weights=torch.from_numpy(weights).to(device=device, dtype=dtype),
        chord_start=torch.from_numpy(chord_start).to(device),
        chord_slot=torch.from_numpy(segments.slot[segment_of_chord]).to(device),
        caps=_cap_layout(segments, segment_of_chord, k[chord_start], counts, device, dtype),
        joints=_joint_layout(segments, counts, device, dtype),
    )


def _joint_layout(
    segments: Segments, counts: np.ndarray, device: torch.device, dtype: torch.dtype
) -> JointLayout | None:
    """Chord indices on either side of each mitered corner, for the given chord counts."""
    if not len(segments.joints):
        return None
    first_chord = np.cumsum(counts) - counts
    incoming, outgoing = segments.joints[:, 0], segments.joints[:, 1]
    return JointLayout(
        incoming=torch.from_numpy(first_chord[incoming] + counts[incoming] - 1).to(device),
        outgoing=torch.from_numpy(first_chord[outgoing]).to(device),
        limit=torch.from_numpy(segments.joint_limit).to(device=device, dtype=dtype),
    )


def _cap_layout(
    segments: Segments,
    segment_of_chord: np.ndarray,
    k: np.ndarray,
    counts: np.ndarray,
    device: torch.device,
    dtype: torch.dtype,
) -> CapLayout | None:
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
    return CapLayout(
        chord=tensor(capped),
        first=tensor(first[capped]),
        last=tensor(last[capped]),
        start_extension=tensor(subpath_start_cap[capped], True),
        end_extension=tensor(subpath_end_cap[capped], True),
        reach=tensor(reach, True),
    )


def chords(points_by_point: Tensor, layout: ChordLayout) -> tuple[Tensor, Tensor, Tensor, Tensor]:
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


@dataclass(frozen=True)
class Crops:
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


def make_crops(boxes: np.ndarray, pad_column: bool, device: torch.device) -> Crops:
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
    return Crops(
        origin_x,
        origin_y,
        height,
        width,
        row_stride,
        offset,
        int(block.sum()),
        torch.from_numpy(table).to(device),
    )
