"""The ``flexiclip`` command line.

Subcommands: ``inspect`` (what the parser makes of an SVG) and ``render`` (the rest pose as a
PNG). Later stages add ``animate``, ``run``, ``catalog``, ``report`` and ``bench`` as further
``@app.command()`` functions or ``app.add_typer`` groups in their own modules.

Bad input never produces a traceback: any `FlexiclipError` or unreadable file becomes one line
on stderr (``error: clip 'x.svg': ...``) and exit status 2. Exit codes and the helpers the
commands share live in `flexiclip_cli.common`; command modules import that, never this module.
Heavy modules (numpy, cairo, the method) are imported inside the commands so that
``flexiclip --help`` stays fast.
"""

from __future__ import annotations

import json
import logging
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

# Each command module keeps its heavy imports inside its commands, so --help stays fast.
from flexiclip_cli.animate import animate
from flexiclip_cli.bench import bench
from flexiclip_cli.common import (
    BadInput,
    SvgArgument,
    configure_logging,
    load_clipart,
    refused_input_exits,
    set_wan_vae_dtype,
)
from flexiclip_cli.dataset import dataset_app
from flexiclip_cli.evaluate import evaluate
from flexiclip_cli.pipeline import catalog_app, run
from flexiclip_cli.report import report as report_command

if TYPE_CHECKING:
    from flexiclip_core.clipart import Clipart

logger = logging.getLogger(__name__)

app = typer.Typer(
    name="flexiclip",
    help="Animate vector clipart from a text prompt with the FlexiClip method.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Background(str, Enum):
    white = "white"
    transparent = "transparent"


class RendererChoice(str, Enum):
    final = "final"
    train = "train"


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug details to stderr.")] = False,
    wan_vae_dtype: Annotated[
        str | None,
        typer.Option(
            metavar="DTYPE",
            help="VAE dtype of the Wan prior (wan, wan:PATH) for this command (animate, run, bench): auto "
            "(float32 on CPU and on cards of at least 64 GiB, else bfloat16), bfloat16, float16 or float32 "
            "(docs/priors.md). A run's workers inherit it ($FLEXICLIP_WAN_VAE_DTYPE).",
        ),
    ] = None,
) -> None:
    """Animate vector clipart from a text prompt with the FlexiClip method."""
    configure_logging(verbose)
    if wan_vae_dtype is not None:
        set_wan_vae_dtype(wan_vae_dtype)


app.command("animate")(animate)
app.command("run")(run)
app.add_typer(catalog_app, name="catalog")
app.add_typer(dataset_app, name="dataset")
app.command("report")(report_command)
app.command("bench")(bench)
app.command("evaluate")(evaluate)


@app.command()
def inspect(
    svg: SvgArgument,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
) -> None:
    """Show what the parser makes of an SVG: shapes, segments, bounding box, warnings."""
    from flexiclip_cli.inspect_report import inspect_report

    with refused_input_exits(svg.name):
        clipart = load_clipart(svg)
        report = inspect_report(clipart)
    if as_json:
        typer.echo(json.dumps(report))
    else:
        print_inspect_report(report)


def print_inspect_report(report: dict[str, Any]) -> None:
    """Human-readable form of an inspect report; unknown sections print as key: JSON lines."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{report['clip']}[/bold]", highlight=False)
    table = Table("#", "element", "subpaths", "segments", "fill", "stroke", box=None)
    for index, shape in enumerate(report["shapes"]):
        table.add_row(
            str(index),
            shape["element"],
            str(shape["subpaths"]),
            str(shape["segments"]),
            _paint_text(shape["fill"]),
            _paint_text(shape["stroke"]),
        )
    console.print(table, markup=False)
    x0, y0, x1, y1 = report["bbox"]
    width, height = report["document_size"]
    console.print(
        f"shapes: {report['shape_count']}  segments: {report['segment_count']}  "
        f"control points: {report['point_count']}",
        highlight=False,
    )
    console.print(
        f"bounding box (canvas px): ({x0:g}, {y0:g}) – ({x1:g}, {y1:g})   document size: {width:g} × {height:g}",
        highlight=False,
    )
    warnings = report["warnings"]
    console.print(f"warnings: {len(warnings)}", highlight=False)
    for warning in warnings:
        where = f" {warning['element']}" if warning.get("element") else ""
        console.print(f"  [{warning['code']}]{where}: {warning['message']}", markup=False, highlight=False)
    shown = {
        "clip",
        "shapes",
        "shape_count",
        "segment_count",
        "point_count",
        "bbox",
        "document_size",
        "canvas_size",
        "warnings",
    }
    for key, value in report.items():
        if key not in shown:
            console.print(f"{key}: {json.dumps(value)}", markup=False, highlight=False)


def render_with_training_renderer(
    clipart: Clipart, size: int, background: Literal["white", "transparent"], device: str = "auto"
) -> Any:
    """Rest pose through the differentiable renderer (on ``device``, see `resolve_device`) as
    straight uint8 RGBA [size, size, 4]."""
    import numpy as np
    import torch

    from flexiclip_core.devices import resolve_device
    from flexiclip_core.render import DEFAULT_TRAINING_RENDERER, TRAINING_RENDERERS, TrainRenderConfig

    torch_device = resolve_device(device)
    renderer_class = TRAINING_RENDERERS.get(DEFAULT_TRAINING_RENDERER)
    renderer = renderer_class(clipart, TrainRenderConfig(size=size, background=background), device=torch_device)
    points = torch.as_tensor(clipart.control_points(), dtype=torch.float32, device=torch_device)
    with torch.no_grad():
        image = renderer.render(points[None])[0].cpu()
    colour, alpha = image[:3].permute(1, 2, 0).numpy(), image[3].numpy()
    if background == "transparent":  # premultiplied → straight
        colour = np.where(alpha[..., None] > 0, colour / np.maximum(alpha[..., None], 1e-6), 0.0)
    rgba = np.concatenate(
        [colour, alpha[..., None] if background == "transparent" else np.ones_like(alpha)[..., None]], axis=-1
    )
    return (np.clip(rgba, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _paint_text(paint: dict[str, Any] | None) -> str:
    if paint is None:
        return "-"
    parts = [paint["color"]]
    if "width" in paint:
        parts.append(f"w={paint['width']:g}")
    if paint["opacity"] != 1:
        parts.append(f"a={paint['opacity']:g}")
    if paint.get("rule") == "evenodd":
        parts.append("evenodd")
    return " ".join(parts)


@app.command()
def render(
    svg: SvgArgument,
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG file to write.", show_default=False)],
    size: Annotated[int, typer.Option(min=1, max=8192, help="Side of the square image, px.")] = 256,
    background: Annotated[Background, typer.Option(help="Background of the image.")] = Background.white,
    renderer: Annotated[
        RendererChoice, typer.Option(help="final: exact cairo rasteriser; train: the differentiable training renderer.")
    ] = RendererChoice.final,
    width: Annotated[
        int | None, typer.Option(min=1, max=8192, help="With --document-frame: image width, px.", show_default=False)
    ] = None,
    document_frame: Annotated[
        bool,
        typer.Option(
            "--document-frame",
            help="Draw the SVG's own viewport (like rsvg-convert/resvg), --width px wide, not the fitted square canvas.",
        ),
    ] = False,
    device: Annotated[
        str, typer.Option(help="Training renderer's device: auto (CUDA when available), cpu, cuda or cuda:N.")
    ] = "auto",
) -> None:
    """Render the clipart's rest pose to a PNG."""
    with refused_input_exits(svg.name):
        if width is not None and not document_frame:
            raise BadInput("--width applies only with --document-frame (use --size for the square canvas)")
        if document_frame and renderer is not RendererChoice.final:
            raise BadInput("--document-frame is drawn by the final renderer only")
        clipart = load_clipart(svg)
        from PIL import Image

        if document_frame:
            from flexiclip_core.render import render_document_frame

            frame_width = width if width is not None else round((clipart.viewport_size or clipart.document_size)[0])
            rgba = render_document_frame(clipart, max(1, frame_width), background=background.value)
        elif renderer is RendererChoice.final:
            from flexiclip_core.render import render_clipart

            rgba = render_clipart(clipart, size, background=background.value)  # uint8 [size, size, 4]
        else:
            train_background: Literal["white", "transparent"] = (
                "transparent" if background is Background.transparent else "white"
            )
            rgba = render_with_training_renderer(clipart, size, train_background, device)
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgba).save(out, format="PNG")
    logger.info("wrote %s (%d×%d)", out, rgba.shape[1], rgba.shape[0])
    typer.echo(str(out))
