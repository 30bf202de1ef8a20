"""The differentiable training renderer in plain PyTorch: exact box-filtered coverage (docs/render.md §2–6).

Topology (`topology`) is fixed per clip; each call flattens the segments into chords
(`layout`), rasterises fills (`fill`) and strokes (`stroke`) into per-layer crops and
composites them (`composite`). Standard tensor ops only, so it runs unchanged on CUDA. Per call
there is one small device-to-host copy (chord counts and crop boxes, which fix tensor sizes);
the chord layout that depends on the counts is cached.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from flexiclip_core.clipart import Clipart
from flexiclip_core.errors import RenderError
from flexiclip_core.render.composite import Composite, PaintStep, layer_of_element
from flexiclip_core.render.config import TRAINING_RENDERERS, TrainRenderConfig
from flexiclip_core.render.fill import fill_coverage, fill_winding
from flexiclip_core.render.gradient_paint import GradientPaint
from flexiclip_core.render.layout import ChordLayout, Crops, chord_layout, chords, make_crops
from flexiclip_core.render.stroke import stroke_coverage, window_size
from flexiclip_core.render.topology import Segments, build_clip_topology, build_topology, default_colours


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
        self.clip_point_count = clipart.clip_point_count
        self._layers, self._fill_segments, self._stroke_segments, fill_shapes, stroke_shapes = build_topology(clipart)
        self._shape_fill_slots = len(fill_shapes)
        evenodd = [layer.evenodd for layer in self._layers if layer.kind == "fill"]
        # Clip regions are extra fill slots after the shapes' (docs/render.md §12).
        self._clips = build_clip_topology(clipart, len(fill_shapes))
        if self._clips is not None:
            self._fill_segments = _concatenate_segments(self._fill_segments, self._clips.segments)
            evenodd += self._clips.evenodd.tolist()
            self._rest_clip_points = torch.tensor(clipart.clip_points(), dtype=dtype, device=self.device)
        self._fill_shapes = torch.from_numpy(fill_shapes).to(self.device)
        self._stroke_shapes = torch.from_numpy(stroke_shapes).to(self.device)
        self._fill_point_index = torch.from_numpy(self._fill_segments.point_index.reshape(-1)).to(self.device)
        self._stroke_point_index = torch.from_numpy(self._stroke_segments.point_index.reshape(-1)).to(self.device)
        self._fill_slot = torch.from_numpy(self._fill_segments.slot).to(self.device)
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
        fill, stroke, width = default_colours(clipart)
        self.default_fill_rgba = torch.tensor(fill, dtype=dtype, device=self.device)
        self.default_stroke_rgba = torch.tensor(stroke, dtype=dtype, device=self.device)
        self.default_stroke_width = torch.tensor(width, dtype=dtype, device=self.device)
        self._layout_cache: dict[tuple[str, bytes], ChordLayout] = {}
        # Layers painted per pixel (docs/render.md §11): (kind, slot, first point, end point, paint).
        self._gradient_layers: list[tuple[str, int, int, int, GradientPaint]] = []
        if config.paint_gradients:
            first_point = np.cumsum([0] + [shape.point_count for shape in clipart.shapes])
            rest_points = clipart.control_points()
            for layer in self._layers:
                shape = clipart.shapes[layer.shape_index]
                paint = shape.fill if layer.kind == "fill" else shape.stroke
                if paint is not None and paint.gradient is not None and shape.point_count:
                    start, end = int(first_point[layer.shape_index]), int(first_point[layer.shape_index + 1])
                    gradient_paint = GradientPaint(paint, rest_points[start:end], self.device, dtype)
                    self._gradient_layers.append((layer.kind, layer.slot, start, end, gradient_paint))

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

    def _clip_boxes(self, fill_boxes: Tensor, stroke_boxes: Tensor, fill_slots: int) -> tuple[Tensor, Tensor]:
        """Crop boxes with clipped layers cut to their regions' boxes and each region's box cut
        to its shape's layers (only there is its coverage read), all on the device."""
        clips = self._clips
        assert clips is not None
        device = fill_boxes.device
        region_boxes = fill_boxes[fill_slots:]
        cut = []
        for boxes, pairs in ((fill_boxes, clips.fill_pairs), (stroke_boxes, clips.stroke_pairs)):
            if len(pairs):
                layer = torch.from_numpy(pairs[:, 0]).to(device)
                region = region_boxes.index_select(0, torch.from_numpy(pairs[:, 1]).to(device))
                low = boxes[:, :2].scatter_reduce(0, layer.view(-1, 1).expand(-1, 2), region[:, :2], "amax")
                high = boxes[:, 2:].scatter_reduce(0, layer.view(-1, 1).expand(-1, 2), region[:, 2:], "amin")
                boxes = torch.cat([low, high], dim=1)
            cut.append(boxes)
        fill_boxes, stroke_boxes = cut
        big = 1 << 30
        union_low = fill_boxes.new_full((len(clips.evenodd), 2), big)
        union_high = fill_boxes.new_full((len(clips.evenodd), 2), -big)
        for boxes, owner in ((fill_boxes, clips.region_fill_slot), (stroke_boxes, clips.region_stroke_slot)):
            has = torch.from_numpy(owner >= 0).to(device).view(-1, 1)
            owned = boxes.index_select(0, torch.from_numpy(owner.clip(min=0)).to(device)) if len(boxes) else None
            if owned is None:
                continue
            empty = ((owned[:, 2:] <= owned[:, :2]).any(dim=1, keepdim=True)) | ~has
            union_low = torch.minimum(union_low, torch.where(empty, big, owned[:, :2]))
            union_high = torch.maximum(union_high, torch.where(empty, -big, owned[:, 2:]))
        regions = torch.cat([union_low, union_high], dim=1).clamp(0, self.config.size)
        return torch.cat([fill_boxes[:fill_slots], regions]), stroke_boxes

    def _apply_clips(
        self, fill_alpha: Tensor, stroke_alpha: Tensor, fill_crops: Crops, stroke_crops: Crops, fill_slots: int
    ) -> tuple[Tensor, Tensor]:
        """Multiply each clipped layer's alpha [B, frame_size] by its regions' coverage, read
        from the region slots of ``fill_alpha`` (every clipped crop lies inside its regions')."""
        clips = self._clips
        assert clips is not None
        coverage = fill_alpha
        out = []
        for alpha, crops, pairs in (
            (fill_alpha, fill_crops, clips.fill_pairs),
            (stroke_alpha, stroke_crops, clips.stroke_pairs),
        ):
            for level in range(int(pairs[:, 2].max()) + 1 if len(pairs) else 0):
                targets, sources = [], []
                for layer, region, _ in pairs[pairs[:, 2] == level]:
                    height, width = int(crops.height[layer]), int(crops.width[layer])
                    if height == 0 or width == 0:
                        continue
                    r = fill_slots + int(region)
                    rows = np.arange(height)[:, None]
                    columns = np.arange(width)[None, :]
                    targets.append((crops.offset[layer] + rows * crops.row_stride[layer] + columns).reshape(-1))
                    region_y = rows + crops.origin_y[layer] - fill_crops.origin_y[r]
                    region_x = columns + crops.origin_x[layer] - fill_crops.origin_x[r]
                    sources.append((fill_crops.offset[r] + region_y * fill_crops.row_stride[r] + region_x).reshape(-1))
                if not targets:
                    continue
                target = torch.from_numpy(np.concatenate(targets)).to(self.device)
                source = torch.from_numpy(np.concatenate(sources)).to(self.device)
                clipped = alpha.index_select(1, target) * coverage.index_select(1, source)
                alpha = alpha.index_copy(1, target, clipped)
            out.append(alpha)
        return out[0], out[1]

    def _layout(self, kind: str, segments: Segments, counts: np.ndarray) -> ChordLayout:
        key = (kind, counts.tobytes())
        layout = self._layout_cache.get(key)
        if layout is None:
            layout = chord_layout(segments, counts, self.device, self.dtype)
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
        clip_points: Tensor | None = None,
    ) -> Tensor:
        """Render frames.

        Args:
            points: [B, P, 2] control points in canvas px, in ``clipart.control_points()`` order.
            fill_rgba: [S, 4] per-shape fill colour (sRGB) and opacity; default from the clip.
            stroke_rgba: [S, 4] per-shape stroke colour and opacity; default from the clip.
            stroke_width: [S] stroke widths in canvas px; default from the clip.
            clip_points: [B, C, 2] clip outline points in canvas px, in ``clipart.clip_points()``
                order (the posed clips); default the rest pose's, right only for the rest pose.

        Returns:
            [B, 4, H, W]: channels 0–2 colour over white (``background="white"``) or
            premultiplied over transparent, channel 3 the total alpha.
        """
        clip = self.clipart.source or None
        if points.dim() != 3 or points.shape[1:] != (self.point_count, 2):
            raise RenderError(
                f"expected points of shape [B, {self.point_count}, 2], got {list(points.shape)}", clip=clip
            )
        # Float64 for the best-fit affine maps: the collapse test needs it (docs/render.md §11).
        pose = points.detach().to(self.device, torch.float64) if self._gradient_layers else None  # [B, P, 2]
        points = points.to(device=self.device, dtype=self.dtype) * self.scale
        if self._clips is not None:
            if clip_points is None:
                clip_points = self._rest_clip_points.expand(points.shape[0], -1, -1)
            elif clip_points.dim() != 3 or clip_points.shape != (points.shape[0], self.clip_point_count, 2):
                raise RenderError(
                    f"expected clip points of shape [{points.shape[0]}, {self.clip_point_count}, 2], "
                    f"got {list(clip_points.shape)}",
                    clip=clip,
                )
            # Clip points follow the control points: point P + c is clip point c.
            points = torch.cat([points, clip_points.to(device=self.device, dtype=self.dtype) * self.scale], dim=1)
        fill_rgba = self.default_fill_rgba if fill_rgba is None else fill_rgba.to(self.device, self.dtype)
        stroke_rgba = self.default_stroke_rgba if stroke_rgba is None else stroke_rgba.to(self.device, self.dtype)
        stroke_width = self.default_stroke_width if stroke_width is None else stroke_width.to(self.device, self.dtype)
        batch, size = points.shape[0], self.config.size
        fill_slots, stroke_slots = len(self._fill_shapes), len(self._stroke_shapes)
        all_fill_slots = fill_slots + (len(self._clips.evenodd) if self._clips is not None else 0)
        half_width = stroke_width.index_select(0, self._stroke_shapes) * (0.5 * self.scale)  # [Ls] output px

        with torch.no_grad():
            fill_counts, fill_boxes = self._segment_stats(
                points, self._fill_point_index, self._fill_slot, all_fill_slots, None
            )
            stroke_counts, stroke_boxes = self._segment_stats(
                points,
                self._stroke_point_index,
                self._stroke_slot,
                stroke_slots,
                half_width.detach() * self._stroke_grow + 1.0,
            )
            if self._clips is not None:
                fill_boxes, stroke_boxes = self._clip_boxes(fill_boxes, stroke_boxes, fill_slots)
            max_half_width = (
                (half_width.detach() * self._stroke_reach).amax().view(1) if stroke_slots else half_width.new_zeros(1)
            )
            finite = torch.isfinite(points).all().view(1)
            # The single device→host copy per call: everything that fixes tensor sizes.
            host = (
                torch.cat(
                    [
                        fill_counts,
                        fill_boxes.view(-1),
                        stroke_counts,
                        stroke_boxes.view(-1),
                        torch.ceil(max_half_width * 1024).long(),
                        finite.long(),
                    ]
                )
                .cpu()
                .numpy()
            )
        if not host[-1]:
            raise RenderError("non-finite control points", clip=clip)
        cursor = 0

        def take(count: int) -> np.ndarray:
            nonlocal cursor
            part = host[cursor : cursor + count]
            cursor += count
            return part

        fill_counts_np = take(len(self._fill_slot))
        fill_crops = make_crops(take(4 * all_fill_slots).reshape(-1, 4), True, self.device)
        stroke_counts_np = take(len(self._stroke_slot))
        stroke_crops = make_crops(take(4 * stroke_slots).reshape(-1, 4), False, self.device)
        max_half_width_px = float(take(1)[0]) / 1024

        points_by_point = points.permute(1, 2, 0)  # [P, 2, B]: per-chord tensors become [C, B]
        if len(fill_counts_np):
            layout = self._layout("fill", self._fill_segments, fill_counts_np)
            winding = fill_winding(*chords(points_by_point, layout), layout.chord_slot, fill_crops)
        else:
            winding = points.new_zeros(batch, 0)
        if len(stroke_counts_np):
            layout = self._layout("stroke", self._stroke_segments, stroke_counts_np)
            stroke_cover = stroke_coverage(
                *chords(points_by_point, layout),
                layout.chord_slot,
                half_width,
                window_size(max_half_width_px),
                stroke_crops,
                layout.caps,
                layout.joints,
                self.config.max_chord_px,
            )
        else:
            stroke_cover = points.new_zeros(batch, 0)

        fill_colours = fill_rgba.index_select(0, self._fill_shapes)  # [Lf, 4]
        stroke_colours = stroke_rgba.index_select(0, self._stroke_shapes)  # [Ls, 4]
        fill_layer = layer_of_element(fill_crops, self.device)
        fill_evenodd = self._fill_evenodd.index_select(0, fill_layer) if self._any_evenodd else None
        fill_opacity = fill_colours[:, 3]
        if all_fill_slots > fill_slots:
            # Clip regions are coverage only: opacity 1.
            fill_opacity = torch.cat([fill_opacity, fill_opacity.new_ones(all_fill_slots - fill_slots)])
        fill_opacity = fill_opacity.index_select(0, fill_layer)  # [frame_size]
        stroke_layer = layer_of_element(stroke_crops, self.device)
        stroke_opacity = stroke_colours[:, 3].index_select(0, stroke_layer)  # [frame_size]
        pixel_paints: dict[tuple[str, int], Tensor] = {}
        if pose is not None:
            fill_opacity, stroke_opacity = self._gradient_paints(
                pose, fill_opacity, stroke_opacity, fill_crops, stroke_crops, pixel_paints
            )
        fill_alpha = fill_coverage(winding, fill_evenodd) * fill_opacity
        stroke_alpha = stroke_cover * stroke_opacity
        if self._clips is not None:
            fill_alpha, stroke_alpha = self._apply_clips(fill_alpha, stroke_alpha, fill_crops, stroke_crops, fill_slots)
        paint_rgb = torch.cat([fill_colours[:, :3], stroke_colours[:, :3]])
        steps = []
        pixel_paint_list: list[Tensor] = []
        for layer in self._layers:
            crops = fill_crops if layer.kind == "fill" else stroke_crops
            i = layer.slot
            if crops.height[i] == 0 or crops.width[i] == 0:
                continue
            pixel_paint = pixel_paints.get((layer.kind, i))
            if pixel_paint is not None:
                pixel_paint_list.append(pixel_paint)
            steps.append(
                PaintStep(
                    is_fill=layer.kind == "fill",
                    colour_row=i if layer.kind == "fill" else fill_slots + i,
                    offset=int(crops.offset[i]),
                    row_stride=int(crops.row_stride[i]),
                    x=int(crops.origin_x[i]),
                    y=int(crops.origin_y[i]),
                    height=int(crops.height[i]),
                    width=int(crops.width[i]),
                    pixel_paint=-1 if pixel_paint is None else len(pixel_paint_list) - 1,
                )
            )
        white = self.config.background == "white"
        return Composite.apply(fill_alpha, stroke_alpha, paint_rgb, tuple(steps), size, white, tuple(pixel_paint_list))

    def _gradient_paints(
        self,
        pose: Tensor,  # float64 [B, P, 2] canvas px, detached, on the device
        fill_opacity: Tensor,  # [frame_size] each fill element's layer opacity
        stroke_opacity: Tensor,  # [frame_size] each stroke element's layer opacity
        fill_crops: Crops,
        stroke_crops: Crops,
        pixel_paints: dict[tuple[str, int], Tensor],
    ) -> tuple[Tensor, Tensor]:
        """Paint the gradient layers per pixel (docs/render.md §11): each one's gradient carried
        into every frame's pose by `posed_paint`'s rule (`GradientPaint`, all frames at once on
        the device) and evaluated at the centres of its crop's pixels. Fills
        ``pixel_paints[(kind, slot)]`` with [B, 3, h, w] straight colours and returns the
        opacities with those crops' elements replaced per frame ([B, frame_size] where a layer of
        the kind has a gradient, else as given)."""
        batch = pose.shape[0]
        opacities = {"fill": fill_opacity, "stroke": stroke_opacity}
        for kind, slot, start, end, gradient_paint in self._gradient_layers:
            crops = fill_crops if kind == "fill" else stroke_crops
            height, width, stride = int(crops.height[slot]), int(crops.width[slot]), int(crops.row_stride[slot])
            if height == 0 or width == 0:
                continue
            # Pixel centres in canvas px; stride ≥ width also covers a fill row's padding column.
            columns = int(crops.origin_x[slot]) + torch.arange(stride, device=self.device, dtype=self.dtype) + 0.5
            rows = int(crops.origin_y[slot]) + torch.arange(height, device=self.device, dtype=self.dtype) + 0.5
            rgb, alpha = gradient_paint.field(pose[:, start:end], columns / self.scale, rows / self.scale)
            pixel_paints[(kind, slot)] = rgb[..., :width].contiguous()
            opacity = opacities[kind]
            if opacity.dim() == 1:
                opacity = opacity.unsqueeze(0).expand(batch, -1).clone()
            offset = int(crops.offset[slot])
            opacity[:, offset : offset + height * stride] = alpha.reshape(batch, -1)
            opacities[kind] = opacity
        return opacities["fill"], opacities["stroke"]


def _concatenate_segments(first: Segments, second: Segments) -> Segments:
    """Two fill segment sets as one (joints and caps are stroke-only, so none here)."""
    return Segments(
        np.concatenate([first.point_index, second.point_index]),
        np.concatenate([first.slot, second.slot]),
        np.concatenate([first.subpath, second.subpath]),
        np.concatenate([first.cap_start, second.cap_start]),
        np.concatenate([first.cap_end, second.cap_end]),
        first.joints,
        first.joint_limit,
    )
