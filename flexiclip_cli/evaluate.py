"""`flexiclip evaluate ROOT [--version N] [--run RUN] [--against ROOT2[:RUN]] [--out DIR]`.

Scores a run's clips from its media (docs/metrics.md §7–8), with the static baseline and any
``--against`` runs beside it, and writes Markdown, CSV, JSON and an HTML page (`tasks.evaluate`,
`tasks.evaluation_report`). Learned metrics use the local weights of FLEXICLIP_CLIP_MODEL,
FLEXICLIP_XCLIP_MODEL and FLEXICLIP_LPIPS_WEIGHTS; without them they are reported missing.
Exit status 2 (one stderr line) for a root or run that does not exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flexiclip_cli.common import EXIT_BAD_INPUT

BENCHMARK_CATALOG = Path(__file__).resolve().parents[1] / "catalogs" / "benchmark" / "benchmark.parquet"
"""Where the categories come from when --catalog is not given (clips it does not name: uncategorised)."""


def default_out(root: str, run_id: str) -> str:
    """ROOT/evaluations/RUN for a local root (an s3:// root needs --out)."""
    return str(Path(root) / "evaluations" / run_id)


def evaluate(
    root: Annotated[
        str, typer.Argument(help="Output root of the run: folder, file:// or s3:// URI.", show_default=False)
    ],
    version: Annotated[int | None, typer.Option(min=0, help="Read the catalog at this version.")] = None,
    run: Annotated[
        str | None, typer.Option("--run", help="Run id (default: the run that committed the version read).")
    ] = None,
    against: Annotated[
        list[str] | None,
        typer.Option(
            "--against", help="Another run to put beside it: ROOT2 or ROOT2:RUN (repeatable).", show_default=False
        ),
    ] = None,
    out: Annotated[
        str | None, typer.Option("--out", "-o", help="Folder for the tables (default ROOT/evaluations/RUN).")
    ] = None,
    catalog: Annotated[
        str | None,
        typer.Option(help="Input catalog whose 'category' column groups the clips (default: the benchmark set's)."),
    ] = None,
    resamples: Annotated[int, typer.Option(min=1, help="Bootstrap resamples per interval.")] = 2000,
    device: Annotated[str, typer.Option(help="Device of the learned metrics: cpu, cuda, cuda:N or auto.")] = "cpu",
) -> None:
    """Score a run against the static input (and other runs): the papers' table, with 95% intervals."""
    from catalogs.errors import CatalogError
    from catalogs.storage import is_s3, storage_options_from_env
    from flexiclip_core.devices import resolve_device
    from flexiclip_core.errors import FlexiclipError
    from flexiclip_core.learned_metrics import LearnedMetrics, LearnedMetricsConfig
    from tasks.evaluate import EvaluationConfig, RunRef, load_categories, parse_run_ref
    from tasks.evaluate import evaluate as evaluate_runs
    from tasks.evaluation_report import markdown_tables, write_evaluation

    storage_options = storage_options_from_env() or None
    try:
        if out is None and is_s3(root):
            raise CatalogError("an s3:// root needs --out DIR for the tables")
        references = [parse_run_ref(text) for text in against or []]
        categories = load_categories(
            catalog if catalog is not None else (str(BENCHMARK_CATALOG) if BENCHMARK_CATALOG.is_file() else None),
            storage_options,
        )
        learned = LearnedMetrics(LearnedMetricsConfig.from_env(), device=resolve_device(device))
        evaluation = evaluate_runs(
            RunRef(root, run, version),
            references,
            categories=categories,
            learned_metrics=learned,
            storage_options=storage_options,
            config=EvaluationConfig(resamples=resamples),
        )
    except (CatalogError, FlexiclipError, OSError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    folder = out or default_out(evaluation.reference.root or root, evaluation.reference.run_id or "run")
    write_evaluation(evaluation, folder)
    typer.echo(markdown_tables(evaluation))
    typer.echo(f"wrote {folder}")
