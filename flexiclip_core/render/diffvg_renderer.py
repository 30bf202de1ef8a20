"""diffvg (the method's original rasteriser) as a training renderer, selected by name ``pydiffvg``.

Imported lazily: the registry always knows the name, so a config that selects it is valid
everywhere and fails with a clear `ConfigError` only where the package is missing.
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

import torch
from torch import Tensor

from flexiclip_core.clipart import Clipart
from flexiclip_core.errors import ConfigError
from flexiclip_core.render.config import TRAINING_RENDERERS, TrainRenderConfig
from flexiclip_core.render.topology import default_colours

log = logging.getLogger(__name__)


def _import_pydiffvg(clipart: Clipart) -> ModuleType:
    try:
        import pydiffvg
    except ImportError as exc:
        raise ConfigError(
            f"training renderer 'pydiffvg' needs the pydiffvg package, which does not import here ({exc}); "
            "use training_renderer='torch'",
            clip=clipart.source or None,
        ) from None
    return pydiffvg


@TRAINING_RENDERERS.register("pydiffvg")
class PydiffvgRenderer:
    """The method's original renderer (diffvg), behind the same interface as `TorchVectorRenderer`.

    pydiffvg has no wheel for these machines (docs/render.md §1): constructing this renderer where
    it does not import raises `ConfigError` naming the missing package.
    """

    def __init__(
        self,
        clipart: Clipart,
        config: TrainRenderConfig = TrainRenderConfig(),
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if config.paint_gradients:
            raise ConfigError(
                "render.paint_gradients is drawn by the 'torch' training renderer only", clip=clipart.source or None
            )
        self._pydiffvg = _import_pydiffvg(clipart)
        if clipart.clip_point_count:
            log.warning("pydiffvg renderer draws the clip paths of %r unclipped", clipart.source)
        self.clipart = clipart
        self.config = config
        self.device = torch.device(device)
        self.dtype = dtype
        self.scale = config.size / clipart.canvas_size
        fill, stroke, width = default_colours(clipart)
        self.default_fill_rgba = torch.tensor(fill, dtype=torch.float32)
        self.default_stroke_rgba = torch.tensor(stroke, dtype=torch.float32)
        self.default_stroke_width = torch.tensor(width, dtype=torch.float32)
        # Per subpath: (shape index, point offset, point count, closed).
        self._subpaths: list[tuple[int, int, int, bool]] = []
        offset = 0
        for shape_index, shape in enumerate(clipart.shapes):
            for subpath in shape.subpaths:
                self._subpaths.append((shape_index, offset, len(subpath.points), subpath.closed))
                offset += len(subpath.points)

    def render(
        self,
        points: Tensor,
        fill_rgba: Tensor | None = None,
        stroke_rgba: Tensor | None = None,
        stroke_width: Tensor | None = None,
        clip_points: Tensor | None = None,
    ) -> Tensor:
        """[B, P, 2] canvas-px points → [B, 4, H, W] frames, as `TorchVectorRenderer.render`.
        Clip paths are not drawn here (``clip_points`` is accepted and ignored; a warning is
        logged at construction)."""
        fill_rgba = self.default_fill_rgba if fill_rgba is None else fill_rgba
        stroke_rgba = self.default_stroke_rgba if stroke_rgba is None else stroke_rgba
        stroke_width = self.default_stroke_width if stroke_width is None else stroke_width
        pydiffvg = self._pydiffvg
        size = self.config.size
        frames = []
        for frame_points in points.float() * self.scale:
            shapes: list[Any] = []  # pydiffvg shapes (untyped)
            shape_ids: dict[int, list[int]] = {}
            for shape_index, offset, count, closed in self._subpaths:
                segment_count = (count - 1) // 3
                frame_subpath = frame_points[offset : offset + count]
                if closed:  # diffvg closes a path itself: drop the repeated start point
                    frame_subpath = frame_subpath[:-1]
                shape_ids.setdefault(shape_index, []).append(len(shapes))
                shapes.append(
                    pydiffvg.Path(
                        num_control_points=torch.full((segment_count,), 2, dtype=torch.int32),
                        points=frame_subpath.contiguous(),
                        is_closed=closed,
                        stroke_width=stroke_width[shape_index] * self.scale,
                    )
                )
            # One group per shape, so its subpaths fill together (holes, fill rule).
            groups = [
                pydiffvg.ShapeGroup(
                    shape_ids=torch.tensor(ids),
                    fill_color=fill_rgba[i] if self.clipart.shapes[i].fill is not None else None,
                    stroke_color=stroke_rgba[i] if self.clipart.shapes[i].stroke is not None else None,
                    use_even_odd_rule=(fill := self.clipart.shapes[i].fill) is not None and fill.rule == "evenodd",
                )
                for i, ids in shape_ids.items()
            ]
            scene = pydiffvg.RenderFunction.serialize_scene(size, size, shapes, groups)
            image = pydiffvg.RenderFunction.apply(size, size, 2, 2, 0, None, *scene)  # [H, W, 4]
            alpha = image[..., 3:4]
            rgb = (
                image[..., :3] * alpha
                if self.config.background == "transparent"
                else image[..., :3] * alpha + (1 - alpha)
            )
            frames.append(torch.cat([rgb, alpha], dim=-1).permute(2, 0, 1))
        return torch.stack(frames).to(self.device, self.dtype)
