"""Settings and interface of the differentiable training renderers, and their registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from torch import Tensor

from flexiclip_core.errors import ConfigError
from flexiclip_core.registry import Registry

Background = Literal["white", "transparent"]
"""Canvas under the drawing: ``white`` (colour over white) or ``transparent`` (premultiplied)."""


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
    paint_gradients: bool = False
    """Paint linear and radial gradient fills and strokes per pixel, as the final renderer does
    (docs/render.md §11: carried by `paint_motion.posed_paint`, with its spread, stop ramp and
    opacity), instead of their mean colour. The per-pixel colour is constant to autograd (the
    control points still get gradients through the coverage edges). Off: each layer is one
    colour, bit for bit as before the option. ``torch`` renderer only (pydiffvg refuses it)."""

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


class TrainingRenderer(Protocol):
    """A differentiable rasteriser of one clip, built as ``cls(clipart, config, device=..., dtype=...)``;
    the topology is fixed at construction and each call takes new point positions."""

    config: TrainRenderConfig

    def render(
        self,
        points: Tensor,
        fill_rgba: Tensor | None = None,
        stroke_rgba: Tensor | None = None,
        stroke_width: Tensor | None = None,
        clip_points: Tensor | None = None,
    ) -> Tensor:
        """[B, P, 2] canvas-px control points (optional [S, 4] fill / stroke RGBA, [S] widths,
        [B, C, 2] posed clip points, default the rest pose's) → [B, 4, H, W] frames: colour
        over white or premultiplied, then alpha."""
        ...


TrainingRendererFactory = Callable[..., TrainingRenderer]
"""``(clipart, config, device=..., dtype=...) -> TrainingRenderer``: a renderer class."""

DEFAULT_TRAINING_RENDERER = "torch"
"""The training renderer configs name unless they say otherwise."""

TRAINING_RENDERERS: Registry[TrainingRendererFactory] = Registry("training renderer")
"""Differentiable renderers by name: ``torch`` (`TorchVectorRenderer`) and ``pydiffvg``
(diffvg's rasteriser, which raises `ConfigError` at construction where pydiffvg does not import).
Filled when `flexiclip_core.render` is imported."""
