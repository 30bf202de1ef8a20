"""Rendering a `Clipart` pose to pixels: differentiable training renderers and exact final renderers.

Training renderers (`TRAINING_RENDERERS`, configs name one: ``torch``, ``pydiffvg``) rasterise
a batch of poses with gradients to the control points; final renderers (`FINAL_RENDERERS`:
``cairo``) draw the output frames exactly. docs/render.md describes both (§1–9 training, §10 final).

The ``torch`` renderer computes exact box-filtered coverage in plain PyTorch, one module per job:
`topology` (layers and segments, fixed per clip) → `layout` (chords and crops) → `fill` (signed
area accumulation) and `stroke` (box-filtered bands) → `gradient_paint` (per-pixel gradient
colour, when ``paint_gradients`` is on) → `composite` (premultiplied "over"), driven by
`torch_renderer`.

Known limits (docs/render.md §9): where two outlines of one shape cross inside a pixel the folded
winding number slightly over-covers it; abutting shapes show conflation seams; where a thin
stroke folds back inside one pixel the max under-covers the union; bevel joins, and miters
beyond their limit (which SVG bevels), are drawn round, and strokes solid (dashes are the
final renderer's); chord counts are the max over the batch, so a frame flattens a little
differently alone than in a batch (chords stay ≤ 1 px either way). On a CPU shared by several
busy processes, torch's intra-op threads mostly wait on each other: callers sharing cores
should run one thread per worker.
"""

from flexiclip_core.render.config import (
    DEFAULT_TRAINING_RENDERER,
    TRAINING_RENDERERS,
    Background,
    TrainingRenderer,
    TrainingRendererFactory,
    TrainRenderConfig,
)
from flexiclip_core.render.diffvg_renderer import PydiffvgRenderer
from flexiclip_core.render.final import (
    DEFAULT_FINAL_RENDERER,
    FINAL_RENDERERS,
    MAX_RENDER_SIZE,
    CairoRenderer,
    FinalRenderer,
    render_clipart,
    render_clipart_float,
    render_document_frame,
    render_frames,
)
from flexiclip_core.render.torch_renderer import TorchVectorRenderer

__all__ = [
    "DEFAULT_FINAL_RENDERER",
    "DEFAULT_TRAINING_RENDERER",
    "FINAL_RENDERERS",
    "MAX_RENDER_SIZE",
    "TRAINING_RENDERERS",
    "Background",
    "CairoRenderer",
    "FinalRenderer",
    "PydiffvgRenderer",
    "TorchVectorRenderer",
    "TrainRenderConfig",
    "TrainingRenderer",
    "TrainingRendererFactory",
    "render_clipart",
    "render_clipart_float",
    "render_document_frame",
    "render_frames",
]
