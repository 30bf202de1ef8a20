"""`make demo`: show the project working on the bundled samples with the embedded defaults.

Renders every sample's rest pose through the final renderer into the output folder and prints
where to look. (The batch pipeline replaces this with a full `flexiclip run` on the sample
catalog once it lands.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

SAMPLES = Path(__file__).resolve().parents[1] / "catalogs" / "samples"


def demo(out: Annotated[Path, typer.Option(help="Folder to write the demo outputs to.")] = Path("outputs/demo")) -> None:
    """Render every sample clipart into OUT."""
    from PIL import Image

    from flexiclip_core.final_render import render_clipart
    from flexiclip_core.svg import parse_svg

    out.mkdir(parents=True, exist_ok=True)
    entries = json.loads((SAMPLES / "samples.json").read_text())
    for entry in entries:
        clipart = parse_svg(SAMPLES / entry["svg"], clip_id=entry["clip_id"])
        path = out / f"{entry['clip_id']}.png"
        Image.fromarray(render_clipart(clipart, 512)).save(path)
        typer.echo(f"{entry['clip_id']:>16}: {clipart.segment_count:4d} segments → {path}")
    typer.echo(f"demo outputs in {out.resolve()}")


if __name__ == "__main__":
    typer.run(demo)
