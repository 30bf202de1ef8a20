"""What is drawn, fixed per clip: layers in paint order and the cubic segments of fills and strokes.

Built once per renderer from the rest-pose `Clipart`; later calls only move the points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from flexiclip_core.clipart import Clipart


@dataclass(frozen=True)
class Layer:
    """One painted layer in paint order: the fill or the stroke of a shape."""

    kind: Literal["fill", "stroke"]
    shape_index: int
    slot: int
    """Index among the layers of the same kind (row of the per-kind tables)."""
    evenodd: bool = False


@dataclass(frozen=True)
class Segments:
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

    starts = [tangent(cubic, False) for cubic in rest]
    ends = [tangent(cubic, True) for cubic in rest]
    drawn = [i for i, start in enumerate(starts) if start is not None]
    pairs = list(zip(drawn[:-1], drawn[1:]))
    if closed and len(drawn) > 1:
        pairs.append((drawn[-1], drawn[0]))
    threshold = math.cos(math.radians(_CORNER_DEGREES))
    return [
        (a, b)
        for a, b in pairs
        if (incoming := ends[a]) is not None
        and (outgoing := starts[b]) is not None
        and float(incoming @ outgoing) < threshold
    ]


def build_topology(clipart: Clipart) -> tuple[list[Layer], Segments, Segments, np.ndarray, np.ndarray]:
    """Layers in paint order, fill and stroke segments, and the shape of each fill/stroke slot."""
    layers: list[Layer] = []
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
        stroke = shape.stroke
        stroke_slot_id = len(stroke_shapes) if stroke is not None else -1
        for subpath in shape.subpaths:
            count = len(subpath.points)
            first, last = offset, offset + count - 1
            cubics = [[offset + 3 * i + k for k in range(4)] for i in range(subpath.segment_count)]
            if fill_slot_id >= 0:
                # Filling closes every subpath implicitly (zero length when already closed).
                fill_index.extend(cubics + [[last, last, first, first]])
                fill_slot.extend([fill_slot_id] * (len(cubics) + 1))
            if stroke is not None:
                closing = [[last, last, first, first]] if subpath.closed else []
                run = len(cubics) + len(closing)
                if stroke.linejoin == "miter":
                    rest = [subpath.points[3 * i : 3 * i + 4] for i in range(subpath.segment_count)]
                    if subpath.closed:
                        rest.append(subpath.points[[-1, -1, 0, 0]])
                    for a, b in _corners(rest, subpath.closed):
                        stroke_joints.append((len(stroke_index) + a, len(stroke_index) + b))
                        stroke_joint_limit.append(float(stroke.miter_limit))
                stroke_index.extend(cubics + closing)
                stroke_slot.extend([stroke_slot_id] * run)
                stroke_subpath.extend([len(stroke_subpath) and stroke_subpath[-1] + 1] * run)
                cap = math.nan if subpath.closed else _CAP_EXTENSION[stroke.linecap]
                ends = [math.nan] * run
                stroke_cap_start.extend([cap] + ends[1:] if run else [])
                stroke_cap_end.extend(ends[1:] + [cap] if run else [])
            offset += count
        if shape.fill is not None:
            layers.append(Layer("fill", shape_index, fill_slot_id, shape.fill.rule == "evenodd"))
            fill_shapes.append(shape_index)
        if shape.stroke is not None:
            layers.append(Layer("stroke", shape_index, stroke_slot_id))
            stroke_shapes.append(shape_index)

    def segments(
        index: list[list[int]], slot: list[int], subpath=(), cap_start=(), cap_end=(), joints=(), joint_limit=()
    ) -> Segments:
        n = len(slot)
        return Segments(
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
            stroke_index,
            stroke_slot,
            stroke_subpath,
            stroke_cap_start,
            stroke_cap_end,
            stroke_joints,
            stroke_joint_limit,
        ),
        np.asarray(fill_shapes, dtype=np.int64),
        np.asarray(stroke_shapes, dtype=np.int64),
    )


@dataclass(frozen=True)
class ClipTopology:
    """The clip regions of a clip's shapes as extra fill slots, and which layers each clips."""

    segments: Segments
    """Fill segments of every region (point indices past the P control points: clip point c is
    point P + c); slots continue after the shapes' fill slots."""
    evenodd: np.ndarray
    """bool [R] clip rule of each region."""
    region_fill_slot: np.ndarray
    """int64 [R] fill slot of the shape each region clips (−1: the shape has no fill)."""
    region_stroke_slot: np.ndarray
    """int64 [R] stroke slot of that shape (−1: no stroke)."""
    fill_pairs: np.ndarray
    """int64 [K, 3] (fill slot, region, level): the layer is multiplied by the region's coverage;
    ``level`` numbers a layer's regions 0, 1, … so the pairs of one level touch distinct layers."""
    stroke_pairs: np.ndarray
    """int64 [K', 3] the same for stroke slots."""


def build_clip_topology(clipart: Clipart, fill_slots: int) -> ClipTopology | None:
    """Clip regions of ``clipart`` as fill slots ``fill_slots``, ``fill_slots + 1``, …; None
    when no shape is clipped (docs/render.md §12)."""
    if clipart.clip_point_count == 0:
        return None
    index: list[list[int]] = []
    slot: list[int] = []
    evenodd: list[bool] = []
    region_fill: list[int] = []
    region_stroke: list[int] = []
    fill_pairs: list[tuple[int, int, int]] = []
    stroke_pairs: list[tuple[int, int, int]] = []
    offset = clipart.point_count
    next_fill = next_stroke = 0
    for shape in clipart.shapes:
        fill_slot = next_fill if shape.fill is not None else -1
        stroke_slot = next_stroke if shape.stroke is not None else -1
        next_fill += shape.fill is not None
        next_stroke += shape.stroke is not None
        for level, region in enumerate(shape.clip or ()):
            number = len(evenodd)
            for subpath in region.subpaths:
                count = len(subpath.points)
                first, last = offset, offset + count - 1
                cubics = [[offset + 3 * i + k for k in range(4)] for i in range(subpath.segment_count)]
                index.extend(cubics + [[last, last, first, first]])
                slot.extend([fill_slots + number] * (len(cubics) + 1))
                offset += count
            evenodd.append(region.rule == "evenodd")
            region_fill.append(fill_slot)
            region_stroke.append(stroke_slot)
            if fill_slot >= 0:
                fill_pairs.append((fill_slot, number, level))
            if stroke_slot >= 0:
                stroke_pairs.append((stroke_slot, number, level))
    n = len(slot)
    segments = Segments(
        np.asarray(index, dtype=np.int64).reshape(-1, 4),
        np.asarray(slot, dtype=np.int64).reshape(-1),
        np.zeros(n, dtype=np.int64),
        np.full(n, math.nan),
        np.full(n, math.nan),
        np.zeros((0, 2), dtype=np.int64),
        np.zeros(0),
    )
    return ClipTopology(
        segments,
        np.asarray(evenodd, dtype=bool),
        np.asarray(region_fill, dtype=np.int64),
        np.asarray(region_stroke, dtype=np.int64),
        np.asarray(fill_pairs, dtype=np.int64).reshape(-1, 3),
        np.asarray(stroke_pairs, dtype=np.int64).reshape(-1, 3),
    )


def default_colours(clipart: Clipart) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
