"""`make demo`: `flexiclip run` on the bundled sample catalog with the embedded defaults.

Ephemeral Prefect API, local Ray, local files under ``--out`` (outputs/demo), the ``auto`` prior
(ModelScope when its weights are configured, else the tiny test prior, whose motion is
untrained — said plainly), and `DEMO_ITERATIONS` optimisation steps per clip so the demo ends in
minutes on a laptop CPU (training renders at 128 px). Running it again skips the clips already done (add ``--force``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flexiclip_cli.common import EXIT_CLIPS_FAILED, configure_logging
from flexiclip_cli.pipeline import run_pipeline

SAMPLE_CATALOG = Path(__file__).resolve().parents[1] / "catalogs" / "samples" / "clipart.parquet"
DEMO_ITERATIONS = 30
"""Optimisation steps per clip in the demo (the paper uses 1000; the demo shows the pipeline)."""
DEMO_OVERRIDES = {"render.size": 128}
"""Training renders at 128 px (about 4× cheaper per step on a CPU); the outputs are still drawn
at full size by the final renderer."""


def demo(
    out: Annotated[Path, typer.Option(help="Output root of the demo run.")] = Path("outputs/demo"),
    iterations: Annotated[int, typer.Option(min=1, help="Optimisation steps per clip.")] = DEMO_ITERATIONS,
    prior: Annotated[str, typer.Option(help="auto, tiny, modelscope or modelscope:PATH.")] = "auto",
    force: Annotated[bool, typer.Option("--force", help="Re-animate clips a previous demo already did.")] = False,
) -> None:
    """Run the nightly flow on the sample catalog and print where to look."""
    configure_logging(False)
    root = out.resolve()
    typer.echo(f"flexiclip demo: {SAMPLE_CATALOG.name} → {root} ({iterations} iterations per clip, prior {prior})")
    summary = run_pipeline(
        str(SAMPLE_CATALOG), str(root), prior=prior, iterations=iterations, force=force, overrides=dict(DEMO_OVERRIDES)
    )
    print_where_to_look(root, summary)
    if summary["failed"]:
        raise typer.Exit(EXIT_CLIPS_FAILED)


def print_where_to_look(root: Path, summary: dict) -> None:
    """Per clip: its video and GIF; then the commands that read the catalog."""
    from catalogs.output import OutputCatalog
    from catalogs.rows import Status
    from tasks.report import UNTRAINED_NOTE

    typer.echo("")
    typer.echo("Where to look:")
    for row in OutputCatalog(root).read_rows(run_id=summary["run_id"]):
        if row.status is Status.FAILED:
            typer.echo(f"  {row.clip_id:>16}: failed: {row.error_type}: {row.error_message}")
        else:
            gif, video = row.media.get("gif"), row.media.get("video")
            typer.echo(f"  {row.clip_id:>16}: {gif.uri if gif else None}  (video {video.uri if video else None})")
    if summary.get("report_uri"):
        typer.echo(f"  HTML report (open in a browser): {summary['report_uri']}")
    typer.echo(f"  catalog (Delta table): {root / 'catalog'}")
    typer.echo(f"  .venv/bin/flexiclip catalog show {root}      # rows, status, metrics (--json for all columns)")
    typer.echo(f"  .venv/bin/flexiclip catalog history {root}   # one version per run")
    if summary.get("prior_is_trained") is False:
        typer.echo("")
        typer.echo(f"NOTE: the demo used the prior {summary['prior']!r}: {UNTRAINED_NOTE}.")


if __name__ == "__main__":
    typer.run(demo)
